"""The panes as a teacher uses them: sample lists, maximising, visible characters, and using the room there is."""

from __future__ import annotations

import dataclasses

from rich.cells import cell_len

from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.trainer import Trainer
from microgpt_tui.labels import cut_doc, label, pad, quoted
from microgpt_tui.messages import Sample, SamplesDrawn
from microgpt_tui.widgets.attention_map import AttentionMap
from microgpt_tui.widgets.grad_norms import GradNorms
from microgpt_tui.widgets.graph_pane import GraphPane
from microgpt_tui.widgets.pane import TrainingPane
from microgpt_tui.widgets.sampler import Sampler
from microgpt_tui.widgets.status_bar import StatusBar


def lines_of(pane) -> list[str]:
    """The pane's lines as plain text."""
    return [line.plain for line in pane.render().renderables]


def draw(trainer: Trainer, first_id: int, count: int, step: int, temperature: float) -> tuple[Sample, ...]:
    """`count` whole samples from a real trainer, as the engine sends them."""
    return tuple(Sample(first_id + i, step, temperature, tuple(trainer.sample(temperature)), batch=first_id)
                 for i in range(count))


# -- the sampler: a list of samples --------------------------------------------------------------------------


async def test_samples_are_a_list_each_with_its_step_and_temperature(trainer, names, make_app, ready, until, steps):
    app = make_app(trainer)
    drawer = Trainer(names, Config(seed=7))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        one = draw(drawer, 1, 1, step=1, temperature=0.5)
        app.post_message(SamplesDrawn(one))
        await until(pilot, lambda: len(app.samples) == 1, what="one sample")
        sampler = app.query_one(Sampler)
        assert f"step 1 · T 0.50 · “{one[0].text}”" in lines_of(sampler)[0]
        batch = draw(drawer, 2, 10, step=1, temperature=1.2)
        app.post_message(SamplesDrawn(batch))
        await until(pilot, lambda: len(app.samples) == 11, what="a batch of ten")
        text = "\n".join(lines_of(sampler))
        assert "step 1 · T 0.50 ·" in text and "step 1 · T 1.20 ·" in text
        assert all(f"“{s.text}”" in text for s in (*one, *batch))  # every name, at once
        detail = [line for line in lines_of(sampler) if "→" in line]
        assert 3 <= len(detail) <= len(batch[-1].tokens)  # the batch's last one, its latest positions in detail
        assert detail[-1].startswith(f"{label(batch[-1].tokens[-2].char)}→")
        assert app.query_one(AttentionMap).current()[1] == tuple(t.attention[0][0] for t in batch[-1].tokens)
        await steps(pilot, 1)  # the samples are now of an earlier step; attention is the training's again
        await until(pilot, lambda: "(earlier)" in "\n".join(lines_of(sampler)), what="the earlier mark")
        assert not app.showing_sample
        assert app.query_one(AttentionMap).current()[0] == app.snapshot.report.tokens


async def test_G_draws_ten_names_at_once(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("G")
        await until(pilot, lambda: len(app.samples) == 10, what="ten samples")
        ids = [s.sample_id for s in app.samples]
        assert ids == list(range(ids[0], ids[0] + 10))
        assert {(s.step, s.temperature) for s in app.samples} == {(0, 0.5)}
        reference = Trainer(trainer.dataset, Config())  # the engine's generator, in the same order
        assert [s.text for s in app.samples] == ["".join(t.char for t in reference.sample(0.5)) for _ in range(10)]
        assert not app.query_one(Sampler).revealing  # a batch is shown at once


async def test_each_draw_keeps_its_own_line_and_a_batch_counts_out_of_ten(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        for key, total in (("g", 1), ("g", 2), ("G", 12), ("G", 22), ("plus", 22), ("G", 32)):
            await pilot.press(key)
            await until(pilot, lambda total=total: len(app.samples) == total, what=f"{total} samples")
        assert {s.step for s in app.samples} == {0}  # all from the same weights, three of them at T 0.50
        sampler = app.query_one(Sampler)
        headings = [line.plain for line in sampler.build_lines(300, 60) if line.plain.startswith("step ")]
        assert [h.split(" · “")[0] for h in headings] == [
            "step 0 · T 0.50", "step 0 · T 0.50", *[f"step 0 · T {t} · {n}/10 new" for t, n in (
                ("0.50", sum(sampler.docs.new_count([s.text]) for s in app.samples[2:12])),
                ("0.50", sum(sampler.docs.new_count([s.text]) for s in app.samples[12:22])),
                ("0.60", sum(sampler.docs.new_count([s.text]) for s in app.samples[22:])))]]
        assert all(h.count("“") == 10 for h in headings[2:])


async def test_the_sample_list_is_bounded(trainer, names, make_app, ready, until):
    from microgpt_tui.widgets.sampler import MAX_SAMPLES

    app = make_app(trainer)
    drawer = Trainer(names, Config(seed=3))
    batch = draw(drawer, 1, 10, step=0, temperature=0.5)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        for k in range(MAX_SAMPLES // 10 + 2):
            app.post_message(SamplesDrawn(tuple(dataclasses.replace(s, sample_id=s.sample_id + 10 * k,
                                                                    batch=s.batch + 10 * k) for s in batch)))
        await until(pilot, lambda: app.samples and app.samples[-1].sample_id == batch[-1].sample_id
                    + 10 * (MAX_SAMPLES // 10 + 1), what="every batch")
        assert len(app.samples) == MAX_SAMPLES


def a_short_sample(names: Dataset, longest: int) -> Sample:
    """The first sample of at least three and at most `longest` tokens a seeded untrained trainer draws."""
    drawer = Trainer(names, Config(seed=11))
    return next(s for s in draw(drawer, 1, 200, step=0, temperature=0.5) if 3 <= len(s.tokens) <= longest)


async def test_the_newest_sample_is_spelled_out_from_its_first_position_when_it_fits(names, make_app, ready,
                                                                                      until):
    app = make_app(Trainer(names, Config()))
    earlier = draw(Trainer(names, Config(seed=4)), 1, 10, step=0, temperature=1.0)
    async with app.run_test(size=(100, 32)) as pilot:  # the tester's size: the pane has about ten rows
        await ready(pilot)
        sampler = app.query_one(Sampler)
        height = sampler.content_size.height
        newest = dataclasses.replace(a_short_sample(names, height - 3), sample_id=11, batch=11)
        app.post_message(SamplesDrawn(earlier))
        app.post_message(SamplesDrawn((newest,)))
        await until(pilot, lambda: app.samples and app.samples[-1] is newest, what="the newest sample")
        first = f"·→{label(newest.tokens[0].char or '·')} "
        rows = [line for line in lines_of(sampler) if "→" in line]
        assert len(rows) == len(newest.tokens) and rows[0].startswith(first)  # every position, from the first
        width = sampler.content_size.width
        short = sampler.build_lines(width, len(newest.tokens))  # its heading and all but one position: too few
        rows = [line.plain for line in short if "→" in line.plain]
        hidden = len(newest.tokens) - len(rows)
        assert hidden > 0 and not rows[0].startswith(first) and rows[-1].startswith(
            f"{label(newest.tokens[-2].char)}→")
        assert any(f"first {hidden} positions" in line.plain for line in short)


async def test_an_empty_sample_says_the_end_token_came_first(names, make_app, ready, until):
    app = make_app(Trainer(names, Config()))
    sample = draw(Trainer(names, Config()), 1, 1, step=0, temperature=0.5)[0]
    first = sample.tokens[0]
    end = dataclasses.replace(first, token_id=names.bos, char="", is_end=True, text="")  # BOS drawn at once
    empty = dataclasses.replace(sample, tokens=(end,))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        app.post_message(SamplesDrawn((empty,)))
        await until(pilot, lambda: len(app.samples) == 1, what="the empty sample")
        sampler = app.query_one(Sampler)
        assert "“” (empty: ended at once)" in "\n".join(lines_of(sampler))  # a narrow pane: the short form
        wide = "\n".join(line.plain for line in sampler.build_lines(100, 20))
        assert "“” (empty: the end token came first)" in wide
        assert "·→· " in wide  # its one position: the end drawn after the start


async def test_an_unlikely_drawn_letter_shows_less_than_a_hundredth(trainer, names, make_app, ready, until):
    app = make_app(trainer)
    sample = draw(Trainer(names, Config()), 1, 1, step=0, temperature=0.5)[0]
    last = sample.tokens[-1]
    probs = list(last.probs)
    probs[last.token_id] = 0.003  # what a drawn letter of odds 0.3% looks like
    unlikely = dataclasses.replace(sample, tokens=(*sample.tokens[:-1], dataclasses.replace(last, probs=tuple(probs))))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        app.post_message(SamplesDrawn((unlikely,)))
        await until(pilot, lambda: len(app.samples) == 1, what="the sample")
        row = [line for line in lines_of(app.query_one(Sampler)) if "→" in line][-1]
        assert f"→{label(last.char or '·')} <.01 │" in row and ".00" not in row


# -- z: maximise ------------------------------------------------------------------------------------------------


async def test_z_maximises_the_focused_pane_and_the_status_line_stays(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await pilot.press("2", "z")
        attention = app.query_one(AttentionMap)
        status = app.query_one(StatusBar)
        assert app.screen.maximized is attention
        await pilot.pause()
        assert attention.outer_size.width == 100 and attention.region.y == 1
        assert status.region.y == 0 and status.region.height == 1 and "step    1 / " in status.render().plain
        assert not app.query_one(GradNorms).region  # the others are off screen
        await pilot.press("z")
        assert app.screen.maximized is None
        await pilot.press("3", "z")
        assert app.screen.maximized is app.query_one(GradNorms)
        await pilot.press("escape")
        assert app.screen.maximized is None


async def test_z_works_in_a_small_terminal(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        await pilot.press("2", "z")
        attention = app.query_one(AttentionMap)
        await pilot.pause()
        assert app.screen.maximized is attention and app.query_one(StatusBar).region.y == 0
        rows = [line for line in lines_of(attention) if line.startswith(("▶", " ")) and "·" not in line[:2]]
        assert len(rows) >= len(app.snapshot.report.tokens) - 1  # more room: every row of the document
        await pilot.press("z")
        assert app.screen.maximized is None and attention.display


async def test_l_with_one_layer_says_there_is_only_one(trainer, make_app, ready):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await pilot.press("l")
        assert app.attn_layer == 0
        assert any("only one layer" in str(n.message) for n in app._notifications)


# -- characters a teacher cannot see -----------------------------------------------------------------------------


def test_labels_make_invisible_characters_visible():
    assert [label(c) for c in " a\t東·"] == ["␣", "a", "␉", "東", "·"]
    assert label("\u00a0") == "⍽" and label("\u0301") == "◌\u0301" and label("\u200b") == "<U+200B>"
    assert quoted("new york") == "“new york”" and quoted(" x ") == "“␣x␣”"
    assert [cell_len(pad(t, 4)) for t in ("a", "東", "😀", "")] == [4, 4, 4, 4]
    assert cut_doc("supercalifragilistic", 16) == ("supercalifragili…", True)
    assert cut_doc("emma", 5) == ("emma", False) and cut_doc("emma", 4) == ("emma…", True)  # the end is cut


async def test_spaces_are_shown_as_open_boxes_in_the_attention_labels(make_app, ready, steps, tmp_path):
    dataset = Dataset.from_docs(["new york", "san jose", "los angeles"], name="cities")
    app = make_app(Trainer(dataset, Config()))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        attention = app.query_one(AttentionMap)
        lines = lines_of(attention)
        assert " " in app.snapshot.report.doc
        assert "␣" in lines[1] and any(line.strip().startswith("␣") for line in lines[2:])
        assert f"“{app.snapshot.report.doc}”" in lines[0]  # the name itself keeps its space


async def test_a_document_cut_at_the_block_size_is_marked(make_app, ready, steps):
    dataset = Dataset.from_docs(["supercalifragilistic"], name="long")
    app = make_app(Trainer(dataset, Config(block_size=8)))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        first = lines_of(app.query_one(AttentionMap))[0]
        assert "“supercal…”" in first and "cut to 8 predictions" in first


async def test_wide_characters_keep_the_heatmap_columns_aligned(make_app, ready, steps):
    dataset = Dataset.from_docs(["東京都", "大阪市", "京都😀"], name="wide")
    app = make_app(Trainer(dataset, Config()), color_mode="none")  # shade characters: the cells are visible text
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        attention = app.query_one(AttentionMap)
        labels = [label(t) for t in app.snapshot.report.tokens]
        header, *rows = lines_of(attention)[1:1 + 1 + len(labels)]
        width = max(cell_len(t) for t in labels)
        cell = (cell_len(header.rstrip()) - width - 2 + 1) // len(labels)  # the last label may end in padding
        assert cell >= 2
        offset = width + 2
        for i, text in enumerate(labels):  # each label sits over its own column, counted in terminal cells
            start = offset + i * cell + (cell - cell_len(text)) // 2
            index = _char_index(header, start)
            assert cell_len(header[:index]) == start and header[index:].startswith(text), (i, text, header)
        for q, row in enumerate(rows):  # every row's cells start at the same cell as the header's first column
            assert cell_len(row[: _char_index(row, offset)]) == offset
            assert cell_len(row) == offset + (q + 1) * cell
            assert row.startswith(("▶", " ")) and labels[q] in row[: _char_index(row, offset)]


def _char_index(text: str, cells: int) -> int:
    """The index of the first character at or after `cells` terminal cells into `text`."""
    used = 0
    for i, char in enumerate(text):
        if used >= cells:
            return i
        used += cell_len(char)
    return len(text)


# -- using the room there is ---------------------------------------------------------------------------------------


def _cell_width(attention: AttentionMap) -> int:
    header = lines_of(attention)[1]
    first, second = header.index("·"), None
    second = len(header) - len(header[first + 1:].lstrip())
    return cell_len(header[first:second])


async def test_the_heatmap_grows_with_the_pane(trainer, make_app, ready, steps):
    widths = {}
    for size in ((100, 32), (160, 48)):
        app = make_app(Trainer(trainer.dataset, Config()))
        async with app.run_test(size=size) as pilot:
            await ready(pilot)
            await steps(pilot, 1)
            attention = app.query_one(AttentionMap)
            widths[size] = _cell_width(attention)
            labels = app.snapshot.report.tokens
            assert all(t in lines_of(attention)[1] for t in labels)  # the labels are kept
    assert widths[(160, 48)] > widths[(100, 32)] >= 2


async def test_two_layers_at_100x32_every_matrix_is_shown(names, make_app, ready, steps):
    app = make_app(Trainer(names, Config(n_layer=2)))
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        grad = app.query_one(GradNorms)
        every = {m.name for m in app.snapshot.report.matrices}
        seen: set[str] = set()
        for _ in range(2):
            text = "\n".join(lines_of(grad))
            assert "more" not in text
            seen |= {m for m in every if _short(m) in text.split()}
            assert f"layer {app.attn_layer} of 2" in str(grad.border_title) or "L" in str(grad.border_title)
            await pilot.press("l")
        assert seen == every
        await pilot.press("3", "z")  # maximised, all fifteen at once
        await pilot.pause()
        text = "\n".join(lines_of(grad))
        assert {m for m in every if _short(m) in text.split()} == every


def _short(name: str) -> str:
    layer, _, rest = name.partition(".")
    return f"{layer.removeprefix('layer')}.{rest}" if rest else name


async def test_the_graph_pane_lists_every_operation_and_stage_when_there_is_room(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        graph_pane = app.query_one(GraphPane)
        await pilot.press("4", "z")
        await pilot.pause()
        text = "\n".join(lines_of(graph_pane))
        census = app.snapshot.report.graph
        for op, count in census.by_op:
            assert any(line.split()[:2] == [op, f"{count:,}"] for line in text.splitlines()), op
        for stage, count in census.by_stage:
            assert f"{stage} " in text and f"{count:,}" in text
        assert f"{census.params:,} of 4,192 params reachable from this step's loss" in " ".join(text.split())


async def test_every_training_pane_names_its_step(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await steps(pilot, 2)
        panes = list(app.query(TrainingPane))
        assert len(panes) >= 3
        for pane in panes:
            assert "step 2" in str(pane.border_title), pane.border_title
        assert "layer 0 · head 0" in str(app.query_one(AttentionMap).border_title)


async def test_the_attention_pane_says_how_to_reach_its_rows(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await steps(pilot, 1)
        attention = app.query_one(AttentionMap)
        assert "focus this pane (2, or tab), then up/down" in " ".join(" ".join(lines_of(attention)).split())
        await pilot.press("2")
        await pilot.pause()
        assert "up/down choose the row" in " ".join(lines_of(attention))


async def test_before_any_forward_pass_the_attention_pane_says_what_brings_one(trainer, make_app, ready, until,
                                                                               steps):
    """No step yet: `n` takes one; a step stopped at its document (`.`, live or in history): its forward pass,
    position by position, comes with `.`."""
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        attention = app.query_one(AttentionMap)

        def said() -> str:
            return " ".join(" ".join(lines_of(attention)).split())

        await pilot.pause()
        assert "No attention yet: it appears after the first step (n takes one)." in said()
        await steps(pilot, 2)
        await pilot.press("left", "full_stop")
        await until(pilot, lambda: app.phase is not None and app.phase.phase.step == 1, what="step 1's document")
        await pilot.pause()
        assert "step 1 has not reached attention yet: . replays its forward pass position by position." in said()
        await pilot.press("end", "full_stop")
        await until(pilot, lambda: app.phase is not None and app.phase.phase.step == 3, what="step 3's document")
        await pilot.pause()
        assert "step 3 has not reached attention yet: . runs its forward pass position by position." in said()
        assert "first step" not in said()


async def test_sampler_rows_keep_their_columns_with_wide_characters(make_app, ready, until):
    dataset = Dataset.from_docs(["東京", "ab", "大阪 x", "😀c"], name="wide")
    app = make_app(Trainer(dataset, Config()))
    sample = draw(Trainer(dataset, Config(seed=5)), 1, 1, step=0, temperature=1.5)[0]
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        app.post_message(SamplesDrawn((sample,)))
        await until(pilot, lambda: len(app.samples) == 1, what="the sample")
        rows = [line for line in lines_of(app.query_one(Sampler)) if "→" in line]
        assert len(rows) >= 2
        bars = {cell_len(row[: row.index("│")]) - len(row[: row.index("│")].split("→")[1].split()[-1]) for row in rows}
        arrows = {cell_len(row[: row.index("→")]) for row in rows}
        assert arrows == {2} and len(bars) == 1  # the arrow and the probability column line up in every row

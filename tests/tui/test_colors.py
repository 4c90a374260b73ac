"""Colour modes and notifications in the app (Pilot), and the escape-stream reader the tmux tests rely on."""

from __future__ import annotations

from textual.filter import NoColor
from textual.widgets._toast import Toast

from microgpt_tui.widgets.loss_chart import LossChart


def test_the_stream_reader_knows_every_colour_form(screen_cells, stream_colours):
    ansi = ("\x1b[38;5;16m\x1b[48;5;16mab\x1b[0m c\x1b[31;42md\x1b[7me\x1b[27;39;49mf"
            "\x1b[38;2;1;2;3;100mg\x1b[38:5:200mh\x1b[1;97mi\x1b[22;2mj")
    assert stream_colours(ansi) == {"38;256:16", "48;256:16", "31", "42", "39", "49", "38;rgb:1,2,3", "100",
                                    "38;256:200", "97"}
    cells = screen_cells(ansi)[0]
    assert [c.char for c in cells] == list("ab cdefghij")
    a, _, space, _, d, e, f, g, h, i, j = cells
    assert (a.fg, a.bg) == ("256:16", "256:16") and a.shown_fg == a.shown_bg
    assert (space.fg, space.bg) == ("default", "default") and space.shown_fg != space.shown_bg
    assert (d.fg, d.bg) == ("ansi:1", "ansi:2")
    assert e.reverse and (e.shown_fg, e.shown_bg) == ("ansi:2", "ansi:1")
    assert not f.reverse and (f.fg, f.bg) == ("default", "default")
    assert (g.fg, g.bg) == ("rgb:1,2,3", "ansi:8") and h.fg == "256:200"
    assert i.bold and i.fg == "ansi:15" and j.dim and not j.bold


async def test_monochrome_filters_every_colour_and_only_there(trainer, make_app, ready):
    for mode, monochrome in (("none", True), ("16", False), ("256", False)):
        app = make_app(trainer, color_mode=mode)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            filters = app.get_line_filters()
            assert any(isinstance(f, NoColor) for f in filters) == monochrome
            assert app.no_color == monochrome  # Textual's `:nocolor` styles (reverse highlights) follow
            assert app.native_ansi_color == (mode != "256")


def mode_toasts(app) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query(Toast) if "graph mode" in str(toast.render())]


async def test_a_notification_replaces_the_one_of_its_kind(trainer, make_app, ready, until):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32), notifications=True) as pilot:  # (toasts are off in tests by default)
        await ready(pilot)
        for _ in range(21):
            await pilot.press("m")
        await until(pilot, lambda: mode_toasts(app), what="a mode notification")
        await pilot.pause(0.2)
        toasts = mode_toasts(app)
        assert len(toasts) == 1 and "graph mode: atomic" in toasts[0]  # the last of 21 presses: atomic
        await pilot.press("right_square_bracket")  # another kind stays beside it
        await until(pilot, lambda: any("speed" in str(t.render()) for t in app.screen.query(Toast)),
                    what="a speed notification")
        assert len(mode_toasts(app)) == 1


async def test_the_loss_title_names_the_step_it_draws(trainer, make_app, ready, steps):
    app = make_app(trainer)
    async with app.run_test(size=(100, 32)) as pilot:
        await ready(pilot)
        chart = app.query_one(LossChart)
        assert chart.border_title == "Loss · step 0"
        await steps(pilot, 2)
        assert chart.border_title == "Loss · step 2"
        chart.cursor = 1
        await pilot.pause()
        assert chart.border_title == "Loss · step 1"

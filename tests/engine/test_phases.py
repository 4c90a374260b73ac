"""A step unit by unit: the same numbers as a whole step to the last bit, reports that agree, probes that change
nothing, and source lines that are really the engine's."""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from microgpt import autograd as ag
from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.floats import plain_sum, softmax
from microgpt.model import MODES
from microgpt.report import (
    BackwardDetail,
    DocumentDetail,
    ForwardDetail,
    GraphCensus,
    LossDetail,
    Phase,
    PhaseReport,
    ProbeError,
    StepReport,
    UpdateDetail,
)
from microgpt.trainer import StepInProgress, Trainer, TrainingDiverged

REPO = Path(__file__).resolve().parent.parent.parent
UNICODE = Dataset.from_docs(["héllo wörld", "日本語 テキスト", "a b", "ß", "北京 上海", "zoë", "naïve café", "x"])

# (engine, config, dataset): several sizes, head counts, seeds and learning rates; block 4 cuts documents
CONFIGS = [
    ("fused", Config(n_layer=2, n_embd=8, n_head=2, block_size=4, steps=4, seed=7), "names"),
    ("fused", Config(n_layer=3, n_embd=12, n_head=3, block_size=16, steps=4, seed=1, lr=0.02), "names"),
    ("fused", Config(n_layer=2, n_embd=16, n_head=4, block_size=4, steps=4, seed=3, lr=0.005), "unicode"),
    ("fused", Config(n_layer=1, n_embd=12, n_head=1, steps=4), "surnames"),
    ("fused", Config(n_layer=2, n_embd=16, n_head=2, block_size=8, steps=4, seed=11), "unicode"),
    ("atomic", Config(n_layer=2, n_embd=8, n_head=2, block_size=4, steps=3, seed=5), "names"),
    ("atomic", Config(n_layer=3, n_embd=8, n_head=4, block_size=4, steps=3, seed=2, lr=0.03), "unicode"),
    ("atomic", Config(n_layer=2, n_embd=12, n_head=3, block_size=6, steps=3, seed=9), "unicode"),
    ("atomic", Config(n_layer=1, n_embd=16, n_head=4, steps=2), "names"),
]


def dataset(name: str) -> Dataset:
    """A shipped dataset, or the unicode one with spaces and CJK characters."""
    return UNICODE if name == "unicode" else load_dataset(name)


def state(trainer: Trainer) -> dict[str, Any]:
    """Everything a step can change, as plain data compared exactly (floats compared by their bits)."""
    return {
        "weights": trainer.params.flat(),
        "grads": trainer.params.flat_grad(),
        "m": copy.deepcopy(trainer.adam.m),
        "v": copy.deepcopy(trainer.adam.v),
        "rng": trainer.rng.getstate(),
        "sample_rng": trainer.sample_rng.getstate(),
        "step_count": trainer.step_count,
        "losses": list(trainer.losses),
    }


def bits(x: Any) -> Any:
    """Floats as their repr, recursively, so that 0.0 and -0.0 (and the last bit) count."""
    if isinstance(x, float):
        return x.hex()
    if isinstance(x, dict):
        return {k: bits(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [bits(v) for v in x]
    return x


def same(a: Trainer, b: Trainer) -> bool:
    """Bit for bit the same training state."""
    return bits(state(a)) == bits(state(b))


def independent_step(trainer: Trainer) -> float:
    """A step written out here, not with StepInProgress: the whole graph, one backward over the whole walk."""
    config, params = trainer.config, trainer.params
    number = trainer.step_count + 1
    tokens = trainer.dataset.encode(trainer.docs[(number - 1) % len(trainer.docs)])
    n = min(config.block_size, len(tokens) - 1)
    params.zero_grad()
    forward = MODES[trainer.engine].forward(params, config)
    losses = [forward.position_loss(forward(tokens[p], p).logits, tokens[p + 1]) for p in range(n)]
    loss = forward.mean_loss(losses)
    ag.backward(loss)
    forward.collect_grads(params)
    trainer.adam.update(params, config, number, trainer.schedule.lr_at(number))
    trainer.step_count = number
    trainer.losses.append(float(loss.data))
    return float(loss.data)


def walk_units(step: StepInProgress) -> list[tuple[Phase, PhaseReport]]:
    """Advance a step to its end, taking every unit's detail."""
    out = []
    while not step.finished:
        phase = step.advance()
        out.append((phase, step.detail()))
    return out


# ---- exactness ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("engine", "config", "data"), CONFIGS)
def test_unit_by_unit_is_the_whole_step_to_the_last_bit(engine: str, config: Config, data: str) -> None:
    ds = dataset(data)
    phased, whole, written = (Trainer(ds, config, engine) for _ in range(3))
    for k in range(config.steps):
        step = phased.begin_step()
        reports = walk_units(step)  # details and a probe between units must change nothing
        if k == 1:
            phased.probe(ds.docs[0])
        report = whole.step()
        loss = independent_step(written)
        assert step.report is not None and step.report.loss == report.loss == loss
        assert same(phased, whole), f"step {k + 1}: unit by unit differs from a whole step"
        assert same(phased, written), f"step {k + 1}: differs from the whole walk backpropagated at once"
        assert reports[-1][0].kind == "update"


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_backward_pieces_are_the_walk_reversed_unbroken(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=2, n_embd=8, n_head=2, steps=2), engine)
    step = trainer.begin_step()
    while not (step.phase and step.phase.kind == "loss"):
        step.advance()
    assert step.order == []  # the walk is the backward's work, not the loss's
    processed: list[Any] = []
    phases = []
    while not (step.phase and step.phase.kind == "update"):
        before = step.pieces_done
        phases.append(step.advance())
        if step.phase and step.phase.kind == "backward":
            lo, hi, _ = step.pieces[before]
            processed += step.order[lo:hi][::-1]
    walk = ag.topological_order(step.loss_node)
    assert [id(x) for x in step.order] == [id(x) for x in walk]  # the reference's walk
    assert [id(x) for x in processed] == [id(x) for x in reversed(walk)]  # run whole, in order, once
    backward = [p for p in phases if p.kind == "backward"]
    n = step.n
    positions = [p.position for p in backward]
    assert positions == sorted(positions, reverse=True) and set(positions) == set(range(n))
    if engine == "atomic":
        assert len(backward) == n  # one piece per position
    else:  # one piece per stage of each position, in the reference's reverse order
        per_position = ["loss", "lm_head", "mlp", "attention", "mlp", "attention", "embedding"]
        assert [p.stages for p in backward] == [(s,) for _ in range(n) for s in per_position]
    assert all(p.count == len(backward) for p in backward)
    assert [p.index for p in backward] == list(range(len(backward)))


@pytest.mark.parametrize("engine", ["fused", "atomic"])
@pytest.mark.parametrize("n_layer", [1, 2, 3])
def test_backward_pieces_name_their_layer_in_a_model_of_several(engine: str, n_layer: int) -> None:
    """A fused piece runs through one stage of one position: in a model of several layers its label says which
    layer (layer n_layer - 1 first: the backward pass goes down the model). An atomic piece runs through a whole
    position, every layer: it names none; nor does any piece of a one-layer model."""
    trainer = Trainer(load_dataset("names"), Config(n_layer=n_layer, n_embd=8, n_head=2, steps=2), engine)
    step = trainer.begin_step()
    units = [(p, d) for p, d in walk_units(step) if p.kind == "backward"]
    backward = [p for p, _ in units]
    assert [d.detail.layer for _, d in units] == [p.layer for p in backward]  # type: ignore[union-attr]
    n, k = step.n, len(backward)
    if engine == "atomic" or n_layer == 1:
        assert all(p.layer is None for p in backward)
        assert all(p.label == f"backward {p.index + 1}/{k}: position {p.position} · {', '.join(p.stages)}"
                   for p in backward)
        return
    layers = [None, None, *[layer for layer in reversed(range(n_layer)) for _ in ("mlp", "attention")], None]
    stages = ["loss", "lm_head", *["mlp", "attention"] * n_layer, "embedding"]
    assert [(p.layer, p.stages) for p in backward] == [(layer, (s,)) for _ in range(n)
                                                      for layer, s in zip(layers, stages)]
    top = n_layer - 1
    assert backward[2].label == f"backward 3/{k}: position {n - 1} · layer {top} mlp"
    assert backward[-2].label == f"backward {k - 1}/{k}: position 0 · layer 0 attention"
    assert backward[1].label == f"backward 2/{k}: position {n - 1} · lm_head"


# ---- reports agree with the step they end in ---------------------------------------------------------------

def census_difference(step: GraphCensus, forward: GraphCensus) -> dict[str, Any]:
    """What the step's whole graph has beyond the graph at the last forward unit."""
    ops = Counter(dict(step.by_op))
    ops.subtract(dict(forward.by_op))
    stages = Counter(dict(step.by_stage))
    stages.subtract(dict(forward.by_stage))
    return {"nodes": step.nodes - forward.nodes, "edges": step.edges - forward.edges,
            "params": step.params - forward.params, "constants": step.constants - forward.constants,
            "by_op": +ops, "by_stage": +stages}


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_phase_reports_carry_the_step_reports_numbers(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=2, n_embd=12, n_head=3, steps=3), engine)
    trainer.step()
    step = trainer.begin_step()
    units = walk_units(step)
    report = step.report
    assert isinstance(report, StepReport)
    n = len(report.position_losses)
    forwards = [d for p, d in units if p.kind == "forward"]
    assert len(forwards) == n
    for p, d in enumerate(forwards):
        detail = d.detail
        assert isinstance(detail, ForwardDetail) and detail.position == p
        assert d.position_losses == report.position_losses[:p + 1]
        assert detail.loss == report.position_losses[p]
        assert math.log(detail.p_target) * -1 == detail.loss  # the loss is -log p(target), that very float
        assert (detail.input, detail.target) == (report.tokens[p], report.targets[p])
        assert d.attention == tuple(tuple(head[:p + 1] for head in layer) for layer in report.attention)
        for li, layer in enumerate(detail.weights):
            for h, row in enumerate(layer):
                assert row == report.attention[li][h][p]
                assert tuple(softmax(detail.scores[li][h])) == row  # the weights are the scores' softmax
                assert len(detail.scores[li][h]) == p + 1
        assert detail.top[0][1] == max(p for _, p in detail.top) and len(detail.top) == 5
    loss = next(d.detail for p, d in units if p.kind == "loss")
    assert isinstance(loss, LossDetail)
    assert loss.loss == report.loss and loss.position_losses == report.position_losses and loss.n == n
    backward = [d for p, d in units if p.kind == "backward"]
    assert all(norm == 0.0 for _, norm in forwards[-1].grad_norms)  # no gradient before the backward pass
    assert [name for name, _ in backward[-1].grad_norms] == [m.name for m in report.matrices]
    assert [g for _, g in backward[-1].grad_norms] == [m.grad_norm for m in report.matrices]  # final, exactly
    assert [g for _, g in backward[0].grad_norms] != [m.grad_norm for m in report.matrices]  # still growing
    reaching = next(d for d in backward if "lm_head" in d.phase.stages)
    assert dict(reaching.grad_norms)["lm_head"] > 0.0  # the piece through lm_head gave it a gradient
    done = [d.detail.done for d in backward if isinstance(d.detail, BackwardDetail)]
    assert done == sorted(done) and backward[-1].detail.remaining == 0  # type: ignore[union-attr]
    assert done[-1] == len(step.order)
    # The graph at the last forward unit is everything reachable from the n position losses; the step's graph
    # adds the mean loss over them: atomic, sum() from 0 (n adds and a 0 leaf) then * (1/n) (a mul and a leaf);
    # fused, one Mean node with n children. Parameters are the same; the step's graph is the backward's walk.
    assert report.graph == backward[-1].graph == units[-1][1].graph
    diff = census_difference(report.graph, forwards[-1].graph)
    if engine == "atomic":
        assert diff == {"nodes": n + 3, "edges": 2 * n + 2, "params": 0, "constants": 2,
                        "by_op": Counter({"+": n, "*": 1, "const": 2}), "by_stage": Counter({"loss": n + 3})}
    else:
        assert diff == {"nodes": 1, "edges": n, "params": 0, "constants": 0,
                        "by_op": Counter({"mean": 1}), "by_stage": Counter({"loss": 1})}
    assert units[-1][1].matrices == report.matrices
    assert all((d.engine, d.lr, d.steps) == (report.engine, report.lr, report.steps)
               == (engine, trainer.schedule.lr_at(2), trainer.steps) for _, d in units)


def test_the_loss_written_out_on_the_default_dataset() -> None:
    trainer = Trainer(load_dataset("names"))
    step = trainer.begin_step()
    units = walk_units(step)
    document = units[0][1].detail
    assert isinstance(document, DocumentDetail) and document.doc == "mignon" and document.n == 7
    assert document.token_ids == tuple(trainer.dataset.encode("mignon"))
    assert units[0][0].label == "document \u201cmignon\u201d" and units[3][0].label == "forward 3/7 \u201cmignon\u201d"
    loss = next(d.detail for p, d in units if p.kind == "loss")
    assert isinstance(loss, LossDetail) and step.report is not None
    assert plain_sum(loss.position_losses) * (1 / loss.n) == loss.loss == step.report.loss
    assert loss.written().startswith("(3.7721 + 2.9836 + ") and loss.written().endswith(") / 7 = 3.3962")


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_update_detail_is_what_adam_did(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=1, n_embd=8, n_head=2, steps=5), engine)
    for _ in range(2):
        trainer.step()
    config = trainer.config
    step = trainer.begin_step()
    while not (step.phase and step.phase.kind == "backward" and step.phase.index == step.phase.count - 1):
        step.advance()
    before = copy.deepcopy(trainer.params.data)
    grads = copy.deepcopy(trainer.params.grad)
    assert step.advance().kind == "update"
    after = trainer.params.data
    detail = step.detail().detail
    assert isinstance(detail, UpdateDetail)
    assert detail.lr == step.report.lr  # type: ignore[union-attr]
    assert [m.matrix for m in detail.moves] == list(trainer.matrix_names)
    biggest = {}
    for name in trainer.matrix_names:
        changes = [(abs(a - b), r, c) for r, (rb, ra) in enumerate(zip(before[name], after[name]))
                   for c, (b, a) in enumerate(zip(rb, ra))]
        biggest[name] = max(changes)
    for move in detail.moves:
        r, c = move.row, move.col
        assert abs(move.change) == biggest[move.matrix][0]
        assert (move.before, move.after) == (before[move.matrix][r][c], after[move.matrix][r][c])
        assert move.grad == grads[move.matrix][r][c]
        assert (move.m, move.v) == (trainer.adam.m[move.matrix][r][c], trainer.adam.v[move.matrix][r][c])
        assert move.m_hat == move.m / (1 - config.beta1 ** 3) and move.v_hat == move.v / (1 - config.beta2 ** 3)
        assert move.before - detail.lr * move.m_hat / (move.v_hat ** 0.5 + config.eps) == move.after
    assert detail.largest == max(biggest, key=lambda name: biggest[name][0])
    trainer.step()  # a later step leaves the detail of this one as it was
    assert step.detail().detail == detail


@pytest.mark.parametrize("data", ["names", "unicode"])
def test_atomic_node_counts_position_by_position(data: str) -> None:
    trainer = Trainer(dataset(data), Config(n_layer=2, n_embd=8, n_head=2, block_size=6, steps=2), "atomic")
    step = trainer.begin_step()
    step.advance()
    assert step.detail().graph.nodes == 0  # nothing built yet
    for p in range(step.n):
        assert step.advance().kind == "forward"
        graph = step.detail().graph
        reachable: set[int] = set()  # an independent count: every node reachable from the losses so far
        edges = 0
        todo = list(step.position_losses)
        while todo:
            node = todo.pop()
            if id(node) in reachable:
                continue
            reachable.add(id(node))
            edges += len(node.children)
            todo += node.children
        assert (graph.nodes, graph.edges) == (len(reachable), edges), f"position {p}"
        assert graph.depth == max(loss.height for loss in step.position_losses)


# ---- probes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_a_probe_changes_nothing(engine: str) -> None:
    ds = load_dataset("names")
    config = Config(n_layer=2, n_embd=8, n_head=2, steps=4)
    probed, plain = Trainer(ds, config, engine), Trainer(ds, config, engine)
    for trainer in (probed, plain):
        trainer.step()
    probed.probe("emma")
    assert same(probed, plain)
    for trainer, probe in ((probed, True), (plain, False)):
        step = trainer.begin_step()
        while not step.finished:
            phase = step.advance()
            if probe and (phase.kind in ("document", "loss", "update") or phase.index == 1):
                trainer.probe("xqzt")  # in the middle of the step in progress, at every kind of unit
                trainer.probe("emma")
    assert same(probed, plain)
    assert bits(probed.step().loss) == bits(plain.step().loss) and same(probed, plain)


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_a_probe_of_the_document_is_the_steps_forward_pass(engine: str) -> None:
    trainer = Trainer(dataset("unicode"), Config(n_layer=2, n_embd=8, n_head=2, block_size=8, steps=3), engine)
    trainer.step()
    step = trainer.begin_step()
    step.advance()
    probe = trainer.probe(step.doc)
    forwards = []
    for _ in range(step.n):
        step.advance()
        forwards.append(step.detail().detail)
    step.finish()
    report = step.report
    assert report is not None and probe.engine == engine and probe.word == step.doc
    assert (probe.loss, probe.position_losses, probe.attention) == (report.loss, report.position_losses,
                                                                       report.attention)
    assert (probe.tokens, probe.targets) == (report.tokens, report.targets)
    assert probe.positions == tuple(forwards)
    assert probe.graph == report.graph


def test_probe_refuses_characters_outside_the_dataset() -> None:
    trainer = Trainer(load_dataset("names"), Config(steps=2))
    with pytest.raises(ProbeError, match="^\u201cQ\u201d, \u201c1\u201d are not in the dataset's characters$"):
        trainer.probe("aQb1Q")
    with pytest.raises(ProbeError, match="^\u201c \u201d is not"):
        trainer.probe("emma jane")
    assert isinstance(ProbeError("x"), ValueError)
    assert len(trainer.probe("x" * 40).position_losses) == trainer.config.block_size  # cut like a document


# ---- the units' contract -----------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_a_unit_that_diverges_leaves_the_weights_and_kills_the_step(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(lr=50.0, steps=10), engine)
    trainer.step()
    before = bits(state(trainer))
    step = trainer.begin_step()
    kinds = []
    with pytest.raises(TrainingDiverged, match="learning rate"):
        while True:
            kinds.append(step.advance().kind)
    assert "update" not in kinds
    after = bits(state(trainer))
    del before["grads"], after["grads"]  # the document unit zeroed them, and the failed unit may have added some
    assert after == before and trainer.step_count == 1
    with pytest.raises(RuntimeError, match="diverged"):
        step.advance()


def test_detail_before_the_first_unit_is_an_error() -> None:
    step = Trainer(load_dataset("names"), Config(steps=2)).begin_step()
    with pytest.raises(RuntimeError, match="advance"):
        step.detail()


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_source_spans_are_the_engines_own_lines(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=1, n_embd=8, n_head=2, steps=2), engine)
    seen = set()
    for phase, d in walk_units(trainer.begin_step()):
        assert d.source, phase.label
        for span in d.source:
            assert span.path.startswith("microgpt/") and span.path.endswith(".py")
            text = (REPO / span.path).read_text(encoding="utf-8").splitlines()
            assert tuple(text[span.first_line - 1:span.first_line - 1 + len(span.lines)]) == span.lines
            assert_inside_function(text, span.first_line - 1, span.title.rpartition(".")[2])
            assert len(span.lines) <= 60  # a function or part of one
            seen.add(span.title)
    assert "Adam.update" in seen and "StepInProgress._document" in seen
    assert ("chain_rule" in seen) == (engine == "atomic") and ("Head.__init__" in seen) == (engine == "fused")


def assert_inside_function(text: list[str], first: int, name: str) -> None:
    """Line `first` (0-based) of the file is in the body of the function `name` (or is its def or decorator)."""
    at = first
    while text[at].lstrip().startswith("@"):
        at += 1
    first = max(first, at)
    while not text[at].lstrip().startswith(f"def {name}("):
        at -= 1
        assert at >= 0, name
    indent = len(text[at]) - len(text[at].lstrip())
    for line in text[at + 1:first + 1]:
        assert not line.strip() or len(line) - len(line.lstrip()) > indent, (name, line)


# what each unit's number is computed by, in each engine's source
EXPRESSIONS = {
    "fused": {"forward": ("plain_dot(q, c.data[e + lo:e + lo + hd]) * scale", "math.exp(v + -max_val)",
                          "weights = [x * pw for x in exps]", "math.log(p) * -1"),
              "loss": ("plain_sum([x.data for x in losses]) * c",)},
    "atomic": {"forward": ("ag.mul_const(ag.dot(q_h, k_t, st), inv_sqrt, st)", "self.softmax(logits, st)",
                           "ag.power(tot, -1, stage)", "ag.mul_const(ag.log(prob, st), -1, st)"),
               "loss": ("ag.mul_const(ag.total(losses, ag.LOSS), 1 / len(losses), ag.LOSS)",)},
}


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_source_spans_are_the_lines_computing_the_units_numbers(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=1, n_embd=8, n_head=2, steps=2), engine)
    adam = "pi - lr_t * (mi / d1) / ((vi / d2) ** 0.5 + eps)"
    for phase, d in walk_units(trainer.begin_step()):
        shown = "\n".join(line for span in d.source for line in span.lines)
        for expression in {**EXPRESSIONS[engine], "update": (adam,)}.get(phase.kind, ()):
            assert expression in shown, (phase.label, expression)
        if phase.kind == "forward":  # the scores, the softmax and -log p, not the forward's setup
            assert "self.config" not in shown and "w, g = " not in shown and "fu.Embed" not in shown
            assert sum(len(span.lines) for span in d.source) <= 20, phase.label


def test_phase_labels() -> None:
    assert Phase(1, "forward", 2, 7, "mignon", 2).label == "forward 3/7 \u201cmignon\u201d"
    assert Phase(1, "loss", 0, 1, "mignon").label == "loss" and Phase(1, "update", 0, 1).label == "update"
    assert Phase(1, "backward", 1, 35, "mignon", 6, ("lm_head",)).label == "backward 2/35: position 6 \u00b7 lm_head"
    assert Phase(1, "backward", 4, 49, "mignon", 6, ("mlp",), 1).label == "backward 5/49: position 6 \u00b7 layer 1 mlp"

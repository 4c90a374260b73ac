"""Finite-difference checks: every atomic operation, every fused operation, and the whole model."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from microgpt import autograd as ag
from microgpt import fused as fu
from microgpt.config import Config
from microgpt.data import load_dataset
from microgpt.trainer import Trainer

H = 1e-6


def close(analytic: float, numeric: float, tol: float = 1e-5) -> bool:
    """Relative agreement, with an absolute floor for gradients near 0."""
    return abs(analytic - numeric) <= tol * max(1.0, abs(analytic), abs(numeric))


# ---- atomic operations -------------------------------------------------------------------------------------

UNARY: dict[str, Callable[[ag.Value], ag.Value]] = {
    "add_const": lambda a: ag.add_const(a, 0.7, ag.LOSS),
    "mul_const": lambda a: ag.mul_const(a, -1.3, ag.LOSS),
    "power -1": lambda a: ag.power(a, -1, ag.LOSS),
    "power -0.5": lambda a: ag.power(a, -0.5, ag.LOSS),
    "log": lambda a: ag.log(a, ag.LOSS),
    "exp": lambda a: ag.exp(a, ag.LOSS),
    "relu": lambda a: ag.relu(a, ag.LOSS),
    "square by mul": lambda a: ag.mul(a, a, ag.LOSS),
}


POSITIVE_ONLY = ("log", "power -0.5")  # defined for x > 0 only


@pytest.mark.parametrize(("name", "x"), [(name, x) for name in UNARY for x in (0.37, 1.9, -0.8)
                                         if x > 0 or name not in POSITIVE_ONLY])
def test_atomic_unary(name: str, x: float) -> None:
    op = UNARY[name]
    leaf = ag.Value(x)
    ag.backward(op(leaf))
    numeric = (op(ag.Value(x + H)).data - op(ag.Value(x - H)).data) / (2 * H)
    assert close(leaf.grad, numeric)


@pytest.mark.parametrize("name", ["add", "mul", "total"])
def test_atomic_binary(name: str) -> None:
    def f(a: float, b: float, c: float) -> tuple[ag.Value, list[ag.Value]]:
        leaves = [ag.Value(a), ag.Value(b), ag.Value(c)]
        x, y, z = leaves
        if name == "add":
            out = ag.add(ag.add(x, y, ag.LOSS), ag.mul(z, x, ag.LOSS), ag.LOSS)
        elif name == "mul":
            out = ag.mul(ag.mul(x, y, ag.LOSS), ag.add(z, y, ag.LOSS), ag.LOSS)
        else:
            out = ag.total([ag.mul(x, y, ag.LOSS), z, ag.exp(x, ag.LOSS)], ag.LOSS)
        return out, leaves

    point = [0.3, -1.1, 0.6]
    out, leaves = f(*point)
    ag.backward(out)
    for i, leaf in enumerate(leaves):
        up = list(point)
        down = list(point)
        up[i] += H
        down[i] -= H
        numeric = (f(*up)[0].data - f(*down)[0].data) / (2 * H)
        assert close(leaf.grad, numeric), (name, i)


# ---- fused operations --------------------------------------------------------------------------------------

class Leaf(fu.Node):
    """An input vector."""

    __slots__ = ()

    def __init__(self, data: list[float]) -> None:
        self.data = list(data)
        self.grad = [0.0] * len(data)
        self.children = ()

    def backward_step(self) -> None:
        pass


class Probe(fu.Node):
    """A scalar root: a fixed random weighting of a vector node's outputs."""

    __slots__ = ("c",)

    def __init__(self, y: fu.Node, seed: int = 3) -> None:
        rng = random.Random(seed)
        self.c = [rng.uniform(-1, 1) for _ in y.data]
        self.data = sum(ci * yi for ci, yi in zip(self.c, y.data))
        self.grad = 0.0
        self.children = (y,)

    def backward_step(self) -> None:
        y = self.children[0]
        y.grad = [g + ci * self.grad for g, ci in zip(y.grad, self.c)]


def vec(n: int, seed: int, scale: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0, scale) for _ in range(n)]


def mat(rows: int, cols: int, seed: int) -> list[list[float]]:
    return [vec(cols, seed * 1000 + r, 0.5) for r in range(rows)]


def zeros(m: list[list[float]]) -> list[list[float]]:
    return [[0.0] * len(r) for r in m]


def check_fused(build: Callable[[dict[str, list[float]], dict[str, list[list[float]]], dict[str, list[list[float]]]],
                                fu.Node],
                inputs: dict[str, list[float]], mats: dict[str, list[list[float]]]) -> None:
    """Backward once, then compare every input's and weight's gradient with central differences."""

    def run(inp: dict[str, list[float]], ms: dict[str, list[list[float]]]) -> tuple[fu.Node, dict[str, Leaf], dict]:
        grads = {k: zeros(m) for k, m in ms.items()}
        leaves: dict[str, Leaf] = {}
        root = build({k: v for k, v in inp.items()}, ms, grads)
        for node in ag.topological_order(root):
            if isinstance(node, Leaf):
                for k, v in inp.items():
                    if node.data == v and k not in leaves:
                        leaves[k] = node
        return root, leaves, grads

    root, leaves, grads = run(inputs, mats)
    ag.backward(root)

    def loss(inp: dict[str, list[float]], ms: dict[str, list[list[float]]]) -> float:
        return float(run(inp, ms)[0].data)

    for key, values in inputs.items():
        for i in range(len(values)):
            up = {k: list(v) for k, v in inputs.items()}
            down = {k: list(v) for k, v in inputs.items()}
            up[key][i] += H
            down[key][i] -= H
            numeric = (loss(up, mats) - loss(down, mats)) / (2 * H)
            assert close(leaves[key].grad[i], numeric), (key, i, leaves[key].grad[i], numeric)
    for key, m in mats.items():
        for r in range(len(m)):
            for c in range(len(m[0])):
                up = {k: [list(row) for row in v] for k, v in mats.items()}
                down = {k: [list(row) for row in v] for k, v in mats.items()}
                up[key][r][c] += H
                down[key][r][c] -= H
                numeric = (loss(inputs, up) - loss(inputs, down)) / (2 * H)
                assert close(grads[key][r][c], numeric), (key, r, c)


def test_fused_embed() -> None:
    mats = {"wte": mat(5, 4, 1), "wpe": mat(3, 4, 2)}
    check_fused(lambda i, m, g: Probe(fu.RMSNorm(fu.Embed(m["wte"], m["wpe"], g["wte"], g["wpe"], 2, 1),
                                                 "embedding")), {}, mats)


def test_fused_rmsnorm() -> None:
    check_fused(lambda i, m, g: Probe(fu.RMSNorm(Leaf(i["x"]), "mlp")), {"x": vec(6, 1)}, {})


@pytest.mark.parametrize("relu", [False, True])
def test_fused_linear(relu: bool) -> None:
    check_fused(lambda i, m, g: Probe(fu.Linear(m["w"], g["w"], "w", Leaf(i["x"]), "mlp", relu=relu)),
                {"x": vec(4, 2)}, {"w": mat(7, 4, 3)})


def test_fused_residual_and_concat() -> None:
    def build(i: dict, m: dict, g: dict) -> fu.Node:
        parts = (Leaf(i["a"]), Leaf(i["b"]))
        return Probe(fu.Residual(m["w"], g["w"], "w", fu.Concat(parts), Leaf(i["r"]), "attention"))

    check_fused(build, {"a": vec(2, 4), "b": vec(3, 5), "r": vec(4, 6)}, {"w": mat(4, 5, 7)})


@pytest.mark.parametrize("positions", [1, 3])
def test_fused_attention(positions: int) -> None:
    """QKV and attention heads over a KV cache of several positions, then concatenated heads."""
    n_embd, n_head = 4, 2

    def build(i: dict, m: dict, g: dict) -> fu.Node:
        cache: list[fu.QKV] = []
        outs = []
        for p in range(positions):
            qkv = fu.QKV((m["q"], m["k"], m["v"]), (g["q"], g["k"], g["v"]), ("q", "k", "v"),
                         Leaf(i[f"x{p}"]), n_head, first=p == 0)
            cache.append(qkv)
            heads = tuple(fu.Head(cache, h * 2, 2) for h in range(n_head))
            outs.append(fu.Concat(heads))
        return Probe(fu.Concat(tuple(outs)))

    inputs = {f"x{p}": vec(n_embd, 10 + p) for p in range(positions)}
    check_fused(build, inputs, {"q": mat(4, 4, 11), "k": mat(4, 4, 12), "v": mat(4, 4, 13)})


def test_fused_cross_entropy_and_mean() -> None:
    def build(i: dict, m: dict, g: dict) -> fu.Node:
        losses = []
        for t, key in enumerate(("x0", "x1")):
            logits = fu.Linear(m["w"], g["w"], "w", Leaf(i[key]), "lm_head")
            losses.append(fu.CrossEntropy(logits, target=2 * t + 1))
        return fu.Mean(losses)

    check_fused(build, {"x0": vec(3, 20), "x1": vec(3, 21)}, {"w": mat(5, 3, 22)})


# ---- the whole model ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_whole_model_gradient(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=2, n_embd=8, n_head=2, steps=10), engine=engine)
    for _ in range(3):  # move away from the initial point
        trainer.step()
    step = trainer.begin_step()
    while not (step.phase and step.phase.kind == "backward" and step.phase.index == step.phase.count - 1):
        step.advance()  # up to the last backward piece: every gradient is in, the weights not yet moved
    grads = {name: [list(row) for row in g] for name, g in trainer.params.grad.items()}
    rng = random.Random(0)
    doc_rows = set(trainer.dataset.encode(step.doc))
    checked = 0
    for name, w in trainer.params.data.items():
        rows = sorted(doc_rows) if name == "wte" else range(len(w))
        if name == "wpe":
            rows = range(step.n)
        for r in rng.sample(list(rows), min(3, len(rows))):
            c = rng.randrange(len(w[0]))
            original = w[r][c]
            w[r][c] = original + H
            up = trainer.probe(step.doc).loss
            w[r][c] = original - H
            down = trainer.probe(step.doc).loss
            w[r][c] = original
            numeric = (up - down) / (2 * H)
            assert close(grads[name][r][c], numeric, 1e-4), (name, r, c, grads[name][r][c], numeric)
            checked += 1
    assert checked >= 30
    assert not math.isnan(sum(sum(row) for g in grads.values() for row in g))

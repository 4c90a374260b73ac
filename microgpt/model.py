"""The GPT: its parameters in the reference's order, and the per-token forward pass with a KV cache.

Two forwards compute the same numbers. `AtomicForward` builds the reference's graph, one `Value` per scalar
operation; `FusedForward` builds one node per vector operation (`microgpt.fused`). Both take one token at a
position and extend the document's KV cache, exactly as the reference's `gpt()` does:

    x = rmsnorm(wte[token] + wpe[pos])
    per layer:  x = x + attn_wo . heads(rmsnorm(x)),   x = x + mlp_fc2 . relu(mlp_fc1 . rmsnorm(x))
    logits = lm_head . x

`MODES` names the two graph modes; a `GraphMode` is all the trainer needs of one (its forward, its backward
over a stretch of the walk, its census), so the trainer never asks which mode it has.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from microgpt import autograd as ag
from microgpt import fused as fu
from microgpt.autograd import Value
from microgpt.config import Config
from microgpt.report import GraphCensus

Matrix = list[list[float]]


def matrix_shapes(config: Config, vocab_size: int) -> list[tuple[str, int, int]]:
    """(name, rows, cols) of every matrix, in the reference's order (also the flat parameter order)."""
    e = config.n_embd
    shapes = [("wte", vocab_size, e), ("wpe", config.block_size, e), ("lm_head", vocab_size, e)]
    for i in range(config.n_layer):
        shapes += [
            (f"layer{i}.attn_wq", e, e),
            (f"layer{i}.attn_wk", e, e),
            (f"layer{i}.attn_wv", e, e),
            (f"layer{i}.attn_wo", e, e),
            (f"layer{i}.mlp_fc1", 4 * e, e),
            (f"layer{i}.mlp_fc2", e, 4 * e),
        ]
    return shapes


@dataclass
class Params:
    """The weights and their gradients: one [rows][cols] list of floats per matrix, by reference name."""

    data: dict[str, Matrix]
    grad: dict[str, Matrix]

    @classmethod
    def init(cls, config: Config, vocab_size: int, rng: random.Random) -> Params:
        """One gauss(0, init_std) per weight, matrix by matrix, row-major: the reference's draws."""
        std = config.init_std
        data = {
            name: [[rng.gauss(0, std) for _ in range(cols)] for _ in range(rows)]
            for name, rows, cols in matrix_shapes(config, vocab_size)
        }
        return cls(data, {name: [[0.0] * len(w[0]) for _ in w] for name, w in data.items()})

    @property
    def names(self) -> list[str]:
        """Matrix names in order."""
        return list(self.data)

    def count(self) -> int:
        """Number of scalar parameters."""
        return sum(len(w) * len(w[0]) for w in self.data.values())

    def zero_grad(self) -> None:
        """Every gradient back to 0."""
        for name, w in self.data.items():
            n = len(w[0])
            self.grad[name] = [[0.0] * n for _ in w]

    def flat(self) -> list[float]:
        """All weights in the flat parameter order."""
        return [x for w in self.data.values() for row in w for x in row]

    def flat_grad(self) -> list[float]:
        """All gradients in the flat parameter order."""
        return [x for g in self.grad.values() for row in g for x in row]


@dataclass
class Output:
    """What one position's forward leaves behind: the logits node and each layer's attention rows."""

    logits: Any  # a list of Value (atomic) or a fu.Linear node (fused)
    logit_data: list[float]
    attention: list[list[list[float]]]  # [layer][head] -> weights over positions 0..pos
    scores: list[list[list[float]]]  # [layer][head] -> q.k / sqrt(head_dim) over positions 0..pos


class AtomicForward:
    """The reference's forward, one Value node per scalar operation."""

    def __init__(self, params: Params, config: Config) -> None:
        self.config = config
        self.p = {name: [[Value(x) for x in row] for row in w] for name, w in params.data.items()}
        self.keys: list[list[list[Value]]] = [[] for _ in range(config.n_layer)]
        self.values: list[list[list[Value]]] = [[] for _ in range(config.n_layer)]

    def collect_grads(self, params: Params) -> None:
        """Copy the leaves' gradients into params.grad."""
        params.grad.update(self.grads(params))

    def grads(self, params: Params) -> dict[str, Matrix]:
        """The gradients accumulated in the parameter leaves so far."""
        return {name: [[float(v.grad) for v in row] for row in w] for name, w in self.p.items()}

    @staticmethod
    def linear(x: list[Value], w: list[list[Value]], stage: ag.Stage) -> list[Value]:
        """One dot product per row: sum(w_i * x_i) from 0."""
        return [ag.dot(row, x, stage) for row in w]

    @staticmethod
    def rmsnorm(x: list[Value], stage: ag.Stage) -> list[Value]:
        """x * (sum(x_i * x_i) / n + 1e-5) ** -0.5."""
        ms = ag.mul_const(ag.dot(x, x, stage), len(x) ** -1, stage)
        scale = ag.power(ag.add_const(ms, 1e-5, stage), -0.5, stage)
        return [ag.mul(xi, scale, stage) for xi in x]

    @staticmethod
    def softmax(logits: list[Value], stage: ag.Stage) -> list[Value]:
        """exp(l - max) / sum, each output with its own total ** -1."""
        max_val = max(v.data for v in logits)
        exps = [ag.exp(ag.add_const(v, -max_val, stage), stage) for v in logits]
        tot = ag.total(exps, stage)
        return [ag.mul(e, ag.power(tot, -1, stage), stage) for e in exps]

    def __call__(self, token: int, pos: int) -> Output:
        c = self.config
        p = self.p
        hd = c.head_dim
        inv_sqrt = (hd ** 0.5) ** -1
        x = [ag.add(t, q, ag.EMBEDDING) for t, q in zip(p["wte"][token], p["wpe"][pos])]
        x = self.rmsnorm(x, ag.EMBEDDING)
        attention = []
        scores = []
        for li in range(c.n_layer):
            st = ag.ATTENTION
            x_residual = x
            x = self.rmsnorm(x, st)
            q = self.linear(x, p[f"layer{li}.attn_wq"], st)
            k = self.linear(x, p[f"layer{li}.attn_wk"], st)
            v = self.linear(x, p[f"layer{li}.attn_wv"], st)
            self.keys[li].append(k)
            self.values[li].append(v)
            x_attn: list[Value] = []
            rows = []
            scaled = []
            for h in range(c.n_head):
                hs = h * hd
                q_h = q[hs:hs + hd]
                k_h = [ki[hs:hs + hd] for ki in self.keys[li]]
                v_h = [vi[hs:hs + hd] for vi in self.values[li]]
                # inside: attention-scores
                logits = [ag.mul_const(ag.dot(q_h, k_t, st), inv_sqrt, st) for k_t in k_h]
                weights = self.softmax(logits, st)
                # inside: end
                scaled.append([v.data for v in logits])
                rows.append([w.data for w in weights])
                x_attn += [ag.dot(weights, [v_t[j] for v_t in v_h], st) for j in range(hd)]
            attention.append(rows)
            scores.append(scaled)
            x = self.linear(x_attn, p[f"layer{li}.attn_wo"], st)
            x = [ag.add(a, b, st) for a, b in zip(x, x_residual)]
            st = ag.MLP
            x_residual = x
            x = self.rmsnorm(x, st)
            x = self.linear(x, p[f"layer{li}.mlp_fc1"], st)
            x = [ag.relu(xi, st) for xi in x]
            x = self.linear(x, p[f"layer{li}.mlp_fc2"], st)
            x = [ag.add(a, b, st) for a, b in zip(x, x_residual)]
        logits = self.linear(x, p["lm_head"], ag.LM_HEAD)
        return Output(logits, [v.data for v in logits], attention, scores)

    @staticmethod
    def position_loss(logits: list[Value], target: int) -> Value:
        """-log softmax(logits)[target]; only the target's probability is built (the rest is unreachable)."""
        st = ag.LOSS
        max_val = max(v.data for v in logits)
        exps = [ag.exp(ag.add_const(v, -max_val, st), st) for v in logits]
        tot = ag.total(exps, st)
        prob = ag.mul(exps[target], ag.power(tot, -1, st), st)
        return ag.mul_const(ag.log(prob, st), -1, st)

    @staticmethod
    def mean_loss(losses: list[Value]) -> Value:
        """(1 / n) * sum(losses)."""
        return ag.mul_const(ag.total(losses, ag.LOSS), 1 / len(losses), ag.LOSS)


class FusedForward:
    """The same forward, one fused node per vector operation."""

    def __init__(self, params: Params, config: Config) -> None:
        self.config = config
        self.params = params
        self.cache: list[list[fu.QKV]] = [[] for _ in range(config.n_layer)]

    def collect_grads(self, params: Params) -> None:
        """Nothing to do: the fused nodes add their gradients straight into params.grad."""

    def grads(self, params: Params) -> dict[str, Matrix]:
        """The gradients accumulated so far."""
        return params.grad

    def __call__(self, token: int, pos: int) -> Output:
        c = self.config
        w, g = self.params.data, self.params.grad
        hd = c.head_dim
        x: fu.Node = fu.Embed(w["wte"], w["wpe"], g["wte"], g["wpe"], token, pos)
        x = fu.RMSNorm(x, "embedding")
        attention = []
        scores = []
        for li in range(c.n_layer):
            pre = f"layer{li}."
            names = (pre + "attn_wq", pre + "attn_wk", pre + "attn_wv")
            xn = fu.RMSNorm(x, "attention")
            qkv = fu.QKV((w[names[0]], w[names[1]], w[names[2]]), (g[names[0]], g[names[1]], g[names[2]]),
                         names, xn, c.n_head, first=not self.cache[li])
            cache = self.cache[li]
            cache.append(qkv)
            heads = tuple(fu.Head(cache, h * hd, hd) for h in range(c.n_head))
            attention.append([h.weights for h in heads])
            scores.append([h.logits for h in heads])
            name = pre + "attn_wo"
            x = fu.Residual(w[name], g[name], name, fu.Concat(heads), x, "attention")
            xn = fu.RMSNorm(x, "mlp")
            name = pre + "mlp_fc1"
            hidden = fu.Linear(w[name], g[name], name, xn, "mlp", relu=True)
            name = pre + "mlp_fc2"
            x = fu.Residual(w[name], g[name], name, hidden, x, "mlp")
        logits = fu.Linear(w["lm_head"], g["lm_head"], "lm_head", x, "lm_head")
        return Output(logits, logits.data, attention, scores)

    @staticmethod
    def position_loss(logits: fu.Linear, target: int) -> fu.CrossEntropy:
        """-log softmax(logits)[target]."""
        return fu.CrossEntropy(logits, target)

    @staticmethod
    def mean_loss(losses: list[fu.CrossEntropy]) -> fu.Mean:
        """(1 / n) * sum(losses)."""
        return fu.Mean(losses)


Forward = AtomicForward | FusedForward
Code = tuple[Callable[..., Any], str | None]  # a function of the engine and the part of it shown (None: all)


@dataclass(frozen=True)
class GraphMode:
    """One way to build a document's graph: everything the trainer needs of it, so it never asks which."""

    name: str
    forward: Callable[[Params, Config], Forward]  # a document's forward, position by position
    backprop: Callable[[Sequence[Any]], None]  # the chain rule over a stretch of the walk, last node first
    census: Callable[[Sequence[Any], Sequence[Any]], GraphCensus]  # count a walk from these roots
    split_stages: bool  # backward pieces are also cut where the model stage changes (too often in atomic)
    layer_of: Callable[[Sequence[Any]], int | None]  # the one layer a backward piece runs through, if it has one
    forward_source: tuple[Code, ...]  # the code computing one forward position's scores, softmax and loss
    loss_source: tuple[Code, ...]  # the code of the mean loss


MODES: dict[str, GraphMode] = {
    "fused": GraphMode("fused", FusedForward, fu.backprop, fu.fused_census, True, fu.layer_of,
                       ((fu.Head.__init__, "attention-scores"), (fu.CrossEntropy.__init__, "position-loss")),
                       ((fu.Mean.__init__, None),)),
    "atomic": GraphMode("atomic", AtomicForward, ag.chain_rule, ag.atomic_census, False, ag.no_layer,
                        ((AtomicForward.__call__, "attention-scores"), (AtomicForward.softmax, None),
                         (AtomicForward.position_loss, None)),
                        ((AtomicForward.mean_loss, None), (ag.total, None))),
}

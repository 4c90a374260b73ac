"""Fused graph nodes: one node per vector operation of the model, bit-identical to the atomic graph.

Each node computes its whole operation (an embedding, an rmsnorm, a linear layer, one attention head, a
cross-entropy, the mean loss) on plain floats, with every float operation in the reference's order and form
(`b ** -1` then a multiply, `x * x`, sums from 0, left to right). Its `children` are the nodes below it in the
order the reference's depth-first search first meets them, so the fused graph walks the same order. Its
`backward_step()` replays the accumulations the reference's atomic subgraph performs, in reverse post-order: that
is what keeps every gradient equal to the last bit while building some twenty times fewer nodes.

Vectors are lists of floats; a node's grad is a list of the same length (a float for scalar nodes).
Parameters are rows of the model's matrices; each node adds into the matching rows of the gradient matrices.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from operator import add, mul
from typing import Any

from microgpt.autograd import STAGES
from microgpt.floats import plain_dot, plain_sum
from microgpt.report import GraphCensus

Vector = list[float]
Matrix = list[list[float]]


def backprop_rows(w: Matrix, gw: Matrix, xs: Vector, g_out: Vector, order: Sequence[int], gx: Vector) -> Vector:
    """Backward of y_j = w_j . x for the rows in `order`, the order the reference processes their nodes in.

    Adds x * g_j into each row gw[j], and returns gx plus every w_j * g_j, accumulated element by element in
    `order` (a dot product down each column of w). A row whose g_j is 0 adds only +-0.0 to gw: skipped.
    """
    gs = [g_out[j] for j in order]
    for j, g in zip(order, gs):
        if g:
            row = gw[j]
            row[:] = map(add, row, map(mul, xs, repeat(g)))
    columns = zip(*[w[j] for j in order])
    return [plain_sum(map(mul, col, gs), start) for col, start in zip(columns, gx)]


class Node:
    """A fused operation: `data`, `grad`, `children` in reference visit order, and its backward step."""

    __slots__ = ("data", "grad", "children")
    op = "node"
    stage = "loss"

    data: Any
    grad: Any
    children: tuple[Node, ...]

    @property
    def kind(self) -> Node:
        """What made the node (its `op`) and where (its `stage`): the node itself, as `Value.kind` for atoms."""
        return self

    def backward_step(self) -> None:
        """Add this node's contributions to its children's and parameters' grads."""
        raise NotImplementedError

    def params_read(self) -> tuple[tuple[str, int | None, int], ...]:
        """The parameters this node reads: (matrix name, row or None for all rows, how many scalars)."""
        return ()


class Embed(Node):
    """x = wte[token] + wpe[pos]."""

    __slots__ = ("wte", "wpe", "gwte", "gwpe", "rows")
    op = "embed"
    stage = "embedding"

    def __init__(self, wte: Matrix, wpe: Matrix, gwte: Matrix, gwpe: Matrix, token: int, pos: int) -> None:
        self.data = list(map(add, wte[token], wpe[pos]))
        self.grad = [0.0] * len(self.data)
        self.children = ()
        self.gwte, self.gwpe, self.rows = gwte, gwpe, (token, pos)

    def backward_step(self) -> None:
        token, pos = self.rows
        g = self.grad
        self.gwte[token] = list(map(add, self.gwte[token], g))
        self.gwpe[pos] = list(map(add, self.gwpe[pos], g))

    def params_read(self) -> tuple[tuple[str, int | None, int], ...]:
        n = len(self.data)
        return (("wte", self.rows[0], n), ("wpe", self.rows[1], n))


class RMSNorm(Node):
    """y = x * (mean(x * x) + 1e-5) ** -0.5, one scale shared by every output."""

    __slots__ = ("scale", "ms_eps", "stage")
    op = "rmsnorm"

    def __init__(self, x: Node, stage: str) -> None:
        xs = x.data
        ms = plain_sum(list(map(mul, xs, xs))) * len(xs) ** -1
        self.ms_eps = ms + 1e-5
        self.scale = scale = self.ms_eps ** -0.5
        self.data = [xi * scale for xi in xs]
        self.grad = [0.0] * len(xs)
        self.children = (x,)
        self.stage = stage

    def backward_step(self) -> None:
        x = self.children[0]
        xs, g, gx = x.data, self.grad, x.grad
        scale = self.scale
        n = len(xs)
        g_scale = 0.0
        for i in range(n - 1, -1, -1):  # outputs were first visited 0..n-1: their muls run n-1..0
            gx[i] += scale * g[i]
            g_scale += xs[i] * g[i]
        g_ms = -0.5 * self.ms_eps ** -1.5 * g_scale  # through (ms + eps) ** -0.5, then the + eps
        g_sq = n ** -1 * g_ms  # through sum * (1/n), then each + in the sum passes it on
        for i in range(n - 1, -1, -1):  # xi * xi: two separate contributions
            t = xs[i] * g_sq
            gx[i] += t
            gx[i] += t


class Linear(Node):
    """y = W x: one dot product per row of W, each from 0, left to right; rows visited in `order`."""

    __slots__ = ("w", "gw", "name", "visit", "pre", "stage")
    op = "linear"

    def __init__(self, w: Matrix, gw: Matrix, name: str, x: Node, stage: str, relu: bool = False) -> None:
        xs = x.data
        pre = [plain_sum(map(mul, row, xs)) for row in w]
        self.pre: Vector | None
        if relu:
            self.pre = pre
            self.data = [v if v > 0 else 0.0 for v in pre]
        else:
            self.pre = None
            self.data = pre
        self.grad = [0.0] * len(pre)
        self.children = (x,)
        self.w, self.gw, self.name = w, gw, name
        self.visit: range | list[int] = range(len(pre))
        self.stage = stage

    def backward_step(self) -> None:
        x = self.children[0]
        g_out = self.grad
        if self.pre is not None:  # relu: float(pre > 0) * g
            g_out = [g if p > 0 else 0.0 * g for g, p in zip(g_out, self.pre)]
        x.grad = backprop_rows(self.w, self.gw, x.data, g_out, self.visit[::-1], x.grad)

    def params_read(self) -> tuple[tuple[str, int | None, int], ...]:
        return ((self.name, None, len(self.w) * len(self.w[0])),)


class Residual(Node):
    """y = W x + r: a linear layer whose rows each add the residual stream r."""

    __slots__ = ("w", "gw", "name", "stage")
    op = "linear+residual"

    def __init__(self, w: Matrix, gw: Matrix, name: str, x: Node, r: Node, stage: str) -> None:
        xs = x.data
        self.data = [plain_sum(map(mul, row, xs)) + ri for row, ri in zip(w, r.data)]
        self.grad = [0.0] * len(w)
        self.children = (x, r)
        self.w, self.gw, self.name, self.stage = w, gw, name, stage

    def backward_step(self) -> None:
        x, r = self.children
        g_out = self.grad
        r.grad = list(map(add, r.grad, g_out))  # each row's "+ r_j" passes g_j to r_j
        x.grad = backprop_rows(self.w, self.gw, x.data, g_out, range(len(g_out) - 1, -1, -1), x.grad)

    def params_read(self) -> tuple[tuple[str, int | None, int], ...]:
        return ((self.name, None, len(self.w) * len(self.w[0])),)


class Concat(Node):
    """The heads' outputs side by side: a view that passes gradients straight through."""

    __slots__ = ()
    op = "concat"
    stage = "attention"

    def __init__(self, parts: tuple[Node, ...]) -> None:
        self.data = [v for p in parts for v in p.data]
        self.grad = [0.0] * len(self.data)
        self.children = parts

    def backward_step(self) -> None:
        g = self.grad
        start = 0
        for part in self.children:
            n = len(part.data)
            part.grad = list(map(add, part.grad, g[start:start + n]))
            start += n


class QKV(Node):
    """q, k and v of one position: three linear maps of the same normalised x, rows in reference visit order."""

    __slots__ = ("ws", "gws", "names", "n_embd", "first", "n_head")
    op = "qkv"
    stage = "attention"

    def __init__(self, ws: tuple[Matrix, Matrix, Matrix], gws: tuple[Matrix, Matrix, Matrix],
                 names: tuple[str, str, str], x: Node, n_head: int, first: bool) -> None:
        xs = x.data
        self.data = [plain_sum(map(mul, row, xs)) for w in ws for row in w]
        self.grad = [0.0] * len(self.data)
        self.children = (x,)
        self.ws, self.gws, self.names = ws, gws, names
        self.n_embd = len(xs)
        self.n_head = n_head
        self.first = first  # position 0: its own k is met in the first attention logit

    def visit_order(self) -> list[int]:
        """Rows (0..3E-1 over q, k, v) in the order the reference's search first meets them."""
        e, h_n = self.n_embd, self.n_head
        hd = e // h_n
        order: list[int] = []
        for h in range(h_n):
            qs = range(h * hd, h * hd + hd)
            if self.first:  # logit t=0 pairs q_j with this position's own k_j
                for j in qs:
                    order += (j, e + j)
            else:  # q in logit t=0 (an older k), this position's k in logit t=pos
                order += qs
                order += (e + j for j in qs)
            order += (2 * e + j for j in qs)  # v: one row per head output
        return order

    def backward_step(self) -> None:
        x = self.children[0]
        w = [row for m in self.ws for row in m]  # rows 0..3E-1 over q, k, v
        gw = [row for m in self.gws for row in m]
        x.grad = backprop_rows(w, gw, x.data, self.grad, self.visit_order()[::-1], x.grad)

    def params_read(self) -> tuple[tuple[str, int | None, int], ...]:
        return tuple((name, None, self.n_embd * self.n_embd) for name in self.names)


class Head(Node):
    """One attention head at one position: softmax(q . k_t / sqrt(head_dim)) over the cache, then weights . v_t."""

    __slots__ = ("lo", "hd", "scale", "logits", "exps", "total", "pw", "weights", "cache")
    op = "attention_head"
    stage = "attention"

    def __init__(self, cache: list[QKV], lo: int, hd: int) -> None:
        cur = cache[-1]
        e = cur.n_embd
        q = cur.data[lo:lo + hd]
        # inside: attention-scores
        self.scale = scale = (hd ** 0.5) ** -1
        logits = [plain_dot(q, c.data[e + lo:e + lo + hd]) * scale for c in cache]
        max_val = max(logits)
        exps = [math.exp(v + -max_val) for v in logits]
        tot = plain_sum(exps)
        pw = tot ** -1
        weights = [x * pw for x in exps]
        # inside: end
        vo = 2 * e + lo
        self.data = [plain_sum([w * c.data[vo + j] for w, c in zip(weights, cache)]) for j in range(hd)]
        self.grad = [0.0] * hd
        # the search meets this position's q first, then the cached k's in order
        self.children = (cur, *cache[:-1])
        self.cache = tuple(cache)
        self.lo, self.hd = lo, hd
        self.logits, self.exps, self.total, self.pw, self.weights = logits, exps, tot, pw, weights

    def backward_step(self) -> None:
        cache, lo, hd = self.cache, self.lo, self.hd
        cur = cache[-1]
        e = cur.n_embd
        vo, ko = 2 * e + lo, e + lo
        exps, pw, g_out = self.exps, self.pw, self.grad
        # output j = sum_t w_t * v_t[j]; outputs were met j = 0..hd-1, so w_t collects from j = hd-1 down
        g_rev = g_out[::-1]
        g_w = [plain_sum(map(mul, c.data[vo:vo + hd][::-1], g_rev)) for c in cache]
        for w, c in zip(self.weights, cache):
            vg = c.grad
            vg[vo:vo + hd] = map(add, vg[vo:vo + hd], map(mul, repeat(w), g_out))
        # softmax: w_t = e_t * total ** -1 with one pow per t; total collects from t = n-1 down,
        # then each e_t adds its share of total's gradient to its own
        d_pw = -1 * self.total ** -2
        g_total = plain_sum([d_pw * (x * g) for x, g in zip(exps[::-1], g_w[::-1])])
        # e_t = exp(logit_t - max), logit_t = (q . k_t) * scale
        g_dot = [self.scale * (x * (pw * g + g_total)) for x, g in zip(exps, g_w)]
        q = cur.data[lo:lo + hd]
        keys_rev = [c.data[ko:ko + hd] for c in reversed(cache)]
        g_dot_rev = g_dot[::-1]
        gq = cur.grad
        gq[lo:lo + hd] = [plain_sum(map(mul, k_col, g_dot_rev), start)
                          for k_col, start in zip(zip(*keys_rev), gq[lo:lo + hd])]
        for c, g in zip(cache, g_dot):
            kg = c.grad
            kg[ko:ko + hd] = map(add, kg[ko:ko + hd], map(mul, q, repeat(g)))


class CrossEntropy(Node):
    """-log softmax(logits)[target], chaining the reference's -1, 1/p, ** -1 and exp factors."""

    __slots__ = ("target", "exps", "total", "pw", "p")
    op = "cross_entropy"
    stage = "loss"

    def __init__(self, logits: Linear, target: int) -> None:
        # inside: position-loss
        ls = logits.data
        max_val = max(ls)
        self.exps = exps = [math.exp(v + -max_val) for v in ls]
        self.total = tot = plain_sum(exps)
        self.pw = tot ** -1
        self.p = p = exps[target] * self.pw
        self.data = math.log(p) * -1
        # inside: end
        self.grad = 0.0
        self.children = (logits,)
        self.target = target
        # the search meets the target's logit first, then the others through the softmax's sum
        logits.visit = [target] + [t for t in range(len(ls)) if t != target]

    def backward_step(self) -> None:
        logits = self.children[0]
        t = self.target
        g_log = -1 * self.grad
        g_p = (1 / self.p) * g_log
        g_et = self.pw * g_p
        g_pw = self.exps[t] * g_p
        g_total = (-1 * self.total ** -2) * g_pw
        contrib = [x * g_total for x in self.exps]  # every e_i gets total's gradient through the sum
        contrib[t] = self.exps[t] * (g_et + g_total)  # the target's e also feeds p directly
        logits.grad = list(map(add, logits.grad, contrib))


class Mean(Node):
    """(1 / n) * sum(losses): the loss of the document."""

    __slots__ = ("c",)
    op = "mean"
    stage = "loss"

    def __init__(self, losses: list[CrossEntropy]) -> None:
        self.c = c = 1 / len(losses)
        self.data = plain_sum([x.data for x in losses]) * c
        self.grad = 0.0
        self.children = tuple(losses)

    def backward_step(self) -> None:
        g = self.c * self.grad
        for x in self.children:
            x.grad += g


def layer_of(nodes: Sequence[Node]) -> int | None:
    """The model layer a backward piece runs through: the layer of the first layer matrix its nodes read, as the
    backward pass meets them (a piece lies within one stage of one position: one layer at most); None if none."""
    for node in reversed(nodes):
        for name, _, _ in node.params_read():
            if name.startswith("layer"):
                return int(name.partition(".")[0].removeprefix("layer"))  # layer1.mlp_fc2 -> 1
    return None


def backprop(nodes: Sequence[Node]) -> None:
    """Run a stretch of a depth-first post-order backwards: each node's backward step, last node first."""
    for node in reversed(nodes):
        node.backward_step()


def fused_census(order: Sequence[Node], roots: Sequence[Node] = ()) -> GraphCensus:
    """Count a fused graph: its op nodes plus every parameter scalar they read, and the edges to both.

    `order` is a post-order (from `roots`, which the count does not need: every node's height is at hand).
    """
    whole: dict[str, int] = {}
    rows: dict[tuple[str, int], int] = {}
    edges = 0
    height: dict[int, int] = {}
    for node in order:  # children before parents
        reads = node.params_read()
        below = 1 if reads else 0  # a parameter leaf under this node
        for c in node.children:
            below = max(below, height[id(c)])
        height[id(node)] = below + 1
        edges += len(node.children)
        for name, row, count in reads:
            edges += count
            if row is None:
                whole[name] = count
            else:
                rows[name, row] = count
    params = sum(whole.values()) + sum(n for (name, _), n in rows.items() if name not in whole)
    by_op = Counter(node.op for node in order)
    by_op["param"] = params
    by_stage = Counter(node.stage for node in order)
    by_stage["params"] = params
    return GraphCensus(
        nodes=len(order) + params,
        edges=edges,
        depth=max(height.values()) if order else 0,
        params=params,
        constants=0,
        by_op=tuple(by_op.most_common()),
        by_stage=tuple((s, by_stage[s]) for s in STAGES if by_stage[s]),
    )

"""Scalar autograd, exactly as the reference builds it, and the graph walks shared by both graph modes.

`Value` is one node per scalar operation (`+ * ** log exp relu`), its local gradients computed eagerly in the
forward pass; a plain number met in an operation becomes a constant leaf. The backward pass visits nodes in the
reference's order (reverse of a depth-first post-order from the loss), computed without recursion so that deep
graphs work. Nodes hold no closures, so a graph has no reference cycles and is freed as soon as it is dropped.

The fused nodes of `microgpt.fused` share `topological_order` and `backward` through two attributes: `children`
(the nodes below, in the order the reference visits them) and `backward_step()`. An atomic graph, some sixty
thousand nodes per document, takes a fast path through the same two functions: a walk and a chain-rule loop that
read a node's two child slots directly.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any, Protocol

from microgpt.report import GraphCensus

STAGES = ("embedding", "attention", "mlp", "lm_head", "loss", "params")


class GraphNode(Protocol):
    """What the graph walks need of a node, atomic or fused."""

    children: tuple[Any, ...]
    grad: Any

    def backward_step(self) -> None: ...


class Kind:
    """What made a node and where: an operation (`+`, `*`, ...) in a stage of the model. One instance per pair."""

    __slots__ = ("op", "stage")

    def __init__(self, op: str, stage: str) -> None:
        self.op = op
        self.stage = stage

    def __repr__(self) -> str:
        return f"Kind({self.op!r}, {self.stage!r})"


class Stage:
    """A part of the model (embedding, attention, ...) with the kind of each node it builds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.const = Kind("const", name)
        self.add = Kind("+", name)
        self.mul = Kind("*", name)
        self.pow = Kind("**", name)
        self.log = Kind("log", name)
        self.exp = Kind("exp", name)
        self.relu = Kind("relu", name)


EMBEDDING, ATTENTION, MLP, LM_HEAD, LOSS = (Stage(name) for name in STAGES[:-1])
PARAM = Kind("param", "params")
ARITY = {"param": 0, "const": 0, "+": 2, "*": 2, "**": 1, "log": 1, "exp": 1, "relu": 1}  # children per node


class Value:
    """One scalar of the reference's graph: data, grad, and the local gradient towards each of its children.

    A node has at most two children, `a` then `b` (None when absent), with local gradients `da` and `db`. `kind`
    says which operation made it, in which stage; `height` counts the nodes on the longest path from it down to a
    leaf (1 for a leaf). The children are slots rather than a tuple: one object per node instead of two or three,
    less than half the memory, and every walk reads a node in one place. `Value(x)` makes a leaf; the operations
    below make the other nodes.
    """

    __slots__ = ("data", "grad", "a", "da", "b", "db", "kind", "height")

    def __init__(self, data: float, kind: Kind = PARAM) -> None:
        self.data = data
        self.grad: float = 0
        self.a: Value | None = None
        self.da: float = 0
        self.b: Value | None = None
        self.db: float = 0
        self.kind = kind
        self.height = 1

    @property
    def children(self) -> tuple[Value, ...]:
        """The nodes below, in order."""
        if self.a is None:
            return ()
        return (self.a,) if self.b is None else (self.a, self.b)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(child) for each child, in order."""
        if self.a is None:
            return ()
        return (self.da,) if self.b is None else (self.da, self.db)

    @property
    def op(self) -> str:
        """The operation that made this node; "param" or "const" for a leaf."""
        return self.kind.op

    @property
    def stage(self) -> str:
        """The part of the model that made this node; "params" for a parameter."""
        return self.kind.stage

    def __repr__(self) -> str:
        return f"Value({self.data!r}, op={self.op!r})"


def node(data: float, a: Value, da: float, b: Value | None, db: float, kind: Kind, height: int) -> Value:
    """A node made by an operation, filled slot by slot.

    Cheaper than calling Value(), whose __init__ would be one more Python call per node; every node but the
    leaves (nine in ten) is made here.
    """
    v = object.__new__(Value)
    v.data = data
    v.grad = 0
    v.a = a
    v.da = da
    v.b = b
    v.db = db
    v.kind = kind
    v.height = height
    return v


# The atomic operations. Each builds exactly one node, with the reference's data, child order and local grads;
# `stage` is the part of the model building it (for the graph census). A node's height is its higher child's
# plus one, compared inline rather than with max(), which would be one more call per node.

def const(x: float, stage: Stage) -> Value:
    """A plain number met in an operation: a leaf."""
    return Value(x, stage.const)


def add(a: Value, b: Value, stage: Stage) -> Value:
    """a + b."""
    return node(a.data + b.data, a, 1, b, 1, stage.add, (a.height if a.height > b.height else b.height) + 1)


def add_const(a: Value, c: float, stage: Stage) -> Value:
    """a + c for a plain number c (it becomes a leaf, second)."""
    return node(a.data + c, a, 1, const(c, stage), 1, stage.add, a.height + 1)


def mul(a: Value, b: Value, stage: Stage) -> Value:
    """a * b."""
    return node(a.data * b.data, a, b.data, b, a.data, stage.mul,
                (a.height if a.height > b.height else b.height) + 1)


def mul_const(a: Value, c: float, stage: Stage) -> Value:
    """a * c for a plain number c (it becomes a leaf, second)."""
    return node(a.data * c, a, c, const(c, stage), a.data, stage.mul, a.height + 1)


def power(a: Value, k: float, stage: Stage) -> Value:
    """a ** k for a plain number k."""
    return node(a.data ** k, a, k * a.data ** (k - 1), None, 0, stage.pow, a.height + 1)


def log(a: Value, stage: Stage) -> Value:
    """Natural log."""
    return node(math.log(a.data), a, 1 / a.data, None, 0, stage.log, a.height + 1)


def exp(a: Value, stage: Stage) -> Value:
    """e ** a."""
    return node(math.exp(a.data), a, math.exp(a.data), None, 0, stage.exp, a.height + 1)


def relu(a: Value, stage: Stage) -> Value:
    """max(0, a): the int 0 when a <= 0, as the reference."""
    return node(max(0, a.data), a, float(a.data > 0), None, 0, stage.relu, a.height + 1)


def total(xs: Iterable[Value], stage: Stage) -> Value:
    """Python's sum() over nodes: x0 + 0 first (a 0 leaf), then left to right."""
    it = iter(xs)
    acc = add_const(next(it), 0, stage)
    for x in it:
        acc = add(acc, x, stage)
    return acc


def dot(ws: Sequence[Value], xs: Sequence[Value], stage: Stage) -> Value:
    """sum(w_i * x_i) as the reference's sum() builds it: each product, then the adds from 0, left to right."""
    return total([mul(w, x, stage) for w, x in zip(ws, xs)], stage)


# Graph walks. Both graph modes share topological_order() and backward(); an atomic graph has its own fast path.

def topological_order(root: GraphNode | Value, seen: set[Any] | None = None) -> list[Any]:
    """Depth-first post-order from root (children in order, each node once), without recursion.

    `seen` holds nodes already visited by an earlier walk (they are skipped, and this walk's nodes are added):
    walking the position losses one after the other this way gives the pieces of the loss's own walk.
    """
    if isinstance(root, Value):
        return post_order(root, seen)
    order: list[GraphNode] = []
    visited = {root} if seen is None else seen
    visited.add(root)
    stack = [(root, iter(root.children))]
    push = stack.append
    emit = order.append
    mark = visited.add
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in visited:
                mark(child)
                if child.children:
                    push((child, iter(child.children)))
                    break
                emit(child)
        else:
            stack.pop()
            emit(node)
    return order


def post_order(root: Value, seen: set[Any] | None = None) -> list[Value]:
    """The depth-first post-order of an atomic graph, as the reference's recursive build_topo() makes it.

    `path` holds the nodes whose first child is being visited. Going down, a new first child is visited at once;
    coming back up, a node's second child is visited if it is new, and otherwise the node is done. Nodes in
    `seen` (visited by an earlier walk) are skipped, and this walk's nodes are added to it.
    """
    order: list[Value] = []
    emit = order.append
    if seen is None:
        seen = set()
    seen.add(root)
    mark = seen.add
    path: list[Value] = []
    push = path.append
    pop = path.pop
    node = root
    while True:
        a = node.a
        while a is not None:  # down through new first children
            push(node)
            if a in seen:
                break
            mark(a)
            node = a
            a = node.a
        else:
            emit(node)  # a leaf
        while path:  # up: a new second child is visited next; otherwise the node is done
            b = path[-1].b
            if b is not None and b not in seen:
                mark(b)
                node = b
                break
            emit(pop())
        else:
            return order


def backward(root: GraphNode | Value, order: Sequence[Any] | None = None) -> list[Any]:
    """Fill every node's grad with d(root)/d(node), the reference's way; returns the order used."""
    if order is None:
        order = topological_order(root)
    root.grad = 1
    if isinstance(root, Value):
        chain_rule(order)
    else:
        for node in reversed(order):
            node.backward_step()
    return list(order)


def chain_rule(order: Sequence[Value]) -> None:
    """The reference's backward loop: last node first, child.grad += local_grad * node.grad, children in order."""
    for node in reversed(order):
        a = node.a
        if a is not None:
            g = node.grad
            a.grad += node.da * g
            b = node.b
            if b is not None:
                b.grad += node.db * g


def no_layer(nodes: Sequence[Value]) -> None:
    """An atomic piece of the backward pass is a whole position's part of the walk, through every layer: it runs
    through no one layer."""
    return None


def atomic_census(order: Sequence[Value], roots: Sequence[Value] = ()) -> GraphCensus:
    """Count an atomic graph: nodes, edges, depth, and nodes by operation and by model stage.

    `order` is a post-order from `roots` (by default its last node, the root of one walk).
    """
    by_op: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    edges = 0
    for kind, n in Counter(map(attrgetter("kind"), order)).items():
        by_op[kind.op] += n
        by_stage[kind.stage] += n
        edges += ARITY[kind.op] * n
    return GraphCensus(
        nodes=len(order),
        edges=edges,
        depth=max(r.height for r in roots or order[-1:]) if order else 0,
        params=by_op["param"],
        constants=by_op["const"],
        by_op=tuple(by_op.most_common()),
        by_stage=tuple((s, by_stage[s]) for s in STAGES if by_stage[s]),
    )

"""Scalar autograd, exactly as the reference builds it, and the graph walks shared by both graph modes.

`Value` is one node per scalar operation (`+ * ** log exp relu`), its local gradients computed eagerly in the
forward pass; a plain number met in an operation becomes a constant leaf. The backward pass visits nodes in the
reference's order (reverse of a depth-first post-order from the loss), computed without recursion so that deep
graphs work. Nodes hold no closures, so a graph has no reference cycles and is freed as soon as it is dropped.

The fused nodes of `microgpt.fused` share `topological_order`, `backward` and `census` through the same two
attributes: `children` (the nodes below, in the order the reference visits them) and `backward_step()`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from microgpt.report import GraphCensus

STAGES = ("embedding", "attention", "mlp", "lm_head", "loss", "params")


class GraphNode(Protocol):
    """What the graph walks need of a node, atomic or fused."""

    children: tuple[Any, ...]
    grad: Any

    def backward_step(self) -> None: ...


class Value:
    """One scalar of the reference's graph: data, grad, children and the local gradient towards each child."""

    __slots__ = ("data", "grad", "children", "local_grads", "op", "stage")

    def __init__(self, data: float, children: tuple[Value, ...] = (), local_grads: tuple[float, ...] = (),
                 op: str = "const", stage: str = "params") -> None:
        self.data = data
        self.grad: float = 0
        self.children = children
        self.local_grads = local_grads
        self.op = op
        self.stage = stage

    def backward_step(self) -> None:
        """Chain rule for this node: child.grad += local_grad * self.grad, children in order."""
        g = self.grad
        for child, local_grad in zip(self.children, self.local_grads):
            child.grad += local_grad * g

    def __repr__(self) -> str:
        return f"Value({self.data!r}, op={self.op!r})"


# The atomic operations. Each builds exactly one node, with the reference's data, child order and local grads.
# `stage` tags the node with the part of the model that made it (for the graph census).

def const(x: float, stage: str) -> Value:
    """A plain number met in an operation: a leaf."""
    return Value(x, (), (), "const", stage)


def add(a: Value, b: Value, stage: str) -> Value:
    """a + b."""
    return Value(a.data + b.data, (a, b), (1, 1), "+", stage)


def add_const(a: Value, c: float, stage: str) -> Value:
    """a + c for a plain number c (it becomes a leaf, second)."""
    return Value(a.data + c, (a, Value(c, (), (), "const", stage)), (1, 1), "+", stage)


def mul(a: Value, b: Value, stage: str) -> Value:
    """a * b."""
    return Value(a.data * b.data, (a, b), (b.data, a.data), "*", stage)


def mul_const(a: Value, c: float, stage: str) -> Value:
    """a * c for a plain number c (it becomes a leaf, second)."""
    return Value(a.data * c, (a, Value(c, (), (), "const", stage)), (c, a.data), "*", stage)


def power(a: Value, k: float, stage: str) -> Value:
    """a ** k for a plain number k."""
    return Value(a.data ** k, (a,), (k * a.data ** (k - 1),), "**", stage)


def log(a: Value, stage: str) -> Value:
    """Natural log."""
    return Value(math.log(a.data), (a,), (1 / a.data,), "log", stage)


def exp(a: Value, stage: str) -> Value:
    """e ** a."""
    return Value(math.exp(a.data), (a,), (math.exp(a.data),), "exp", stage)


def relu(a: Value, stage: str) -> Value:
    """max(0, a): the int 0 when a <= 0, as the reference."""
    return Value(max(0, a.data), (a,), (float(a.data > 0),), "relu", stage)


def total(xs: Iterable[Value], stage: str) -> Value:
    """Python's sum() over nodes: x0 + 0 first (a 0 leaf), then left to right."""
    it = iter(xs)
    acc = add_const(next(it), 0, stage)
    for x in it:
        acc = add(acc, x, stage)
    return acc


# Graph walks shared by atomic and fused graphs.

def topological_order(root: GraphNode) -> list[GraphNode]:
    """Depth-first post-order from root (children in order, each node once), without recursion."""
    order: list[GraphNode] = []
    visited = {id(root)}
    stack = [(root, iter(root.children))]
    push = stack.append
    emit = order.append
    mark = visited.add
    while stack:
        node, it = stack[-1]
        for child in it:
            if id(child) not in visited:
                mark(id(child))
                if child.children:
                    push((child, iter(child.children)))
                    break
                emit(child)
        else:
            stack.pop()
            emit(node)
    return order


def backward(root: GraphNode, order: Sequence[GraphNode] | None = None) -> list[GraphNode]:
    """Fill every node's grad with d(root)/d(node), the reference's way; returns the order used."""
    if order is None:
        order = topological_order(root)
    root.grad = 1
    for node in reversed(order):
        node.backward_step()
    return list(order)


def atomic_census(order: Sequence[Value]) -> GraphCensus:
    """Count an atomic graph: nodes, edges, depth, and nodes by operation and by model stage."""
    depth: dict[int, int] = {}
    edges = 0
    for node in order:  # children come before parents
        kids = node.children
        edges += len(kids)
        depth[id(node)] = 1 + max([depth[id(c)] for c in kids], default=0)
    by_op = Counter(node.op for node in order)
    by_op["param"] = by_op.pop("const", 0)  # leaves are split below
    params = sum(1 for node in order if not node.children and node.stage == "params")
    constants = sum(1 for node in order if not node.children and node.stage != "params")
    del by_op["param"]
    if params:
        by_op["param"] = params
    if constants:
        by_op["const"] = constants
    by_stage = Counter(node.stage for node in order)
    return GraphCensus(
        nodes=len(order),
        edges=edges,
        depth=depth[id(order[-1])] if order else 0,
        params=params,
        constants=constants,
        by_op=tuple(by_op.most_common()),
        by_stage=tuple((s, by_stage[s]) for s in STAGES if by_stage[s]),
    )

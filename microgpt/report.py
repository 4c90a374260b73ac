"""Frozen reports the engine hands out: plain floats, ints, strings and tuples, never live graph objects.

A `StepReport` describes one finished training step; a `SampleToken` describes one generated token.
Both are safe to pass to another thread and keep around: nothing in them refers back to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

# attention[layer][head][query position] -> weights over key positions 0..query position (a ragged triangle)
Attention = tuple[tuple[tuple[tuple[float, ...], ...], ...], ...]


@dataclass(frozen=True, slots=True)
class GraphCensus:
    """The computation graph that the backward pass walked: everything reachable from the loss."""

    nodes: int  # every node reachable from the loss, parameters and constants included
    edges: int  # parent -> child links among those nodes
    depth: int  # longest path from the loss to a leaf, in nodes
    params: int  # parameter leaves reachable from the loss
    constants: int  # constant leaves (numbers met in an operation) reachable from the loss
    by_op: tuple[tuple[str, int], ...]  # (operation, count), most frequent first
    by_stage: tuple[tuple[str, int], ...]  # (model stage, count) in model order: embedding .. loss, params

    def op_count(self, op: str) -> int:
        """Count of nodes of one operation (0 when absent)."""
        return dict(self.by_op).get(op, 0)

    def stage_count(self, stage: str) -> int:
        """Count of nodes of one model stage (0 when absent)."""
        return dict(self.by_stage).get(stage, 0)


@dataclass(frozen=True, slots=True)
class MatrixStats:
    """One weight matrix after a step: its gradient, its size and how much the update moved it."""

    name: str  # the reference's name: wte, wpe, lm_head, layer0.attn_wq, ...
    grad_norm: float  # L2 norm of the gradient of the loss w.r.t. this matrix (before the update)
    param_norm: float  # L2 norm of the weights after the update
    update_ratio: float  # L2 norm of the update divided by the L2 norm of the weights before it


@dataclass(frozen=True, slots=True)
class Timings:
    """Wall-clock seconds spent in each phase of a step."""

    forward: float
    backward: float
    update: float

    @property
    def total(self) -> float:
        """All three phases together."""
        return self.forward + self.backward + self.update


@dataclass(frozen=True, slots=True)
class StepReport:
    """Everything a teacher shows about one training step (step numbers are 1-based)."""

    step: int  # this step's number, 1..steps
    steps: int  # the schedule length (learning-rate decay reaches 0 after it)
    loss: float  # mean loss over the document's positions, before the update
    lr: float  # learning rate used by this step's update
    engine: str  # "fused" or "atomic": which graph computed it
    doc: str  # the training document
    tokens: tuple[str, ...]  # the model's inputs, position by position; BOS shown as BOS_LABEL
    targets: tuple[str, ...]  # what each position had to predict; BOS shown as BOS_LABEL
    position_losses: tuple[float, ...]  # -log p(target) at each position
    graph: GraphCensus
    matrices: tuple[MatrixStats, ...]  # in the reference's parameter order
    attention: Attention  # this document's attention, [layer][head][query][key]
    timings: Timings

    def matrix(self, name: str) -> MatrixStats:
        """The stats of one matrix by its reference name (KeyError when absent)."""
        for stats in self.matrices:
            if stats.name == name:
                return stats
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class SampleToken:
    """One generated token, with what the model saw and weighed when choosing it."""

    position: int  # 0-based position of the input token that produced this prediction
    token_id: int  # the id drawn
    char: str  # the character drawn; "" when the draw was BOS (the sample ends)
    is_end: bool  # True when BOS was drawn, or when the block is full after this token
    temperature: float  # the temperature the draw used
    logits: tuple[float, ...]  # raw logits over the vocabulary (before temperature), index = token id
    probs: tuple[float, ...]  # softmax(logits / temperature), index = token id
    top: tuple[tuple[str, float], ...]  # the most likely candidates (label, probability), best first
    attention: tuple[tuple[tuple[float, ...], ...], ...]  # [layer][head] -> weights over positions 0..position
    text: str  # the sample so far, this token included


BOS_LABEL = "·"  # how BOS is shown wherever a token is printed

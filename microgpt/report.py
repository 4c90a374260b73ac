"""Frozen reports the engine hands out: plain floats, ints, strings and tuples, never live graph objects.

A `StepReport` describes one finished training step; a `SampleToken` describes one generated token. Inside a
step, each unit of work is named by a cheap `Phase`; `PhaseReport` holds the full numbers of one unit (with
one detail for its kind), and `ProbeReport` the forward pass of a word that is not trained on.
All are safe to pass to another thread and keep around: nothing in them refers back to the engine.
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


# --- inside a step ---

PHASE_KINDS = ("document", "forward", "loss", "backward", "update")  # the units of a step, in order


@dataclass(frozen=True, slots=True)
class Phase:
    """One unit of a step, just completed: cheap to make, for a status line.

    A step runs: `document` (1 unit), `forward` (one unit per position: index = position, count = n), `loss`
    (1 unit), `backward` (k pieces of the reference's own reverse order: index = piece, count = k), `update`.
    """

    step: int  # the step's number, 1-based
    kind: str  # one of PHASE_KINDS
    index: int  # 0-based: the position (forward) or the piece (backward); 0 for single units
    count: int  # how many units of this kind the step has (n positions, k pieces; 1 for single units)
    doc: str = ""  # the step's document
    position: int = -1  # the position a forward unit or backward piece works on (-1 for the others)
    stages: tuple[str, ...] = ()  # backward: the model stages of the piece, in the order it meets them
    layer: int | None = None  # backward, in a model of several layers: the one layer the piece runs through

    @property
    def label(self) -> str:
        """For the status line: `document “mignon”`, `forward 3/7 “mignon”`, `backward 2/35: position 5 · mlp`
        (`backward 3/49: position 5 · layer 1 mlp` in a model of several layers)."""
        quoted = f"\u201c{self.doc}\u201d"
        if self.kind == "document":
            return f"document {quoted}"
        if self.kind == "forward":
            return f"forward {self.index + 1}/{self.count} {quoted}"
        if self.kind == "backward":
            where = piece_stages(self.stages, self.layer)
            return f"backward {self.index + 1}/{self.count}: position {self.position} \u00b7 {where}"
        return self.kind


def piece_stages(stages: tuple[str, ...], layer: int | None) -> str:
    """Where a backward piece runs, in words: `mlp`, `layer 1 mlp` (the piece's layer, if it has one)."""
    named = ", ".join(stages)
    return named if layer is None else f"layer {layer} {named}"


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """Lines of the engine's own source (under microgpt/) that compute a unit, read at run time."""

    title: str  # the function, e.g. "FusedForward.__call__"
    path: str  # relative to the repository root, e.g. "microgpt/model.py"
    first_line: int  # 1-based line number of lines[0]
    lines: tuple[str, ...]  # the source lines, without their line ends


@dataclass(frozen=True, slots=True)
class DocumentDetail:
    """The document unit: which document the step trains on and its tokens."""

    index: int  # 0-based index in the shuffled document list
    doc: str
    token_ids: tuple[int, ...]  # [BOS] + characters + [BOS], as ids
    n: int  # positions the step predicts: min(block_size, len(token_ids) - 1)


@dataclass(frozen=True, slots=True)
class ForwardDetail:
    """One forward position: what the model attended to and what it predicted."""

    position: int
    input: str  # the input token's label (BOS as BOS_LABEL)
    target: str  # the token to predict
    scores: tuple[tuple[tuple[float, ...], ...], ...]  # [layer][head] -> q·k/√d over keys 0..position
    weights: tuple[tuple[tuple[float, ...], ...], ...]  # [layer][head] -> softmax of the scores
    top: tuple[tuple[str, float], ...]  # the most likely next tokens (label, probability), best first
    p_target: float  # the probability of the target
    loss: float  # -log p_target: the exact float the step's loss uses


@dataclass(frozen=True, slots=True)
class LossDetail:
    """The loss unit: the mean of the position losses, the number the reference prints."""

    position_losses: tuple[float, ...]
    n: int
    loss: float  # (1 / n) * (left-to-right sum of position_losses)

    def written(self, digits: int = 4) -> str:
        """The mean written out, e.g. `(3.7721 + 2.9836 + 3.1000) / 3 = 3.2852`."""
        terms = " + ".join(f"{x:.{digits}f}" for x in self.position_losses)
        return f"({terms}) / {self.n} = {self.loss:.{digits}f}"


@dataclass(frozen=True, slots=True)
class BackwardDetail:
    """One backward piece: the nodes it processed and how far the backward pass has come."""

    position: int  # the position whose part of the graph the piece runs through
    stages: tuple[str, ...]  # model stages of the piece, in the order it meets them
    nodes: tuple[tuple[str, str, int], ...]  # (operation, stage, count) of the nodes processed, first met first
    done: int  # nodes processed so far in this step, this piece included
    remaining: int  # nodes still to process
    layer: int | None = None  # in a model of several layers: the one layer the piece runs through (as Phase)


@dataclass(frozen=True, slots=True)
class ParamMove:
    """What Adam did to one parameter."""

    matrix: str
    row: int
    col: int
    grad: float
    m: float  # the first moment after the update
    v: float  # the second moment after the update
    m_hat: float  # m / (1 - beta1 ** step)
    v_hat: float  # v / (1 - beta2 ** step)
    before: float
    after: float

    @property
    def change(self) -> float:
        """after - before."""
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class UpdateDetail:
    """The update unit: the learning rate and, per matrix, its parameter that moved most."""

    lr: float  # the learning rate of this step
    moves: tuple[ParamMove, ...]  # one per matrix, in the reference's order
    largest: str  # the matrix holding the parameter that moved most overall (the default shown)

    def move(self, matrix: str) -> ParamMove:
        """The move of one matrix by its name (KeyError when absent)."""
        for move in self.moves:
            if move.matrix == matrix:
                return move
        raise KeyError(matrix)


Detail = DocumentDetail | ForwardDetail | LossDetail | BackwardDetail | UpdateDetail


@dataclass(frozen=True, slots=True)
class PhaseReport:
    """The full numbers of one unit of a step and of the step so far (computed on demand: costly)."""

    phase: Phase
    doc: str
    engine: str  # "fused" or "atomic": the graph mode the step is taken in
    lr: float  # the learning rate the step's update uses
    steps: int  # the schedule's length when the step is taken (a later extension does not change it)
    tokens: tuple[str, ...]  # the model's inputs, position by position; BOS shown as BOS_LABEL
    targets: tuple[str, ...]  # what each position has to predict
    position_losses: tuple[float, ...]  # of the positions forwarded so far
    attention: Attention  # [layer][head][query][key] of the positions forwarded so far
    graph: GraphCensus  # the graph built so far: nodes reachable from the position losses (or the loss)
    grad_norms: tuple[tuple[str, float], ...]  # (matrix, L2 norm of its gradient so far), reference order
    matrices: tuple[MatrixStats, ...]  # after the update; () before it
    detail: Detail  # the numbers of this unit, one kind per phase kind
    source: tuple[SourceSpan, ...]  # the engine's lines that computed this unit


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """The forward pass of a word at the current weights: not trained on, nothing changed."""

    word: str
    step: int  # whose weights: those after this many steps
    engine: str  # the graph mode that computed it
    tokens: tuple[str, ...]
    targets: tuple[str, ...]
    position_losses: tuple[float, ...]
    loss: float  # (1 / n) * sum of the position losses, as a step's loss
    attention: Attention
    graph: GraphCensus  # the graph the loss would be backpropagated through
    positions: tuple[ForwardDetail, ...]  # one per position


class ProbeError(ValueError):
    """A word that cannot be probed; str() is one line naming the characters outside the dataset's."""

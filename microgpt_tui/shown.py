"""What the panes show: one snapshot, made from training's latest state, a phase of the step in progress, or a probe.

The app keeps the engine's latest snapshot ("live"), the numbers of the phase the step in progress stopped at
(after `.`, or a pause mid-step) and a probed word's forward pass. Every training pane draws the one snapshot these
make, so all of them show the same step (or the same phase, or the same probe), named in their titles:

- live: the engine's snapshot as it is;
- phase: its report replaced by the step so far: the document, the positions forwarded, their losses and
  attention, the graph built so far, the gradients as far as the backward pass has come;
- probe: its report replaced by the word's forward pass (the gradients are the shown step's: a probe has none);
- history: its report replaced by a past step's, replayed exactly by the engine (left/right while paused); a
  past step's phases (`.` in history) are shown as a phase.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

from microgpt.report import LossDetail, MatrixStats, PhaseReport, ProbeReport, StepReport, Timings
from microgpt_tui.messages import Snapshot
from microgpt_tui.protocol import NOT_COMPUTED

Source = Literal["live", "phase", "probe", "history"]
NO_TIMINGS = Timings(0.0, 0.0, 0.0)


def source_of(phase: PhaseReport | None, probe: ProbeReport | None, past: StepReport | None = None) -> Source:
    """Where the shown numbers come from: a probe wins over a phase, a phase over a past step, a past step over
    training's latest step."""
    if probe is not None:
        return "probe"
    if phase is not None:
        return "phase"
    return "history" if past is not None else "live"


def shown_snapshot(live: Snapshot, phase: PhaseReport | None, probe: ProbeReport | None,
                   names: tuple[str, ...], past: StepReport | None = None, history: bool = False) -> Snapshot:
    """The one snapshot every training pane draws (`names`: the model's matrices, in the reference's order).

    `history`: a past step is shown (`past`, once replayed; `phase` is then one of its phases). The snapshot's
    `phase` is the live step's phase shown, for the status line; none in history (the history label names it).
    """
    if probe is not None:
        return replace(live, report=report_of_probe(probe, live, names, past), probe=probe.word)
    if phase is not None:
        return replace(live, report=report_of_phase(phase, names), phase=None if history else phase.phase)
    if past is not None:
        return replace(live, report=past, phase=None)
    return replace(live, phase=None) if history else live  # (the past step asked for is on its way)


def no_update(grads: dict[str, float], names: tuple[str, ...]) -> tuple[MatrixStats, ...]:
    """Matrix rows before an update: the gradient norms so far (0 where none has arrived), no update yet."""
    return tuple(MatrixStats(name, grads.get(name, 0.0), NOT_COMPUTED, NOT_COMPUTED) for name in names)


def report_of_phase(phase: PhaseReport, names: tuple[str, ...]) -> StepReport:
    """A step report of the step so far: what the panes can show of a step stopped at one of its units."""
    losses = phase.position_losses
    detail = phase.detail
    loss = detail.loss if isinstance(detail, LossDetail) else math.nan  # the engine's own float, once it exists
    matrices = phase.matrices or no_update(dict(phase.grad_norms), names)
    return StepReport(
        step=phase.phase.step,
        steps=phase.steps,  # the shown step's own, like its rate (a past step's schedule may since be longer)
        loss=loss,
        lr=phase.lr,  # the shown step's own (a past step's, or the live step's in progress)
        engine=phase.engine,
        doc=phase.doc,
        tokens=phase.tokens,
        targets=phase.targets,
        position_losses=losses,
        graph=phase.graph,
        matrices=matrices,
        attention=phase.attention,
        timings=NO_TIMINGS,
    )


def report_of_probe(probe: ProbeReport, live: Snapshot, names: tuple[str, ...],
                    past: StepReport | None = None) -> StepReport:
    """A step report of a probed word: its forward pass at the weights after step `probe.step`, with the gradients
    of the step shown (`past` in history, else the latest)."""
    latest = past if past is not None else live.report
    return StepReport(
        step=probe.step,
        steps=live.steps,
        loss=probe.loss,
        lr=latest.lr if latest is not None else live.next_lr,
        engine=probe.engine,
        doc=probe.word,
        tokens=probe.tokens,
        targets=probe.targets,
        position_losses=probe.position_losses,
        graph=probe.graph,
        matrices=latest.matrices if latest is not None else no_update({}, names),
        attention=probe.attention,
        timings=NO_TIMINGS,
    )

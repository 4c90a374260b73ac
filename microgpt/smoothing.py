"""The smoothed loss: TensorBoard's debiased exponential moving average, defined once for the engine and the app.

    avg_n = weight * avg_(n-1) + (1 - weight) * loss_n        (avg_0 = 0; a non-finite loss is skipped)
    smooth_n = avg_n / (1 - weight ** n)                      (dividing out the bias towards the 0 it starts from)

where n counts the finite losses so far; as TensorBoard does, a loss that is not finite has itself as its smoothed
value (dividing the unchanged average by one more step's correction would make up a value lower than any loss).

The loss chart draws it, and the `smooth<X` / `smooth>X` breakpoints compare it. Extending a smoothed series
carries the running average itself forward, so a series extended step by step equals one computed at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SMOOTHING = 0.95  # weight of the past in the smoothed line (TensorBoard's slider)


def ema_step(average: float, value: float, weight: float = SMOOTHING) -> float:
    """The running average after one more value (a non-finite value leaves it as it was)."""
    return average * weight + (1 - weight) * value if math.isfinite(value) else average


def debias(average: float, n: int, weight: float = SMOOTHING) -> float:
    """The smoothed value after n values: the running average divided by 1 - weight**n."""
    return average / (1 - weight**n)


def smooth_step(average: float, finite: int, value: float, weight: float = SMOOTHING) -> tuple[float, int, float]:
    """One more value: the running average after it, the number of finite values in that average, and the smoothed
    value after it (the value itself when it is not finite)."""
    if not math.isfinite(value):
        return average, finite, value
    average, finite = ema_step(average, value, weight), finite + 1
    return average, finite, debias(average, finite, weight)


class Smoothed(list[float]):
    """The smoothed value after each value so far, with the running average behind the last one and the number of
    finite values in it."""

    average = 0.0
    finite = 0


def debiased_ema(values: Sequence[float], weight: float = SMOOTHING, out: Smoothed | None = None) -> Smoothed:
    """The smoothed value after each of `values` (a value that is not finite: itself).

    With `out` (the result for a prefix of `values`), only the new values are computed, appended to `out`.
    """
    out = Smoothed() if out is None else out
    average, finite = out.average, out.finite
    for i in range(len(out), len(values)):
        average, finite, smoothed = smooth_step(average, finite, values[i], weight)
        out.append(smoothed)
    out.average, out.finite = average, finite
    return out

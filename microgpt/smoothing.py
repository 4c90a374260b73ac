"""The smoothed loss: TensorBoard's debiased exponential moving average, defined once for the engine and the app.

    avg_n = weight * avg_(n-1) + (1 - weight) * loss_n        (avg_0 = 0; a non-finite loss is skipped)
    smooth_n = avg_n / (1 - weight ** n)                      (dividing out the bias towards the 0 it starts from)

The loss chart draws it, and the `smooth<X` / `smooth>X` breakpoints compare it.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence, Sequence

SMOOTHING = 0.95  # weight of the past in the smoothed line (TensorBoard's slider)


def debiased_ema(values: Sequence[float], weight: float = SMOOTHING,
                 out: MutableSequence[float] | None = None) -> MutableSequence[float]:
    """The smoothed value after each of `values`.

    With `out` (the result for a prefix of `values`, a list or an array('d')), only the new values are computed,
    appended to `out`, which is returned.
    """
    out = [] if out is None else out
    n = len(out)
    last = out[-1] * (1 - weight**n) if n else 0.0  # undo the debiasing to recover the running average
    for i in range(n, len(values)):
        v = values[i]
        last = last * weight + (1 - weight) * v if math.isfinite(v) else last
        out.append(last / (1 - weight ** (i + 1)))
    return out

"""Sums of plain floats in the reference's order: from the int 0, left to right, never compensated.

The reference adds with Python's builtin `sum()`, which up to 3.11 adds floats one by one from the int 0. From
3.12 the builtin compensates the rounding of float sums, which changes the last bits: the engine uses these
instead, everywhere it adds plain floats, so that every Python gives the reference's numbers. (The graph's own
sums of nodes are `microgpt.autograd.total` and `dot`; these names do not clash with them.)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from functools import reduce
from operator import add, mul

if sys.version_info < (3, 12):
    plain_sum = sum  # floats added left to right from the int 0 (or `start`), as the reference's sum()
else:  # from 3.12 the builtin sum() of floats is compensated: keep the plain left-to-right order
    def plain_sum(items: Iterable[float], start: float = 0) -> float:
        """Floats added left to right from the int 0 (or `start`), as the reference's sum() on 3.11."""
        result: float = reduce(add, items, start)
        return result


def plain_dot(a: Sequence[float], b: Sequence[float]) -> float:
    """sum(a_i * b_i), starting from 0 and adding left to right."""
    result: float = plain_sum(map(mul, a, b))
    return result


def softmax(logits: Sequence[float]) -> list[float]:
    """exp(l - max) * (sum of the exps) ** -1, the reference's float operations (as its loss computes p)."""
    max_val = max(logits)
    exps = [math.exp(v + -max_val) for v in logits]
    pw = plain_sum(exps) ** -1
    return [e * pw for e in exps]

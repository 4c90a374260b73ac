"""Adam, in the reference's exact float operations; the learning rate of each step comes from `microgpt.schedule`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain

from microgpt.config import Config
from microgpt.model import Matrix, Params


def norm(w: Matrix) -> float:
    """L2 norm of a matrix."""
    return math.hypot(*[math.hypot(*row) for row in w])


@dataclass
class Adam:
    """First and second moment buffers, one [rows][cols] list per matrix like the parameters."""

    m: dict[str, Matrix]
    v: dict[str, Matrix]

    @classmethod
    def zeros(cls, params: Params) -> Adam:
        """Moments of 0.0 for every parameter."""
        def z() -> dict[str, Matrix]:
            return {name: [[0.0] * len(w[0]) for _ in w] for name, w in params.data.items()}
        return cls(z(), z())

    def update(self, params: Params, config: Config, step: int, lr_t: float) -> dict[str, float]:
        """One update of step `step` at learning rate `lr_t` (the schedule's) with the gradients in params.grad;
        returns each matrix's update norm.

        m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g**2;  p -= lr_t * (m / (1-b1**s)) / ((v / (1-b2**s)) ** 0.5 + eps)
        """
        # inside: adam
        b1, b2, eps = config.beta1, config.beta2, config.eps
        c1, c2 = 1 - b1, 1 - b2
        d1, d2 = 1 - b1 ** step, 1 - b2 ** step
        moved = {}
        for name, w in params.data.items():
            cols = len(w[0])
            p, g = flat(w), flat(params.grad[name])
            m = [b1 * mi + c1 * gi for mi, gi in zip(flat(self.m[name]), g)]
            v = [b2 * vi + c2 * gi ** 2 for vi, gi in zip(flat(self.v[name]), g)]
            new = [pi - lr_t * (mi / d1) / ((vi / d2) ** 0.5 + eps) for pi, mi, vi in zip(p, m, v)]
            # inside: end
            moved[name] = math.dist(p, new)
            w[:] = rows(new, cols)
            self.m[name], self.v[name] = rows(m, cols), rows(v, cols)
        return moved


def flat(w: Matrix) -> list[float]:
    """A matrix's entries, row after row."""
    return list(chain.from_iterable(w))


def rows(values: list[float], cols: int) -> Matrix:
    """A flat list cut back into rows of `cols`."""
    return [values[i:i + cols] for i in range(0, len(values), cols)]

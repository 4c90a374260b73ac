"""The model and training configuration: one dataclass, the reference's defaults, validated for people."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


class ConfigError(ValueError):
    """A configuration that cannot train; str() is one line saying what is wrong."""


@dataclass(frozen=True)
class Config:
    """Sizes and hyperparameters of one run. The defaults are the reference's."""

    n_layer: int = 1  # transformer blocks; depth of the network
    n_embd: int = 16  # width of every residual-stream vector
    n_head: int = 4  # attention heads per block; each sees n_embd // n_head dimensions
    block_size: int = 16  # longest context; documents are cut to block_size predictions
    init_std: float = 0.08  # standard deviation of the Gaussian every weight starts from
    lr: float = 0.01  # Adam's learning rate at step 1; it decays linearly towards 0
    beta1: float = 0.85  # Adam's decay of the running mean of gradients
    beta2: float = 0.99  # Adam's decay of the running mean of squared gradients
    eps: float = 1e-8  # keeps Adam's division finite when a gradient has always been 0
    steps: int = 1000  # length of the schedule: one document per step, lr reaches 0 after it
    seed: int = 42  # seeds the one generator behind the shuffle, the init and sampling

    @property
    def head_dim(self) -> int:
        """Dimensions each attention head works in."""
        return self.n_embd // self.n_head

    def validate(self) -> Config:
        """Return self, or raise ConfigError naming the first value that cannot work."""
        for name in ("n_layer", "n_embd", "n_head", "block_size", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                "each head takes an equal slice of the embedding"
            )
        for name in ("init_std", "lr", "eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be a whole number, got {self.seed!r}")
        return self

    def to_dict(self) -> dict[str, int | float]:
        """The fields as a plain dict (for checkpoints and logs)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Config:
        """Build from a dict with exactly this class's fields (ConfigError otherwise)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return cls(**data).validate()  # type: ignore[arg-type]

"""Sampling: new documents token by token from the current weights, at any positive temperature.

Each step divides the logits by the temperature (as the reference: each logit times temperature ** -1),
takes the softmax and draws one token with `choices`; a fresh KV cache per sample, starting from BOS at
position 0, stopping when BOS is drawn or the block is full.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.floats import softmax
from microgpt.model import FusedForward, Params
from microgpt.report import BOS_LABEL, SampleToken


def softmax_probs(logits: Sequence[float], temperature: float) -> tuple[float, ...]:
    """softmax(logits / temperature), in the reference's float operations."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    inv = temperature ** -1
    return tuple(softmax([v * inv for v in logits]))


def top_candidates(probs: Sequence[float], dataset: Dataset, k: int = 5) -> tuple[tuple[str, float], ...]:
    """The k most likely tokens as (label, probability), best first; BOS shown as BOS_LABEL."""
    best = sorted(range(len(probs)), key=lambda i: -probs[i])[:k]
    return tuple((dataset.char(i) or BOS_LABEL, probs[i]) for i in best)


def generate(params: Params, config: Config, dataset: Dataset, rng: random.Random,
             temperature: float = 0.5) -> Iterator[SampleToken]:
    """Yield one SampleToken per drawn token (the final BOS included, with is_end set)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    forward = FusedForward(params, config)
    vocab = range(dataset.vocab_size)
    token = dataset.bos
    text = ""
    for pos in range(config.block_size):
        out = forward(token, pos)
        probs = softmax_probs(out.logit_data, temperature)
        token = rng.choices(vocab, weights=probs)[0]
        end = token == dataset.bos or pos == config.block_size - 1
        char = dataset.char(token)
        text += char
        yield SampleToken(
            position=pos,
            token_id=token,
            char=char,
            is_end=end,
            temperature=temperature,
            logits=tuple(out.logit_data),
            probs=probs,
            top=top_candidates(probs, dataset),
            attention=tuple(tuple(tuple(row) for row in layer) for layer in out.attention),
            text=text,
        )
        if token == dataset.bos:
            return

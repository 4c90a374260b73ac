"""The engine against the reference's own numbers, and the two graph modes against each other, bit for bit."""

from __future__ import annotations

import gc
import hashlib
from pathlib import Path

import pytest

from microgpt.config import Config
from microgpt.data import Dataset, load_dataset
from microgpt.trainer import Trainer

REFERENCE_LOSSES = (Path(__file__).parent / "data" / "reference_losses.txt").read_text().split()
TRAJECTORY_SHA256 = "f9332e7cc5d658bc11277cb50304906d09e8d644131bef378862391d10306fff"
PUBLIC = {1: "3.3659669475848504", 2: "3.4242727838717717", 3: "3.177802125458052", 7: "3.2894250644306684",
          8: "3.324529585380703", 10: "3.2228882401182624", 20: "2.74528539365564", 50: "2.4049823340767382",
          1000: "2.6496944697407585"}
REFERENCE_SAMPLES = ["kamon", "ann", "karai", "jaire", "vialan", "karia", "yeran", "anna", "areli", "kaina",
                     "konna", "keylen", "liole", "alerin", "earan", "lenne", "kana", "lara", "alela", "anton"]


@pytest.fixture(scope="module")
def makemore(reference_names: Path) -> Dataset:
    """The reference's training set."""
    return load_dataset(str(reference_names))


def test_reference_losses_file_is_the_published_trajectory() -> None:
    assert len(REFERENCE_LOSSES) == 1000
    assert hashlib.sha256("\n".join(REFERENCE_LOSSES).encode()).hexdigest() == TRAJECTORY_SHA256
    for step, loss in PUBLIC.items():
        assert REFERENCE_LOSSES[step - 1] == loss


@pytest.mark.fidelity
@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_public_check_values(makemore: Dataset, engine: str) -> None:
    trainer = Trainer(makemore, Config(), engine=engine)
    assert trainer.num_params == 4192
    assert makemore.vocab_size == 27 and len(makemore.docs) == 32033
    steps = 10 if engine == "atomic" else 50
    losses = [repr(trainer.step().loss) for _ in range(steps)]
    for step, loss in PUBLIC.items():
        if step <= steps:
            assert losses[step - 1] == loss, f"step {step}"
    assert losses == REFERENCE_LOSSES[:steps]


@pytest.mark.fidelity
@pytest.mark.slow
def test_fused_reproduces_the_whole_run_and_its_samples(makemore: Dataset) -> None:
    trainer = Trainer(makemore, Config(), engine="fused")
    losses = [repr(trainer.step().loss) for _ in range(1000)]
    mismatched = [i + 1 for i, (a, b) in enumerate(zip(losses, REFERENCE_LOSSES)) if a != b]
    assert not mismatched, f"steps differing from the reference: {mismatched[:20]}"
    assert hashlib.sha256("\n".join(losses).encode()).hexdigest() == TRAJECTORY_SHA256
    samples = ["".join(t.char for t in trainer.sample(0.5)) for _ in range(20)]
    assert samples == REFERENCE_SAMPLES


@pytest.mark.fidelity
def test_atomic_graph_is_the_references_size(makemore: Dataset) -> None:
    trainer = Trainer(makemore, Config(), engine="atomic")
    trainer.docs = ("yuheng",)
    report = trainer.step()
    assert report.graph.nodes == 59647
    assert report.graph.edges == 107060
    # every layer matrix and lm_head (3,504), wte rows of BOS y u h e n g and wpe rows 0..6
    assert report.graph.params == 3504 + 7 * 16 + 7 * 16
    fused = Trainer(makemore, Config(), engine="fused")
    fused.docs = ("yuheng",)
    small = fused.step()
    assert small.loss == report.loss
    assert small.graph.params == report.graph.params
    assert report.graph.nodes >= 10 * small.graph.nodes


def lockstep(dataset: Dataset, config: Config, steps: int) -> None:
    """Train atomic and fused side by side; every weight and moment must stay equal to the last bit."""
    atomic = Trainer(dataset, config, engine="atomic")
    fused = Trainer(dataset, config, engine="fused")
    for _ in range(steps):
        a, f = atomic.step(), fused.step()
        assert a.loss == f.loss
        assert a.position_losses == f.position_losses
        assert a.attention == f.attention
        assert atomic.params.flat_grad() == fused.params.flat_grad()
        assert atomic.params.flat() == fused.params.flat()
        assert [m.grad_norm for m in a.matrices] == [m.grad_norm for m in f.matrices]


CONFIGS = {
    "reference": Config(steps=40),
    "two layers": Config(n_layer=2, steps=20),
    "narrow, two heads": Config(n_embd=8, n_head=2, steps=20),
    "one head": Config(n_embd=8, n_head=1, steps=20),
    "head_dim 8": Config(n_embd=16, n_head=2, steps=20),
    "three layers, width 12, three heads": Config(n_layer=3, n_embd=12, n_head=3, steps=8),
    "short block (documents cut)": Config(block_size=4, steps=20),
    "other seed and lr": Config(seed=7, lr=0.03, steps=20),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_atomic_and_fused_are_bit_identical(name: str) -> None:
    lockstep(load_dataset("names"), CONFIGS[name], CONFIGS[name].steps)


def test_atomic_and_fused_on_other_datasets() -> None:
    lockstep(load_dataset("surnames"), Config(steps=15), 15)
    words = Dataset.from_docs(["héllo wörld", "a", "ÿ", "zebra crossing", "x" * 30, "ab ba"], name="words")
    lockstep(words, Config(block_size=8, steps=12), 12)


def test_runs_are_deterministic_and_seeded() -> None:
    ds = load_dataset("names")
    a = Trainer(ds, Config(steps=10))
    b = Trainer(ds, Config(steps=10))
    c = Trainer(ds, Config(steps=10, seed=1))
    la = [a.step().loss for _ in range(5)]
    assert la == [b.step().loss for _ in range(5)]
    assert la != [c.step().loss for _ in range(5)]


def test_sampling_never_disturbs_training() -> None:
    ds = load_dataset("names")
    quiet = Trainer(ds, Config(steps=10))
    chatty = Trainer(ds, Config(steps=10))
    for _ in range(5):
        assert quiet.step().loss == chatty.step().loss
        list(chatty.sample(1.3))


@pytest.mark.parametrize("engine", ["fused", "atomic"])
def test_graph_is_freed_without_the_cycle_collector(engine: str) -> None:
    trainer = Trainer(load_dataset("names"), Config(n_layer=2, steps=5), engine=engine)
    gc.collect()
    gc.disable()
    try:
        trainer.step()
        assert gc.collect() == 0  # nothing the step built was left for the collector
    finally:
        gc.enable()


def test_deep_configuration_needs_no_recursion() -> None:
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # well below the atomic graph's depth
    try:
        report = Trainer(load_dataset("names"), Config(n_layer=4, steps=2), engine="atomic").step()
    finally:
        sys.setrecursionlimit(limit)
    assert report.graph.depth > 600

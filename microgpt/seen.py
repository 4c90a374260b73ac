"""Has the model seen this name? A sample is a training document it trained on, one it has not reached yet, or new.

    docs = TrainingDocs(trainer.docs)     # the shuffled documents, in the order the steps take them
    docs.lookup("anna", step=300)         # Seen("trained", 123): "seen at step 123"
    docs.new_count(["anna", "zyx"])       # 1: names not in the data at all

Step s trains on `docs[(s - 1) % len(docs)]`, so a document is first trained on at step (its first index + 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TRAINED, UNTRAINED, NEW = "trained", "untrained", "new"


@dataclass(frozen=True, slots=True)
class Seen:
    """Where a text stands: a trained-on document (with the step it was first trained on), one not yet, or new."""

    kind: str  # TRAINED, UNTRAINED or NEW
    step: int = 0  # the step that first trained on it (TRAINED), or will (UNTRAINED); 0 for NEW

    def __str__(self) -> str:
        if self.kind == TRAINED:
            return f"seen at step {self.step}"
        if self.kind == UNTRAINED:
            return f"in the data, not trained on yet (step {self.step})"
        return "new"

    @property
    def in_data(self) -> bool:
        """True when the text is one of the dataset's documents."""
        return self.kind != NEW


class TrainingDocs:
    """The documents of a run in training order, looked up by text."""

    def __init__(self, docs: Sequence[str]) -> None:
        self.first: dict[str, int] = {}  # document -> the step that first trains on it
        for i, doc in enumerate(docs):
            self.first.setdefault(doc, i + 1)

    def lookup(self, text: str, step: int) -> Seen:
        """Where `text` stands after `step` training steps."""
        first = self.first.get(text)
        if first is None:
            return Seen(NEW)
        return Seen(TRAINED if first <= step else UNTRAINED, first)

    def new_count(self, texts: Iterable[str]) -> int:
        """How many of `texts` are not documents of the dataset at all."""
        return sum(1 for text in texts if text not in self.first)

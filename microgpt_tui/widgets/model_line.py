"""The model line: what is being trained — sizes, parameter count, dataset, seed and graph mode — in one line."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from microgpt.config import Config
from microgpt.data import Dataset
from microgpt.model import matrix_shapes


def parameter_count(config: Config, vocab_size: int) -> int:
    """The number of scalar parameters (what `microgpt train` prints as `num params`)."""
    return sum(rows * cols for _, rows, cols in matrix_shapes(config, vocab_size))


def describe_model(config: Config, dataset: Dataset) -> str:
    """`1 layer · width 16 · 4 heads · block 16 · 4,192 params · names: 5,163 docs · seed 42`."""
    layers = f"{config.n_layer} layer" + ("s" if config.n_layer != 1 else "")
    heads = f"{config.n_head} head" + ("s" if config.n_head != 1 else "")
    return (f"{layers} · width {config.n_embd} · {heads} · block {config.block_size} · "
            f"{parameter_count(config, dataset.vocab_size):,} params · {dataset.name}: {len(dataset.docs):,} docs · "
            f"seed {config.seed}")


def describe_model_briefly(config: Config, dataset: Dataset) -> str:
    """The same for 80 columns: `1L 16w 4h block 16 · 4,192 params · names (5,163) · seed 42`."""
    return (f"{config.n_layer}L {config.n_embd}w {config.n_head}h block {config.block_size} · "
            f"{parameter_count(config, dataset.vocab_size):,} params · {dataset.name} ({len(dataset.docs):,}) · "
            f"seed {config.seed}")


class ModelLine(Widget):
    """One dim line naming the model being trained and its graph mode."""

    DEFAULT_CSS = """
    ModelLine {
        height: 1;
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
    }
    """

    engine: reactive[str] = reactive("fused")

    def __init__(self, config: Config, dataset: Dataset, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.description = describe_model(config, dataset)
        self.brief = describe_model_briefly(config, dataset)
        self.tooltip = self.description

    def render(self) -> Text:
        """The description (brief when the full one does not fit), then the graph mode."""
        full = len(self.description) + 3 + len(self.engine) <= self.content_size.width
        text = Text(self.description if full else self.brief, no_wrap=True, overflow="ellipsis")
        text.append(" · ")
        text.append(self.engine, style="bold")
        return text

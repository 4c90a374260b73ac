"""The command palette provider: every action of the app, found by name (ctrl+p): its key bindings, then the
actions that have no key (`PALETTE`: "Save as…", "Run to step…" ...)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


class MicroGPTCommands(Provider):
    """Offers each key binding of the app as a command, with its key and what it does."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(name, help, callback) for every binding of the app and every action without a key."""
        app = self.app
        commands: list[tuple[str, str, Callable[[], object]]] = []
        for binding in app.BINDINGS:
            if not isinstance(binding, Binding) or binding.system:
                continue
            keys = " / ".join(app.get_key_display(Binding(k, "")) for k in binding.key.split(","))
            name = binding.tooltip or binding.description
            commands.append((name, f"key: {keys}", partial(app.run_action, binding.action)))
        for name, help_text, action in getattr(app, "PALETTE", ()):
            commands.append((name, help_text, partial(app.run_action, action)))
        return commands

    async def discover(self) -> Hits:
        """Every command, in the order of the bindings."""
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """The commands whose names match what was typed."""
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)

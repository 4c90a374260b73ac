"""The footer of keys, recomposed only when the keys it shows change.

Textual's Footer builds all its key widgets again whenever the screen's bindings may have changed: on every focus
change and every return from another screen, such as closing the help. That rebuild (a widget per key, their
styles, a new layout) was most of the time the help took to open and close while training.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """The footer, rebuilt only when the keys shown, their descriptions or their enabled state change."""

    _shown: tuple[tuple[str, str, bool, str], ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Rebuild if the keys to show differ from those shown."""
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = tuple((binding.key, binding.description, enabled, tooltip)
                          for _, binding, enabled, tooltip in screen.active_bindings.values() if binding.show)
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)

"""The app's theme for 16 colours and no colour: the terminal's own foreground and background, reverse video.

Every background is the terminal's default and text is the default foreground or a colour readable on both dark
and light backgrounds (never black or white, whose meaning flips with the terminal's scheme); a cursor or a
highlight is the default pair reversed, so nothing depends on how the user's terminal defines its colours.
Without colour, a final filter (`MicroGPTApp.get_line_filters`) drops every colour that is left, and emphasis is
bold, dim, reverse and underline only.
"""

from __future__ import annotations

from textual.theme import Theme

TERMINAL_THEME = Theme(
    name="microgpt-terminal",
    ansi=True,
    dark=True,
    primary="ansi_magenta",  # not blue: dark blue text is unreadable on a dark terminal
    secondary="ansi_cyan",
    warning="ansi_yellow",
    error="ansi_red",
    success="ansi_green",
    accent="ansi_green",
    foreground="ansi_default",
    background="ansi_default",
    surface="ansi_default",
    panel="ansi_default",
    boost="ansi_default",
    variables={
        "ansi-background": "ansi_default",
        "ansi-foreground": "ansi_default",
        "border-blurred": "ansi_default",
        "block-cursor-foreground": "ansi_default",
        "block-cursor-background": "ansi_default",
        "block-cursor-text-style": "reverse bold",
        "block-cursor-blurred-foreground": "ansi_default",
        "block-cursor-blurred-background": "ansi_default",
        "block-cursor-blurred-text-style": "reverse",
        "input-cursor-foreground": "ansi_default",
        "input-cursor-background": "ansi_default",
        "input-cursor-text-style": "reverse",
        "input-selection-foreground": "ansi_default",
        "input-selection-background": "ansi_default",
        "screen-selection-foreground": "ansi_default",
        "screen-selection-background": "ansi_default",
        "footer-key-foreground": "ansi_magenta",
        "scrollbar": "ansi_blue",
        "scrollbar-hover": "ansi_magenta",
        "scrollbar-active": "ansi_magenta",
        "scrollbar-background": "ansi_default",
        "scrollbar-background-hover": "ansi_default",
        "scrollbar-background-active": "ansi_default",
        "scrollbar-corner-color": "ansi_default",
        "markdown-h1-color": "ansi_default",
        "markdown-h2-color": "ansi_default",
        "markdown-h3-color": "ansi_default",
    },
)

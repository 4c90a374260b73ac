"""The colour modes in a real terminal, read from the escape stream tmux holds (`capture-pane -e`).

Without colour (`NO_COLOR=1` or `--color none`) no colour code but the terminal's defaults (39, 49) may appear;
in 16 colours no text may be drawn in its background's colour, nor in black or white on the terminal's own
background (one of the two is invisible on a dark or on a light terminal), and no 256-colour or RGB code may
appear. Each mode is checked on the main screen (each pane in turn at 80x24), with a notification, in the command
palette and in the help.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

UNREADABLE_ON_DEFAULT = {"ansi:0", "ansi:7", "ansi:8", "ansi:15"}  # black, white, grey, bright white


def screens(terminal, args: list[str], env: dict[str, str], size: tuple[int, int]) -> dict[str, str]:
    """The escape stream of the main screen (and of each pane, at 80x24), a notification, the command palette and
    the help, in that order."""
    term = terminal(["--paused", "--steps", "300", *args], size=size, env=env)
    term.wait_for(r"step +0 / 300")
    term.press("n", "n", "n")
    term.wait_for(r"step +3 / 300")
    term.wait_for(r"Loss · step 3")
    term.press("g")  # a sample, for the sampling pane
    if size[0] >= 100:
        term.wait_for(r"T 0\.50 · “")
    shots = {"main": term.ansi()}
    if size[0] < 100:  # one pane at a time: look at each
        panes = (("2", "[─═] Attention"), ("3", "[─═] Gradient norms"), ("4", "[─═] Graph"), ("5", r"T 0\.50 · “"))
        for key, shown in panes:
            term.press(key)
            term.wait_for(shown)
            shots[f"pane {key}"] = term.ansi()
        term.press("1")
        term.wait_for(r"[─═] Loss")
    term.press("m")
    term.wait_for(r"graph mode: atomic")
    shots["notification"] = term.ansi()
    term.press("C-p")
    term.wait_for(r"Search for commands")
    term.press("Down")  # a highlighted command
    term.wait_for(r"key: space")
    shots["palette"] = term.ansi()
    term.press("Escape")
    term.wait_for(r"^(?![\s\S]*Search for commands)")
    term.press("?")
    term.wait_for(r"microgpt-tui help")
    shots["help"] = term.ansi()
    term.press("Escape")
    term.wait_for(r"^(?![\s\S]*microgpt-tui help)")
    term.press("q")
    term.wait_for(r"is not saved")  # steps since the last save: quitting asks first
    shots["question"] = term.ansi()
    term.press("q")
    term.wait_for(r"EXIT=0")
    return shots


@pytest.mark.parametrize("size", [(80, 24), (100, 32)])
@pytest.mark.parametrize("how", ["NO_COLOR=1", "--color none"])
def test_without_colour_only_the_terminals_own_colours_appear(terminal, screen_cells, stream_colours, how, size):
    env, args = ({"NO_COLOR": "1"}, []) if how == "NO_COLOR=1" else ({}, how.split())
    shots = screens(terminal, args, env, size)
    for name, ansi in shots.items():
        assert stream_colours(ansi) <= {"39", "49"}, f"{name}: {stream_colours(ansi)}"
        cells = [cell for row in screen_cells(ansi) for cell in row]
        assert {(c.fg, c.bg) for c in cells} == {("default", "default")}, name
    main = [cell for row in screen_cells(shots["main"]) for cell in row]
    assert any(c.bold for c in main) and any(c.dim for c in main)  # emphasis without colour
    palette = [cell for row in screen_cells(shots["palette"]) for cell in row if cell.char.strip()]
    assert any(c.reverse for c in palette)  # the highlighted command and the input's cursor
    if size == (80, 24):
        tab_row = next(row for row in screen_cells(shots["main"]) if "1 Loss" in "".join(c.char for c in row))
        tabs = "".join(c.char for c in tab_row if c.reverse)
        assert tabs.strip() == "1 Loss"  # the current tab in reverse video


@pytest.mark.parametrize("size", [(80, 24), (100, 32)])
def test_sixteen_colours_never_hide_text(terminal, screen_cells, stream_colours, size):
    shots = screens(terminal, ["--color", "16"], {}, size)
    for name, ansi in shots.items():
        codes = stream_colours(ansi)
        assert not [c for c in codes if c.startswith(("38;", "48;"))], f"{name}: {codes}"
        text = [cell for row in screen_cells(ansi) for cell in row if cell.char.strip()]
        hidden = [c for c in text if c.shown_fg == c.shown_bg]
        assert not hidden, f"{name}: {hidden[:5]}"
        risky = [c for c in text if c.shown_bg == "default-bg" and c.shown_fg in UNREADABLE_ON_DEFAULT]
        assert not risky, f"{name}: {risky[:5]}"
    main = [cell for row in screen_cells(shots["main"]) for cell in row]
    assert any(c.fg.startswith("ansi:") for c in main)  # still in colour


def test_256_colours_keep_their_look(terminal, screen_cells, stream_colours):
    shots = screens(terminal, ["--color", "256"], {}, (100, 32))
    codes = stream_colours(shots["main"])
    assert {"38;256:67", "38;256:214"} <= codes  # the loss chart's steel blue and orange
    for name, ansi in shots.items():  # letters and digits (Textual's palette draws a border glyph in its background)
        text = [cell for row in screen_cells(ansi) for cell in row if cell.char.isalnum()]
        assert not [c for c in text if c.shown_fg == c.shown_bg], name

"""The panes and screens of the app, one widget per file."""

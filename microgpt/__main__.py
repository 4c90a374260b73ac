"""`python -m microgpt` runs the command-line interface."""

from microgpt.cli import main

raise SystemExit(main())

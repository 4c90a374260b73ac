"""microgpt_tui: a Textual app that trains microgpt step by step and shows what happens inside."""

"""microgpt: Karpathy's microgpt algorithm as an instrumented, fast, pure-Python engine (standard library only)."""

__version__ = "0.1.0"

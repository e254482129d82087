"""Pharmos: the GMP operations platform for biopharmaceutical manufacturers."""

__version__ = "0.1.0"

"""Saved filters of the quality lists: a person's named query strings, optionally shared."""

from __future__ import annotations

__all__: list[str] = []

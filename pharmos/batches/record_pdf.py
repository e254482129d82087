"""Placeholder: see docs/batches/service-api.md for what this file holds."""

from __future__ import annotations

__all__: list[str] = []

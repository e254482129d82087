"""Controlled documents: numbering, versions, files, review and approval, periodic review."""

from __future__ import annotations

__all__: list[str] = []

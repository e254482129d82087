"""inventory of the materials module (see docs/materials/service-api.md)."""

from __future__ import annotations

__all__: list[str] = []

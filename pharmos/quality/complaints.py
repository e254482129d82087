"""Complaints: intake, classification, investigation, links to deviations and CAPA, response, closure, trend."""

from __future__ import annotations

__all__: list[str] = []

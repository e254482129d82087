"""Change control: proposal, classification, function assessments, implementation tasks, effectiveness."""

from __future__ import annotations

__all__: list[str] = []

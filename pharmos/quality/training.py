"""Training: requirements by role and document, skills, records, the qualification matrix and is_qualified."""

from __future__ import annotations

from typing import Any

__all__: list[str] = []

# Called by the document-version lifecycle (pharmos/quality/lifecycle.py) inside its transaction.
# Placeholder until the training service lands: see docs/quality/service-api.md.


def assign_read_and_understood(session: Any, *, version: Any, actor: Any) -> int:
    return 0


def cancel_open_training(session: Any, *, document_id: int, actor: Any, reason: str) -> int:
    return 0

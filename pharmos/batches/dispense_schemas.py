"""API shapes of the batches module (placeholder until filled; see docs/batches/service-api.md)."""

from __future__ import annotations

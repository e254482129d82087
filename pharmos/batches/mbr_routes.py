"""API routes of the batches module (placeholder until filled; see docs/batches/service-api.md)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["batches"])

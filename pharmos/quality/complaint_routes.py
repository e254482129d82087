"""API routes of complaints (see docs/quality/service-api.md)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["quality"])

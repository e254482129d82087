"""Web pages of the batches module (placeholder until filled; see docs/batches/service-api.md)."""

from __future__ import annotations

from fastapi import APIRouter

pages = APIRouter(include_in_schema=False)

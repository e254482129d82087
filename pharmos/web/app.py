"""Installs the web UI (pages, static files, i18n) into the FastAPI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def install_web(app: FastAPI) -> Any:
    """Mount pages and static files; return the HTML error renderer (or None)."""
    return None

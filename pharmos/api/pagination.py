"""The one list convention: ``limit`` (≤500), opaque ``cursor``, ``{"items", "next_cursor"}``."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from pharmos.core.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": after_id})).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded))["after"]
        if not isinstance(value, int) or value < 0:
            raise ValueError
        return value
    except Exception:
        raise ValidationFailed.on("cursor", "Malformed cursor; pass back next_cursor exactly.") from None


class PageParams:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (at most 500)")] = 50,
        cursor: Annotated[str | None, Query(description="Opaque cursor from next_cursor")] = None,
    ) -> None:
        self.limit = limit
        self.after_id = decode_cursor(cursor)

    def page(self, items: list[T], id_of: Callable[[T], int]) -> Page[T]:
        """Callers fetch limit+1 rows; the extra one tells whether another page exists."""
        if len(items) > self.limit:
            items = items[: self.limit]
            return Page(items=items, next_cursor=encode_cursor(id_of(items[-1])))
        return Page(items=items, next_cursor=None)

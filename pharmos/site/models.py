"""Tables of the controlled-site-settings module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pharmos.compliance.audit import Audited
from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId, UTCDateTime


class ControlledSetting(Audited, Base):
    """One version of a GMP-relevant site parameter (e.g. a default review period)."""

    __tablename__ = "site_controlled_setting"
    __audit_type__ = "controlled_setting"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    key: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    author_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def signed_content(self) -> dict[str, Any]:
        # What a signer vouches for: the parameter and its value, not the workflow state.
        return {"number": self.number, "key": self.key, "version": self.version, "value": self.value,
                "description": self.description}

    def author_user_id(self) -> int | None:
        return self.author_id

"""API shapes of the controlled-site-settings module."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pharmos.compliance.schemas import SignatureOut


class SettingIn(BaseModel):
    key: str = Field(max_length=100)
    value: str = Field(max_length=2000)
    description: str = Field(default="", max_length=4000)


class SettingRevisionIn(BaseModel):
    value: str = Field(max_length=2000)
    description: str = Field(default="", max_length=4000)
    reason: str = Field(max_length=2000)


class SettingOut(BaseModel):
    id: int
    number: str
    key: str
    version: int
    value: str
    description: str
    state: str
    author: str
    created_at: datetime
    effective_at: datetime | None
    signatures: list[SignatureOut] = Field(default_factory=list)

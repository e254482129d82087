"""API shapes of the compliance core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_id: int | None
    record_type: str
    record_id: str
    action: str
    changes: dict[str, Any]
    reason: str | None
    request_id: str | None
    hash: str


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    first_broken_id: int | None
    problem: str | None


class TransitionOut(BaseModel):
    name: str
    label_en: str
    label_zh: str
    target: str
    allowed: bool
    why_not: str | None
    signature: str | None
    reason_required: bool
    fields: list[str]


class TransitionIn(BaseModel):
    password: str | None = Field(default=None, description="Re-entered password when the transition is signed")
    otp: str | None = Field(default=None, description="TOTP code when the signer has MFA enrolled")
    meaning: str | None = Field(default=None, description="Signature meaning; must match the transition's")
    reason: str | None = Field(default=None, max_length=2000, description="Reason for change")


class TransitionResult(BaseModel):
    state: str


class SignatureOut(BaseModel):
    id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: datetime
    reason: str | None
    valid: bool
    problem: str | None

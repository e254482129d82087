"""API shapes of the auth module."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TokenIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    otp: str | None = Field(default=None, max_length=10)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - OAuth 2 token type, not a secret
    expires_at: datetime
    idle_timeout_minutes: int
    must_change_password: bool


class MeOut(BaseModel):
    username: str
    full_name: str
    language: str
    permissions: list[str]
    must_change_password: bool


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    email: str | None
    language: str
    department: str | None
    is_active: bool
    locked: bool
    totp_enabled: bool
    must_change_password: bool
    roles: list[str]
    created_at: datetime
    last_login_at: datetime | None


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    full_name: str = Field(max_length=150)
    password: str = Field(max_length=256)
    email: str | None = Field(default=None, max_length=254)
    language: str = "zh_CN"
    department: str | None = Field(default=None, max_length=100)
    roles: list[str] = Field(default_factory=list)


class ReasonIn(BaseModel):
    reason: str = Field(max_length=2000)


class RoleGrantIn(BaseModel):
    role: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class TemporaryPasswordOut(BaseModel):
    username: str
    temporary_password: str


class RoleOut(BaseModel):
    name: str
    label_en: str
    label_zh: str
    builtin: bool
    permissions: list[str]
    members: list[str]


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class ApiTokenIn(BaseModel):
    name: str = Field(max_length=100)
    scopes: list[str]
    expires_days: int | None = 365


class ApiTokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="Shown once; store it in the integration's secret store")

"""Tables of the auth module."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pharmos.compliance.audit import Audited
from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId, UTCDateTime


class User(Audited, Base):
    __tablename__ = "auth_user"
    __audit_type__ = "user"
    __audit_secret__ = frozenset({"password_hash", "totp_secret"})
    __audit_ignore__ = frozenset({"last_login_at", "totp_last_step"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # 21 CFR 11.100(a): unique to one individual, never reused or reassigned.
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(String(150), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    language: Mapped[str] = mapped_column(String(10), nullable=False, default="zh_CN")
    department: Mapped[str | None] = mapped_column(String(100), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_login_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The last 30-second step whose code was accepted: a code is never accepted twice (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Role(Audited, Base):
    __tablename__ = "auth_role"
    __audit_type__ = "role"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    label_en: Mapped[str] = mapped_column(String(150), nullable=False)
    label_zh: Mapped[str] = mapped_column(String(150), nullable=False)
    builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class RolePermission(Audited, Base):
    __tablename__ = "auth_role_permission"
    __audit_type__ = "role_permission"
    __table_args__ = (UniqueConstraint("role_id", "permission", name="uq_auth_role_permission"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("auth_role.id"), nullable=False, index=True)
    permission: Mapped[str] = mapped_column(String(100), nullable=False)


class UserRole(Audited, Base):
    __tablename__ = "auth_user_role"
    __audit_type__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role_id", name="uq_auth_user_role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), nullable=False, index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("auth_role.id"), nullable=False, index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(150), nullable=False)


class AuthSession(Base):
    """Server-side session; the login and logout themselves are audited as events."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # web | api
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    idle_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    client: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ApiToken(Audited, Base):
    __tablename__ = "auth_api_token"
    __audit_type__ = "api_token"
    __audit_secret__ = frozenset({"token_hash"})
    __audit_ignore__ = frozenset({"last_used_at"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    scopes: Mapped[str] = mapped_column(Text, nullable=False)  # space-separated permission codes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)



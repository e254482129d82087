"""Auth services: accounts, roles, login, sessions, API tokens, MFA.

Every function that changes something takes keyword-only arguments and an explicit
``actor`` and runs in its own unit of work, so audit entries commit with the change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.orm import Session

from pharmos.auth.models import ApiToken, AuthSession, Role, RolePermission, User, UserRole
from pharmos.auth.permissions import BUILTIN_ROLES, PERMISSIONS, segregation_conflict
from pharmos.compliance.audit import record_event
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.config import get_settings
from pharmos.core.crypto import decrypt, encrypt, new_token, token_digest
from pharmos.core.db import get_database, read_session, transaction
from pharmos.core.errors import (
    AuthenticationFailed,
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


@lru_cache(maxsize=4)
def _hasher_for(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def _hasher() -> PasswordHasher:
    settings = get_settings()
    return _hasher_for(settings.password_hash_time_cost, settings.password_hash_memory_kib)


# Verifying against this keeps unknown-user logins as slow as wrong-password ones.
_DUMMY_PASSWORD = "pharmos-timing-equaliser"  # noqa: S105 - not a credential
LANGUAGES = ("zh_CN", "en")
# How stale last_seen_at may get before we write it again (keeps GETs read-only).
_TOUCH_INTERVAL = timedelta(seconds=30)


def _dummy_hash() -> str:
    return _dummy_hash_for(get_settings().password_hash_time_cost, get_settings().password_hash_memory_kib)


@lru_cache(maxsize=4)
def _dummy_hash_for(time_cost: int, memory_kib: int) -> str:
    return _hasher_for(time_cost, memory_kib).hash(_DUMMY_PASSWORD)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(username: str, password: str, *, field: str = "password") -> list[FieldProblem]:
    settings = get_settings()
    problems: list[FieldProblem] = []
    if len(password) < settings.password_min_length:
        problems.append(FieldProblem(field, f"Password must be at least {settings.password_min_length} characters."))
    if password.strip().lower() == username.strip().lower():
        problems.append(FieldProblem(field, "Password must not be the same as the username."))
    return problems



def _user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def _role_by_name(session: Session, name: str) -> Role:
    role = session.scalar(select(Role).where(Role.name == name))
    if role is None:
        raise ValidationFailed.on("role", f"Unknown role {name!r}.")
    return role


def _user_permissions(session: Session, user_id: int) -> set[str]:
    rows = session.execute(
        select(RolePermission.permission)
        .join(UserRole, UserRole.role_id == RolePermission.role_id)
        .where(UserRole.user_id == user_id)
    )
    return {r[0] for r in rows}


def _role_permissions(session: Session, role_id: int) -> set[str]:
    return set(session.scalars(select(RolePermission.permission).where(RolePermission.role_id == role_id)))


def actor_for(user: User, permissions: set[str], *, scopes: set[str] | None = None) -> Actor:
    settings = get_settings()
    expired = (
        settings.password_max_age_days > 0
        and utcnow() - user.password_changed_at > timedelta(days=settings.password_max_age_days)
    )
    effective = permissions if scopes is None else permissions & scopes
    return Actor(
        username=user.username,
        full_name=user.full_name,
        user_id=user.id,
        permissions=frozenset(effective),
        language=user.language,
        must_change_password=user.must_change_password or expired,
    )


# ---------------------------------------------------------------- roles


def ensure_builtin_roles(*, actor: Actor) -> None:
    """Create the built-in pharma-site roles and their permissions if absent."""
    with transaction(actor=actor, reason="Built-in roles provisioned") as session:
        for name, (label_en, label_zh, perms) in BUILTIN_ROLES.items():
            role = session.scalar(select(Role).where(Role.name == name))
            if role is None:
                role = Role(name=name, label_en=label_en, label_zh=label_zh, builtin=True)
                session.add(role)
                session.flush()
            have = _role_permissions(session, role.id)
            for code in sorted(perms - have):
                session.add(RolePermission(role_id=role.id, permission=code))


def grant_role(*, actor: Actor, username: str, role: str, reason: str | None = None) -> None:
    actor.require("auth.manage_roles")
    with transaction(actor=actor, reason=reason or f"Role {role} granted") as session:
        user = _user_by_username(session, username)
        role_row = _role_by_name(session, role)
        if not user.is_active:
            raise Conflict(f"User {username} is deactivated.")
        if session.scalar(select(UserRole).where(UserRole.user_id == user.id, UserRole.role_id == role_row.id)):
            raise Conflict(f"{username} already holds the role {role}.", [FieldProblem("role", "Already granted.")])
        combined = _user_permissions(session, user.id) | _role_permissions(session, role_row.id)
        conflict = segregation_conflict(combined)
        if conflict:
            raise ValidationFailed.on("role", conflict)
        session.add(UserRole(user_id=user.id, role_id=role_row.id, granted_by=actor.username))


def revoke_role(*, actor: Actor, username: str, role: str, reason: str | None = None) -> None:
    actor.require("auth.manage_roles")
    with transaction(actor=actor, reason=reason or f"Role {role} revoked") as session:
        user = _user_by_username(session, username)
        role_row = _role_by_name(session, role)
        link = session.scalar(select(UserRole).where(UserRole.user_id == user.id, UserRole.role_id == role_row.id))
        if link is None:
            raise ValidationFailed.on("role", f"{username} does not hold the role {role}.")
        if actor.user_id == user.id and role_row.name == "admin":
            raise ValidationFailed.on("role", "You cannot revoke your own administrator role.")
        session.delete(link)


@dataclass(frozen=True)
class RoleView:
    name: str
    label_en: str
    label_zh: str
    builtin: bool
    permissions: tuple[str, ...]
    members: tuple[str, ...]


def list_roles(*, actor: Actor) -> list[RoleView]:
    actor.require("auth.view_users")
    with read_session() as session:
        roles = session.scalars(select(Role).order_by(Role.id)).all()
        out = []
        for role in roles:
            members = session.scalars(
                select(User.username).join(UserRole, UserRole.user_id == User.id)
                .where(UserRole.role_id == role.id).order_by(User.username)
            ).all()
            out.append(RoleView(role.name, role.label_en, role.label_zh, role.builtin,
                                tuple(sorted(_role_permissions(session, role.id))), tuple(members)))
        return out


# ---------------------------------------------------------------- users


@dataclass(frozen=True)
class UserView:
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
    roles: tuple[str, ...]
    created_at: datetime
    last_login_at: datetime | None


def _view(session: Session, user: User) -> UserView:
    roles = session.scalars(
        select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user.id)
        .order_by(Role.name)
    ).all()
    return UserView(user.id, user.username, user.full_name, user.email, user.language, user.department,
                    user.is_active, user.locked_at is not None, user.totp_enabled, user.must_change_password,
                    tuple(roles), user.created_at, user.last_login_at)


def _validate_profile(username: str, full_name: str, email: str | None, language: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    allowed = set(string.ascii_lowercase + string.digits + "._-")
    if not (3 <= len(username) <= 64) or not set(username) <= allowed:
        problems.append(FieldProblem("username", "Username must be 3–64 characters: a–z, 0–9, '.', '_' or '-'."))
    if not full_name.strip():
        problems.append(FieldProblem("full_name", "Full name is required (it is printed on signatures)."))
    if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
        problems.append(FieldProblem("email", "Not a valid e-mail address."))
    if language not in LANGUAGES:
        problems.append(FieldProblem("language", f"Language must be one of {', '.join(LANGUAGES)}."))
    return problems


def create_user(
    *,
    actor: Actor,
    username: str,
    full_name: str,
    password: str,
    email: str | None = None,
    language: str = "zh_CN",
    department: str | None = None,
    roles: list[str] | None = None,
    must_change_password: bool = False,
) -> UserView:
    actor.require("auth.manage_users")
    username = username.strip().lower()
    problems = _validate_profile(username, full_name, email, language) + password_problems(username, password)
    if problems:
        raise ValidationFailed("The user cannot be created.", problems)
    with transaction(actor=actor, reason="User account created") as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            # 21 CFR 11.100(a): a username is never reused, even after deactivation.
            raise Conflict("This username exists or existed before and cannot be reused.",
                           [FieldProblem("username", "Already taken (usernames are never reused).")])
        user = User(username=username, full_name=full_name.strip(), email=email or None, language=language,
                    department=department, password_hash=hash_password(password),
                    must_change_password=must_change_password, password_changed_at=utcnow())
        session.add(user)
        session.flush()
        granted: set[str] = set()
        for name in roles or []:
            role = session.scalar(select(Role).where(Role.name == name))
            if role is None:
                # Name the input field the caller sent ('roles'), not the single-role one.
                raise ValidationFailed.on("roles", f"Unknown role {name!r}.")
            granted |= _role_permissions(session, role.id)
            session.add(UserRole(user_id=user.id, role_id=role.id, granted_by=actor.username))
        conflict = segregation_conflict(granted)
        if conflict:
            raise ValidationFailed.on("roles", conflict)
        session.flush()
        return _view(session, user)


def list_users(*, actor: Actor, active: bool | None = None, role: str | None = None,
               after_id: int | None = None, limit: int | None = None) -> list[UserView]:
    """Users by username, or by id when paging (``after_id``/``limit``, the API's cursor order)."""
    actor.require("auth.view_users")
    with read_session() as session:
        stmt = select(User)
        if active is not None:
            stmt = stmt.where(User.is_active.is_(active))
        if role is not None:
            _role_by_name(session, role)
            stmt = stmt.where(User.id.in_(select(UserRole.user_id).join(Role, Role.id == UserRole.role_id)
                                          .where(Role.name == role)))
        if after_id is not None:
            stmt = stmt.where(User.id > after_id)
        if limit is not None or after_id is not None:
            stmt = stmt.order_by(User.id).limit(limit)
        else:
            stmt = stmt.order_by(User.username)
        return [_view(session, u) for u in session.scalars(stmt)]


def get_user(*, actor: Actor, username: str) -> UserView:
    if actor.username != username:
        actor.require("auth.view_users")
    with read_session() as session:
        return _view(session, _user_by_username(session, username))


def deactivate_user(*, actor: Actor, username: str, reason: str) -> None:
    actor.require("auth.manage_users")
    if not reason.strip():
        raise ValidationFailed.on("reason", "A reason is required to deactivate a user.")
    with transaction(actor=actor, reason=reason) as session:
        user = _user_by_username(session, username)
        if actor.user_id == user.id:
            raise ValidationFailed.on("username", "You cannot deactivate your own account.")
        if not user.is_active:
            raise Conflict(f"{username} is already deactivated.")
        user.is_active = False
        user.deactivated_at = utcnow()
        for live in session.scalars(select(AuthSession).where(AuthSession.user_id == user.id,
                                                             AuthSession.revoked_at.is_(None))):
            live.revoked_at = utcnow()


def unlock_user(*, actor: Actor, username: str, reason: str) -> None:
    actor.require("auth.manage_users")
    if not reason.strip():
        raise ValidationFailed.on("reason", "A reason is required to unlock an account.")
    with transaction(actor=actor, reason=reason) as session:
        user = _user_by_username(session, username)
        user.locked_at = None
        user.failed_login_count = 0


def _temporary_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(14))


def reset_password(*, actor: Actor, username: str, reason: str | None = None) -> str:
    """Issue a one-time temporary password; the user must change it before signing."""
    actor.require("auth.manage_users")
    temp = _temporary_password()
    with transaction(actor=actor, reason=reason or "Password reset by administrator") as session:
        user = _user_by_username(session, username)
        if not user.is_active:
            raise Conflict(f"{username} is deactivated.")
        user.password_hash = hash_password(temp)
        user.password_changed_at = utcnow()
        user.must_change_password = True
        user.locked_at = None
        user.failed_login_count = 0
    return temp


def change_password(*, actor: Actor, current_password: str, new_password: str) -> None:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in user can change a password.")
    with transaction(actor=actor, reason="Password changed by its owner") as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        if not _password_matches(user.password_hash, current_password):
            raise ValidationFailed.on("current_password", "The current password is not correct.")
        problems = password_problems(user.username, new_password, field="new_password")
        if _password_matches(user.password_hash, new_password):
            problems.append(FieldProblem("new_password", "The new password must differ from the current one."))
        if problems:
            raise ValidationFailed("The password was not changed.", problems)
        user.password_hash = hash_password(new_password)
        user.password_changed_at = utcnow()
        user.must_change_password = False


def update_profile(*, actor: Actor, full_name: str, email: str | None, language: str) -> UserView:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in user has a profile.")
    problems = _validate_profile(actor.username, full_name, email, language)
    if problems:
        raise ValidationFailed("The profile was not saved.", problems)
    with transaction(actor=actor, reason="Profile updated by its owner") as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        user.full_name = full_name.strip()
        user.email = email or None
        user.language = language
        session.flush()
        return _view(session, user)


# ---------------------------------------------------------------- credentials


def _count_failure(session: Session, user: User, *, purpose: str, cause: str | None = None) -> None:
    user.failed_login_count += 1
    details: dict[str, Any] = {"consecutive_failures": user.failed_login_count}
    if cause:
        details["cause"] = cause
    record_event(session, record_type="user", record_id=user.id, action=f"{purpose}_failed", details=details)
    if user.failed_login_count >= get_settings().lockout_threshold:
        user.locked_at = utcnow()
        # Security event: Annex 11 §12.1, the account stays locked until an admin acts.
        record_event(session, record_type="user", record_id=user.id, action="security.account_locked",
                     details={"consecutive_failures": user.failed_login_count})


def accept_totp(user: User, code: str) -> bool:
    """Whether ``code`` is the user's current (±1 step) TOTP code not used before; records its step.

    21 CFR 11.300(d) / RFC 6238 §5.2: a one-time code is accepted once, so a code seen over a
    shoulder or replayed from a captured request is refused within its 30-second window too.
    """
    if not user.totp_secret:
        return False
    totp = pyotp.TOTP(decrypt(user.totp_secret))
    now = utcnow()
    for offset in (-1, 0, 1):
        moment = now + timedelta(seconds=offset * totp.interval)
        step = totp.timecode(moment)
        if hmac.compare_digest(totp.at(moment), code.strip()) and step > (user.totp_last_step or -1):
            user.totp_last_step = step
            return True
    return False


def check_credentials(session: Session, *, username: str, password: str, otp: str | None, purpose: str) -> User:
    """Verify a person's credentials inside the caller's unit of work.

    Failures are counted (and audited) even though the caller's action is refused:
    the caller must commit the session before raising. Used by login and by signing
    (21 CFR 11.200(a): each signing re-enters both components).
    """
    user = session.scalar(select(User).where(User.username == username.strip().lower()).with_for_update())
    if user is None:
        _password_matches(_dummy_hash(), password)
        record_event(session, record_type="user", record_id=username[:80] or "?", action=f"{purpose}_failed",
                     details={"cause": "unknown user"})
        raise AuthenticationFailed()
    if not user.is_active:
        _password_matches(_dummy_hash(), password)
        record_event(session, record_type="user", record_id=user.id, action=f"{purpose}_failed",
                     details={"cause": "account deactivated"})
        raise AuthenticationFailed()
    if user.locked_at is not None:
        record_event(session, record_type="user", record_id=user.id, action=f"{purpose}_failed",
                     details={"cause": "account locked"})
        raise AuthenticationFailed("This account is locked. Ask an administrator to unlock it.", "account-locked")
    ok = _password_matches(user.password_hash, password)
    if ok and user.totp_enabled:
        if not otp:
            raise AuthenticationFailed("Enter the 6-digit code from your authenticator app.", "otp-required")
        ok = accept_totp(user, otp)
    if not ok:
        _count_failure(session, user, purpose=purpose)
        raise AuthenticationFailed()
    if user.failed_login_count:
        user.failed_login_count = 0
    return user


@dataclass(frozen=True)
class LoginResult:
    token: str
    csrf_token: str
    expires_at: datetime
    idle_minutes: int
    actor: Actor


def _open_session(session: Session, user: User, *, kind: str, client: str | None) -> LoginResult:
    # From here on the entries are the user's own: attribute them to the person.
    session.info["audit"].actor = actor_for(user, set())
    settings = get_settings()
    now = utcnow()
    token = new_token("phs")
    csrf = secrets.token_urlsafe(24)
    auth = AuthSession(token_hash=token_digest(token), user_id=user.id, kind=kind, csrf_token=csrf,
                       created_at=now, last_seen_at=now,
                       expires_at=now + timedelta(hours=settings.session_absolute_hours),
                       idle_minutes=settings.session_idle_minutes, client=(client or "")[:200])
    session.add(auth)
    user.last_login_at = now
    record_event(session, record_type="user", record_id=user.id, action="login",
                 details={"kind": kind, "client": client})
    return LoginResult(token, csrf, auth.expires_at, auth.idle_minutes,
                       actor_for(user, _user_permissions(session, user.id)))


def _require_username_and_password(username: str, password: str) -> None:
    if not username.strip():
        raise ValidationFailed.on("username", "Username is required.")
    if not password:
        raise ValidationFailed.on("password", "Password is required.")


@contextmanager
def failures_committed(*, actor: Actor) -> Iterator[Session]:
    """A unit of work in which a refused credential still commits its counted, audited failure.

    21 CFR 11.300(d) / EU GMP Annex 11 §12.1: attempts at unauthorised use are recorded and
    count toward lockout, so the refusal must not roll back what check_credentials wrote.
    """
    failure: AuthenticationFailed | None = None
    with transaction(actor=actor, reason=None) as session:
        try:
            yield session
        except AuthenticationFailed as exc:
            failure = exc
    if failure is not None:
        raise failure


def login(*, username: str, password: str, otp: str | None = None, kind: str = "web",
          client: str | None = None) -> LoginResult:
    _require_username_and_password(username, password)
    with failures_committed(actor=Actor.system("login")) as session:
        user = check_credentials(session, username=username, password=password, otp=otp, purpose="login")
        return _open_session(session, user, kind=kind, client=client)


# ---------------------------------------------------------------- two-step (web) login
#
# The web form proves the password first and asks for the code on a second page. The
# password is never sent back to the browser; instead the password step hands out an
# HMAC-signed challenge (user id, expiry, nonce) that the code step redeems.
#
# Single use without a table: the MAC also covers a digest of the account's sign-in state
# (password hash, consecutive failures, last login, lock). A successful login rewrites
# last_login_at and a wrong code raises failed_login_count, so either outcome invalidates
# the challenge in every process; a password change or a lock does too. The short expiry
# bounds what is left (21 CFR 11.300(d): attempts at unauthorised use are detected and
# counted, because a wrong code counts toward lockout like a wrong password).
MFA_CHALLENGE_SECONDS = 120
_CHALLENGE_REFUSED = "The sign-in step has expired or is not valid. Enter your username and password again."


@dataclass(frozen=True)
class MfaChallenge:
    token: str
    expires_at: datetime


def _sign_in_state(user: User) -> str:
    stamps = [as_utc(t).isoformat() if t else "" for t in (user.last_login_at, user.locked_at)]
    state = "|".join((user.password_hash, str(user.failed_login_count), *stamps, str(user.totp_enabled),
                      str(user.is_active)))
    return hashlib.sha256(state.encode()).hexdigest()


def _challenge_mac(claims: str, user: User) -> str:
    key = get_settings().secret_key.encode()
    message = f"mfa-challenge:{claims}:{_sign_in_state(user)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _issue_challenge(user: User) -> MfaChallenge:
    expires = int(utcnow().timestamp()) + MFA_CHALLENGE_SECONDS
    claims = f"{user.id}.{expires}.{secrets.token_urlsafe(16)}"
    return MfaChallenge(f"{claims}.{_challenge_mac(claims, user)}",
                        datetime.fromtimestamp(expires, tz=UTC))


def begin_login(*, username: str, password: str, kind: str = "web",
                client: str | None = None) -> LoginResult | MfaChallenge:
    """Password step of the web sign-in: a session, or a challenge when the account has MFA.

    Wrong passwords are counted and audited exactly as in :func:`login`.
    """
    _require_username_and_password(username, password)
    with failures_committed(actor=Actor.system("login")) as session:
        try:
            user = check_credentials(session, username=username, password=password, otp=None, purpose="login")
        except AuthenticationFailed as exc:
            if exc.code != "otp-required":
                raise
            pending = session.scalar(select(User).where(User.username == username.strip().lower()))
            assert pending is not None
            return _issue_challenge(pending)
        return _open_session(session, user, kind=kind, client=client)


def complete_mfa_login(*, challenge: str, otp: str, kind: str = "web", client: str | None = None) -> LoginResult:
    """Code step of the web sign-in: redeem a challenge from :func:`begin_login` with the TOTP code."""
    if not otp.strip():
        raise ValidationFailed.on("otp", "Enter the 6-digit code from your authenticator app.")
    claims, _, mac = challenge.rpartition(".")
    user_id, _, rest = claims.partition(".")
    expires, _, nonce = rest.partition(".")
    if not (user_id.isdigit() and expires.isdigit() and nonce and mac):
        raise AuthenticationFailed(_CHALLENGE_REFUSED, "mfa-challenge-refused")
    if int(expires) < utcnow().timestamp():
        raise AuthenticationFailed(_CHALLENGE_REFUSED, "mfa-challenge-refused")
    with failures_committed(actor=Actor.system("login")) as session:
        user = session.get(User, int(user_id), with_for_update=True)
        if user is None or not hmac.compare_digest(mac, _challenge_mac(claims, user)):
            # A forged or stale challenge is an attempt at unauthorised use (21 CFR 11.300(d)):
            # recorded, but not counted toward lockout, or anyone could lock a user out by id.
            record_event(session, record_type="user", record_id=user_id, action="login_failed",
                         details={"cause": "sign-in challenge not valid"})
            raise AuthenticationFailed(_CHALLENGE_REFUSED, "mfa-challenge-refused")
        if not (user.is_active and user.locked_at is None and user.totp_enabled and user.totp_secret):
            raise AuthenticationFailed(_CHALLENGE_REFUSED, "mfa-challenge-refused")
        if not accept_totp(user, otp):
            _count_failure(session, user, purpose="login", cause="wrong verification code")
            raise AuthenticationFailed("That code is not valid. Check the time on your phone and try again.",
                                       "otp-invalid")
        user.failed_login_count = 0
        return _open_session(session, user, kind=kind, client=client)


@dataclass(frozen=True)
class ResolvedSession:
    actor: Actor
    csrf_token: str
    kind: str


# Resolving a credential runs on every request: the credential, its holder and the
# holder's permissions come back in one query (one row per permission), without loading
# ORM entities.
# Built once: rebuilding the statement per request costs more CPU than running it.
_HOLDER_COLUMNS = (User.id, User.username, User.full_name, User.language, User.must_change_password,
                   User.password_changed_at, User.is_active, User.locked_at, RolePermission.permission)
_SESSION_HOLDER = (
    select(AuthSession.id, AuthSession.csrf_token, AuthSession.kind, AuthSession.revoked_at,
           AuthSession.expires_at, AuthSession.last_seen_at, AuthSession.idle_minutes, *_HOLDER_COLUMNS)
    .join(User, User.id == AuthSession.user_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(RolePermission, RolePermission.role_id == UserRole.role_id)
    .where(AuthSession.token_hash == bindparam("digest"))
)
_API_TOKEN_HOLDER = (
    select(ApiToken.revoked_at, ApiToken.expires_at, ApiToken.scopes, *_HOLDER_COLUMNS)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(RolePermission, RolePermission.role_id == UserRole.role_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def _holder(rows: Sequence[Any], first: int) -> tuple[User, set[str]] | None:
    """The active, unlocked user in ``rows[*][first:]`` and their permissions, else None."""
    (user_id, username, full_name, language, must_change_password, password_changed_at, is_active,
     locked_at) = rows[0][first:first + 8]
    if not is_active or locked_at is not None:
        return None
    # Transient (never added to a session): only carries the fields actor_for reads.
    user = User(id=user_id, username=username, full_name=full_name, language=language,
                must_change_password=must_change_password, password_changed_at=password_changed_at)
    return user, {row[first + 8] for row in rows if row[first + 8] is not None}


@lru_cache(maxsize=4)
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _credential_reader() -> Engine:
    engine = get_database().read_engine
    if engine.dialect.name != "postgresql":
        return engine
    # One SELECT per request: under READ COMMITTED a single statement is its own snapshot,
    # so BEGIN and ROLLBACK would only add two network round trips to every request.
    return _autocommit(engine)


def resolve_session(token: str) -> ResolvedSession | None:
    """Who holds this session or API token, or None when it is unknown, expired or revoked."""
    digest = token_digest(token)
    now = utcnow()
    with _credential_reader().connect() as conn:
        if token.startswith("pht_"):
            return _resolve_api_token(conn, digest, now)
        rows = conn.execute(_SESSION_HOLDER, {"digest": digest}).all()
    if not rows:
        return None
    auth_id, csrf, kind, revoked_at, expires_at, last_seen_at, idle_minutes = rows[0][:7]
    if revoked_at is not None or now >= expires_at or now - last_seen_at > timedelta(minutes=idle_minutes):
        return None
    holder = _holder(rows, 7)
    if holder is None:
        return None
    actor = actor_for(*holder)
    if now - last_seen_at > _TOUCH_INTERVAL:
        _touch_session(auth_id, now)
    return ResolvedSession(actor, csrf, kind)


def _touch_session(auth_id: int, now: datetime) -> None:
    with transaction(actor=Actor.system("session"), reason=None) as session:
        auth = session.get(AuthSession, auth_id)
        if auth is not None:
            auth.last_seen_at = now


def _resolve_api_token(conn: Connection, digest: str, now: datetime) -> ResolvedSession | None:
    rows = conn.execute(_API_TOKEN_HOLDER, {"digest": digest}).all()
    if not rows:
        return None
    revoked_at, expires_at, scopes = rows[0][:3]
    if revoked_at is not None or (expires_at and now >= expires_at):
        return None
    holder = _holder(rows, 3)
    if holder is None:
        return None
    user, permissions = holder
    actor = actor_for(user, permissions, scopes=set(scopes.split()))
    return ResolvedSession(actor, "", "token")


def logout(*, token: str) -> None:
    digest = token_digest(token)
    with transaction(actor=Actor.system("logout"), reason=None) as session:
        auth = session.scalar(select(AuthSession).where(AuthSession.token_hash == digest))
        if auth is None or auth.revoked_at is not None:
            return
        auth.revoked_at = utcnow()
        user = session.get(User, auth.user_id)
        if user is not None:
            ctx_actor = actor_for(user, set())
            session.info["audit"].actor = ctx_actor  # attribute the logout to its owner
            record_event(session, record_type="user", record_id=user.id, action="logout", details={"kind": auth.kind})


# ---------------------------------------------------------------- API tokens


@dataclass(frozen=True)
class ApiTokenView:
    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def create_api_token(
    *, actor: Actor, name: str, scopes: list[str], expires_days: int | None = 365
) -> tuple[str, ApiTokenView]:
    """Personal API token for an integration; the plaintext is returned once only."""
    if actor.user_id is None:
        raise PermissionDenied("Only a user can own an API token.")
    problems: list[FieldProblem] = []
    if not name.strip():
        problems.append(FieldProblem("name", "Give the token a name that says what uses it."))
    unknown = [s for s in scopes if s not in PERMISSIONS]
    if unknown:
        problems.append(FieldProblem("scopes", f"Unknown permissions: {', '.join(unknown)}."))
    elif not scopes:
        problems.append(FieldProblem("scopes", "Choose at least one permission."))
    not_held = [s for s in scopes if s in PERMISSIONS and s not in actor.permissions]
    if not_held:
        problems.append(FieldProblem("scopes", f"You do not hold: {', '.join(not_held)}."))
    if expires_days is not None and not (1 <= expires_days <= 730):
        problems.append(FieldProblem("expires_days", "Expiry must be between 1 and 730 days."))
    if problems:
        raise ValidationFailed("The API token was not created.", problems)
    token = new_token("pht")
    with transaction(actor=actor, reason="Personal API token created") as session:
        row = ApiToken(user_id=actor.user_id, name=name.strip(), prefix=token[:12], token_hash=token_digest(token),
                       scopes=" ".join(sorted(set(scopes))),
                       expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None)
        session.add(row)
        session.flush()
        view = ApiTokenView(row.id, row.name, row.prefix, tuple(row.scopes.split()), row.created_at,
                            row.expires_at, None)
    return token, view


def list_api_tokens(*, actor: Actor) -> list[ApiTokenView]:
    with read_session() as session:
        rows = session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id))
        return [ApiTokenView(r.id, r.name, r.prefix, tuple(r.scopes.split()), r.created_at, r.expires_at,
                             r.revoked_at) for r in rows]


def revoke_api_token(*, actor: Actor, token_id: int) -> None:
    with transaction(actor=actor, reason="Personal API token revoked") as session:
        row = session.get(ApiToken, token_id)
        if row is None or (row.user_id != actor.user_id and not actor.can("auth.manage_users")):
            raise NotFound("No such API token.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()


# ---------------------------------------------------------------- MFA


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    provisioning_uri: str


def begin_totp_enrolment(*, actor: Actor) -> TotpEnrolment:
    if actor.user_id is None:
        raise PermissionDenied("Only a user can enrol MFA.")
    secret = pyotp.random_base32()
    with transaction(actor=actor, reason="MFA enrolment started") as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        if user.totp_enabled:
            raise Conflict("MFA is already enabled; disable it first to enrol a new device.")
        user.totp_secret = encrypt(secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=actor.username, issuer_name=get_settings().site_name)
    return TotpEnrolment(secret, uri)


def confirm_totp_enrolment(*, actor: Actor, code: str) -> None:
    with transaction(actor=actor, reason="MFA enabled") as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        if not user.totp_secret:
            raise ValidationFailed.on("code", "Start the enrolment first.")
        if not accept_totp(user, code):
            raise ValidationFailed.on("code", "That code is not valid. Check the time on your phone and try again.")
        user.totp_enabled = True


def disable_totp(*, actor: Actor, password: str) -> None:
    with transaction(actor=actor, reason="MFA disabled by its owner") as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        if not _password_matches(user.password_hash, password):
            raise ValidationFailed.on("password", "The password is not correct.")
        user.totp_enabled = False
        user.totp_secret = None


# ---------------------------------------------------------------- directory queries for other modules


@dataclass(frozen=True)
class DirectoryEntry:
    id: int
    username: str
    full_name: str
    is_active: bool


def directory_entry(session: Session, *, username: str) -> DirectoryEntry | None:
    """The account ``username`` as other modules may see it (inside their own transaction), or None."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    return None if user is None else DirectoryEntry(user.id, user.username, user.full_name, user.is_active)


def usernames_by_id(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Username per user id, in one query (ids of unknown users are left out)."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


def holds_permission(session: Session, *, user_id: int, permission: str) -> bool:
    """Whether the user holds ``permission`` through one of their roles (e.g. may be assigned work)."""
    return session.scalar(select(RolePermission.id).join(UserRole, UserRole.role_id == RolePermission.role_id)
                          .where(UserRole.user_id == user_id, RolePermission.permission == permission)
                          .limit(1)) is not None


@dataclass(frozen=True)
class RoleMember:
    user_id: int
    username: str
    full_name: str
    department: str
    role: str


def role_members(session: Session, *, roles: Iterable[str]) -> list[RoleMember]:
    """Active users holding any of ``roles``, one row per user and role, by role then username.

    For other modules inside their own transaction (e.g. training assigned to everyone in a role).
    """
    names = sorted(set(roles))
    if not names:
        return []
    rows = session.execute(
        select(User.id, User.username, User.full_name, User.department, Role.name)
        .join(UserRole, UserRole.user_id == User.id).join(Role, Role.id == UserRole.role_id)
        .where(Role.name.in_(names), User.is_active.is_(True)).order_by(Role.name, User.username))
    return [RoleMember(uid, username, full_name, department or "", role)
            for uid, username, full_name, department, role in rows]


def role_labels(session: Session) -> dict[str, tuple[str, str]]:
    """Every role's (English, Chinese) label by name, for pages that show people's roles."""
    return {name: (en, zh) for name, en, zh in session.execute(select(Role.name, Role.label_en, Role.label_zh))}


def role_names(session: Session) -> set[str]:
    """The names of every role (built-in and site-defined), to validate references to a role."""
    return set(session.scalars(select(Role.name)))


def roles_of(session: Session, *, user_id: int) -> set[str]:
    """The names of the roles the user holds."""
    return set(session.scalars(select(Role.name).join(UserRole, UserRole.role_id == Role.id)
                               .where(UserRole.user_id == user_id)))

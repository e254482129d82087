"""Route policies: every API route and page declares who may call it (deny by default).

A route states its policy through one dependency: ``requires("module.action")``,
``signed_in()`` or ``public()``. ``pharmos.app.create_app`` refuses to start if any route
lacks one, and tests/test_route_policies.py checks the same over the route table.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from pharmos.auth.service import ResolvedSession, resolve_session
from pharmos.core.actor import Actor
from pharmos.core.db import get_database
from pharmos.core.errors import AuthenticationFailed, DomainError, PermissionDenied

SESSION_COOKIE = "pharmos_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(DomainError):
    """Raised for pages: the HTML handler turns it into a redirect to /login."""

    def __init__(self) -> None:
        super().__init__("Sign in to continue.", [], 401, "login-required")


class PasswordChangeRequired(DomainError):
    def __init__(self) -> None:
        super().__init__("Change your password to continue.", [], 403, "password-change-required")


def _resolve_inline() -> bool:
    return not get_database().is_sqlite


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


async def authenticate(request: Request) -> tuple[ResolvedSession, bool] | None:
    """The resolved session and whether it came from the cookie (so CSRF applies)."""
    cached = getattr(request.state, "pharmos_session", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = _bearer(request)
    from_cookie = False
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        from_cookie = token is not None
    if not token:
        return None
    if _resolve_inline():
        # On PostgreSQL the lookup is one indexed autocommit SELECT (~0.3 ms): a threadpool
        # hop costs more than it saves. SQLite may wait on its write lock, so it keeps the pool.
        resolved = resolve_session(token)
    else:
        resolved = await run_in_threadpool(resolve_session, token)
    if resolved is None:
        return None
    request.state.pharmos_session = (resolved, from_cookie)
    return resolved, from_cookie


async def _check_csrf(request: Request, resolved: ResolvedSession) -> None:
    if request.method in _SAFE:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or sent != resolved.csrf_token:
        raise PermissionDenied("The form has expired or did not come from this site (CSRF check). Reload the page.")


@dataclass(frozen=True)
class Policy:
    """A FastAPI dependency that both documents and enforces a route's access rule."""

    permission: str | None
    public: bool = False
    allow_password_change_pending: bool = False

    async def __call__(self, request: Request) -> Actor:
        if self.public:
            found = await authenticate(request)
            return found[0].actor if found else Actor.system("anonymous")
        found = await authenticate(request)
        page = not request.url.path.startswith("/api/")
        if found is None:
            if page:
                raise LoginRequired()
            raise AuthenticationFailed("Authentication required: send a bearer token.", "authentication-required")
        resolved, from_cookie = found
        if from_cookie:
            await _check_csrf(request, resolved)
        actor = resolved.actor
        # A temporary or expired password is changed before anything else is done
        # (21 CFR 11.300(b)). A personal API token acts for its owner, so it is suspended too
        # until the owner has revised the password (periodic revision would mean little otherwise).
        if actor.must_change_password and not self.allow_password_change_pending:
            raise PasswordChangeRequired()
        if self.permission is not None and not actor.can(self.permission):
            raise PermissionDenied(f"You do not have the permission {self.permission}.")
        request.state.actor = actor
        request.state.csrf_token = resolved.csrf_token
        return actor


def requires(permission: str) -> Policy:
    return Policy(permission)


def signed_in(*, allow_password_change_pending: bool = False) -> Policy:
    return Policy(None, allow_password_change_pending=allow_password_change_pending)


def public() -> Policy:
    return Policy(None, public=True)

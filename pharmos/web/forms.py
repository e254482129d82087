"""Form handling shared by every page: field values, refused forms, and the pre-session CSRF check."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from pharmos.core.config import get_settings
from pharmos.core.errors import DomainError, PermissionDenied
from pharmos.web.rendering import render, translate

T = TypeVar("T")
LOGIN_CSRF_COOKIE = "pharmos_login_csrf"


async def form_values(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value.strip() if key not in ("password", "new_password", "current_password") else value
            for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}


async def form_list(request: Request, name: str) -> list[str]:
    form = await request.form()
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


async def perform(service: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one (blocking) service call off the event loop."""
    return await run_in_threadpool(partial(service, **kwargs))


def refused_form(request: Request, exc: DomainError, template: str, context: dict[str, Any],
                 values: dict[str, str]) -> HTMLResponse:
    """Re-show the form with each problem next to its field and the user's input kept.

    Only input problems come back as a form; access and not-found errors still go to the
    single error handler so a refused permission is never dressed up as a typo.
    """
    if exc.status in (401, 403, 404) and not exc.fields:
        raise exc
    errors: dict[str, str] = {}
    for problem in exc.fields:
        text = translate(request, problem.message)
        errors[problem.field] = f"{errors[problem.field]} {text}" if problem.field in errors else text
    safe_values = {k: v for k, v in values.items() if "password" not in k}
    return render(request, template, {**context, "errors": errors, "values": safe_values,
                                      "form_message": translate(request, exc.message)},
                  status=exc.status if exc.status >= 400 else 422)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# The login form exists before any session, so it carries a signed double-submit token
# (cookie + hidden field) instead of the session's CSRF token.
def _sign(nonce: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


def issue_login_csrf(request: Request) -> str:
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    nonce, _, mac = existing.partition(".")
    if nonce and hmac.compare_digest(mac, _sign(nonce)):
        return existing
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_sign(nonce)}"


def set_login_csrf_cookie(response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=get_settings().cookie_secure, path="/login")


async def check_login_csrf(request: Request) -> None:
    form = await request.form()
    sent = form.get("csrf_token")
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    nonce, _, mac = cookie.partition(".")
    if (not isinstance(sent, str) or not nonce or not hmac.compare_digest(sent, cookie)
            or not hmac.compare_digest(mac, _sign(nonce))):
        raise PermissionDenied("The form has expired or did not come from this site (CSRF check). Reload the page.")

"""Form handling shared by every page: field values, refused forms, and the pre-session CSRF check."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.config import get_settings
from pharmos.core.errors import DomainError, FieldProblem, PermissionDenied, ValidationFailed
from pharmos.web.rendering import render, translate

T = TypeVar("T")
LOGIN_CSRF_COOKIE = "pharmos_login_csrf"


async def form_values(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value.strip() if key not in ("password", "new_password", "current_password") else value
            for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}


def query_values(request: Request, *skip: str) -> dict[str, str]:
    """A list's filter as typed in its query string, without the page cursor (and the names in ``skip``)."""
    return {k: v.strip() for k, v in request.query_params.items() if k not in ("after", *skip)}


def list_filter(values: dict[str, str], presets: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A filtered list's form: the values kept, the preset tab the filter is ("" for another filter) and
    the filter as a query string, so that any filter can be bookmarked, exported or saved."""
    query = urlencode({k: v for k, v in values.items() if v})
    return {"values": values, "presets": presets, "preset": next((key for key, q in presets if q == query), ""),
            "current_query": query}


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


class FormReader:
    """Typed values out of a submitted form; every unreadable field is collected so all show at once."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.problems: list[FieldProblem] = []

    def text(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def optional(self, name: str) -> str | None:
        """A field the form may leave out: absent means 'unchanged', present (even empty) is the new value."""
        return self.values[name].strip() if name in self.values else None

    def flag(self, name: str) -> bool:
        return self.text(name) == "on"

    def yes_no(self, name: str) -> bool | None:
        return {"yes": True, "no": False}.get(self.text(name))

    def date(self, name: str, *, required: bool = False) -> date | None:
        raw = self.text(name)
        if not raw:
            if required:
                self.problems.append(FieldProblem(name, "Use a date such as 2026-03-11."))
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.problems.append(FieldProblem(name, "Use a date such as 2026-03-11."))
            return None

    def moment(self, name: str) -> datetime | None:
        """A date and time typed in the site's time zone (ALCOA+: stored in UTC, shown locally)."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            self.problems.append(FieldProblem(name, "Use a date and time such as 2026-03-11 08:30."))
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(get_settings().site_timezone))

    def number(self, name: str, *, required: bool = False) -> Decimal | None:
        """A signed decimal (temperatures, readings, counted quantities) or None when left empty."""
        raw = self.text(name)
        if not raw:
            if required:
                self.problems.append(FieldProblem(name, "Enter a number."))
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.problems.append(FieldProblem(name, f"{raw!r} is not a number."))
            return None
        return value

    def integer(self, name: str, *, default: int | None = None) -> int | None:
        raw = self.text(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            self.problems.append(FieldProblem(name, "Enter a whole number."))
            return default

    def check(self) -> None:
        if self.problems:
            raise ValidationFailed("The form has errors.", self.problems)


Refused = Callable[[Request, DomainError, str, dict[str, Any], dict[str, str]], Response]


async def record_transition(request: Request, *, actor: Actor, collection: str, record_id: int, name: str,
                            detail: Callable[..., dict[str, Any]], template: str, back: str,
                            refused: Refused) -> Response:
    """One lifecycle step from a record page: signature and reason come from the step's own form."""
    values = await form_values(request)
    form = await request.form()
    try:
        await perform(apply_transition, actor=actor, collection=collection, record_id=record_id, name=name,
                      password=str(form.get("password") or "") or None, otp=values.get("otp") or None,
                      reason=values.get("reason") or None)
    except DomainError as exc:
        values["transition"] = name
        context = await perform(detail, actor=actor, record_id=record_id)
        return refused(request, exc, template, context, values)
    return see_other(back)


async def record_form(request: Request, *, actor: Actor, record_id: int, form: str,
                      call: Callable[[FormReader], Any], detail: Callable[..., dict[str, Any]], template: str,
                      back: str, refused: Refused) -> Response:
    """A form on a record page: on refusal the page comes back with that form's errors next to its fields."""
    values = await form_values(request)
    reader = FormReader(values)
    try:
        await perform(call, reader=reader)
    except DomainError as exc:
        values["form"] = form
        context = await perform(detail, actor=actor, record_id=record_id)
        return refused(request, exc, template, context, values)
    return see_other(back)


@dataclass(frozen=True)
class ModulePages:
    """How one module's pages render and refuse, around the module's vocabulary (choices, states, steps).

    Every page gets the vocabulary and the site's date; a refused form comes back with each problem
    beside its field, so its banner only says that the form has errors (the services sum their
    problems up in English: "title: Required.; …").
    """

    vocabulary: Mapping[str, Any]

    def _context(self, context: dict[str, Any]) -> dict[str, Any]:
        return {**self.vocabulary, "today": site_today(), **context}

    def page(self, request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
        return render(request, template, self._context(context), status=status)

    def refused(self, request: Request, exc: DomainError, template: str, context: dict[str, Any],
                values: dict[str, str]) -> Response:
        if isinstance(exc, ValidationFailed) and exc.fields:
            exc = ValidationFailed("The form has errors.", list(exc.fields))
        return refused_form(request, exc, template, self._context(context), values)

    async def transition(self, request: Request, *, actor: Actor, collection: str, record_id: int, name: str,
                         detail: Callable[..., dict[str, Any]], template: str, back: str) -> Response:
        return await record_transition(request, actor=actor, collection=collection, record_id=record_id, name=name,
                                       detail=detail, template=template, back=back, refused=self.refused)

    async def detail_form(self, request: Request, *, actor: Actor, record_id: int, form: str,
                          call: Callable[[FormReader], Any], detail: Callable[..., dict[str, Any]], template: str,
                          back: str) -> Response:
        return await record_form(request, actor=actor, record_id=record_id, form=form, call=call, detail=detail,
                                 template=template, back=back, refused=self.refused)


def download(content: bytes, media_type: str, filename: str, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(content, media_type=media_type,
                    headers={"content-disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}"})


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

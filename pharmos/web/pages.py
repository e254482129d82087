"""Shell pages: sign-in, sign-out, language switch, dashboard and the user's own profile."""

from __future__ import annotations

import io
from typing import Annotated
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import SESSION_COOKIE, public, signed_in
from pharmos.auth import service as auth
from pharmos.auth.permissions import PERMISSIONS
from pharmos.core.actor import Actor
from pharmos.core.config import get_settings
from pharmos.core.errors import AuthenticationFailed, DomainError, ValidationFailed
from pharmos.web.dashboard import site_figures
from pharmos.web.forms import (
    check_login_csrf,
    form_list,
    form_values,
    issue_login_csrf,
    perform,
    refused_form,
    see_other,
    set_login_csrf_cookie,
)
from pharmos.web.rendering import LANGUAGE_COOKIE, LANGUAGES, render, translate

pages = APIRouter(include_in_schema=False)
Anyone = Annotated[Actor, Depends(public())]
SignedIn = Annotated[Actor, Depends(signed_in())]
# Password change must stay reachable while a change is pending (21 CFR 11.300(b)).
PendingOk = Annotated[Actor, Depends(signed_in(allow_password_change_pending=True))]


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login form cannot be used as an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


# The pending two-step sign-in lives in this cookie, never in the page (no password in a hidden field).
MFA_PENDING_COOKIE = "pharmos_mfa_pending"


def _login_page(request: Request, values: dict[str, str], *, status: int = 200, errors: dict[str, str] | None = None,
                message: str | None = None, otp_step: bool = False) -> Response:
    token = issue_login_csrf(request)
    response = render(request, "login.html", {"login_csrf": token, "values": values, "errors": errors or {},
                                              "form_message": message, "otp_step": otp_step,
                                              "languages": LANGUAGES},
                      status=status)
    set_login_csrf_cookie(response, token)
    return response


@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, _: Anyone, next: str = "/") -> Response:
    response = _login_page(request, {"next": _safe_next(next)})
    response.delete_cookie(MFA_PENDING_COOKIE, path="/login")
    return response


def _signed_in(result: auth.LoginResult, next_url: str) -> Response:
    response = see_other(next_url)
    settings = get_settings()
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax", secure=settings.cookie_secure,
                        max_age=settings.session_absolute_hours * 3600, path="/")
    response.set_cookie(LANGUAGE_COOKIE, result.actor.language, samesite="lax", secure=settings.cookie_secure,
                        max_age=365 * 86400, path="/")
    response.delete_cookie(MFA_PENDING_COOKIE, path="/login")
    return response


@pages.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, _: Anyone) -> Response:
    await check_login_csrf(request)
    values = await form_values(request)
    values["next"] = _safe_next(values.get("next"))
    client = request.client.host if request.client else None
    if values.get("step") == "otp":
        return await _otp_step(request, values, client)
    password = (await request.form()).get("password")
    password = password if isinstance(password, str) else ""
    try:
        outcome = await perform(auth.begin_login, username=values.get("username", ""), password=password,
                                kind="web", client=client)
    except AuthenticationFailed as exc:
        # One message for unknown user and wrong password (the service makes them identical).
        return _login_page(request, values, status=401, message=translate(request, exc.message))
    except DomainError as exc:
        errors = {f.field: translate(request, f.message) for f in exc.fields}
        return _login_page(request, values, status=exc.status, errors=errors,
                           message=translate(request, exc.message))
    if isinstance(outcome, auth.MfaChallenge):
        response = _login_page(request, {"next": values["next"]}, otp_step=True)
        response.set_cookie(MFA_PENDING_COOKIE, outcome.token, httponly=True, samesite="strict",
                            secure=get_settings().cookie_secure, max_age=auth.MFA_CHALLENGE_SECONDS, path="/login")
        return response
    return _signed_in(outcome, values["next"])


async def _otp_step(request: Request, values: dict[str, str], client: str | None) -> Response:
    try:
        result = await perform(auth.complete_mfa_login, challenge=request.cookies.get(MFA_PENDING_COOKIE, ""),
                               otp=values.get("otp", ""), kind="web", client=client)
    except ValidationFailed as exc:
        errors = {f.field: translate(request, f.message) for f in exc.fields}
        return _login_page(request, {"next": values["next"]}, status=exc.status, errors=errors, otp_step=True)
    except AuthenticationFailed as exc:
        # The challenge is spent by a wrong code (the failure is counted), so the password is asked again.
        response = _login_page(request, {"next": values["next"]}, status=401,
                               message=translate(request, exc.message))
        response.delete_cookie(MFA_PENDING_COOKIE, path="/login")
        return response
    return _signed_in(result, values["next"])


@pages.post("/logout")
def logout(request: Request, _: PendingOk) -> Response:
    auth.logout(token=request.cookies.get(SESSION_COOKIE, ""))
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@pages.get("/language")
def switch_language(_: Anyone, lang: str = "zh_CN", next: str = "/login") -> Response:
    response = see_other(_safe_next(next))
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, samesite="lax", secure=get_settings().cookie_secure,
                            max_age=365 * 86400, path="/")
    return response


@pages.get("/", response_class=HTMLResponse)
def dashboard(request: Request, actor: SignedIn) -> Response:
    return render(request, "dashboard.html", {"figures": site_figures(actor=actor)})


# ---------------------------------------------------------------- my profile


@pages.get("/profile", response_class=HTMLResponse)
def profile(request: Request, actor: SignedIn, saved: str | None = None) -> Response:
    me = auth.get_user(actor=actor, username=actor.username)
    return render(request, "profile/profile.html", {"me": me, "saved": saved, "languages": LANGUAGES,
                                                    "values": {"full_name": me.full_name, "email": me.email or "",
                                                               "language": me.language}})


@pages.post("/profile", response_class=HTMLResponse)
async def profile_save(request: Request, actor: SignedIn) -> Response:
    values = await form_values(request)
    try:
        me = await perform(auth.update_profile, actor=actor, full_name=values.get("full_name", ""),
                           email=values.get("email") or None, language=values.get("language", ""))
    except DomainError as exc:
        return refused_form(request, exc, "profile/profile.html", {"me": None, "languages": LANGUAGES}, values)
    response = see_other("/profile?saved=1")
    response.set_cookie(LANGUAGE_COOKIE, me.language, samesite="lax", secure=get_settings().cookie_secure,
                        max_age=365 * 86400, path="/")
    return response


@pages.get("/profile/password", response_class=HTMLResponse)
def password_form(request: Request, actor: PendingOk, saved: str | None = None) -> Response:
    return render(request, "profile/password.html", {"saved": saved, "pending": actor.must_change_password})


@pages.post("/profile/password", response_class=HTMLResponse)
async def password_change(request: Request, actor: PendingOk) -> Response:
    form = await request.form()
    current, new, repeat = (str(form.get(k) or "") for k in ("current_password", "new_password", "repeat_password"))
    if new != repeat:
        exc = ValidationFailed.on("repeat_password", "The two new passwords differ.")
        return refused_form(request, exc, "profile/password.html", {"pending": actor.must_change_password}, {})
    try:
        await perform(auth.change_password, actor=actor, current_password=current, new_password=new)
    except DomainError as exc:
        return refused_form(request, exc, "profile/password.html", {"pending": actor.must_change_password}, {})
    return see_other("/profile/password?saved=1")


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg"):] if "<svg" in svg else svg


@pages.get("/profile/mfa", response_class=HTMLResponse)
def mfa_page(request: Request, actor: SignedIn) -> Response:
    me = auth.get_user(actor=actor, username=actor.username)
    return render(request, "profile/mfa.html", {"me": me})


@pages.post("/profile/mfa/begin", response_class=HTMLResponse)
async def mfa_begin(request: Request, actor: SignedIn) -> Response:
    enrolment = await perform(auth.begin_totp_enrolment, actor=actor)
    return render(request, "profile/mfa_confirm.html", {"secret": enrolment.secret,
                                                         "qr_svg": _qr_svg(enrolment.provisioning_uri)})


@pages.post("/profile/mfa/confirm", response_class=HTMLResponse)
async def mfa_confirm(request: Request, actor: SignedIn) -> Response:
    values = await form_values(request)
    try:
        await perform(auth.confirm_totp_enrolment, actor=actor, code=values.get("code", ""))
    except DomainError as exc:
        return refused_form(request, exc, "profile/mfa_confirm.html", {"secret": None, "qr_svg": None}, values)
    return see_other("/profile/mfa")


@pages.post("/profile/mfa/disable", response_class=HTMLResponse)
async def mfa_disable(request: Request, actor: SignedIn) -> Response:
    form = await request.form()
    try:
        await perform(auth.disable_totp, actor=actor, password=str(form.get("password") or ""))
    except DomainError as exc:
        return refused_form(request, exc, "profile/mfa.html", {"me": None}, {})
    return see_other("/profile/mfa")


@pages.get("/profile/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, actor: SignedIn) -> Response:
    return render(request, "profile/tokens.html", {"tokens": auth.list_api_tokens(actor=actor),
                                                   "permissions": _held(actor), "values": {"expires_days": "365"}})


def _held(actor: Actor) -> list[tuple[str, str, str]]:
    return [(p.code, p.label_en, p.label_zh) for p in PERMISSIONS.values() if p.code in actor.permissions]


@pages.post("/profile/tokens", response_class=HTMLResponse)
async def token_create(request: Request, actor: SignedIn) -> Response:
    values = await form_values(request)
    scopes = await form_list(request, "scopes")
    days = values.get("expires_days", "")
    try:
        token, view = await perform(auth.create_api_token, actor=actor, name=values.get("name", ""), scopes=scopes,
                                    expires_days=int(days) if days.isdigit() else (365 if not days else -1))
    except DomainError as exc:
        return refused_form(request, exc, "profile/tokens.html", {"tokens": [], "permissions": _held(actor),
                                                                  "chosen": scopes}, values)
    # 21 CFR 11.300(a): the secret is shown once and never stored in clear.
    return render(request, "profile/token_created.html", {"token": token, "view": view})


@pages.post("/profile/tokens/{token_id}/revoke")
def token_revoke(token_id: int, actor: SignedIn) -> Response:
    auth.revoke_api_token(actor=actor, token_id=token_id)
    return see_other("/profile/tokens")

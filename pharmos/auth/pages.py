"""Web pages of the auth module: user administration and roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.auth import service
from pharmos.auth.permissions import PERMISSIONS
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError
from pharmos.web.forms import form_list, form_values, perform, refused_form, see_other
from pharmos.web.rendering import LANGUAGES, render

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("auth.view_users"))]
UserAdmin = Annotated[Actor, Depends(requires("auth.manage_users"))]
RoleAdmin = Annotated[Actor, Depends(requires("auth.manage_roles"))]


@pages.get("/users", response_class=HTMLResponse)
def users(request: Request, actor: Viewer) -> Response:
    return render(request, "auth/users.html", {"users": service.list_users(actor=actor)})


def _new_user_context(actor: Actor) -> dict[str, Any]:
    return {"roles": service.list_roles(actor=actor), "languages": LANGUAGES}


@pages.get("/users/new", response_class=HTMLResponse)
def new_user(request: Request, actor: UserAdmin) -> Response:
    return render(request, "auth/user_new.html", {**_new_user_context(actor), "values": {"language": "zh_CN"}})


@pages.post("/users/new", response_class=HTMLResponse)
async def create_user(request: Request, actor: UserAdmin) -> Response:
    values = await form_values(request)
    roles = await form_list(request, "roles")
    password = str((await request.form()).get("password") or "")
    try:
        user = await perform(service.create_user, actor=actor, username=values.get("username", ""),
                             full_name=values.get("full_name", ""), password=password,
                             email=values.get("email") or None, language=values.get("language", "zh_CN"),
                             department=values.get("department") or None, roles=roles,
                             must_change_password=True)
    except DomainError as exc:
        return refused_form(request, exc, "auth/user_new.html", {**_new_user_context(actor), "chosen": roles},
                            values)
    return see_other(f"/users/{user.username}?done=created")


def _user_context(*, actor: Actor, username: str) -> dict[str, Any]:
    return {"user": service.get_user(actor=actor, username=username), "roles": service.list_roles(actor=actor)}


async def _refused_on_detail(request: Request, exc: DomainError, *, actor: Actor, username: str,
                             values: dict[str, str]) -> Response:
    context = await perform(_user_context, actor=actor, username=username)
    return refused_form(request, exc, "auth/user_detail.html", context, values)


@pages.get("/users/{username}", response_class=HTMLResponse)
def user_detail(request: Request, username: str, actor: Viewer, done: str | None = None) -> Response:
    return render(request, "auth/user_detail.html", {**_user_context(actor=actor, username=username), "done": done})


@pages.post("/users/{username}/roles/grant", response_class=HTMLResponse)
async def grant_role(request: Request, username: str, actor: RoleAdmin) -> Response:
    values = await form_values(request)
    try:
        await perform(service.grant_role, actor=actor, username=username, role=values.get("role", ""),
                      reason=values.get("reason") or None)
    except DomainError as exc:
        return await _refused_on_detail(request, exc, actor=actor, username=username, values=values)
    return see_other(f"/users/{username}?done=granted")


@pages.post("/users/{username}/roles/revoke", response_class=HTMLResponse)
async def revoke_role(request: Request, username: str, actor: RoleAdmin) -> Response:
    values = await form_values(request)
    try:
        await perform(service.revoke_role, actor=actor, username=username, role=values.get("role", ""),
                      reason=values.get("reason") or None)
    except DomainError as exc:
        return await _refused_on_detail(request, exc, actor=actor, username=username, values=values)
    return see_other(f"/users/{username}?done=revoked")


@pages.post("/users/{username}/deactivate", response_class=HTMLResponse)
async def deactivate(request: Request, username: str, actor: UserAdmin) -> Response:
    values = await form_values(request)
    try:
        await perform(service.deactivate_user, actor=actor, username=username, reason=values.get("reason", ""))
    except DomainError as exc:
        values["form"] = "deactivate"
        return await _refused_on_detail(request, exc, actor=actor, username=username, values=values)
    return see_other(f"/users/{username}?done=deactivated")


@pages.post("/users/{username}/unlock", response_class=HTMLResponse)
async def unlock(request: Request, username: str, actor: UserAdmin) -> Response:
    values = await form_values(request)
    try:
        await perform(service.unlock_user, actor=actor, username=username, reason=values.get("reason", ""))
    except DomainError as exc:
        values["form"] = "unlock"
        return await _refused_on_detail(request, exc, actor=actor, username=username, values=values)
    return see_other(f"/users/{username}?done=unlocked")


@pages.post("/users/{username}/reset-password", response_class=HTMLResponse)
async def reset_password(request: Request, username: str, actor: UserAdmin) -> Response:
    values = await form_values(request)
    temporary = await perform(service.reset_password, actor=actor, username=username,
                              reason=values.get("reason") or None)
    # Shown once on this response only; never stored in clear (21 CFR 11.300).
    return render(request, "auth/temporary_password.html", {"username": username, "temporary": temporary})


@pages.get("/roles", response_class=HTMLResponse)
def roles(request: Request, actor: Viewer) -> Response:
    return render(request, "auth/roles.html", {"roles": service.list_roles(actor=actor), "labels": PERMISSIONS})

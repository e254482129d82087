"""Web pages of controlled site settings: list, draft, detail with signatures and lifecycle actions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.compliance.lifecycle import apply_transition, available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError
from pharmos.site import service
from pharmos.site.lifecycle import SETTING_LIFECYCLE
from pharmos.web.forms import form_values, perform, refused_form, see_other
from pharmos.web.rendering import render

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("settings.view"))]
Editor = Annotated[Actor, Depends(requires("settings.edit"))]
COLLECTION = SETTING_LIFECYCLE.collection


@pages.get("/settings", response_class=HTMLResponse)
def settings_list(request: Request, actor: Viewer, state: str | None = None) -> Response:
    rows = service.list_settings(actor=actor, state=state or None, limit=500)
    return render(request, "site/settings.html", {"settings": rows, "state": state or "",
                                                  "states": SETTING_LIFECYCLE.states})


@pages.get("/settings/new", response_class=HTMLResponse)
def draft_form(request: Request, actor: Editor) -> Response:
    return render(request, "site/setting_new.html", {})


@pages.post("/settings/new", response_class=HTMLResponse)
async def draft_submit(request: Request, actor: Editor) -> Response:
    values = await form_values(request)
    try:
        row = await perform(service.draft_setting, actor=actor, key=values.get("key", ""),
                            value=values.get("value", ""), description=values.get("description", ""))
    except DomainError as exc:
        return refused_form(request, exc, "site/setting_new.html", {}, values)
    return see_other(f"/settings/{row.id}")


def _detail(*, actor: Actor, setting_id: int) -> dict[str, Any]:
    return {"setting": service.get_setting(actor=actor, setting_id=setting_id),
            "transitions": available_transitions(actor=actor, collection=COLLECTION, record_id=setting_id),
            "meanings": MEANINGS, "states": SETTING_LIFECYCLE.states}


@pages.get("/settings/{setting_id}", response_class=HTMLResponse)
def setting_detail(request: Request, setting_id: int, actor: Viewer) -> Response:
    return render(request, "site/setting_detail.html", _detail(actor=actor, setting_id=setting_id))


@pages.get("/settings/{setting_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, setting_id: int, actor: Editor) -> Response:
    setting = service.get_setting(actor=actor, setting_id=setting_id)
    return render(request, "site/setting_edit.html", {"setting": setting, "values": {
        "value": setting.value, "description": setting.description}})


@pages.post("/settings/{setting_id}/edit", response_class=HTMLResponse)
async def edit_submit(request: Request, setting_id: int, actor: Editor) -> Response:
    values = await form_values(request)
    try:
        await perform(service.revise_draft, actor=actor, setting_id=setting_id, value=values.get("value", ""),
                      description=values.get("description", ""), reason=values.get("reason", ""))
    except DomainError as exc:
        setting = await perform(service.get_setting, actor=actor, setting_id=setting_id)
        return refused_form(request, exc, "site/setting_edit.html", {"setting": setting}, values)
    return see_other(f"/settings/{setting_id}")


@pages.post("/settings/{setting_id}/transitions/{name}", response_class=HTMLResponse)
async def transition(request: Request, setting_id: int, name: str, actor: Viewer) -> Response:
    values = await form_values(request)
    form = await request.form()
    try:
        await perform(apply_transition, actor=actor, collection=COLLECTION, record_id=setting_id, name=name,
                      password=str(form.get("password") or "") or None, otp=values.get("otp") or None,
                      reason=values.get("reason") or None)
    except DomainError as exc:
        values["transition"] = name
        context = await perform(_detail, actor=actor, setting_id=setting_id)
        return refused_form(request, exc, "site/setting_detail.html", context, values)
    return see_other(f"/settings/{setting_id}")

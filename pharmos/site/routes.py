"""API routes of the controlled-site-settings module (transitions: pharmos.compliance.routes)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.site import service
from pharmos.site.schemas import SettingIn, SettingOut, SettingRevisionIn

api = APIRouter(prefix="/api/v1/controlled-settings", tags=["controlled settings"])


def _out(v: service.SettingView) -> SettingOut:
    return SettingOut(**{**asdict(v), "signatures": [asdict(s) for s in v.signatures]})


@api.get("", response_model=Page[SettingOut])
def list_settings(actor: Annotated[Actor, Depends(requires("settings.view"))], page: Annotated[PageParams, Depends()],
                  state: str | None = None, key: str | None = None) -> Page[SettingOut]:
    rows = service.list_settings(actor=actor, state=state, key=key, after_id=page.after_id, limit=page.limit + 1)
    return page.page([_out(r) for r in rows], lambda s: s.id)


@api.post("", response_model=SettingOut, status_code=201)
def draft_setting(body: SettingIn, actor: Annotated[Actor, Depends(requires("settings.edit"))]) -> SettingOut:
    return _out(service.draft_setting(actor=actor, key=body.key, value=body.value, description=body.description))


@api.get("/{setting_id}", response_model=SettingOut)
def get_setting(setting_id: int, actor: Annotated[Actor, Depends(requires("settings.view"))]) -> SettingOut:
    return _out(service.get_setting(actor=actor, setting_id=setting_id))


@api.patch("/{setting_id}", response_model=SettingOut)
def revise_draft(setting_id: int, body: SettingRevisionIn,
                 actor: Annotated[Actor, Depends(requires("settings.edit"))]) -> SettingOut:
    return _out(service.revise_draft(actor=actor, setting_id=setting_id, value=body.value,
                                     description=body.description, reason=body.reason))

"""Services of the controlled-site-settings module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmos.compliance.signatures import SignatureView, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, PermissionDenied, ValidationFailed
from pharmos.core.numbering import next_number
from pharmos.site.lifecycle import SETTING_LIFECYCLE
from pharmos.site.models import ControlledSetting

_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


@dataclass(frozen=True)
class SettingView:
    id: int
    number: str
    key: str
    version: int
    value: str
    description: str
    state: str
    author: str
    created_at: datetime
    effective_at: datetime | None
    signatures: tuple[SignatureView, ...] = ()


def _view(session: Session, row: ControlledSetting, *, with_signatures: bool = False) -> SettingView:
    sigs = tuple(signatures_for(session, row)) if with_signatures else ()
    return SettingView(row.id, row.number, row.key, row.version, row.value, row.description, row.state,
                       row.author, row.created_at, row.effective_at, sigs)



def draft_setting(*, actor: Actor, key: str, value: str, description: str = "") -> SettingView:
    """Start a new version of a controlled setting (the first, or a change to the effective one)."""
    actor.require("settings.edit")
    if actor.user_id is None:
        raise PermissionDenied("A controlled setting is authored by a person.")
    key = key.strip()
    problems = []
    if not _KEY.match(key):
        problems.append(FieldProblem("key", "Use a dotted lower-case key such as deviation.due_days.minor."))
    if not value.strip():
        problems.append(FieldProblem("value", "A value is required."))
    if len(value) > 2000:
        problems.append(FieldProblem("value", "At most 2000 characters."))
    if problems:
        raise ValidationFailed("The setting was not drafted.", problems)
    with transaction(actor=actor, reason="Controlled setting drafted") as session:
        open_version = session.scalar(select(ControlledSetting.number).where(
            ControlledSetting.key == key, ControlledSetting.state.in_(("draft", "in_review"))))
        if open_version:
            raise Conflict(f"{open_version} is already an open version of {key}.",
                           [FieldProblem("key", f"Finish or return {open_version} first.")])
        version = (session.scalar(select(func.max(ControlledSetting.version)).where(ControlledSetting.key == key))
                   or 0) + 1
        row = ControlledSetting(number=next_number(session, prefix="CS"), key=key, version=version,
                                value=value.strip(), description=description.strip(),
                                state=SETTING_LIFECYCLE.initial, author_id=actor.user_id, author=actor.username)
        session.add(row)
        session.flush()
        return _view(session, row)


def revise_draft(*, actor: Actor, setting_id: int, value: str, description: str, reason: str) -> SettingView:
    actor.require("settings.edit")
    if not reason.strip():
        raise ValidationFailed.on("reason", "A reason for the change is required.")
    if not value.strip():
        raise ValidationFailed.on("value", "A value is required.")
    with transaction(actor=actor, reason=reason.strip()) as session:
        row = session.get(ControlledSetting, setting_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No controlled setting {setting_id}.")
        if row.state != "draft":
            raise Conflict(f"{row.number} is {row.state}; only drafts can be edited (draft a new version).")
        row.value = value.strip()
        row.description = description.strip()
        session.flush()
        return _view(session, row)


def get_setting(*, actor: Actor, setting_id: int) -> SettingView:
    actor.require("settings.view")
    with read_session() as session:
        row = session.get(ControlledSetting, setting_id)
        if row is None:
            raise NotFound(f"No controlled setting {setting_id}.")
        return _view(session, row, with_signatures=True)


def list_settings(*, actor: Actor, state: str | None = None, key: str | None = None, after_id: int | None = None,
                  limit: int = 50) -> list[SettingView]:
    actor.require("settings.view")
    if state is not None and state not in SETTING_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Unknown state {state!r}.")
    with read_session() as session:
        stmt = select(ControlledSetting).order_by(ControlledSetting.id).limit(limit)
        if state:
            stmt = stmt.where(ControlledSetting.state == state)
        if key:
            stmt = stmt.where(ControlledSetting.key == key)
        if after_id is not None:
            stmt = stmt.where(ControlledSetting.id > after_id)
        return [_view(session, r) for r in session.scalars(stmt)]


def effective_value(*, key: str) -> str | None:
    """The value in force for ``key`` (what other code reads), or None."""
    with read_session() as session:
        return session.scalar(select(ControlledSetting.value).where(
            ControlledSetting.key == key, ControlledSetting.state == "effective"))


def setting_days(key: str, default: int) -> int:
    """A QA-controlled whole-number-of-days site setting, or ``default`` when unset or unusable.

    Read it before opening a write transaction: it uses its own read session.
    """
    raw = effective_value(key=key)
    try:
        value = int(str(raw).strip()) if raw is not None else default
    except ValueError:
        return default
    return value if value >= 0 else default

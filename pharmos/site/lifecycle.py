"""Lifecycle of a controlled site setting."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pharmos.compliance.lifecycle import Lifecycle, Transition, register_lifecycle, replace_version_in_force
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.site.models import ControlledSetting


def _has_value(_session: Session, record: Any, _actor: Actor) -> str | None:
    return None if str(record.value).strip() else "The setting has no value yet."


def _supersede_previous(session: Session, record: Any, _actor: Actor) -> None:
    # Only one effective version per key: approving a new one supersedes the old.
    replace_version_in_force(session, record, identity="key", in_force="effective", replaced="superseded")
    record.effective_at = utcnow()


SETTING_LIFECYCLE = register_lifecycle(Lifecycle(
    record_type="controlled_setting",
    model=ControlledSetting,
    collection="controlled-settings",
    view_permission="settings.view",
    initial="draft",
    states={
        "draft": "being written; not in force and still editable",
        "in_review": "submitted by its author and signed; waiting for QA",
        "effective": "approved by QA; the value in force for the site",
        "superseded": "replaced by a later approved version of the same key",
        "retired": "withdrawn by QA; no version of this key is in force",
    },
    transitions=(
        Transition("submit", ("draft",), "in_review", "settings.edit", "Submit for review", "提交审核",
                   signature="authored", guard=_has_value),
        Transition("return", ("in_review",), "draft", "settings.approve", "Return to author", "退回作者",
                   reason_required=True),
        Transition("approve", ("in_review",), "effective", "settings.approve", "Approve", "批准",
                   signature="approved", effect=_supersede_previous),
        Transition("retire", ("effective",), "retired", "settings.approve", "Retire", "停用",
                   signature="approved", reason_required=True),
    ),
))

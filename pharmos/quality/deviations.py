"""Deviations: report, classify with a risk score, investigate, approve and close; linked records on hold.

药品GMP 第二百四十八条至第二百五十二条 / EU GMP Part I 1.4(xiv) / 21 CFR 211.192: every
departure from an approved procedure or specification is recorded, classified by its
risk, investigated to its root cause with an assessment of the impact on product, and
closed by QA. While a deviation is open the lots and batches it names are on a quality
hold: other modules ask ``open_quality_holds`` before they use them.

State changes go through ``apply_transition`` (collection ``deviations``, declared in
``pharmos/quality/lifecycle.py``); the services here set the fields its guards check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pharmos.auth import service as auth
from pharmos.compliance.audit import AuditEntry, record_event
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_date, site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    required_reason,
)
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number
from pharmos.quality.lifecycle import CLOSED_DEVIATION_STATES, DEVIATION_LIFECYCLE, OPEN_CAPA_STATES
from pharmos.quality.models import Capa, Deviation, DeviationLink, DueDateExtension
from pharmos.quality.views import (
    CapaView,
    DeviationView,
    EscalationResult,
    ExtensionView,
    LinkView,
    QualityHold,
    TimelineEvent,
)
from pharmos.site.service import setting_days

__all__ = [
    "CLASSIFICATIONS",
    "LINK_TYPES",
    "ROOT_CAUSE_CATEGORIES",
    "LinkInput",
    "add_deviation_link",
    "add_working_days",
    "assign_investigator",
    "classify_deviation",
    "decide_extension",
    "escalate_overdue",
    "get_deviation",
    "held_references",
    "list_deviations",
    "open_deviation_in",
    "open_quality_holds",
    "raise_deviation",
    "record_investigation",
    "remove_deviation_link",
    "report_deviation",
    "request_extension",
]

CLASSIFICATIONS = ("minor", "major", "critical")
LINK_TYPES = ("lot", "batch", "equipment", "material")
# The fishbone (Ishikawa) categories of ICH Q9 Annex I.
ROOT_CAUSE_CATEGORIES = ("man", "machine", "material", "method", "measurement", "environment")
DUE_DAYS_DEFAULT = {"minor": 15, "major": 20, "critical": 30}
MAX_EXTENSIONS_DEFAULT = 2
# States in which the investigation (and so its due date) is running.
_EXTENSIBLE_STATES = ("classified", "investigating", "pending_approval", "approved")
_BATCH_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
# Clocks of the reporting terminal and the server differ a little; a report from the future does not.
_CLOCK_SKEW = timedelta(minutes=5)
_LONG_TEXT = 10_000
_SYSTEM = Actor.system("quality")


@dataclass(frozen=True)
class LinkInput:
    """A record the deviation affects: ``record_type`` lot | batch | equipment | material, and its number."""

    record_type: str
    reference: str


# ---------------------------------------------------------------- input checks


def _score(problems: list[FieldProblem], field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        problems.append(FieldProblem(field, "A whole number from 1 to 5."))
        return 0
    return value


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


def add_working_days(start: date, days: int) -> date:
    """``days`` working days (Monday to Friday) after ``start``."""
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def _canonical_link(problems: list[FieldProblem], field: str, link: object) -> tuple[str, str] | None:
    """The link as stored (record type, the record's own number), or None with the problem noted."""
    if not isinstance(link, LinkInput):
        problems.append(FieldProblem(field, "A linked record (record_type, reference)."))
        return None
    record_type = link.record_type.strip().lower() if isinstance(link.record_type, str) else ""
    if record_type not in LINK_TYPES:
        problems.append(FieldProblem(f"{field}.record_type", f"Choose one of {', '.join(LINK_TYPES)}."))
        return None
    before = len(problems)
    reference = _text(problems, f"{field}.reference", link.reference, max_length=60).upper()
    if len(problems) > before:
        return None
    # Other modules are asked through their services only; a system actor because the reporter
    # may not hold materials.view or equipment.view, and the link must name a real record.
    if record_type == "lot":
        from pharmos.materials import service as materials

        try:
            return record_type, materials.find_by_scan(actor=_SYSTEM, code=reference).number
        except (NotFound, ValidationFailed):
            problems.append(FieldProblem(f"{field}.reference", f"No lot or container {reference}."))
            return None
    if record_type == "material":
        from pharmos.materials import service as materials

        try:
            return record_type, materials.current_material(actor=_SYSTEM, code=reference).code
        except (NotFound, ValidationFailed):
            problems.append(FieldProblem(f"{field}.reference", f"No approved material {reference}."))
            return None
    if record_type == "equipment":
        from pharmos.equipment import service as equipment

        try:
            return record_type, equipment.get_equipment(actor=_SYSTEM, number=reference).number
        except (NotFound, ValidationFailed):
            problems.append(FieldProblem(f"{field}.reference", f"No equipment {reference}."))
            return None
    # Batch numbers are accepted as typed: deviations also concern batches made on paper before
    # Pharmos (or by a contract manufacturer), which the batches module does not know.
    if not _BATCH_NUMBER.match(reference):
        problems.append(FieldProblem(f"{field}.reference", "A batch number: letters, digits and '-', 3-40 long."))
        return None
    return record_type, reference


def _links(problems: list[FieldProblem], links: Sequence[LinkInput] | None) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for i, link in enumerate(list(links or [])):
        canonical = _canonical_link(problems, f"links[{i}]", link)
        if canonical is None:
            continue
        if canonical in seen:
            problems.append(FieldProblem(f"links[{i}]", f"{canonical[0]} {canonical[1]} is linked twice."))
            continue
        seen.append(canonical)
    return seen


def _moment(problems: list[FieldProblem], field: str, value: object, *, required: bool) -> datetime | None:
    if value is None:
        if required:
            problems.append(FieldProblem(field, "Required."))
        return None
    if not isinstance(value, datetime):
        problems.append(FieldProblem(field, "A date and time."))
        return None
    return as_utc(value)


@dataclass(frozen=True)
class _Report:
    title: str
    description: str
    area: str
    occurred_at: datetime | None
    discovered_at: datetime
    immediate_action: str
    source: str
    links: tuple[tuple[str, str], ...]


def _checked_report(*, title: object, description: object, discovered_at: object, area: object,
                    occurred_at: object, immediate_action: object, links: Sequence[LinkInput] | None,
                    source: object, immediate_action_required: bool) -> _Report:
    problems: list[FieldProblem] = []
    title_text = _text(problems, "title", title, max_length=200)
    description_text = _text(problems, "description", description, max_length=_LONG_TEXT)
    area_text = _text(problems, "area", area, max_length=120, required=False)
    # 药品GMP 第二百五十条: the immediate action taken is part of the report.
    action_text = _text(problems, "immediate_action", immediate_action, max_length=_LONG_TEXT,
                        required=immediate_action_required)
    source_text = _text(problems, "source", source, max_length=120, required=False)
    discovered = _moment(problems, "discovered_at", discovered_at, required=True)
    occurred = _moment(problems, "occurred_at", occurred_at, required=False)
    if discovered is not None and discovered > utcnow() + _CLOCK_SKEW:
        problems.append(FieldProblem("discovered_at", "Cannot be in the future."))
    if occurred is not None and discovered is not None and occurred > discovered:
        problems.append(FieldProblem("occurred_at", "Cannot be after the time it was discovered."))
    canonical = _links(problems, links)
    _raise(problems)
    assert discovered is not None
    return _Report(title_text, description_text, area_text, occurred, discovered, action_text, source_text,
                   tuple(canonical))


def _insert_deviation(session: Session, *, actor: Actor, report: _Report) -> Deviation:
    now = utcnow()
    row = Deviation(
        number=next_number(session, prefix="DEV"), title=report.title, description=report.description,
        area=report.area, occurred_at=report.occurred_at, discovered_at=report.discovered_at,
        immediate_action=report.immediate_action, source=report.source, reported_by=actor.username,
        author_id=actor.user_id, reported_at=now, classification="", classification_rationale="",
        extensions_granted=0, investigator="", five_whys=[], root_cause_category="", root_cause="",
        impact_assessment="", conclusion="", state=DEVIATION_LIFECYCLE.initial)
    session.add(row)
    session.flush()
    for record_type, reference in report.links:
        session.add(DeviationLink(deviation_id=row.id, record_type=record_type, reference=reference,
                                  added_by=actor.username, added_at=now))
    session.flush()
    return row


# ---------------------------------------------------------------- loading and views


def load_deviation(session: Session, deviation_id: int, *, lock: bool = False) -> Deviation:
    row = session.get(Deviation, deviation_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"No deviation with id {deviation_id}.")
    return row


def _is_overdue(due_on: date | None, state: str, today: date) -> bool:
    return due_on is not None and due_on < today and state not in CLOSED_DEVIATION_STATES


_EVENT_SUMMARIES = {
    "link_added": "Linked {record_type} {reference}",
    "link_removed": "Unlinked {record_type} {reference}",
    "extension_requested": "Extension of the due date to {requested_due_on} requested",
    "extension_approved": "Extension to {requested_due_on} approved",
    "extension_rejected": "Extension to {requested_due_on} rejected",
    "escalated": "Escalated as overdue (due {due_on})",
}


def record_timeline(session: Session, *, record_type: str, record_id: int,
                    signatures: Sequence[Any] = ()) -> tuple[TimelineEvent, ...]:
    """A record's timeline from its audit entries and signatures, oldest first (ALCOA+ 'complete')."""
    events: list[TimelineEvent] = []
    for entry in session.scalars(select(AuditEntry).where(
            AuditEntry.record_type == record_type, AuditEntry.record_id == str(record_id)).order_by(AuditEntry.id)):
        changes = orjson.loads(entry.changes)
        # apply_transition's default reason ("deviation: classify") repeats the state change; a given reason is kept.
        given = entry.reason and not entry.reason.startswith(f"{record_type}: ")
        why = f" — {entry.reason}" if given else ""
        at, reason = as_utc(entry.at), (entry.reason or "") if given else ""
        if entry.action == "create":
            state = changes.get("state", [None, ""])[1] or ""
            events.append(TimelineEvent(at, "state", entry.actor, f"Created ({state})", action="created", new=state))
        elif entry.action == "update" and isinstance(changes.get("state"), list):
            old, new = changes["state"]
            events.append(TimelineEvent(at, "state", entry.actor, f"{old} → {new}{why}", action="moved", old=old,
                                        new=new, reason=reason))
        elif entry.action == "update":
            fields = tuple(sorted(changes))
            events.append(TimelineEvent(at, "change", entry.actor, f"Changed {', '.join(fields)}{why}",
                                        action="changed", fields=fields, reason=reason))
        elif entry.action == "comment":
            said = str(changes.get("text", ""))
            events.append(TimelineEvent(at, "comment", entry.actor, f"Comment: {said}", action="comment", text=said))
        else:
            template = _EVENT_SUMMARIES.get(entry.action, entry.action.replace("_", " "))
            try:
                summary = template.format(**changes)
            except (KeyError, IndexError):
                summary = template
            events.append(TimelineEvent(at, "change", entry.actor, summary + why, text=summary, reason=reason))
    for sig in signatures:
        events.append(TimelineEvent(as_utc(sig.signed_at), "signature", sig.username,
                                    f"Signed as {sig.meaning} by {sig.printed_name}"
                                    + (f" — {sig.reason}" if sig.reason else ""),
                                    action="signed", meaning=sig.meaning, signer=sig.printed_name,
                                    reason=sig.reason or ""))
    events.sort(key=lambda e: e.at)
    return tuple(events)


def deviation_view(session: Session, row: Deviation, *, details: bool = False,
                   today: date | None = None) -> DeviationView:
    """The frozen view of ``row``; links, extensions, CAPA, signatures and timeline when ``details``."""
    today = today or site_today()
    end = site_date(row.closed_at) if row.closed_at is not None else today
    links: tuple[LinkView, ...] = ()
    extensions: tuple[ExtensionView, ...] = ()
    capas: tuple[CapaView, ...] = ()
    signatures: tuple[Any, ...] = ()
    timeline: tuple[TimelineEvent, ...] = ()
    if details:
        links = tuple(LinkView(link.record_type, link.reference, link.added_by, as_utc(link.added_at))
                      for link in session.scalars(select(DeviationLink).where(
                          DeviationLink.deviation_id == row.id).order_by(DeviationLink.id)))
        extensions = tuple(ExtensionView(
            e.id, e.current_due_on, e.requested_due_on, e.justification, e.requested_by, as_utc(e.requested_at),
            e.decision, e.decided_by, as_utc(e.decided_at) if e.decided_at else None, e.decision_comment)
            for e in session.scalars(select(DueDateExtension).where(
                DueDateExtension.deviation_id == row.id).order_by(DueDateExtension.id)))
        # Imported here: capa.py loads deviations through this module.
        from pharmos.quality.capa import capa_views

        capas = tuple(capa_views(session, list(session.scalars(
            select(Capa).where(Capa.deviation_id == row.id).order_by(Capa.id)))))
        signatures = tuple(signatures_for(session, row))
        timeline = record_timeline(session, record_type="deviation", record_id=row.id, signatures=signatures)
    return DeviationView(
        id=row.id, number=row.number, title=row.title, description=row.description, area=row.area,
        occurred_at=as_utc(row.occurred_at) if row.occurred_at else None, discovered_at=as_utc(row.discovered_at),
        immediate_action=row.immediate_action, source=row.source, reported_by=row.reported_by,
        reported_at=as_utc(row.reported_at), classification=row.classification, severity=row.severity,
        occurrence=row.occurrence, detectability=row.detectability, risk_priority=row.risk_priority,
        classification_rationale=row.classification_rationale, due_on=row.due_on,
        extensions_granted=row.extensions_granted, investigator=row.investigator,
        five_whys=tuple(row.five_whys or ()), root_cause_category=row.root_cause_category,
        root_cause=row.root_cause, impact_assessment=row.impact_assessment, product_impact=row.product_impact,
        conclusion=row.conclusion, state=row.state,
        approved_at=as_utc(row.approved_at) if row.approved_at else None,
        closed_at=as_utc(row.closed_at) if row.closed_at else None,
        escalated_at=as_utc(row.escalated_at) if row.escalated_at else None,
        overdue=_is_overdue(row.due_on, row.state, today),
        age_days=max(0, (end - site_date(row.reported_at)).days),
        links=links, extensions=extensions, capas=capas, signatures=signatures, timeline=timeline)


def _detailed(deviation_id: int) -> DeviationView:
    with read_session() as session:
        return deviation_view(session, load_deviation(session, deviation_id), details=True)


def _require_state(row: Deviation, states: Sequence[str], doing: str) -> None:
    if row.state not in states:
        raise Conflict(f"Deviation {row.number} is {row.state}; {doing} only while "
                       f"{' or '.join(states)}.")


# ---------------------------------------------------------------- reporting


def open_deviation_in(session: Session, *, actor: Actor, title: str, description: str, source: str,
                      links: Sequence[LinkInput] = (), immediate_action: str = "", area: str = "") -> Deviation:
    """Raise a deviation, discovered now, inside the caller's transaction (for another module's service).

    Everything is checked before the first write; a refusal raises ValidationFailed.
    """
    actor.require("deviations.report")
    report = _checked_report(title=title, description=description, discovered_at=utcnow(), area=area,
                             occurred_at=None, immediate_action=immediate_action, links=links, source=source,
                             immediate_action_required=False)
    return _insert_deviation(session, actor=actor, report=report)


def report_deviation(*, actor: Actor, title: str, description: str, discovered_at: datetime,
                     immediate_action: str, area: str = "", occurred_at: datetime | None = None,
                     links: Sequence[LinkInput] = (), source: str = "") -> DeviationView:
    """A person reports a deviation with the immediate action taken; linked lots and batches go on hold."""
    actor.require("deviations.report")
    report = _checked_report(title=title, description=description, discovered_at=discovered_at, area=area,
                             occurred_at=occurred_at, immediate_action=immediate_action, links=links,
                             source=source, immediate_action_required=True)
    with transaction(actor=actor, reason="Deviation reported") as session:
        deviation_id = _insert_deviation(session, actor=actor, report=report).id
    return _detailed(deviation_id)


def raise_deviation(*, actor: Actor, title: str, description: str, source: str,
                    links: Sequence[LinkInput] = (), immediate_action: str = "", area: str = "") -> DeviationView:
    """Another module (a failed calibration, a critical batch exception) raises a deviation, discovered now."""
    actor.require("deviations.report")
    with transaction(actor=actor, reason=f"Deviation raised by {source or actor.username}") as session:
        deviation_id = open_deviation_in(session, actor=actor, title=title, description=description,
                                         source=source, links=links, immediate_action=immediate_action,
                                         area=area).id
    return _detailed(deviation_id)


def add_deviation_link(*, actor: Actor, deviation_id: int, record_type: str, reference: str,
                       reason: str) -> DeviationView:
    actor.require("deviations.report")
    why = required_reason(reason)
    problems: list[FieldProblem] = []
    canonical = _canonical_link(problems, "link", LinkInput(record_type, reference))
    # The single-link form names its fields without the "link." prefix.
    _raise([FieldProblem(p.field.removeprefix("link."), p.message) for p in problems])
    assert canonical is not None
    with transaction(actor=actor, reason=why) as session:
        row = load_deviation(session, deviation_id, lock=True)
        if row.state in CLOSED_DEVIATION_STATES:
            raise Conflict(f"Deviation {row.number} is {row.state}; its links are final.")
        exists = session.scalar(select(DeviationLink.id).where(
            DeviationLink.deviation_id == row.id, DeviationLink.record_type == canonical[0],
            DeviationLink.reference == canonical[1]))
        if exists is not None:
            raise ValidationFailed.on("reference", f"{canonical[0]} {canonical[1]} is already linked.")
        session.add(DeviationLink(deviation_id=row.id, record_type=canonical[0], reference=canonical[1],
                                  added_by=actor.username, added_at=utcnow()))
        record_event(session, record_type="deviation", record_id=row.id, action="link_added",
                     details={"record_type": canonical[0], "reference": canonical[1]})
        session.flush()
    return _detailed(deviation_id)


def remove_deviation_link(*, actor: Actor, deviation_id: int, record_type: str, reference: str,
                          reason: str) -> DeviationView:
    """QA takes a wrongly linked record off the deviation (and so off hold); the removal is audited."""
    actor.require("deviations.classify")
    why = required_reason(reason)
    kind = (record_type or "").strip().lower()
    ref = (reference or "").strip().upper()
    with transaction(actor=actor, reason=why) as session:
        row = load_deviation(session, deviation_id, lock=True)
        if row.state in CLOSED_DEVIATION_STATES:
            raise Conflict(f"Deviation {row.number} is {row.state}; its links are final.")
        link = session.scalar(select(DeviationLink).where(
            DeviationLink.deviation_id == row.id, DeviationLink.record_type == kind,
            DeviationLink.reference == ref))
        if link is None:
            raise ValidationFailed.on("reference", f"{kind} {ref} is not linked to {row.number}.")
        session.delete(link)
        record_event(session, record_type="deviation", record_id=row.id, action="link_removed",
                     details={"record_type": kind, "reference": ref})
        session.flush()
    return _detailed(deviation_id)


# ---------------------------------------------------------------- classification and investigation


def classify_deviation(*, actor: Actor, deviation_id: int, classification: str, severity: int | None,
                       occurrence: int | None, detectability: int | None, rationale: str,
                       due_on: date | None = None) -> DeviationView:
    """QA's risk-based classification (ICH Q9): scores, priority S×O×D, and the due date of the investigation."""
    actor.require("deviations.classify")
    problems: list[FieldProblem] = []
    kind = classification.strip().lower() if isinstance(classification, str) else ""
    if kind not in CLASSIFICATIONS:
        problems.append(FieldProblem("classification", f"Choose one of {', '.join(CLASSIFICATIONS)}."))
    scores = [_score(problems, name, value) for name, value in (
        ("severity", severity), ("occurrence", occurrence), ("detectability", detectability))]
    why = _text(problems, "rationale", rationale, max_length=_LONG_TEXT)
    today = site_today()
    if due_on is not None and (not isinstance(due_on, date) or isinstance(due_on, datetime)):
        problems.append(FieldProblem("due_on", "A date."))
    elif due_on is not None and due_on < today:
        problems.append(FieldProblem("due_on", "A due date in the past is not allowed."))
    _raise(problems)
    # 药品GMP 第二百五十一条: the investigation is completed within a time set by the deviation's class.
    days = setting_days(f"quality.deviation_due_days.{kind}", DUE_DAYS_DEFAULT[kind])
    due = due_on if due_on is not None else add_working_days(today, days)
    with transaction(actor=actor, reason=why) as session:
        row = load_deviation(session, deviation_id, lock=True)
        _require_state(row, ("reported", "classified"), "it is classified")
        row.classification = kind
        row.severity, row.occurrence, row.detectability = scores
        row.risk_priority = scores[0] * scores[1] * scores[2]
        row.classification_rationale = why
        row.due_on = due
        session.flush()
    return _detailed(deviation_id)


def assign_investigator(*, actor: Actor, deviation_id: int, username: str) -> DeviationView:
    actor.require("deviations.classify")
    name = (username or "").strip().lower() if isinstance(username, str) else ""
    if not name:
        raise ValidationFailed.on("username", "Name the investigator.")
    with transaction(actor=actor, reason=f"Investigator: {name}") as session:
        user = auth.directory_entry(session, username=name)
        if user is None or not user.is_active:
            raise ValidationFailed.on("username", f"No active user named {name!r}.")
        if not auth.holds_permission(session, user_id=user.id, permission="deviations.investigate"):
            raise ValidationFailed.on("username", f"{name} does not hold the permission deviations.investigate.")
        row = load_deviation(session, deviation_id, lock=True)
        _require_state(row, ("classified", "investigating"), "an investigator is assigned")
        row.investigator_id = user.id
        row.investigator = user.username
        session.flush()
    return _detailed(deviation_id)


def record_investigation(*, actor: Actor, deviation_id: int, five_whys: Sequence[str] | None = None,
                         root_cause_category: str | None = None, root_cause: str | None = None,
                         impact_assessment: str | None = None, product_impact: bool | None = None,
                         conclusion: str | None = None) -> DeviationView:
    """The investigator records findings (None leaves a finding as it is): 5-Why, root cause, impact, conclusion."""
    actor.require("deviations.investigate")
    problems: list[FieldProblem] = []
    changes: dict[str, Any] = {}
    if five_whys is not None:
        whys = list(five_whys) if isinstance(five_whys, list | tuple) else None
        if whys is None:
            problems.append(FieldProblem("five_whys", "A list of answers."))
        elif len(whys) > 5:
            problems.append(FieldProblem("five_whys", "At most 5 whys."))
        else:
            changes["five_whys"] = [_text(problems, f"five_whys[{i}]", why, max_length=1000)
                                    for i, why in enumerate(whys)]
    if root_cause_category is not None:
        category = root_cause_category.strip().lower() if isinstance(root_cause_category, str) else ""
        if category not in ROOT_CAUSE_CATEGORIES:
            problems.append(FieldProblem("root_cause_category", f"Choose one of {', '.join(ROOT_CAUSE_CATEGORIES)}."))
        changes["root_cause_category"] = category
    for field, value in (("root_cause", root_cause), ("impact_assessment", impact_assessment),
                         ("conclusion", conclusion)):
        if value is not None:
            changes[field] = _text(problems, field, value, max_length=_LONG_TEXT, required=False)
    if product_impact is not None:
        if not isinstance(product_impact, bool):
            problems.append(FieldProblem("product_impact", "Yes or no."))
        changes["product_impact"] = product_impact
    _raise(problems)
    with transaction(actor=actor, reason="Investigation recorded") as session:
        row = load_deviation(session, deviation_id, lock=True)
        # 21 CFR 211.192: the findings are the investigator's own, attributable to them.
        if row.investigator_id is None or row.investigator_id != actor.user_id:
            raise PermissionDenied(f"Only the investigator ({row.investigator or 'not assigned'}) "
                                   "records the investigation.")
        _require_state(row, ("investigating",), "the investigation is recorded")
        for field, value in changes.items():
            setattr(row, field, value)
        session.flush()
    return _detailed(deviation_id)


# ---------------------------------------------------------------- due-date extensions


def _date(problems: list[FieldProblem], field: str, value: object) -> date | None:
    if not isinstance(value, date) or isinstance(value, datetime):
        problems.append(FieldProblem(field, "A date."))
        return None
    return value


def request_extension(*, actor: Actor, deviation_id: int, requested_due_on: date | None,
                      justification: str) -> DeviationView:
    actor.require("deviations.investigate")
    problems: list[FieldProblem] = []
    requested = _date(problems, "requested_due_on", requested_due_on)
    why = _text(problems, "justification", justification, max_length=_LONG_TEXT)
    _raise(problems)
    assert requested is not None
    limit = setting_days("quality.deviation_max_extensions", MAX_EXTENSIONS_DEFAULT)
    with transaction(actor=actor, reason=why) as session:
        row = load_deviation(session, deviation_id, lock=True)
        _require_state(row, _EXTENSIBLE_STATES, "its due date is extended")
        if row.due_on is None:
            raise Conflict(f"Deviation {row.number} has no due date to extend.")
        if requested <= row.due_on:
            raise ValidationFailed.on("requested_due_on",
                                      f"Must be later than the current due date {row.due_on.isoformat()}.")
        pending = session.scalar(select(DueDateExtension.id).where(
            DueDateExtension.deviation_id == row.id, DueDateExtension.decision == "pending"))
        if pending is not None:
            raise Conflict(f"An extension request for {row.number} is already waiting for a decision.")
        if row.extensions_granted >= limit:
            raise Conflict(f"Deviation {row.number} already had {row.extensions_granted} extension(s); "
                           f"at most {limit} are allowed.")
        session.add(DueDateExtension(
            deviation_id=row.id, current_due_on=row.due_on, requested_due_on=requested, justification=why,
            requested_by=actor.username, requested_by_id=actor.user_id, requested_at=utcnow(), decision="pending",
            decided_by="", decision_comment=""))
        record_event(session, record_type="deviation", record_id=row.id, action="extension_requested",
                     details={"requested_due_on": requested.isoformat(), "current_due_on": row.due_on.isoformat()})
        session.flush()
    return _detailed(deviation_id)


def decide_extension(*, actor: Actor, deviation_id: int, extension_id: int, approve: bool,
                     comment: str) -> DeviationView:
    actor.require("deviations.classify")
    problems: list[FieldProblem] = []
    if not isinstance(approve, bool):
        problems.append(FieldProblem("approve", "Yes or no."))
    remark = _text(problems, "comment", comment, max_length=_LONG_TEXT, required=not approve)
    _raise(problems)
    limit = setting_days("quality.deviation_max_extensions", MAX_EXTENSIONS_DEFAULT)
    with transaction(actor=actor, reason=remark or ("Extension approved" if approve else "Extension rejected")) \
            as session:
        row = load_deviation(session, deviation_id, lock=True)
        extension = session.get(DueDateExtension, extension_id, with_for_update=True)
        if extension is None or extension.deviation_id != row.id:
            raise NotFound(f"No extension request {extension_id} on {row.number}.")
        if extension.decision != "pending":
            raise Conflict(f"The extension request was already {extension.decision}.")
        # EU GMP Part I 1.4(xiv): a deviation's timeline is controlled by QA, not by whoever asks for more time.
        if extension.requested_by_id is not None and extension.requested_by_id == actor.user_id:
            raise PermissionDenied("The person who requested the extension cannot decide it.")
        if approve:
            _require_state(row, _EXTENSIBLE_STATES, "its due date is extended")
            if row.extensions_granted >= limit:
                raise Conflict(f"Deviation {row.number} already had {row.extensions_granted} extension(s); "
                               f"at most {limit} are allowed.")
            row.due_on = extension.requested_due_on
            row.extensions_granted += 1
            # A new due date starts a new watch: past it, the deviation is escalated again.
            row.escalated_at = None
        extension.decision = "approved" if approve else "rejected"
        extension.decided_by = actor.username
        extension.decided_at = utcnow()
        extension.decision_comment = remark
        record_event(session, record_type="deviation", record_id=row.id,
                     action="extension_approved" if approve else "extension_rejected",
                     details={"requested_due_on": extension.requested_due_on.isoformat()})
        session.flush()
    return _detailed(deviation_id)


# ---------------------------------------------------------------- queries


def get_deviation(*, actor: Actor, deviation_id: int) -> DeviationView:
    actor.require("quality.view")
    return _detailed(deviation_id)


def _linked_filter(linked: str) -> tuple[str, str]:
    kind, sep, reference = linked.partition(":")
    kind, reference = kind.strip().lower(), reference.strip().upper()
    if not sep or kind not in LINK_TYPES or not reference:
        raise ValidationFailed.on("linked", f"Write it as type:number, type one of {', '.join(LINK_TYPES)} "
                                            "(e.g. lot:LOT-240311-007).")
    return kind, reference


def list_deviations(*, actor: Actor, state: str | None = None, classification: str | None = None,
                    overdue: bool | None = None, open_only: bool = False, query: str | None = None,
                    investigator: str | None = None, linked: str | None = None, after_id: int | None = None,
                    limit: int = 50) -> list[DeviationView]:
    """Deviations in ascending id order (cursor ``after_id``), without details; one query."""
    actor.require("quality.view")
    if state is not None and state not in DEVIATION_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(DEVIATION_LIFECYCLE.states)}.")
    if classification is not None and classification not in CLASSIFICATIONS:
        raise ValidationFailed.on("classification", f"Choose one of {', '.join(CLASSIFICATIONS)}.")
    link = _linked_filter(linked) if linked else None
    today = site_today()
    with read_session() as session:
        stmt = select(Deviation).order_by(Deviation.id).limit(_limit(limit))
        if state:
            stmt = stmt.where(Deviation.state == state)
        if classification:
            stmt = stmt.where(Deviation.classification == classification)
        if open_only:
            stmt = stmt.where(Deviation.state.not_in(CLOSED_DEVIATION_STATES))
        late = and_(Deviation.due_on < today, Deviation.state.not_in(CLOSED_DEVIATION_STATES))
        if overdue is True:
            stmt = stmt.where(late)
        elif overdue is False:
            stmt = stmt.where(or_(Deviation.due_on.is_(None), Deviation.due_on >= today,
                                  Deviation.state.in_(CLOSED_DEVIATION_STATES)))
        if query and query.strip():
            pattern = f"%{query.strip()}%"
            stmt = stmt.where(or_(Deviation.number.ilike(pattern), Deviation.title.ilike(pattern),
                                  Deviation.description.ilike(pattern)))
        if investigator:
            user = auth.directory_entry(session, username=investigator)
            if user is None:
                return []
            stmt = stmt.where(Deviation.investigator_id == user.id)
        if link is not None:
            stmt = stmt.where(Deviation.id.in_(select(DeviationLink.deviation_id).where(
                DeviationLink.record_type == link[0], DeviationLink.reference == link[1])))
        if after_id is not None:
            stmt = stmt.where(Deviation.id > after_id)
        return [deviation_view(session, row, today=today) for row in session.scalars(stmt)]


def open_quality_holds(*, record_type: str, reference: str) -> list[QualityHold]:
    """Every open (not closed or cancelled) deviation linked to the record: a domain query for other modules.

    药品GMP 第二百五十条: material affected by an open deviation is not used until QA has decided.
    """
    kind = (record_type or "").strip().lower()
    ref = (reference or "").strip().upper()
    with read_session() as session:
        rows = session.execute(
            select(Deviation.id, Deviation.number, Deviation.title, Deviation.state, Deviation.classification)
            .join(DeviationLink, DeviationLink.deviation_id == Deviation.id)
            .where(DeviationLink.record_type == kind, DeviationLink.reference == ref,
                   Deviation.state.not_in(CLOSED_DEVIATION_STATES))
            .order_by(Deviation.id))
        return [QualityHold(*row) for row in rows]


def held_references(*, record_type: str) -> frozenset[str]:
    """The references of every record of ``record_type`` held by an open deviation, in one query.

    For set-based callers (FEFO, lists) that must leave held records out without a query per row;
    open deviations are few at any time, so the set stays small.
    """
    kind = (record_type or "").strip().lower()
    with read_session() as session:
        return frozenset(session.scalars(
            select(DeviationLink.reference).join(Deviation, Deviation.id == DeviationLink.deviation_id)
            .where(DeviationLink.record_type == kind, Deviation.state.not_in(CLOSED_DEVIATION_STATES))))


# ---------------------------------------------------------------- escalation


def escalate_overdue(*, actor: Actor, today: date | None = None) -> EscalationResult:
    """Stamp deviations and CAPA found past due, once each, with an audited 'escalated' event.

    ICH Q10 3.2.2 / 药品GMP 第二百五十一条: overdue investigations and actions are brought to
    management's attention; the daily job runs this with a system actor.
    """
    actor.require("quality.escalate")
    run_on = today or site_today()
    now = utcnow()
    with transaction(actor=actor, reason=f"Overdue escalation {run_on.isoformat()}") as session:
        deviations = list(session.scalars(select(Deviation).where(
            Deviation.due_on < run_on, Deviation.state.not_in(CLOSED_DEVIATION_STATES),
            Deviation.escalated_at.is_(None)).order_by(Deviation.id).with_for_update()))
        capas = list(session.scalars(select(Capa).where(
            Capa.escalated_at.is_(None), Capa.state.in_(OPEN_CAPA_STATES),
            or_(and_(Capa.state == "open", Capa.due_on < run_on),
                and_(Capa.state == "implemented", Capa.effectiveness_due_on < run_on)))
            .order_by(Capa.id).with_for_update()))
        for deviation in deviations:
            deviation.escalated_at = now
            record_event(session, record_type="deviation", record_id=deviation.id, action="escalated",
                         details={"due_on": deviation.due_on.isoformat() if deviation.due_on else None,
                                  "state": deviation.state})
        for capa in capas:
            capa.escalated_at = now
            due = capa.due_on if capa.state == "open" else capa.effectiveness_due_on
            record_event(session, record_type="capa", record_id=capa.id, action="escalated",
                         details={"due_on": due.isoformat() if due else None, "state": capa.state})
        session.flush()
        return EscalationResult(run_on, tuple(d.number for d in deviations), tuple(c.number for c in capas))

"""Complaints: intake, classification, investigation, links to deviations and CAPA, response, closure, trend.

药品GMP 第十章第五节 (第二百六十六条至第二百七十二条) / 21 CFR 211.198 / EU GMP Part I
chapter 8: every product quality complaint is recorded with its details, classified by QA,
investigated (with the batch, and a deviation or CAPA where it leads to one), answered, and
trended so recurring problems are seen. Adverse events are flagged for pharmacovigilance.

State changes go through ``apply_transition`` (collection ``complaints``, declared in
``pharmos/quality/lifecycle.py``); the services here set the fields its guards check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from pharmos.auth import service as auth
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_date, site_today
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    required_reason,
)
from pharmos.core.errors import collect_choice as _choice
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number
from pharmos.core.spreadsheets import all_pages, download, export_format
from pharmos.quality.complaint_views import ComplaintView
from pharmos.quality.deviations import add_working_days, record_timeline
from pharmos.quality.lifecycle import COMPLAINT_LIFECYCLE
from pharmos.quality.models import Capa, Complaint, Deviation
from pharmos.quality.printing import PrintSection, PrintTable, RecordPrintout, audit_rows, printed, text
from pharmos.quality.views import QualityTask, TrendPoint
from pharmos.site.service import setting_days

__all__ = [
    "COMPLAINT_CATEGORIES",
    "COMPLAINT_CHANNELS",
    "COMPLAINT_CLASSIFICATIONS",
    "COMPLAINT_EXPORT_COLUMNS",
    "COMPLAINT_LINK_TYPES",
    "COMPLAINT_TREND_BY",
    "classify_complaint",
    "complaint_trend",
    "export_complaints",
    "get_complaint",
    "link_complaint",
    "list_complaints",
    "my_complaint_tasks",
    "print_complaint",
    "receive_complaint",
    "record_complaint_investigation",
    "record_response",
    "unlink_complaint",
]

COMPLAINT_CHANNELS = ("phone", "email", "letter", "visit", "regulator", "distributor")
COMPLAINT_CLASSIFICATIONS = ("minor", "major", "critical")
COMPLAINT_CATEGORIES = ("quality_defect", "packaging", "labelling", "adverse_event", "efficacy", "counterfeit",
                        "other")
COMPLAINT_LINK_TYPES = ("deviation", "capa")
COMPLAINT_TREND_BY = ("category", "product", "classification")
COMPLAINT_EXPORT_COLUMNS = (
    "number", "received_on", "channel", "customer", "customer_contact", "region", "product", "lot_number",
    "state", "classification", "category", "adverse_event", "due_on", "overdue", "age_days", "investigator",
    "justified", "root_cause", "linked_records", "responded_on", "received_by", "sample_received",
    "sample_received_on", "approved_at", "closed_at")
DUE_DAYS_DEFAULT = {"minor": 30, "major": 20, "critical": 10}
CLOSED_STATES = ("closed", "cancelled")
MAX_AGE_DAYS = 365  # a complaint is logged within a year of its receipt, not back-filled from old files
MAX_TREND_MONTHS = 60
_LOT_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,39}$")
_LONG_TEXT = 10_000
_UNCLASSIFIED = "unclassified"


# ---------------------------------------------------------------- input checks


def _day(problems: list[FieldProblem], field: str, value: object, *, required: bool) -> date | None:
    if value is None:
        if required:
            problems.append(FieldProblem(field, "Required."))
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        problems.append(FieldProblem(field, "A date."))
        return None
    return value


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 500))


def _load(session: Session, complaint_id: int, *, lock: bool = False) -> Complaint:
    row = session.get(Complaint, complaint_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No complaint with id {complaint_id}.")
    return row


def _require_state(row: Complaint, states: Sequence[str], doing: str, *, field: str = "state") -> None:
    if row.state not in states:
        message = f"Complaint {row.number} is {row.state}; {doing} only while it is {' or '.join(states)}."
        raise Conflict(message, [FieldProblem(field, message)])


# ---------------------------------------------------------------- views


def _overdue(row: Complaint, today: date) -> bool:
    return row.due_on is not None and row.due_on < today and row.state not in CLOSED_STATES


def complaint_view(session: Session, row: Complaint, *, details: bool = False,
                   today: date | None = None) -> ComplaintView:
    """The frozen view of ``row``; signatures and timeline when ``details``."""
    today = today or site_today()
    end = site_date(row.closed_at) if row.closed_at is not None else today
    signatures: tuple[Any, ...] = ()
    timeline: tuple[Any, ...] = ()
    if details:
        signatures = tuple(signatures_for(session, row))
        timeline = record_timeline(session, record_type="complaint", record_id=row.id, signatures=signatures)
    return ComplaintView(
        id=row.id, number=row.number, received_on=row.received_on, channel=row.channel, customer=row.customer,
        customer_contact=row.customer_contact, region=row.region, product=row.product, lot_number=row.lot_number,
        description=row.description, sample_received=row.sample_received,
        sample_received_on=row.sample_received_on, received_by=row.received_by,
        classification=row.classification, category=row.category, adverse_event=row.adverse_event,
        due_on=row.due_on, investigator=row.investigator, investigation=row.investigation,
        root_cause=row.root_cause, justified=row.justified, linked_records=tuple(row.linked_records or ()),
        response=row.response, responded_on=row.responded_on, state=row.state,
        approved_at=as_utc(row.approved_at) if row.approved_at else None,
        closed_at=as_utc(row.closed_at) if row.closed_at else None, created_at=as_utc(row.created_at),
        overdue=_overdue(row, today), age_days=max(0, (end - row.received_on).days),
        signatures=signatures, timeline=timeline)


def _detailed(complaint_id: int) -> ComplaintView:
    # Read after the commit: the timeline comes from audit entries, which are written at commit.
    with read_session() as session:
        return complaint_view(session, _load(session, complaint_id), details=True)


# ---------------------------------------------------------------- intake


def receive_complaint(*, actor: Actor, received_on: date, channel: str, customer: str, product: str,
                      description: str, customer_contact: str = "", region: str = "", lot_number: str = "",
                      sample_received: bool = False, sample_received_on: date | None = None) -> ComplaintView:
    """Log a complaint as received (药品GMP 第二百六十八条: recorded with all its original details)."""
    actor.require("complaints.receive")
    problems: list[FieldProblem] = []
    today = site_today()
    received = _day(problems, "received_on", received_on, required=True)
    if received is not None and received > today:
        problems.append(FieldProblem("received_on", "Cannot be in the future."))
    elif received is not None and received < today - timedelta(days=MAX_AGE_DAYS):
        problems.append(FieldProblem("received_on", f"Cannot be more than {MAX_AGE_DAYS} days ago."))
    how = _choice(problems, "channel", channel, COMPLAINT_CHANNELS)
    who = _text(problems, "customer", customer, max_length=200)
    contact = _text(problems, "customer_contact", customer_contact, max_length=200, required=False)
    where = _text(problems, "region", region, max_length=100, required=False)
    what = _text(problems, "product", product, max_length=200)
    story = _text(problems, "description", description, max_length=_LONG_TEXT)
    lot = _text(problems, "lot_number", lot_number, max_length=40, required=False).upper()
    if lot and not _LOT_NUMBER.match(lot):
        problems.append(FieldProblem("lot_number", "A lot number: capital letters, digits and '-', 3-40 long."))
    if not isinstance(sample_received, bool):
        problems.append(FieldProblem("sample_received", "Yes or no."))
    sample_on = _day(problems, "sample_received_on", sample_received_on, required=sample_received is True)
    if sample_on is not None and sample_received is not True:
        problems.append(FieldProblem("sample_received_on", "Only when a sample was received."))
    elif sample_on is not None and sample_on > today:
        problems.append(FieldProblem("sample_received_on", "Cannot be in the future."))
    elif sample_on is not None and received is not None and sample_on < received:
        problems.append(FieldProblem("sample_received_on", "Cannot be before the complaint was received."))
    _raise(problems)
    assert received is not None
    with transaction(actor=actor, reason="Complaint received") as session:
        row = Complaint(
            number=next_number(session, prefix="CMP"), received_on=received, channel=how, customer=who,
            customer_contact=contact, region=where, product=what, lot_number=lot, description=story,
            sample_received=bool(sample_received), sample_received_on=sample_on, received_by=actor.username,
            author_id=actor.user_id, classification="", category="", adverse_event=False, investigator="",
            investigation="", root_cause="", linked_records=[], response="", state=COMPLAINT_LIFECYCLE.initial)
        session.add(row)
        session.flush()
        complaint_id = row.id
    return _detailed(complaint_id)


# ---------------------------------------------------------------- classification and investigation


def classify_complaint(*, actor: Actor, complaint_id: int, classification: str, category: str,
                       adverse_event: bool, investigator_username: str, due_on: date | None = None) -> ComplaintView:
    """QA's classification, adverse-event flag, investigator and due date; the ``classify`` transition follows."""
    actor.require("complaints.classify")
    problems: list[FieldProblem] = []
    kind = _choice(problems, "classification", classification, COMPLAINT_CLASSIFICATIONS)
    group = _choice(problems, "category", category, COMPLAINT_CATEGORIES)
    if not isinstance(adverse_event, bool):
        problems.append(FieldProblem("adverse_event", "Yes or no."))
    name = investigator_username.strip().lower() if isinstance(investigator_username, str) else ""
    if not name:
        problems.append(FieldProblem("investigator_username", "Name the investigator."))
    today = site_today()
    due = _day(problems, "due_on", due_on, required=False)
    if due is not None and due < today:
        problems.append(FieldProblem("due_on", "A due date in the past is not allowed."))
    _raise(problems)
    if due is None:
        # 药品GMP 第二百六十九条: complaints are handled within a time set by their seriousness.
        due = add_working_days(today, setting_days(f"quality.complaint_due_days.{kind}", DUE_DAYS_DEFAULT[kind]))
    with transaction(actor=actor, reason=f"Complaint classified {kind}/{group}") as session:
        user = auth.directory_entry(session, username=name)
        if user is None or not user.is_active:
            raise ValidationFailed.on("investigator_username", f"No active user named {name!r}.")
        if not auth.holds_permission(session, user_id=user.id, permission="complaints.investigate"):
            raise ValidationFailed.on("investigator_username",
                                      f"{user.username} does not hold the permission complaints.investigate.")
        row = _load(session, complaint_id, lock=True)
        _require_state(row, ("received",), "it is classified")
        row.classification, row.category, row.adverse_event, row.due_on = kind, group, adverse_event, due
        row.investigator_id, row.investigator = user.id, user.username
        session.flush()
    return _detailed(complaint_id)


def record_complaint_investigation(*, actor: Actor, complaint_id: int, investigation: str | None = None,
                                   root_cause: str | None = None, justified: bool | None = None) -> ComplaintView:
    """The investigator records findings (None leaves a finding as it is)."""
    actor.require("complaints.investigate")
    problems: list[FieldProblem] = []
    changes: dict[str, Any] = {}
    for field, value in (("investigation", investigation), ("root_cause", root_cause)):
        if value is not None:
            changes[field] = _text(problems, field, value, max_length=_LONG_TEXT, required=False)
    if justified is not None:
        if not isinstance(justified, bool):
            problems.append(FieldProblem("justified", "Yes or no."))
        changes["justified"] = justified
    _raise(problems)
    with transaction(actor=actor, reason="Complaint investigation recorded") as session:
        row = _load(session, complaint_id, lock=True)
        # 21 CFR 211.198(b): the findings of the investigation are the investigator's own, attributable to them.
        if row.investigator_id is None or row.investigator_id != actor.user_id:
            raise PermissionDenied(f"Only the investigator ({row.investigator or 'not assigned'}) "
                                   "records the investigation.")
        _require_state(row, ("investigating",), "the investigation is recorded")
        for field, value in changes.items():
            setattr(row, field, value)
        session.flush()
    return _detailed(complaint_id)


# ---------------------------------------------------------------- links to deviations and CAPA


def _parsed_link(record: object) -> tuple[str, str]:
    raw = record.strip() if isinstance(record, str) else ""
    kind, sep, reference = raw.partition(":")
    kind, reference = kind.strip().lower(), reference.strip().upper()
    if not sep or kind not in COMPLAINT_LINK_TYPES or not reference or len(reference) > 40:
        raise ValidationFailed.on("record", "Write it as deviation:DEV-2026-0001 or capa:CAPA-2026-0001.")
    return kind, reference


def _may_link(actor: Actor) -> bool:
    """QA links any complaint; an investigator only theirs (checked on the row)."""
    if actor.can("complaints.classify"):
        return True
    actor.require("complaints.investigate")
    return False


def _check_linker(row: Complaint, actor: Actor, is_qa: bool) -> None:
    if not is_qa and (row.investigator_id is None or row.investigator_id != actor.user_id):
        raise PermissionDenied(f"Only QA or the investigator ({row.investigator or 'not assigned'}) "
                               "links records to this complaint.")
    if row.state in CLOSED_STATES:
        raise Conflict(f"Complaint {row.number} is {row.state}; its links are final.",
                       [FieldProblem("record", f"Complaint {row.number} is {row.state}.")])


def link_complaint(*, actor: Actor, complaint_id: int, record: str) -> ComplaintView:
    """Link the deviation or CAPA the complaint led to (药品GMP 第二百七十条: the batch's deviation/CAPA)."""
    is_qa = _may_link(actor)
    kind, reference = _parsed_link(record)
    with transaction(actor=actor, reason=f"Linked {kind} {reference}") as session:
        model: Any = Deviation if kind == "deviation" else Capa
        if session.scalar(select(model.id).where(model.number == reference)) is None:
            raise ValidationFailed.on("record", f"No {kind} {reference}.")
        row = _load(session, complaint_id, lock=True)
        _check_linker(row, actor, is_qa)
        key = f"{kind}:{reference}"
        if key in (row.linked_records or []):
            raise ValidationFailed.on("record", f"{kind} {reference} is already linked.")
        row.linked_records = [*(row.linked_records or []), key]
        session.flush()
    return _detailed(complaint_id)


def unlink_complaint(*, actor: Actor, complaint_id: int, record: str, reason: str) -> ComplaintView:
    """Take a wrongly linked record off the complaint; the reason is recorded (EU GMP Annex 11 §9)."""
    is_qa = _may_link(actor)
    why = required_reason(reason)
    kind, reference = _parsed_link(record)
    with transaction(actor=actor, reason=why) as session:
        row = _load(session, complaint_id, lock=True)
        _check_linker(row, actor, is_qa)
        key = f"{kind}:{reference}"
        if key not in (row.linked_records or []):
            raise ValidationFailed.on("record", f"{kind} {reference} is not linked to {row.number}.")
        row.linked_records = [r for r in row.linked_records if r != key]
        session.flush()
    return _detailed(complaint_id)


# ---------------------------------------------------------------- response


def record_response(*, actor: Actor, complaint_id: int, response: str,
                    responded_on: date | None) -> ComplaintView:
    """The answer sent to the complainant, once QA approved the investigation (药品GMP 第二百七十一条)."""
    actor.require("complaints.classify")
    problems: list[FieldProblem] = []
    answer = _text(problems, "response", response, max_length=_LONG_TEXT)
    sent = _day(problems, "responded_on", responded_on, required=True)
    if sent is not None and sent > site_today():
        problems.append(FieldProblem("responded_on", "Cannot be in the future."))
    _raise(problems)
    assert sent is not None
    with transaction(actor=actor, reason="Response to the complainant recorded") as session:
        row = _load(session, complaint_id, lock=True)
        _require_state(row, ("approved",), "the response is recorded", field="response")
        if sent < row.received_on:
            raise ValidationFailed.on("responded_on", f"Cannot be before the complaint was received "
                                                      f"({row.received_on.isoformat()}).")
        row.response, row.responded_on = answer, sent
        session.flush()
    return _detailed(complaint_id)


# ---------------------------------------------------------------- queries


def get_complaint(*, actor: Actor, complaint_id: int) -> ComplaintView:
    actor.require("quality.view")
    return _detailed(complaint_id)


def list_complaints(*, actor: Actor, state: str | None = None, category: str | None = None,
                    classification: str | None = None, product: str | None = None, overdue: bool | None = None,
                    query: str | None = None, open_only: bool = False, after_id: int | None = None,
                    limit: int = 50) -> list[ComplaintView]:
    """Complaints in ascending id order (cursor ``after_id``), without signatures or timeline; one query."""
    actor.require("quality.view")
    if state is not None and state not in COMPLAINT_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(COMPLAINT_LIFECYCLE.states)}.")
    if category is not None and category not in COMPLAINT_CATEGORIES:
        raise ValidationFailed.on("category", f"Choose one of {', '.join(COMPLAINT_CATEGORIES)}.")
    if classification is not None and classification not in COMPLAINT_CLASSIFICATIONS:
        raise ValidationFailed.on("classification", f"Choose one of {', '.join(COMPLAINT_CLASSIFICATIONS)}.")
    today = site_today()
    stmt = select(Complaint).order_by(Complaint.id).limit(_limit(limit))
    if state:
        stmt = stmt.where(Complaint.state == state)
    if category:
        stmt = stmt.where(Complaint.category == category)
    if classification:
        stmt = stmt.where(Complaint.classification == classification)
    if product and product.strip():
        stmt = stmt.where(Complaint.product == product.strip())
    if open_only:
        stmt = stmt.where(Complaint.state.not_in(CLOSED_STATES))
    late = and_(Complaint.due_on < today, Complaint.state.not_in(CLOSED_STATES))
    if overdue is True:
        stmt = stmt.where(late)
    elif overdue is False:
        stmt = stmt.where(or_(Complaint.due_on.is_(None), Complaint.due_on >= today,
                              Complaint.state.in_(CLOSED_STATES)))
    if query and query.strip():
        pattern = f"%{query.strip()}%"
        stmt = stmt.where(or_(Complaint.number.ilike(pattern), Complaint.customer.ilike(pattern),
                              Complaint.product.ilike(pattern), Complaint.lot_number.ilike(pattern),
                              Complaint.description.ilike(pattern)))
    if after_id is not None:
        stmt = stmt.where(Complaint.id > after_id)
    with read_session() as session:
        return [complaint_view(session, row, today=today) for row in session.scalars(stmt)]


def _month_starts(today: date, months: int) -> list[date]:
    year, month = today.year, today.month
    firsts = []
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return firsts[::-1]


def complaint_trend(*, actor: Actor, months: int = 12, by: str = "category") -> list[TrendPoint]:
    """Complaints received per month and category, product or classification (zeros included).

    药品GMP 第二百七十二条 / ICH Q10 3.2.1: complaints are trended to find recurring problems.
    """
    actor.require("quality.view")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_TREND_MONTHS:
        raise ValidationFailed.on("months", f"Between 1 and {MAX_TREND_MONTHS} months.")
    if by not in COMPLAINT_TREND_BY:
        raise ValidationFailed.on("by", f"Choose one of {', '.join(COMPLAINT_TREND_BY)}.")
    firsts = _month_starts(site_today(), months)
    month = case(*[(Complaint.received_on >= first, first.strftime("%Y-%m")) for first in reversed(firsts)],
                 else_=None).label("month")
    column = {"category": Complaint.category, "product": Complaint.product,
              "classification": Complaint.classification}[by]
    with read_session() as session:
        rows = session.execute(select(month, column, func.count()).where(Complaint.received_on >= firsts[0])
                               .group_by(month, column)).all()
    if by == "product":
        groups: tuple[str, ...] = tuple(sorted({c for _, c, _ in rows}))
    else:
        groups = (*(COMPLAINT_CATEGORIES if by == "category" else COMPLAINT_CLASSIFICATIONS), _UNCLASSIFIED)
    counts = {(m, g): 0 for m in (f.strftime("%Y-%m") for f in firsts) for g in groups}
    for label, group, count in rows:
        key = (label, group if group in groups else _UNCLASSIFIED)
        if key in counts:
            counts[key] += count
    return [TrendPoint(m, g, n) for (m, g), n in counts.items()]


def export_complaints(*, actor: Actor, fmt: str = "csv", state: str | None = None, category: str | None = None,
                      classification: str | None = None, product: str | None = None, overdue: bool | None = None,
                      query: str | None = None, open_only: bool = False) -> tuple[bytes, str, str]:
    """Complaints matching the list filters as CSV or Excel: (content, media type, filename)."""
    actor.require("quality.view")
    fmt = export_format(fmt)
    rows = all_pages(lambda after: list_complaints(
        actor=actor, state=state, category=category, classification=classification, product=product,
        overdue=overdue, query=query, open_only=open_only, after_id=after, limit=500), lambda c: c.id)
    data = [[c.number, c.received_on, c.channel, c.customer, c.customer_contact, c.region, c.product, c.lot_number,
             c.state, c.classification, c.category, c.adverse_event, c.due_on, c.overdue, c.age_days, c.investigator,
             c.justified, c.root_cause, " ".join(c.linked_records), c.responded_on, c.received_by, c.sample_received,
             c.sample_received_on, c.approved_at, c.closed_at] for c in rows]
    return download(fmt, COMPLAINT_EXPORT_COLUMNS, data, name="complaints", sheet="Complaints 投诉")


def print_complaint(*, actor: Actor, complaint_id: int) -> tuple[bytes, str, str]:
    """The complaint as a PDF with its signatures and audit trail; the printing is audited."""
    c = get_complaint(actor=actor, complaint_id=complaint_id)
    with read_session() as session:
        audit = audit_rows(session, record_type="complaint", record_ids=[c.id])
    printout = RecordPrintout(
        kind="Complaint / 投诉", number=c.number, title=f"{c.product} — {c.customer}", state=c.state,
        sections=(
            PrintSection("Intake / 登记", (
                ("Received on / 接收日期", text(c.received_on)), ("Channel / 渠道", c.channel),
                ("Customer / 投诉方", c.customer), ("Contact / 联系方式", text(c.customer_contact)),
                ("Region / 地区", text(c.region)), ("Product / 产品", c.product),
                ("Lot / 批号", text(c.lot_number)), ("Description / 描述", c.description),
                ("Sample received / 收到样品", f"{text(c.sample_received)} {text(c.sample_received_on)}"
                 if c.sample_received else text(False)),
                ("Received by / 登记人", f"{c.received_by}, {text(c.created_at)}"))),
            PrintSection("Classification / 分级", (
                ("Class / 级别", text(c.classification)), ("Category / 类别", text(c.category)),
                ("Adverse event / 不良事件", text(c.adverse_event)), ("Due on / 截止日期", text(c.due_on)),
                ("Investigator / 调查人", text(c.investigator)))),
            PrintSection("Investigation / 调查", (
                ("Investigation / 调查", text(c.investigation)), ("Root cause / 根本原因", text(c.root_cause)),
                ("Justified / 投诉成立", text(c.justified)))),
            PrintSection("Response / 答复", (
                ("Response / 答复", text(c.response)), ("Responded on / 答复日期", text(c.responded_on)),
                ("Approved at / 批准时间", text(c.approved_at)), ("Closed at / 关闭时间", text(c.closed_at)))),
        ),
        tables=(PrintTable("Linked records / 关联记录", ("Type / 类型", "Reference / 编号"),
                           tuple(tuple(r.split(":", 1)) for r in c.linked_records)),),
        signatures=c.signatures, audit=audit)
    return printed(actor=actor, printout=printout, record_type="complaint", record_id=c.id, filename_stem=c.number)


# ---------------------------------------------------------------- the inbox


def my_complaint_tasks(*, actor: Actor) -> list[QualityTask]:
    """What this person should do now on complaints: classify, investigate, approve, respond, close."""
    actor.require("quality.view")
    today = site_today()
    me = actor.user_id
    tasks: list[QualityTask] = []
    columns = (Complaint.id, Complaint.number, Complaint.product, Complaint.customer, Complaint.due_on,
               Complaint.investigator_id, Complaint.response)

    def add(row: Any, action: str) -> None:
        overdue = row.due_on is not None and row.due_on < today
        tasks.append(QualityTask("complaint", row.id, row.number, f"{row.product} — {row.customer}", action,
                                 row.due_on, overdue))

    with read_session() as session:
        if actor.can("complaints.classify"):
            for row in session.execute(select(*columns).where(Complaint.state == "received").order_by(Complaint.id)):
                add(row, "classify")
        if me is not None:
            for row in session.execute(select(*columns).where(
                    Complaint.investigator_id == me, Complaint.state == "investigating").order_by(Complaint.id)):
                add(row, "investigate")
        if actor.can("complaints.approve"):
            # 21 CFR 11.10 / 药品GMP 第二百六十九条: QA approves findings that are not their own.
            for row in session.execute(select(*columns).where(Complaint.state == "pending_approval")
                                       .order_by(Complaint.id)):
                if me is None or row.investigator_id != me:
                    add(row, "approve")
        for row in session.execute(select(*columns).where(Complaint.state == "approved").order_by(Complaint.id)):
            if not row.response.strip() and actor.can("complaints.classify"):
                add(row, "respond")
            elif row.response.strip() and actor.can("complaints.approve"):
                add(row, "close")
    return sorted(tasks, key=lambda t: (not t.overdue, t.due_on or date.max, t.number, t.action))

"""What quality people look at: a personal inbox, open counts by state and age, trends, and spreadsheet exports.

The inbox answers "what should I do now" from the records' states and the person's rights;
the counts and trend feed the dashboard and the quality review of deviation trends
(ICH Q10 3.2.1; 药品GMP 第二百五十条: deviations are trended and reviewed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.config import get_settings
from pharmos.core.db import read_session
from pharmos.core.errors import ValidationFailed
from pharmos.core.spreadsheets import all_pages, download, export_format
from pharmos.quality.capa import capa_overdue_clause, list_capas
from pharmos.quality.change_control import my_change_tasks
from pharmos.quality.complaints import my_complaint_tasks
from pharmos.quality.deviations import list_deviations
from pharmos.quality.lifecycle import (
    CLOSED_DEVIATION_STATES,
    OPEN_CAPA_STATES,
    OPEN_CHANGE_STATES,
    reviews_missing,
)
from pharmos.quality.models import (
    Capa,
    ChangeControl,
    Complaint,
    ControlledDocument,
    Deviation,
    DocumentVersion,
    DueDateExtension,
    TrainingRecord,
)
from pharmos.quality.views import QualityCounts, QualityTask, TrendPoint

__all__ = [
    "CAPA_EXPORT_COLUMNS",
    "DEVIATION_EXPORT_COLUMNS",
    "TREND_CATEGORIES",
    "deviation_trend",
    "export_capas",
    "export_deviations",
    "my_quality_tasks",
    "quality_counts",
]

# Every category a trend reports, so a month without deviations of one kind shows as zero, not as a gap.
TREND_CATEGORIES: dict[str, tuple[str, ...]] = {
    "classification": ("minor", "major", "critical", "unclassified"),
    "root_cause_category": ("man", "machine", "material", "method", "measurement", "environment", "undetermined"),
}
AGE_BUCKETS = ("0-30", "31-60", "61-90", ">90")
MAX_TREND_MONTHS = 60

DEVIATION_EXPORT_COLUMNS = (
    "number", "title", "state", "classification", "severity", "occurrence", "detectability", "risk_priority",
    "area", "source", "reported_by", "reported_at", "discovered_at", "occurred_at", "due_on", "extensions_granted",
    "overdue", "age_days", "investigator", "root_cause_category", "root_cause", "product_impact", "approved_at",
    "closed_at", "escalated_at")
CAPA_EXPORT_COLUMNS = (
    "number", "kind", "title", "source_type", "source_reference", "owner", "due_on", "state", "overdue",
    "effectiveness_criteria", "effectiveness_check_days", "effectiveness_due_on", "effective", "author",
    "created_at", "implemented_at", "closed_at")


def _site_midnight(day: date) -> datetime:
    """The UTC instant the site's calendar day ``day`` begins."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(get_settings().site_timezone)).astimezone(UTC)


# ---------------------------------------------------------------- the inbox


def _deviation_tasks(session: Session, actor: Actor, today: date) -> list[QualityTask]:
    tasks: list[QualityTask] = []
    me = actor.user_id

    def add(row: Any, action: str) -> None:
        overdue = row.due_on is not None and row.due_on < today
        tasks.append(QualityTask("deviation", row.id, row.number, row.title, action, row.due_on, overdue))

    columns = (Deviation.id, Deviation.number, Deviation.title, Deviation.due_on, Deviation.author_id,
               Deviation.investigator_id)
    if actor.can("deviations.classify"):
        for row in session.execute(select(*columns).where(Deviation.state == "reported").order_by(Deviation.id)):
            add(row, "classify")
    if me is not None:
        for row in session.execute(select(*columns).where(
                Deviation.investigator_id == me, Deviation.state.in_(("classified", "investigating")))
                .order_by(Deviation.id)):
            add(row, "investigate")
    if actor.can("deviations.approve"):
        # 药品GMP 第二百五十二条 / 21 CFR 11.10: QA approves findings that are not their own report or investigation.
        for row in session.execute(select(*columns).where(Deviation.state == "pending_approval")
                                   .order_by(Deviation.id)):
            if me is None or me not in (row.author_id, row.investigator_id):
                add(row, "approve")
        capa_open = exists().where(Capa.deviation_id == Deviation.id, Capa.state.in_(OPEN_CAPA_STATES))
        for row in session.execute(select(*columns).where(Deviation.state == "approved", ~capa_open)
                                   .order_by(Deviation.id)):
            if me is None or row.author_id != me:
                add(row, "close")
    if actor.can("deviations.classify"):
        for dev_id, number, title, due_on, requester in session.execute(
                select(Deviation.id, Deviation.number, Deviation.title, Deviation.due_on,
                       DueDateExtension.requested_by_id)
                .join(Deviation, Deviation.id == DueDateExtension.deviation_id)
                .where(DueDateExtension.decision == "pending").order_by(DueDateExtension.id)):
            if me is None or requester != me:
                # The extension is decided on its deviation's page: record_id is the deviation's id.
                tasks.append(QualityTask("extension", dev_id, number, title, "decide_extension", due_on,
                                         due_on is not None and due_on < today))
    return tasks


def _capa_tasks(session: Session, actor: Actor, today: date) -> list[QualityTask]:
    tasks: list[QualityTask] = []
    me = actor.user_id
    if me is not None:
        for capa_id, number, title, due_on in session.execute(
                select(Capa.id, Capa.number, Capa.title, Capa.due_on)
                .where(Capa.owner_id == me, Capa.state == "open").order_by(Capa.id)):
            tasks.append(QualityTask("capa", capa_id, number, title, "implement", due_on, due_on < today))
    if actor.can("capas.verify"):
        for capa_id, number, title, check_on, owner_id in session.execute(
                select(Capa.id, Capa.number, Capa.title, Capa.effectiveness_due_on, Capa.owner_id)
                .where(Capa.state == "implemented", Capa.effectiveness_due_on <= today).order_by(Capa.id)):
            # ICH Q10 3.2.2: effectiveness is judged by someone other than the owner who implemented it.
            if me is None or owner_id != me:
                tasks.append(QualityTask("capa", capa_id, number, title, "check_effectiveness", check_on,
                                         check_on is not None and check_on < today))
    return tasks


def _document_tasks(session: Session, actor: Actor, today: date) -> list[QualityTask]:
    """Versions waiting for my review or approval, and my documents due for their periodic review."""
    me = actor.user_id
    if me is None:
        return []
    tasks: list[QualityTask] = []
    in_review = session.execute(
        select(DocumentVersion, ControlledDocument.number, ControlledDocument.title_zh)
        .join(ControlledDocument, ControlledDocument.id == DocumentVersion.document_id)
        .where(DocumentVersion.state == "in_review").order_by(DocumentVersion.id)).all()
    for version, number, title in in_review:
        label = f"{number} v{version.version}.0"
        missing = reviews_missing(session, version)
        if actor.can("documents.review") and actor.username in missing:
            tasks.append(QualityTask("document_version", version.id, label, title, "review_document",
                                     version.effective_on, False))
        elif actor.can("documents.approve") and version.approver_id == me and not missing:
            tasks.append(QualityTask("document_version", version.id, label, title, "approve_document",
                                     version.effective_on, False))
    # 药品GMP 第一百五十八条: the owner reviews the document before its periodic review date.
    for doc in session.scalars(select(ControlledDocument).where(
            ControlledDocument.owner_id == me, ControlledDocument.effective_version.is_not(None),
            ControlledDocument.next_review_on <= today + timedelta(days=REVIEW_NOTICE_DAYS))
            .order_by(ControlledDocument.id)):
        tasks.append(QualityTask("document", doc.id, doc.number, doc.title_zh, "periodic_review",
                                 doc.next_review_on, doc.next_review_on is not None and doc.next_review_on < today))
    return tasks


def _training_tasks(session: Session, actor: Actor, today: date) -> list[QualityTask]:
    """My open training: documents to read and sign, sessions to attend."""
    if actor.user_id is None:
        return []
    return [QualityTask("training_record", row.id, row.subject.split(" ", 1)[0], row.subject,
                        "read_and_sign" if row.kind == "read_and_understood" else "attend_training", row.due_on,
                        row.due_on is not None and row.due_on < today)
            for row in session.scalars(select(TrainingRecord).where(
                TrainingRecord.user_id == actor.user_id, TrainingRecord.state == "assigned")
                .order_by(TrainingRecord.id))]


def my_quality_tasks(*, actor: Actor) -> list[QualityTask]:
    """What this person should do now across the quality records: overdue first, then by due date."""
    actor.require("quality.view")
    today = site_today()
    with read_session() as session:
        tasks = (_deviation_tasks(session, actor, today) + _capa_tasks(session, actor, today)
                 + _document_tasks(session, actor, today) + _training_tasks(session, actor, today))
    tasks += my_change_tasks(actor=actor) + my_complaint_tasks(actor=actor)
    return sorted(tasks, key=lambda t: (not t.overdue, t.due_on or date.max, t.number, t.action))


# ---------------------------------------------------------------- counts and trend


REVIEW_NOTICE_DAYS = 60  # documents due for periodic review within this many days are shown as due


def quality_counts(*, actor: Actor) -> QualityCounts:
    """Open deviations by classification and age, open and overdue CAPA (one query per record type)."""
    actor.require("quality.view")
    today = site_today()
    starts = [_site_midnight(today - timedelta(days=d)) for d in (30, 60, 90)]
    age = case((Deviation.reported_at >= starts[0], AGE_BUCKETS[0]), (Deviation.reported_at >= starts[1],
               AGE_BUCKETS[1]), (Deviation.reported_at >= starts[2], AGE_BUCKETS[2]), else_=AGE_BUCKETS[3]).label("age")
    late_deviation = case((Deviation.due_on < today, 1), else_=0)
    # Grouped by the labels: PostgreSQL does not match a CASE with bound values in SELECT to one in GROUP BY.
    with read_session() as session:
        rows = session.execute(
            select(Deviation.classification, age, func.count(), func.sum(late_deviation))
            .where(Deviation.state.not_in(CLOSED_DEVIATION_STATES))
            .group_by(Deviation.classification, age)).all()
        capa = session.execute(
            select(func.count(), func.sum(case((capa_overdue_clause(today), 1), else_=0)),
                   func.sum(case((Capa.state == "implemented", 1), else_=0)))
            .where(Capa.state.in_(OPEN_CAPA_STATES))).one()
        changes = session.scalar(select(func.count()).where(ChangeControl.state.in_(OPEN_CHANGE_STATES)))
        complaints = session.execute(
            select(func.count(), func.sum(case((Complaint.due_on < today, 1), else_=0)))
            .where(Complaint.state.not_in(("closed", "cancelled")))).one()
        training_overdue = session.scalar(select(func.count()).where(
            TrainingRecord.state == "assigned", TrainingRecord.due_on < today))
        # 药品GMP 第一百五十八条: documents are reviewed periodically; show those falling due.
        reviews_due = session.scalar(select(func.count()).where(
            ControlledDocument.effective_version.is_not(None),
            ControlledDocument.next_review_on <= today + timedelta(days=REVIEW_NOTICE_DAYS)))
    by_classification = dict.fromkeys(TREND_CATEGORIES["classification"], 0)
    by_age = dict.fromkeys(AGE_BUCKETS, 0)
    overdue = 0
    for classification, bucket, count, late in rows:
        by_classification[classification or "unclassified"] += count
        by_age[bucket] += count
        overdue += int(late or 0)
    return QualityCounts(
        open_deviations=sum(by_age.values()), overdue_deviations=overdue, open_capas=int(capa[0] or 0),
        overdue_capas=int(capa[1] or 0), capas_awaiting_effectiveness=int(capa[2] or 0),
        by_classification=by_classification, by_age=by_age, open_change_controls=int(changes or 0),
        open_complaints=int(complaints[0] or 0), overdue_complaints=int(complaints[1] or 0),
        training_overdue=int(training_overdue or 0), documents_due_for_review=int(reviews_due or 0))


def _month_starts(today: date, months: int) -> list[date]:
    """The first days of the last ``months`` months, oldest first, this month last."""
    year, month = today.year, today.month
    firsts = []
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return firsts[::-1]


def deviation_trend(*, actor: Actor, months: int = 12, by: str = "classification") -> list[TrendPoint]:
    """Deviations reported per site-calendar month and category over the last ``months`` months (zeros included)."""
    actor.require("quality.view")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_TREND_MONTHS:
        raise ValidationFailed.on("months", f"Between 1 and {MAX_TREND_MONTHS} months.")
    if by not in TREND_CATEGORIES:
        raise ValidationFailed.on("by", f"Choose one of {', '.join(TREND_CATEGORIES)}.")
    firsts = _month_starts(site_today(), months)
    # Month boundaries at site midnight, so a deviation reported late on the 31st counts in its local month.
    month = case(*[(Deviation.reported_at >= _site_midnight(first), first.strftime("%Y-%m"))
                   for first in reversed(firsts)], else_=None).label("month")
    column = Deviation.classification if by == "classification" else Deviation.root_cause_category
    fallback = TREND_CATEGORIES[by][-1]
    with read_session() as session:
        rows = session.execute(select(month, column, func.count())
                               .where(Deviation.reported_at >= _site_midnight(firsts[0]))
                               .group_by(month, column)).all()
    counts = {(m, c): 0 for m in (f.strftime("%Y-%m") for f in firsts) for c in TREND_CATEGORIES[by]}
    for label, category, count in rows:
        key = (label, category if category in TREND_CATEGORIES[by] else fallback)
        if key in counts:
            counts[key] += count
    return [TrendPoint(m, c, n) for (m, c), n in counts.items()]


# ---------------------------------------------------------------- exports


def export_deviations(*, actor: Actor, fmt: str = "csv", state: str | None = None,
                      classification: str | None = None, overdue: bool | None = None, open_only: bool = False,
                      query: str | None = None, investigator: str | None = None,
                      linked: str | None = None) -> tuple[bytes, str, str]:
    """Deviations matching the list filters as CSV or Excel: (content, media type, filename)."""
    actor.require("quality.view")
    fmt = export_format(fmt)
    rows = all_pages(lambda after: list_deviations(
        actor=actor, state=state, classification=classification, overdue=overdue, open_only=open_only, query=query,
        investigator=investigator, linked=linked, after_id=after, limit=500), lambda d: d.id)
    data = [[d.number, d.title, d.state, d.classification, d.severity, d.occurrence, d.detectability,
             d.risk_priority, d.area, d.source, d.reported_by, d.reported_at, d.discovered_at, d.occurred_at,
             d.due_on, d.extensions_granted, d.overdue, d.age_days, d.investigator, d.root_cause_category,
             d.root_cause, d.product_impact, d.approved_at, d.closed_at, d.escalated_at] for d in rows]
    return download(fmt, DEVIATION_EXPORT_COLUMNS, data, name="deviations", sheet="Deviations 偏差")


def export_capas(*, actor: Actor, fmt: str = "csv", state: str | None = None, owner: str | None = None,
                 overdue: bool | None = None, deviation_id: int | None = None, source_type: str | None = None,
                 open_only: bool = False, awaiting_effectiveness: bool | None = None) -> tuple[bytes, str, str]:
    """CAPA matching the list filters as CSV or Excel: (content, media type, filename)."""
    actor.require("quality.view")
    fmt = export_format(fmt)
    rows = all_pages(lambda after: list_capas(
        actor=actor, state=state, owner=owner, overdue=overdue, deviation_id=deviation_id, source_type=source_type,
        open_only=open_only, awaiting_effectiveness=awaiting_effectiveness, after_id=after, limit=500),
        lambda c: c.id)
    data = [[c.number, c.kind, c.title, c.source_type, c.source_reference, c.owner, c.due_on, c.state, c.overdue,
             c.effectiveness_criteria, c.effectiveness_check_days, c.effectiveness_due_on, c.effective, c.author,
             c.created_at, c.implemented_at, c.closed_at] for c in rows]
    return download(fmt, CAPA_EXPORT_COLUMNS, data, name="capa", sheet="CAPA 纠正预防措施")

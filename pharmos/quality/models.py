"""Tables of the quality module: deviations with their linked records and due-date extensions, and CAPA."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pharmos.compliance.audit import Audited
from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId, UTCDateTime

_OPEN = "state NOT IN ('closed', 'cancelled')"


class Deviation(Audited, Base):
    """A departure from an approved procedure or specification (药品GMP 第二百五十条; EU GMP Part I 1.4(xiv))."""

    __tablename__ = "deviation"
    __audit_type__ = "deviation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)  # what happened
    area: Mapped[str] = mapped_column(String(120), nullable=False, default="")  # where
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    immediate_action: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Where it was raised from: "" for a person's report, else e.g. "calibration CAL-2611-0006".
    source: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    reported_by: Mapped[str] = mapped_column(String(150), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the reporter
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    # Classification by QA with a risk assessment (ICH Q9): each factor 1-5, priority = S × O × D.
    classification: Mapped[str] = mapped_column(String(10), nullable=False, default="")  # minor | major | critical
    severity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    occurrence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detectability: Mapped[int | None] = mapped_column(Integer, nullable=True)
    risk_priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    classification_rationale: Mapped[str] = mapped_column(Text, nullable=False, default="")
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    extensions_granted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    # Investigation: 5-Why chain, fishbone category, root cause, impact assessment.
    investigator_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    investigator: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    five_whys: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # man | machine | material | method | measurement | environment
    root_cause_category: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    root_cause: Mapped[str] = mapped_column(Text, nullable=False, default="")
    impact_assessment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    product_impact: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    conclusion: Mapped[str] = mapped_column(Text, nullable=False, default="")

    state: Mapped[str] = mapped_column(String(20), nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by the daily escalation job the first time the deviation is found overdue.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("severity IS NULL OR severity BETWEEN 1 AND 5", name="severity_range"),
        CheckConstraint("occurrence IS NULL OR occurrence BETWEEN 1 AND 5", name="occurrence_range"),
        CheckConstraint("detectability IS NULL OR detectability BETWEEN 1 AND 5", name="detectability_range"),
        Index("ix_deviation_state_due", "state", "due_on"),
        Index("ix_deviation_classification_state", "classification", "state"),
        # Lists page by ascending id within a state, and "open only" over a few percent of 100,000 rows.
        Index("ix_deviation_state_id", "state", "id"),
        Index("ix_deviation_open_id", "id", postgresql_where=text(_OPEN), sqlite_where=text(_OPEN)),
        # Free-text search (ILIKE '%…%', Chinese included) on PostgreSQL; SQLite sites are small.
        Index("ix_deviation_text_trgm", "number", "title", "description", postgresql_using="gin",
              postgresql_ops={"number": "gin_trgm_ops", "title": "gin_trgm_ops", "description": "gin_trgm_ops"},
              info={"dialects": ("postgresql",)}),
    )

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "title", "description", "area", "occurred_at", "discovered_at", "immediate_action",
            "classification", "severity", "occurrence", "detectability", "classification_rationale",
            # due_on is left out: an approved extension moves it without changing what was signed.
            "investigator", "five_whys", "root_cause_category", "root_cause", "impact_assessment", "product_impact",
            "conclusion")}

    def author_user_id(self) -> int | None:
        # The investigator authors the findings QA approves; the reporter is barred by the approve guard.
        return self.investigator_id if self.investigator_id is not None else self.author_id


class DeviationLink(Audited, Base):
    """A record the deviation affects: a lot, a batch, an equipment or a material (by its number)."""

    __tablename__ = "deviation_link"
    __audit_type__ = "deviation_link"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviation.id"), nullable=False, index=True)
    record_type: Mapped[str] = mapped_column(String(20), nullable=False)  # lot | batch | equipment | material
    reference: Mapped[str] = mapped_column(String(60), nullable=False)
    added_by: Mapped[str] = mapped_column(String(150), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("deviation_id", "record_type", "reference", name="uq_deviation_link"),
        # open_quality_holds(record) looks links up by the linked record.
        Index("ix_deviation_link_record", "record_type", "reference"),
    )


class DueDateExtension(Audited, Base):
    """A request to move a deviation's due date: approved or rejected by QA, limited in number."""

    __tablename__ = "deviation_extension"
    __audit_type__ = "deviation_extension"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviation.id"), nullable=False, index=True)
    current_due_on: Mapped[date] = mapped_column(Date, nullable=False)
    requested_due_on: Mapped[date] = mapped_column(Date, nullable=False)
    justification: Mapped[str] = mapped_column(Text, nullable=False)
    requested_by: Mapped[str] = mapped_column(String(150), nullable=False)
    requested_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # pending | approved | rejected
    decision: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    decided_by: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_comment: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Capa(Audited, Base):
    """A corrective or preventive action with an owner, a due date and an effectiveness check (ICH Q10 3.2.2)."""

    __tablename__ = "capa"
    __audit_type__ = "capa"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)  # corrective | preventive
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # What raised it: deviation | complaint | audit | change_control | other, and that record's number.
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    source_reference: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    deviation_id: Mapped[int | None] = mapped_column(ForeignKey("deviation.id"), nullable=True, index=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    owner: Mapped[str] = mapped_column(String(150), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    effectiveness_criteria: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The effectiveness check falls due this long after implementation (set when implemented).
    effectiveness_check_days: Mapped[int] = mapped_column(Integer, nullable=False, default=90)
    effectiveness_due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    implementation_summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    effectiveness_result: Mapped[str] = mapped_column(Text, nullable=False, default="")
    effective: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("effectiveness_check_days >= 0", name="effectiveness_days_not_negative"),
        Index("ix_capa_state_due", "state", "due_on"),
    )

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "kind", "title", "description", "source_type", "source_reference", "owner", "due_on",
            "effectiveness_criteria", "implementation_summary", "effectiveness_result", "effective")}

    def signed_content_for(self, meaning: str) -> dict[str, Any]:
        # The owner signs the implementation; the effectiveness check is recorded later and signed by QA.
        content = self.signed_content()
        if meaning == "performed":
            del content["effectiveness_result"], content["effective"]
        return content

    def author_user_id(self) -> int | None:
        # The owner implements the action; QA's effectiveness approval must come from someone else.
        return self.owner_id

"""Tables of the quality module: deviations, CAPA, change control, controlled documents, training, complaints."""

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
    LargeBinary,
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


# ---------------------------------------------------------------- change control


class ChangeControl(Audited, Base):
    """A proposed change to a validated state: process, equipment, material, document, system (药品GMP 第十章第四节).

    EU GMP Annex 15 §11, ICH Q10 3.2.3: evaluated for impact by every affected function,
    approved before implementation, and reviewed for effectiveness after it.
    """

    __tablename__ = "change_control"
    __audit_type__ = "change_control"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)  # the change: current state → proposed state
    justification: Mapped[str] = mapped_column(Text, nullable=False)  # why
    # process | equipment | material | facility | document | computerized_system | analytical_method | other
    change_type: Mapped[str] = mapped_column(String(30), nullable=False)
    # Records it touches, as "type:reference" strings (material:RM-001, equipment:EQ-BR-001, document:SOP-0001).
    affected_records: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    proposed_by: Mapped[str] = mapped_column(String(150), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    target_date: Mapped[date | None] = mapped_column(Date, nullable=True)

    # Classification by QA: minor | moderate | major (药品上市后变更管理办法: 微小/中等/重大).
    classification: Mapped[str] = mapped_column(String(10), nullable=False, default="")
    classification_rationale: Mapped[str] = mapped_column(Text, nullable=False, default="")
    regulatory_filing: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # needs filing/approval by NMPA
    # Set once the implementation is complete and reviewed.
    effectiveness_review: Mapped[str] = mapped_column(Text, nullable=False, default="")
    effective: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    state: Mapped[str] = mapped_column(String(20), nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_change_control_state_id", "state", "id"),
    )

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "title", "description", "justification", "change_type", "affected_records", "target_date",
            "classification", "classification_rationale", "regulatory_filing", "effectiveness_review", "effective")}

    def signed_content_for(self, meaning: str) -> dict[str, Any]:
        # QA's approval (or rejection) covers the proposal and its classification; the effectiveness
        # review is recorded later and covered by the closing signature ("verified"), so recording it
        # never invalidates the approval (21 CFR 11.70).
        content = self.signed_content()
        if meaning != "verified":
            del content["effectiveness_review"], content["effective"]
        return content

    def author_user_id(self) -> int | None:
        return self.author_id


class ChangeAssessment(Audited, Base):
    """One function's impact assessment of a change and its signed approval (or rejection)."""

    __tablename__ = "change_assessment"
    __audit_type__ = "change_assessment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("change_control.id"), nullable=False, index=True)
    # production | qc | regulatory | validation | equipment | qa | warehouse | ehs
    function: Mapped[str] = mapped_column(String(20), nullable=False)
    assessor_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    assessor: Mapped[str] = mapped_column(String(150), nullable=False)
    impact: Mapped[str] = mapped_column(Text, nullable=False, default="")
    impact_level: Mapped[str] = mapped_column(String(10), nullable=False, default="")  # none | low | medium | high
    required_actions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # pending | approved | rejected, set with the assessor's signature.
    decision: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The proposer, kept here so the signature's separation rule can read it (they never approve their own change).
    proposer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (UniqueConstraint("change_id", "function", name="uq_change_assessment_function"),)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "change_id", "function", "assessor", "impact", "impact_level", "required_actions", "decision")}

    def author_user_id(self) -> int | None:
        return self.proposer_id


class ChangeTask(Audited, Base):
    """An implementation task of an approved change, with an owner and a due date."""

    __tablename__ = "change_task"
    __audit_type__ = "change_task"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("change_control.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    function: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    owner_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    owner: Mapped[str] = mapped_column(String(150), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="open")  # open | done | cancelled
    evidence: Mapped[str] = mapped_column(Text, nullable=False, default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("change_id", "title", "function", "owner", "due_on", "evidence")}

    def author_user_id(self) -> int | None:
        return self.owner_id


# ---------------------------------------------------------------- controlled documents


class ControlledDocument(Audited, Base):
    """A controlled document (SOP, specification, form, master document) across its versions (药品GMP 第八章)."""

    __tablename__ = "controlled_document"
    __audit_type__ = "controlled_document"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)  # SOP-QA-0001
    doc_type: Mapped[str] = mapped_column(String(20), nullable=False)  # sop | specification | form | master | policy
    title_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    title_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    department: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    owner_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    owner: Mapped[str] = mapped_column(String(150), nullable=False)
    # 药品GMP 第一百五十八条: documents are reviewed periodically; months between reviews.
    review_interval_months: Mapped[int] = mapped_column(Integer, nullable=False, default=24)
    # Days a person has to read a newly effective version (read-and-understood training).
    training_due_days: Mapped[int] = mapped_column(Integer, nullable=False, default=14)
    # The version in force (denormalised from the versions for lists and lookups by number).
    effective_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    next_review_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    obsolete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        CheckConstraint("review_interval_months BETWEEN 1 AND 120", name="review_interval_range"),
        CheckConstraint("training_due_days BETWEEN 0 AND 365", name="training_due_days_range"),
        Index("ix_controlled_document_type_id", "doc_type", "id"),
        Index("ix_controlled_document_text_trgm", "number", "title_zh", "title_en", postgresql_using="gin",
              postgresql_ops={"number": "gin_trgm_ops", "title_zh": "gin_trgm_ops", "title_en": "gin_trgm_ops"},
              info={"dialects": ("postgresql",)}),
    )


class DocumentVersion(Audited, Base):
    """One version of a controlled document, with its file, reviewers, approver and effective date."""

    __tablename__ = "document_version"
    __audit_type__ = "document_version"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("controlled_document.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, … shown as "1.0", "2.0"
    change_summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    change_control: Mapped[str] = mapped_column(String(40), nullable=False, default="")  # CC number, if any
    author_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    author: Mapped[str] = mapped_column(String(150), nullable=False)
    # Reviewers sign "reviewed" each; the approver signs "approved" (21 CFR 11.50).
    reviewer_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    reviewers: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    approver_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    approver: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    effective_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The file of this version (one per version; replaced only while in draft).
    filename: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    media_type: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # superseded or obsolete

    __table_args__ = (
        UniqueConstraint("document_id", "version", name="uq_document_version"),
        Index("ix_document_version_state_effective_on", "state", "effective_on"),
    )

    def signed_content(self) -> dict[str, Any]:
        # The signatures cover the file by its hash: a changed file breaks them (21 CFR 11.70).
        return {k: getattr(self, k) for k in (
            "document_id", "version", "change_summary", "change_control", "author", "reviewers", "approver",
            "effective_on", "filename", "size", "sha256")}

    def author_user_id(self) -> int | None:
        return self.author_id


class DocumentFile(Base):
    """The bytes of a document version's file, kept apart so lists never load them.

    Not Audited: the version row records filename, size and SHA-256, which the trail keeps
    and the signatures cover; the bytes are never updated once the version left draft.
    """

    __tablename__ = "document_file"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_version.id"), nullable=False, unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class DocumentReview(Audited, Base):
    """A periodic review of an effective document: still fit for use, needs revision, or to be made obsolete."""

    __tablename__ = "document_review"
    __audit_type__ = "document_review"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("controlled_document.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)  # no_change | revise | obsolete
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    reviewer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reviewer: Mapped[str] = mapped_column(String(150), nullable=False)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    next_review_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("document_id", "version", "outcome", "comment", "next_review_on")}

    def author_user_id(self) -> int | None:
        return None


# ---------------------------------------------------------------- training


class Skill(Audited, Base):
    """A qualification that is not a document: aseptic gowning, Grade A operations, forklift (药品GMP 第二十七条)."""

    __tablename__ = "training_skill"
    __audit_type__ = "training_skill"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    validity_months: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: never expires
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (CheckConstraint("validity_months IS NULL OR validity_months BETWEEN 1 AND 120",
                                      name="validity_range"),)


class TrainingRequirement(Audited, Base):
    """Everyone holding ``role`` must be trained on a document (its version in force) or hold a skill."""

    __tablename__ = "training_requirement"
    __audit_type__ = "training_requirement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("controlled_document.id"), nullable=True)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("training_skill.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        CheckConstraint("(document_id IS NULL) <> (skill_id IS NULL)", name="document_xor_skill"),
        UniqueConstraint("role", "document_id", "skill_id", name="uq_training_requirement"),
        Index("ix_training_requirement_document", "document_id"),
    )


class TrainingRecord(Audited, Base):
    """One person's training on one document version or one skill: assigned, then completed with a signature."""

    __tablename__ = "training_record"
    __audit_type__ = "training_record"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    username: Mapped[str] = mapped_column(String(150), nullable=False)
    full_name: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    # read_and_understood (a document version) | classroom | on_the_job | assessment (a skill)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("controlled_document.id"), nullable=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("document_version.id"), nullable=True)
    skill_id: Mapped[int | None] = mapped_column(ForeignKey("training_skill.id"), nullable=True)
    subject: Mapped[str] = mapped_column(String(260), nullable=False)  # "SOP-QA-0001 v2 …" or the skill, for lists
    assigned_by: Mapped[str] = mapped_column(String(150), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    trainer: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    trainer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    result: Mapped[str] = mapped_column(String(10), nullable=False, default="")  # pass | fail (assessments)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)  # skills with a validity period

    __table_args__ = (
        CheckConstraint("(document_id IS NULL) <> (skill_id IS NULL)", name="document_xor_skill"),
        Index("ix_training_record_user_state", "user_id", "state"),
        Index("ix_training_record_document_user", "document_id", "user_id"),
        Index("ix_training_record_skill_user", "skill_id", "user_id"),
        Index("ix_training_record_state_due", "state", "due_on"),
        # One open assignment per person and document version / skill.
        Index("uq_training_record_open_version", "user_id", "version_id", unique=True,
              postgresql_where=text("state = 'assigned' AND version_id IS NOT NULL"),
              sqlite_where=text("state = 'assigned' AND version_id IS NOT NULL")),
    )

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "username", "kind", "document_id", "version_id", "skill_id", "subject", "trainer", "result", "notes",
            "valid_until")}

    def author_user_id(self) -> int | None:
        # The trainee signs "acknowledged"; a trainer's "approved"/"verified" must be someone else.
        return self.user_id


# ---------------------------------------------------------------- complaints


class Complaint(Audited, Base):
    """A product quality complaint from a customer, distributor or regulator (药品GMP 第十章第五节; 21 CFR 211.198)."""

    __tablename__ = "complaint"
    __audit_type__ = "complaint"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    # phone | email | letter | visit | regulator | distributor
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    customer: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_contact: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    region: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    product: Mapped[str] = mapped_column(String(200), nullable=False)
    lot_number: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False)
    sample_received: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sample_received_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    received_by: Mapped[str] = mapped_column(String(150), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    # Classification by QA.
    classification: Mapped[str] = mapped_column(String(10), nullable=False, default="")  # minor | major | critical
    # quality_defect | packaging | labelling | adverse_event | efficacy | counterfeit | other
    category: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    adverse_event: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # passed to pharmacovigilance
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)

    # Investigation.
    investigator_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    investigator: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    investigation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    root_cause: Mapped[str] = mapped_column(Text, nullable=False, default="")
    justified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # confirmed as a product defect
    # Records it led to or concerns, as "deviation:DEV-2026-0001" / "capa:CAPA-2026-0003" strings.
    linked_records: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)

    # Response to the complainant.
    response: Mapped[str] = mapped_column(Text, nullable=False, default="")
    responded_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    state: Mapped[str] = mapped_column(String(20), nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_complaint_state_id", "state", "id"),
        Index("ix_complaint_category_received", "category", "received_on"),
    )

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "received_on", "customer", "product", "lot_number", "description", "classification",
            "category", "adverse_event", "investigator", "investigation", "root_cause", "justified",
            "linked_records", "response", "responded_on")}

    def signed_content_for(self, meaning: str) -> dict[str, Any]:
        # The investigator's and QA's signatures on the investigation come before any response; the
        # response is covered by the closing signature ("verified"), so recording it never invalidates them.
        content = self.signed_content()
        if meaning != "verified":
            del content["response"], content["responded_on"]
        return content

    def author_user_id(self) -> int | None:
        return self.investigator_id if self.investigator_id is not None else self.author_id


# ---------------------------------------------------------------- saved filters


class SavedFilter(Base):
    """A named set of list filters a person keeps for a quality list (a preference, not GMP data)."""

    __tablename__ = "quality_saved_filter"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # deviations | capas | change_controls | documents | training | complaints
    list_name: Mapped[str] = mapped_column(String(30), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    query: Mapped[str] = mapped_column(String(1000), nullable=False)  # the list's query string, validated on save
    shared: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # visible to everyone
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "list_name", "name", name="uq_saved_filter_name"),)

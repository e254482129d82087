"""Tables of the equipment and metrology module.

An equipment row carries a cache of its status for batch use (calibration due date and
result, qualification due date, clean/dirty state, which batch holds it). That cache is
changed only by the equipment services, in the same transaction as the append-only
logbook entry that explains the change, so ``usability`` answers from one row while the
logbook keeps the history an inspector reads.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pharmos.compliance.audit import Audited
from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId, UTCDateTime

# Readings, tolerances and counters: 18 digits with 6 decimals (0.000001 g to 10^12 h).
Reading = Numeric(18, 6)


class EquipmentClass(Audited, Base):
    """A kind of equipment (bioreactor, balance…) with the defaults its members inherit."""

    __tablename__ = "equipment_class"
    __audit_type__ = "equipment_class"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), nullable=False, unique=True)
    name_zh: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    # Equipment numbers of this class read EQ-<prefix>-NNN (EQ-BR-002).
    number_prefix: Mapped[str] = mapped_column(String(10), nullable=False)
    is_instrument: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    calibration_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requalification_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # None: cleaning status is not tracked for this class (e.g. balances in a QC lab).
    clean_hold_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dirty_hold_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class Equipment(Audited, Base):
    __tablename__ = "equipment"
    __audit_type__ = "equipment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    class_id: Mapped[int] = mapped_column(ForeignKey("equipment_class.id"), nullable=False, index=True)
    location: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    manufacturer: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    model: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    # None when unknown; otherwise unique per manufacturer and model.
    serial_number: Mapped[str | None] = mapped_column(String(120), nullable=True)
    install_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    owner_department: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    owner_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the equipment owner (a user)
    gmp_critical: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    # Qualification (EU GMP Annex 15 §3-§4): dates of the last passed IQ/OQ/PQ.
    iq_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    oq_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    pq_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    requalification_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requalification_due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)

    # Metrology (药品GMP 第九十二条 / EU GMP Part I 3.41): range, accuracy and interval.
    calibration_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    range_low: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    range_high: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    range_unit: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    # Required accuracy: ± this much in range_unit; the default tolerance of every calibration point.
    tolerance: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    calibration_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the class's
    last_calibrated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    calibration_due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    # not_required | never_calibrated | in_tolerance | out_of_tolerance
    calibration_status: Mapped[str] = mapped_column(String(20), nullable=False, default="not_required")

    # Cleaning and use (cache of the logbook). clean_status: clean | dirty | not_tracked
    clean_status: Mapped[str] = mapped_column(String(20), nullable=False, default="not_tracked")
    clean_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dirty_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    in_use_by: Mapped[str | None] = mapped_column(String(60), nullable=True)  # batch number or activity
    in_use_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    usage_counter: Mapped[Decimal] = mapped_column(Reading, nullable=False, default=Decimal(0))
    usage_unit: Mapped[str] = mapped_column(String(20), nullable=False, default="h")

    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("manufacturer", "model", "serial_number", name="uq_equipment_serial"),
        CheckConstraint("usage_counter >= 0", name="usage_counter_not_negative"),
        Index("ix_equipment_state_class", "state", "class_id"),
    )

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "name_zh", "name_en", "class_id", "location", "manufacturer", "model", "serial_number",
            "install_date", "owner_department", "gmp_critical", "iq_on", "oq_on", "pq_on",
            "requalification_interval_days", "calibration_required", "range_low", "range_high", "range_unit",
            "tolerance", "calibration_interval_days")}

    def author_user_id(self) -> int | None:
        return self.author_id


class Attachment(Audited, Base):
    """A file kept with an equipment record: manual, protocol, certificate, fault photo.

    Stored once, never changed (EU GMP Annex 11 §7.1); its SHA-256 proves it unchanged.
    """

    __tablename__ = "equipment_attachment"
    __audit_type__ = "equipment_attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(40), nullable=False)  # equipment | calibration | fault | …
    owner_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)  # manual | protocol | certificate | photo | other
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    media_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    uploaded_by: Mapped[str] = mapped_column(String(150), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __audit_secret__ = frozenset({"content"})  # the trail records its sha256, not the bytes
    __table_args__ = (Index("ix_equipment_attachment_owner", "owner_type", "owner_id"),)


class Qualification(Audited, Base):
    """One qualification phase carried out on one equipment (IQ, OQ, PQ or requalification)."""

    __tablename__ = "equipment_qualification"
    __audit_type__ = "equipment_qualification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False, index=True)
    phase: Mapped[str] = mapped_column(String(4), nullable=False)  # IQ | OQ | PQ | RQ
    protocol_number: Mapped[str] = mapped_column(String(60), nullable=False)
    completed_on: Mapped[date] = mapped_column(Date, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    performed_by: Mapped[str] = mapped_column(String(150), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class LogbookEntry(Audited, Base):
    """The equipment logbook: append-only (database triggers refuse UPDATE and DELETE).

    kind: use_started | use_ended | cleaned | marked_dirty | calibration | maintenance |
    fault | inspection | qualification | status | counter | note
    """

    __tablename__ = "equipment_logbook"
    __audit_type__ = "equipment_logbook"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # The batch number or activity the entry is about (use, cleaning of a batch's equipment…).
    reference: Mapped[str] = mapped_column(String(60), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # For cleaning: until when the equipment stays clean (clean hold time).
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    counter_value: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    # Record this entry came from (calibration CAL-…, work order WO-…, fault FLT-…).
    source_number: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    actor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor: Mapped[str] = mapped_column(String(150), nullable=False)

    __table_args__ = (
        Index("ix_equipment_logbook_equipment_at", "equipment_id", "at"),
        Index("ix_equipment_logbook_reference", "reference"),
    )


class Calibration(Audited, Base):
    """One calibration of one instrument, with its points (as found / as left)."""

    __tablename__ = "calibration"
    __audit_type__ = "calibration"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False)
    performed_on: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # internal | external
    performed_by: Mapped[str] = mapped_column(String(150), nullable=False)  # person or calibration vendor
    certificate_number: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    reference_standard: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    result: Mapped[str] = mapped_column(String(10), nullable=False)  # pass | fail
    # Any point found outside tolerance before adjustment: uses since the last pass are in doubt.
    as_found_out_of_tolerance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    next_due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author: Mapped[str] = mapped_column(String(150), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_calibration_equipment_performed", "equipment_id", "performed_on"),)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "equipment_id", "performed_on", "kind", "performed_by", "certificate_number",
            "reference_standard", "result", "as_found_out_of_tolerance", "next_due_on", "comment")}

    def author_user_id(self) -> int | None:
        return self.author_id


class CalibrationPoint(Audited, Base):
    __tablename__ = "calibration_point"
    __audit_type__ = "calibration_point"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    calibration_id: Mapped[int] = mapped_column(ForeignKey("calibration.id"), nullable=False, index=True)
    nominal: Mapped[Decimal] = mapped_column(Reading, nullable=False)
    as_found: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    as_left: Mapped[Decimal] = mapped_column(Reading, nullable=False)
    tolerance: Mapped[Decimal] = mapped_column(Reading, nullable=False)  # ± in the instrument's range unit
    unit: Mapped[str] = mapped_column(String(20), nullable=False)


class ImpactAssessment(Audited, Base):
    """Opened by an out-of-tolerance calibration: every use since the last passing calibration."""

    __tablename__ = "impact_assessment"
    __audit_type__ = "impact_assessment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    equipment_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    calibration_id: Mapped[int] = mapped_column(ForeignKey("calibration.id"), nullable=False, index=True)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # last passing calibration
    until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    conclusion: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The deviation raised through the quality module, once that module exists.
    deviation_number: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author: Mapped[str] = mapped_column(String(150), nullable=False)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "equipment_id", "calibration_id", "since", "until", "conclusion", "deviation_number")}

    def author_user_id(self) -> int | None:
        return self.author_id


class ImpactItem(Audited, Base):
    """One use of the instrument under assessment and the assessor's verdict on it."""

    __tablename__ = "impact_item"
    __audit_type__ = "impact_item"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("impact_assessment.id"), nullable=False, index=True)
    logbook_entry_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reference: Mapped[str] = mapped_column(String(60), nullable=False)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    verdict: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")  # pending | no_impact | impact
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")


class MaintenancePlan(Audited, Base):
    """Preventive maintenance: a calendar interval or a usage-counter interval per equipment."""

    __tablename__ = "maintenance_plan"
    __audit_type__ = "maintenance_plan"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    basis: Mapped[str] = mapped_column(String(10), nullable=False)  # calendar | usage
    interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    interval_usage: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    # Work orders are generated this many days before the due date (calendar plans).
    lead_days: Mapped[int] = mapped_column(Integer, nullable=False, default=7)
    next_due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    next_due_counter: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    estimated_hours: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (
        CheckConstraint("interval_days IS NULL OR interval_days > 0", name="interval_days_positive"),
        CheckConstraint("interval_usage IS NULL OR interval_usage > 0", name="interval_usage_positive"),
    )


class MaintenancePlanTask(Audited, Base):
    """A checklist item every work order of the plan carries."""

    __tablename__ = "maintenance_plan_task"
    __audit_type__ = "maintenance_plan_task"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("maintenance_plan.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(String(500), nullable=False)
    mandatory: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class WorkOrder(Audited, Base):
    __tablename__ = "work_order"
    __audit_type__ = "work_order"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)  # preventive | corrective
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("maintenance_plan.id"), nullable=True, index=True)
    fault_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    # For usage-based plans: the counter reading that made it due.
    due_counter: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    assigned_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assigned_to: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    findings: Mapped[str] = mapped_column(Text, nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The technician who signed completion: the owner's closing signature approves their work.
    performed_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    performed_by: Mapped[str] = mapped_column(String(150), nullable=False, default="")

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "equipment_id", "kind", "title", "due_on", "findings", "performed_by")}

    def author_user_id(self) -> int | None:
        return self.performed_by_id


class WorkOrderTask(Audited, Base):
    __tablename__ = "work_order_task"
    __audit_type__ = "work_order_task"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(String(500), nullable=False)
    mandatory: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    result: Mapped[str] = mapped_column(Text, nullable=False, default="")
    done_by: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WorkOrderLabour(Audited, Base):
    __tablename__ = "work_order_labour"
    __audit_type__ = "work_order_labour"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id"), nullable=False, index=True)
    technician: Mapped[str] = mapped_column(String(150), nullable=False)
    hours: Mapped[Decimal] = mapped_column(Reading, nullable=False)
    worked_on: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")

    __table_args__ = (CheckConstraint("hours > 0", name="hours_positive"),)


class Fault(Audited, Base):
    """A fault report (corrective maintenance): reported → triaged → assigned → repaired → verified → closed."""

    __tablename__ = "equipment_fault"
    __audit_type__ = "equipment_fault"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False, index=True)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False, default="minor")  # minor | major | critical
    # Whether the equipment went down (counts toward downtime and MTBF).
    stops_equipment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source: Mapped[str] = mapped_column(String(40), nullable=False, default="")  # e.g. round RND-… result
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    reported_by: Mapped[str] = mapped_column(String(150), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assigned_to_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assigned_to: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    work_order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    repair_description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    repaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "equipment_id", "description", "severity", "stops_equipment", "repair_description",
            "repaired_at")}

    def author_user_id(self) -> int | None:
        return self.author_id


class InspectionRoute(Audited, Base):
    __tablename__ = "inspection_route"
    __audit_type__ = "inspection_route"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # shift: one round per shift start listed in shift_starts ("08:00,16:00,00:00"); daily: one at the first.
    frequency: Mapped[str] = mapped_column(String(10), nullable=False)  # shift | daily
    shift_starts: Mapped[str] = mapped_column(String(100), nullable=False, default="08:00")
    # A round not completed this long after its scheduled start is flagged missed.
    window_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=8)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class InspectionPoint(Audited, Base):
    """One check at one equipment on a route: numeric with limits, yes/no, or text."""

    __tablename__ = "inspection_point"
    __audit_type__ = "inspection_point"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("inspection_route.id"), nullable=False, index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt_zh: Mapped[str] = mapped_column(String(300), nullable=False)
    prompt_en: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # numeric | yes_no | text
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    lower_limit: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    upper_limit: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    expected_yes: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)  # the acceptable answer


class InspectionRound(Audited, Base):
    __tablename__ = "inspection_round"
    __audit_type__ = "inspection_round"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("inspection_route.id"), nullable=False)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_by: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    technician_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    technician: Mapped[str] = mapped_column(String(150), nullable=False, default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("route_id", "scheduled_at", name="uq_inspection_round_slot"),)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("number", "route_id", "scheduled_at", "technician")}

    def author_user_id(self) -> int | None:
        return self.technician_id


class InspectionResult(Audited, Base):
    __tablename__ = "inspection_result"
    __audit_type__ = "inspection_result"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("inspection_round.id"), nullable=False, index=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("inspection_point.id"), nullable=False)
    equipment_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The equipment number the technician scanned (proof of presence at the equipment).
    scanned: Mapped[str] = mapped_column(String(60), nullable=False)
    numeric_value: Mapped[Decimal | None] = mapped_column(Reading, nullable=True)
    yes_no_value: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    text_value: Mapped[str] = mapped_column(Text, nullable=False, default="")
    within_limits: Mapped[bool] = mapped_column(Boolean, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    fault_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(150), nullable=False)

    __table_args__ = (UniqueConstraint("round_id", "point_id", name="uq_inspection_result_point"),)


class SparePart(Audited, Base):
    __tablename__ = "spare_part"
    __audit_type__ = "spare_part"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    unit: Mapped[str] = mapped_column(String(10), nullable=False, default="pc")
    # Cache of the spare-part movements, changed only with a movement row in the same transaction.
    on_hand: Mapped[Decimal] = mapped_column(Reading, nullable=False, default=Decimal(0))
    reorder_point: Mapped[Decimal] = mapped_column(Reading, nullable=False, default=Decimal(0))
    storage_location: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
    )


class SparePartFit(Audited, Base):
    """Which equipment a spare part fits."""

    __tablename__ = "spare_part_fit"
    __audit_type__ = "spare_part_fit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_part.id"), nullable=False, index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), nullable=False, index=True)

    __table_args__ = (UniqueConstraint("part_id", "equipment_id", name="uq_spare_part_fit"),)


class SparePartMovement(Audited, Base):
    """Spare-part stock ledger: append-only. kind: receipt | issue | return | adjustment."""

    __tablename__ = "spare_part_movement"
    __audit_type__ = "spare_part_movement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_part.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    change: Mapped[Decimal] = mapped_column(Reading, nullable=False)
    work_order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(String(150), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint("change <> 0", name="change_not_zero"),)


class EquipmentReminder(Audited, Base):
    """A due-date reminder raised once by the daily scan (collab delivers it to Feishu/DingTalk later).

    kind: calibration_due | calibration_overdue | requalification_due | pm_due | clean_hold_expiring
    """

    __tablename__ = "equipment_reminder"
    __audit_type__ = "equipment_reminder"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    raised_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    message: Mapped[str] = mapped_column(String(500), nullable=False)

    __table_args__ = (UniqueConstraint("equipment_id", "kind", "due_on", name="uq_equipment_reminder_once"),)

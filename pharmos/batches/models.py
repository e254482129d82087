"""Tables of the batches module: master batch records (recipes), batch orders and their execution record.

Other modules' records are referenced by number (material code, lot number, equipment number,
document number, deviation number) and, where another module hands one out, by its id; this
module never reads their tables (docs/batches/service-api.md).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pharmos.compliance.audit import Audited
from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId, UTCDateTime

Quantity = Numeric(18, 6)

# ---------------------------------------------------------------- master batch records


class MasterBatchRecord(Audited, Base):
    """One version of a recipe for a product and process stage (药品GMP 第一百七十条 工艺规程; EU GMP Part I 4.15)."""

    __tablename__ = "master_batch_record"
    __audit_type__ = "master_batch_record"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False)  # MBR-0001, shared by all versions
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    product_code: Mapped[str] = mapped_column(String(40), nullable=False)  # the output material's code
    product_name: Mapped[str] = mapped_column(String(200), nullable=False)
    stage: Mapped[str] = mapped_column(String(30), nullable=False)  # upstream | downstream | formulation_fill | other
    batch_size: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    batch_unit: Mapped[str] = mapped_column(String(20), nullable=False)
    # Output expected at batch_size, in the output material's unit, and the accepted yield window (% of it).
    theoretical_yield: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    yield_unit: Mapped[str] = mapped_column(String(20), nullable=False)
    yield_low_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), nullable=False)
    yield_high_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    change_summary: Mapped[str] = mapped_column(Text, nullable=False, default="")  # what this version changes
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The recipe's content as signed: header, BOM, phases, steps and parameters, kept current by the
    # service whenever a draft is edited (21 CFR 11.70: a later edit breaks the signatures).
    content_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        UniqueConstraint("number", "version", name="number_version"),
        # Only one version of a recipe in force (EU GMP Part I 4.3).
        Index("uq_master_batch_record_effective", "product_code", "stage", unique=True,
              sqlite_where=text("state = 'effective'"), postgresql_where=text("state = 'effective'")),
        CheckConstraint("batch_size > 0", name="batch_size_positive"),
        CheckConstraint("yield_low_pct <= yield_high_pct", name="yield_window"),
    )

    def signed_content(self) -> dict[str, Any]:
        return {"number": self.number, "version": self.version, "content": self.content_snapshot}

    def author_user_id(self) -> int | None:
        return self.author_id


class MbrMaterial(Audited, Base):
    """A bill-of-materials line: quantity per batch size, tolerance, and how it is dispensed."""

    __tablename__ = "mbr_material"
    __audit_type__ = "mbr_material"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mbr_id: Mapped[int] = mapped_column(ForeignKey("master_batch_record.id"), nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    material_code: Mapped[str] = mapped_column(String(40), nullable=False)
    material_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    quantity: Mapped[Decimal] = mapped_column(Quantity, nullable=False)  # per MBR batch_size
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    tolerance_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), nullable=False, default=0)
    dispensed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)  # weighed/dispensed
    scan_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Scaled quantities are rounded half-up to this many decimals (a balance's readability).
    rounding_places: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    step_code: Mapped[str] = mapped_column(String(20), nullable=False, default="")  # the dispensing step

    __table_args__ = (UniqueConstraint("mbr_id", "line_no", name="mbr_line"),
                      CheckConstraint("quantity > 0", name="quantity_positive"))


class MbrPhase(Audited, Base):
    """An ordered group of steps; ``parallel_with_previous`` lets it run beside the phase before it."""

    __tablename__ = "mbr_phase"
    __audit_type__ = "mbr_phase"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mbr_id: Mapped[int] = mapped_column(ForeignKey("master_batch_record.id"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    parallel_with_previous: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (UniqueConstraint("mbr_id", "seq", name="mbr_phase_seq"),)


class MbrStep(Audited, Base):
    """An instruction the operator performs and signs (药品GMP 第一百七十五条 批生产记录)."""

    __tablename__ = "mbr_step"
    __audit_type__ = "mbr_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mbr_id: Mapped[int] = mapped_column(ForeignKey("master_batch_record.id"), nullable=False, index=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("mbr_phase.id"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # order within the recipe
    code: Mapped[str] = mapped_column(String(20), nullable=False)  # "2.3"
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    instructions: Mapped[str] = mapped_column(Text, nullable=False, default="")  # Markdown, images as links
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="process")  # process | dispense
    equipment_classes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    sop_numbers: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    critical: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # four-eyes verification
    # Minutes after the step becomes available by which it must be signed; later is a "late" exception.
    time_limit_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (UniqueConstraint("mbr_id", "code", name="mbr_step_code"),
                      UniqueConstraint("mbr_id", "seq", name="mbr_step_seq"))


class MbrParameter(Audited, Base):
    """A value recorded in a step, with its limits (numeric, choice, text, check, timestamp, duration)."""

    __tablename__ = "mbr_parameter"
    __audit_type__ = "mbr_parameter"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("mbr_step.id"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    # numeric | choice | text | check | timestamp | duration
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="")  # duration: minutes
    target: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    lower: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    upper: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    choices: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)  # choice: allowed values
    expected: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # choice/check: the good value
    critical: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # CPP: out of limit → deviation
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (UniqueConstraint("step_id", "code", name="mbr_parameter_code"),)


# ---------------------------------------------------------------- batches


class Batch(Audited, Base):
    """A batch order and its executed record (药品GMP 第一百七十五条; EU GMP Part I 4.20)."""

    __tablename__ = "batch"
    __audit_type__ = "batch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    mbr_id: Mapped[int] = mapped_column(ForeignKey("master_batch_record.id"), nullable=False, index=True)
    mbr_number: Mapped[str] = mapped_column(String(40), nullable=False)
    mbr_version: Mapped[int] = mapped_column(Integer, nullable=False)
    product_code: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    product_name: Mapped[str] = mapped_column(String(200), nullable=False)
    stage: Mapped[str] = mapped_column(String(30), nullable=False)
    planned_size: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    scale_factor: Mapped[Decimal] = mapped_column(Numeric(18, 9), nullable=False)
    planned_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    ordered_by: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # released or rejected
    hold_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Reconciliation at completion (药品GMP 第一百八十八条): actual output against theoretical.
    theoretical_yield: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    yield_unit: Mapped[str] = mapped_column(String(20), nullable=False)
    yield_low_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), nullable=False)
    yield_high_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), nullable=False)
    actual_yield: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    yield_pct: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    reconciliation_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    output_lot_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    output_lot_number: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)

    def signed_content(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "number", "mbr_number", "mbr_version", "product_code", "planned_size", "unit", "started_at",
            "completed_at", "actual_yield", "yield_pct", "reconciliation_note", "output_lot_number")}

    def author_user_id(self) -> int | None:
        return None  # many people execute a batch; the four-eyes rule is enforced per step


class BatchMaterial(Audited, Base):
    """A BOM line scaled to the batch, with its weighing window and what was reserved for it."""

    __tablename__ = "batch_material"
    __audit_type__ = "batch_material"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    material_code: Mapped[str] = mapped_column(String(40), nullable=False)
    material_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    target: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    tolerance_pct: Mapped[Decimal] = mapped_column(Numeric(7, 3), nullable=False)
    low: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    high: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    dispensed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    scan_required: Mapped[bool] = mapped_column(Boolean, nullable=False)
    step_code: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    dispensed_total: Mapped[Decimal] = mapped_column(Quantity, nullable=False, default=0)
    # [{"reservation_id", "container_number", "lot_id", "lot_number", "quantity"}] from FEFO allocation.
    reservations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    complete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (UniqueConstraint("batch_id", "line_no", name="batch_line"),)


class BatchStep(Audited, Base):
    """A step of the executed record: its values, scans and signatures."""

    __tablename__ = "batch_step"
    __audit_type__ = "batch_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), nullable=False, index=True)
    mbr_step_id: Mapped[int] = mapped_column(ForeignKey("mbr_step.id"), nullable=False)
    phase_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    phase_name: Mapped[str] = mapped_column(String(200), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    critical: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # pending: not yet reachable | open: may be worked on | performed: signed by the performer,
    # awaiting four-eyes verification | done: signed (and verified where critical)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    performed_by: Mapped[str | None] = mapped_column(String(150), nullable=True)
    performer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    performed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(150), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Current values, scans and dispenses as signed: kept by the service with every entry (21 CFR 11.70).
    record_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    signature_round: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # +1 per reopening

    __table_args__ = (UniqueConstraint("batch_id", "seq", name="batch_step_seq"),
                      Index("ix_batch_step_batch_state", "batch_id", "state"))

    def signed_content(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "code": self.code, "round": self.signature_round,
                "record": self.record_snapshot}

    def author_user_id(self) -> int | None:
        # The performer may never verify their own step (four-eyes, EU GMP Annex 11 §15).
        return self.performer_id


class BatchEntry(Audited, Base):
    """One server-time-stamped entry: a parameter value, an equipment scan or a lot scan.

    A correction adds a new entry pointing at the one it replaces; the original stays (ALCOA+).
    """

    __tablename__ = "batch_entry"
    __audit_type__ = "batch_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), nullable=False, index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("batch_step.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # parameter | equipment | lot
    parameter_id: Mapped[int | None] = mapped_column(ForeignKey("mbr_parameter.id"), nullable=True)
    parameter_code: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    value: Mapped[str] = mapped_column(Text, nullable=False)  # as entered (number text, choice, ISO time)
    numeric_value: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    reference_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # equipment or lot id
    within_limits: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(150), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("batch_entry.id"), nullable=True)
    correction_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    superseded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class Dispense(Audited, Base):
    """One container weighed into a BOM line (药品GMP 第一百一十六条 称量/配料)."""

    __tablename__ = "dispense"
    __audit_type__ = "dispense"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), nullable=False, index=True)
    material_line_id: Mapped[int] = mapped_column(ForeignKey("batch_material.id"), nullable=False, index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("batch_step.id"), nullable=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)  # on the dispensing label
    container_number: Mapped[str] = mapped_column(String(40), nullable=False)
    lot_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    lot_number: Mapped[str] = mapped_column(String(40), nullable=False)
    gross: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    tare: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    net: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    balance_number: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    weight_source: Mapped[str] = mapped_column(String(20), nullable=False, default="manual")  # manual | balance
    allocated_lot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    substitution_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    movement_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dispensed_by: Mapped[str] = mapped_column(String(150), nullable=False)
    dispensed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    labels_printed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class BatchException(Audited, Base):
    """A departure recorded during execution, reviewed by QA before release (review by exception)."""

    __tablename__ = "batch_exception"
    __audit_type__ = "batch_exception"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), nullable=False, index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # shown as EX-01 within the batch
    # out_of_limit | late_step | override | correction | lot_substitution | weight_out_of_tolerance | yield
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    critical: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("batch_step.id"), nullable=True)
    step_code: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("batch_entry.id"), nullable=True)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)  # value, limits, who
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")  # the operator's justification
    raised_by: Mapped[str] = mapped_column(String(150), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    deviation_number: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="open")  # open | reviewed
    reviewed_by: Mapped[str | None] = mapped_column(String(150), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_comment: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (UniqueConstraint("batch_id", "seq", name="batch_exception_seq"),)


class GenealogyLink(Base):
    """Lot ``parent`` went into lot ``child`` in a batch (药品GMP 第一百八十六条: 可追溯).

    Append-only and written in the transaction that issues or produces the stock; the audit trail
    of the dispense and the batch covers it, so the link itself is not audited row by row.
    """

    __tablename__ = "genealogy_link"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), nullable=True, index=True)
    batch_number: Mapped[str] = mapped_column(String(40), nullable=False)
    parent_lot_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    parent_lot_number: Mapped[str] = mapped_column(String(40), nullable=False)
    child_lot_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    child_lot_number: Mapped[str] = mapped_column(String(40), nullable=False)
    quantity: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("parent_lot_id", "child_lot_id", "batch_number", name="genealogy_edge"),)

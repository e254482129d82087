"""Tables of the materials and warehouse module.

Stock lives on containers: each drum, bag or box received is numbered, sits in one
location, and carries its current quantity and reserved quantity. Those two columns are
a cache of the append-only stock ledger (``stock_movement``), changed only by
``pharmos.materials.ledger.post_movement`` in the same transaction as the ledger entry,
and provably equal to the ledger's sum (``ledger.reconcile``).
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
    Numeric,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session

from pharmos.compliance.audit import Audited
from pharmos.core.clock import utcnow
from pharmos.core.db import Base, BigId, UTCDateTime

# Quantities: 18 digits with 6 decimals covers 10^12 kg down to a microgram in kg.
Quantity = Numeric(18, 6)


class Material(Audited, Base):
    """One version of a material master record (draft → approved → obsolete)."""

    __tablename__ = "material"
    __audit_type__ = "material"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    material_type: Mapped[str] = mapped_column(String(30), nullable=False)
    base_unit: Mapped[str] = mapped_column(String(10), nullable=False)
    storage_condition: Mapped[str] = mapped_column(String(20), nullable=False)
    protect_from_light: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retest_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_remaining_shelf_life_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sampling_plan: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    gmp_critical: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("code", "version", name="uq_material_code_version"),)

    def signed_content(self) -> dict[str, Any]:
        content = {k: getattr(self, k) for k in (
            "code", "version", "name_zh", "name_en", "material_type", "base_unit", "storage_condition",
            "protect_from_light", "shelf_life_days", "retest_interval_days", "min_remaining_shelf_life_days",
            "sampling_plan", "gmp_critical")}
        # The pack units convert every quantity received and issued: QA's approval covers them too.
        session = object_session(self)
        units = [] if session is None else session.execute(
            select(MaterialUnit.unit, MaterialUnit.factor_to_base).where(MaterialUnit.material_id == self.id)
            .order_by(MaterialUnit.unit)).all()
        return content | {"pack_units": [[unit, Decimal(factor).normalize()] for unit, factor in units]}

    def author_user_id(self) -> int | None:
        return self.author_id


class MaterialUnit(Audited, Base):
    """A pack unit of one material (box = 100 each, drum = 25 kg) on top of the SI conversions."""

    __tablename__ = "material_unit"
    __audit_type__ = "material_unit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"), nullable=False, index=True)
    unit: Mapped[str] = mapped_column(String(10), nullable=False)
    factor_to_base: Mapped[Decimal] = mapped_column(Quantity, nullable=False)

    __table_args__ = (
        UniqueConstraint("material_id", "unit", name="uq_material_unit_material_unit"),
        CheckConstraint("factor_to_base > 0", name="factor_positive"),
    )


class Supplier(Audited, Base):
    __tablename__ = "supplier"
    __audit_type__ = "supplier"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="manufacturer")
    address: Mapped[str] = mapped_column(Text, nullable=False, default="")
    contact: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    last_audit_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    next_audit_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SupplierApproval(Audited, Base):
    """One line of the approved supplier list: this supplier for this material code."""

    __tablename__ = "supplier_approval"
    __audit_type__ = "supplier_approval"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), nullable=False, index=True)
    material_code: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # approved | conditional | disqualified
    decided_on: Mapped[date] = mapped_column(Date, nullable=False)
    decided_by: Mapped[str] = mapped_column(String(150), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (UniqueConstraint("supplier_id", "material_code", name="uq_supplier_approval_pair"),)


class PurchaseOrder(Audited, Base):
    __tablename__ = "purchase_order"
    __audit_type__ = "purchase_order"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")  # open | closed | cancelled
    ordered_on: Mapped[date] = mapped_column(Date, nullable=False)
    created_by: Mapped[str] = mapped_column(String(150), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class PurchaseOrderLine(Audited, Base):
    __tablename__ = "purchase_order_line"
    __audit_type__ = "purchase_order_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    material_code: Mapped[str] = mapped_column(String(40), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    unit: Mapped[str] = mapped_column(String(10), nullable=False)
    # Ordered quantity in the material's base unit, so receipts in any unit compare.
    quantity_base: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    received_base: Mapped[Decimal] = mapped_column(Quantity, nullable=False, default=Decimal(0))
    tolerance_pct: Mapped[Decimal] = mapped_column(Numeric(6, 2), nullable=False, default=Decimal(10))
    due_on: Mapped[date] = mapped_column(Date, nullable=False)

    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_purchase_order_line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )


class Receipt(Audited, Base):
    """A delivery received at the dock: one delivery note, one transport record, one or more lots."""

    __tablename__ = "receipt"
    __audit_type__ = "receipt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), nullable=False, index=True)
    delivery_note: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    received_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received_by: Mapped[str] = mapped_column(String(150), nullable=False)
    # Transport temperature record (cold chain): logger id and min/max seen in transit, °C.
    logger_id: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    transport_min_c: Mapped[Decimal | None] = mapped_column(Numeric(6, 2), nullable=True)
    transport_max_c: Mapped[Decimal | None] = mapped_column(Numeric(6, 2), nullable=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("storage_location.id"), nullable=False)


class Lot(Audited, Base):
    """An internal lot: one supplier lot of one material received on one receipt line."""

    __tablename__ = "material_lot"
    __audit_type__ = "lot"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"), nullable=False, index=True)
    material_code: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"), nullable=True, index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order_line.id"), nullable=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id"), nullable=True)
    supplier_lot: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    manufactured_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    expires_on: Mapped[date] = mapped_column(Date, nullable=False)
    retest_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    quantity_received: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    unit: Mapped[str] = mapped_column(String(10), nullable=False)  # the material's base unit
    state: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    received_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received_by: Mapped[str] = mapped_column(String(150), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Quality flags raised on arrival (cold-chain excursion, conditional supplier) that QA
    # must assess before release.
    qa_flag: Mapped[str] = mapped_column(Text, nullable=False, default="")
    qa_flag_assessed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # QA approval to issue this lot although it is close to expiry.
    short_dated_use_approved: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_material_lot_material_expiry", "material_id", "expires_on"),)

    def signed_content(self) -> dict[str, Any]:
        # A release vouches for this lot's identity and dates, not for its later stock moves.
        return {"number": self.number, "material_code": self.material_code, "supplier_id": self.supplier_id,
                "supplier_lot": self.supplier_lot, "manufactured_on": self.manufactured_on,
                "expires_on": self.expires_on, "retest_on": self.retest_on,
                "quantity_received": self.quantity_received, "unit": self.unit}

    def author_user_id(self) -> int | None:
        # The person who received the lot is its author: they cannot release it.
        return self.received_by_id


class StorageLocation(Audited, Base):
    """Site → warehouse → zone → bin. Stock is only ever put into bins."""

    __tablename__ = "storage_location"
    __audit_type__ = "storage_location"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # site | warehouse | zone | bin
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("storage_location.id"), nullable=True, index=True)
    storage_class: Mapped[str] = mapped_column(String(20), nullable=False)
    light_protected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # With status-by-zone, the lot status a zone (and its bins) may hold; '' holds any.
    status_zone: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class Container(Audited, Base):
    """One numbered drum/bag/box of a lot: its place and its cached balance."""

    __tablename__ = "lot_container"
    __audit_type__ = "container"
    # Balance columns move with every ledger entry; the ledger itself is the record.
    __audit_ignore__ = frozenset({"quantity", "reserved"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("material_lot.id"), nullable=False, index=True)
    material_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("storage_location.id"), nullable=True, index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity, nullable=False, default=Decimal(0))
    reserved: Mapped[Decimal] = mapped_column(Quantity, nullable=False, default=Decimal(0))

    __table_args__ = (
        # The last line of defence behind the conditional update in post_movement.
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("reserved >= 0 AND reserved <= quantity", name="reserved_within_quantity"),
    )


class StockMovement(Audited, Base):
    """The stock ledger: append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "stock_movement"
    __audit_type__ = "stock_movement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    lot_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    container_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    material_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    # Signed change to the container's quantity in the material's base unit (moves: 0).
    quantity_change: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    quantity: Mapped[Decimal] = mapped_column(Quantity, nullable=False)  # as entered, always > 0
    unit: Mapped[str] = mapped_column(String(10), nullable=False)  # as entered
    from_location_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    to_location_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor: Mapped[str] = mapped_column(String(150), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    reference: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # FEFO was overridden by the person issuing: QA reviews these.
    fefo_override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_stock_movement_lot_at", "lot_id", "at"),
    )


class StockReservation(Audited, Base):
    """Quantity of a container promised to a purpose (a batch order), not yet issued."""

    __tablename__ = "stock_reservation"
    __audit_type__ = "stock_reservation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    container_id: Mapped[int] = mapped_column(ForeignKey("lot_container.id"), nullable=False, index=True)
    lot_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity, nullable=False)  # base unit
    purpose: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")  # open | issued | cancelled
    created_by: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class FefoOverrideReview(Audited, Base):
    """QA's review of an issue that did not follow FEFO."""

    __tablename__ = "fefo_override_review"
    __audit_type__ = "fefo_override_review"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    movement_id: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    reviewed_by: Mapped[str] = mapped_column(String(150), nullable=False)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")


class CycleCount(Audited, Base):
    """A count of the containers in one location subtree; variances are approved before posting."""

    __tablename__ = "cycle_count"
    __audit_type__ = "cycle_count"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("storage_location.id"), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    counted_by_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_by: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def signed_content(self) -> dict[str, Any]:
        return {"number": self.number, "location_id": self.location_id}

    def author_user_id(self) -> int | None:
        # Whoever counted cannot approve their own variances.
        return self.counted_by_id


class CycleCountLine(Audited, Base):
    __tablename__ = "cycle_count_line"
    __audit_type__ = "cycle_count_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    count_id: Mapped[int] = mapped_column(ForeignKey("cycle_count.id"), nullable=False, index=True)
    container_id: Mapped[int] = mapped_column(ForeignKey("lot_container.id"), nullable=False)
    expected: Mapped[Decimal] = mapped_column(Quantity, nullable=False)
    counted: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)

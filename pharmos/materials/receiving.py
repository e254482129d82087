"""Purchase orders, receipts at the dock and the lots they create.

A delivery is received against an open purchase order into a receiving bin: each receipt
line becomes one internal lot in quarantine with numbered containers, and one ``receipt``
entry per container in the stock ledger. Nothing is received from a supplier that is not
on the approved supplier list for the material (EU GMP Part I 5.27, 5.29 / 药品GMP
第一百零五条), and a cold-chain excursion in transit is flagged for QA before release.

``add_lot`` is the one piece of code that creates a lot (receipts and the opening-stock
import both use it); ``lot_use_problems`` is the one answer to "may this lot be issued?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmos.compliance.audit import AuditEntry, record_event
from pharmos.compliance.signatures import authenticate_signer, separation_problem, sign, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    SignatureRefused,
    ValidationFailed,
    required_reason,
)
from pharmos.core.numbering import next_number
from pharmos.materials.ledger import post_movement
from pharmos.materials.lifecycle import LOT_LIFECYCLE
from pharmos.materials.master import approved_material, pack_units_of, supplier_status
from pharmos.materials.models import (
    Container,
    Lot,
    Material,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    StorageLocation,
    Supplier,
)
from pharmos.materials.storage import COLD_CHAIN_RANGE
from pharmos.materials.units import QUANTUM, parse_quantity, to_base
from pharmos.materials.views import (
    ContainerView,
    LotView,
    PurchaseOrderLineView,
    PurchaseOrderView,
    ReceiptView,
    StatusChange,
)
from pharmos.site.service import setting_days

__all__ = [
    "DEFAULT_EXPIRY_WARNING_DAYS",
    "DEFAULT_SHORT_DATED_DAYS",
    "OrderLineInput",
    "ReceiptLineInput",
    "approve_short_dated_use",
    "assess_qa_flag",
    "cancel_purchase_order",
    "close_purchase_order",
    "create_purchase_order",
    "find_by_scan",
    "get_lot",
    "get_purchase_order",
    "get_receipt",
    "list_lots",
    "list_purchase_orders",
    "list_receipts",
    "lot_use_problems",
    "receive_delivery",
    "set_retest_date",
]

DEFAULT_SHORT_DATED_DAYS = 30
DEFAULT_EXPIRY_WARNING_DAYS = 30
PO_STATUSES = ("open", "closed", "cancelled")


@dataclass(frozen=True)
class OrderLineInput:
    material_code: str
    quantity: Decimal | str | int
    unit: str
    due_on: date | None
    tolerance_pct: Decimal | str | int = Decimal(10)


@dataclass(frozen=True)
class ReceiptLineInput:
    order_line_id: int
    supplier_lot: str
    expires_on: date | None
    quantity: Decimal | str | int
    unit: str
    containers: int | None = 1
    manufactured_on: date | None = None
    retest_on: date | None = None
    over_tolerance_reason: str = ""


def short_dated_days() -> int:
    """Issuing a lot closer to its expiry than this needs QA approval (``materials.short_dated_days``)."""
    return setting_days("materials.short_dated_days", DEFAULT_SHORT_DATED_DAYS)


def _site_now() -> datetime:
    return utcnow().astimezone(ZoneInfo(get_settings().site_timezone))


# ---------------------------------------------------------------- lot use


def use_problems_of(lot: Lot, material: Material, *, at: date, short_dated: int) -> list[str]:
    """Every reason ``lot`` may not be issued on ``at`` (pure: the caller loads lot and material)."""
    problems = []
    if lot.state not in ("released", "expired"):
        # EU GMP Part I 5.61 / 药品GMP 第一百二十九条: only released materials are used. (An expired
        # lot's reason is its date, below.)
        problems.append(f"Lot {lot.number} is {lot.state}, not released.")
    if lot.expires_on <= at:
        problems.append(f"Lot {lot.number} expired on {lot.expires_on.isoformat()}.")
    else:
        if lot.retest_on is not None and lot.retest_on <= at:
            problems.append(f"Retest of lot {lot.number} was due on {lot.retest_on.isoformat()}.")
        remaining = (lot.expires_on - at).days
        minimum = material.min_remaining_shelf_life_days or 0
        if remaining < minimum:
            problems.append(f"Less than {minimum} days of shelf life remain for lot {lot.number} "
                            f"(expires on {lot.expires_on.isoformat()}).")
        if remaining < short_dated and not lot.short_dated_use_approved:
            problems.append(f"Issuing a lot within {short_dated} days of expiry needs QA approval "
                            f"(lot {lot.number} expires on {lot.expires_on.isoformat()}).")
    return problems


def lot_use_problems(*, lot_id: int, at: date | None = None) -> list[str]:
    """Every reason the lot may not be issued now (empty when it may): a domain query for other modules."""
    days = short_dated_days()
    with read_session() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise NotFound(f"No lot with id {lot_id}.")
        material = session.get(Material, lot.material_id)
        assert material is not None
        problems = use_problems_of(lot, material, at=at or site_today(), short_dated=days)
        number = lot.number
    return problems + quality_hold_problems(number)


def quality_hold_problems(lot_number: str) -> list[str]:
    """One line per open deviation holding the lot (empty when none does)."""
    # 药品GMP 第二百五十条: a lot named in an open deviation is not used until QA closes it.
    # Imported here: quality validates its links through this module's service.
    from pharmos.quality import service as quality

    return [f"On hold by deviation {hold.deviation_number} ({hold.state})."
            for hold in quality.open_quality_holds(record_type="lot", reference=lot_number)]


def held_lot_numbers() -> frozenset[str]:
    """Numbers of every lot an open deviation holds (FEFO and lot lists leave them out or flag them)."""
    from pharmos.quality import service as quality

    return quality.held_references(record_type="lot")


# ---------------------------------------------------------------- views


def lot_views(session: Session, lots: Sequence[Lot], *, short_dated: int, with_details: bool = False,
              at: date | None = None) -> list[LotView]:
    """Views of ``lots`` with balances and use problems; containers and signatures when ``with_details``."""
    if not lots:
        return []
    at = at or site_today()
    lot_ids = [lot.id for lot in lots]
    held = held_lot_numbers()  # one query for the whole list; details only for the few held lots
    materials = {m.id: m for m in session.scalars(select(Material).where(
        Material.id.in_({lot.material_id for lot in lots})))}
    supplier_ids = {lot.supplier_id for lot in lots if lot.supplier_id is not None}
    suppliers = dict(session.execute(select(Supplier.id, Supplier.name).where(Supplier.id.in_(supplier_ids))).all()
                     ) if supplier_ids else {}
    receipt_ids = {lot.receipt_id for lot in lots if lot.receipt_id is not None}
    receipts = dict(session.execute(select(Receipt.id, Receipt.number).where(Receipt.id.in_(receipt_ids))).all()
                    ) if receipt_ids else {}
    balances = {lot_id: (Decimal(q), Decimal(r)) for lot_id, q, r in session.execute(
        select(Container.lot_id, func.coalesce(func.sum(Container.quantity), 0),
               func.coalesce(func.sum(Container.reserved), 0))
        .where(Container.lot_id.in_(lot_ids)).group_by(Container.lot_id))}
    containers: dict[int, list[ContainerView]] = {lot_id: [] for lot_id in lot_ids}
    if with_details:
        by_id = {lot.id: lot for lot in lots}
        codes = dict(session.execute(select(StorageLocation.id, StorageLocation.code)).all())
        for c in session.scalars(select(Container).where(Container.lot_id.in_(lot_ids)).order_by(Container.number)):
            lot = by_id[c.lot_id]
            quantity, reserved = Decimal(c.quantity), Decimal(c.reserved)
            containers[c.lot_id].append(ContainerView(
                id=c.id, number=c.number, lot_id=lot.id, lot_number=lot.number, material_code=lot.material_code,
                location_id=c.location_id, location_code=codes.get(c.location_id) if c.location_id else None,
                quantity=quantity, reserved=reserved, available=quantity - reserved, unit=lot.unit))
    views = []
    for lot in lots:
        material = materials[lot.material_id]
        on_hand, reserved = balances.get(lot.id, (Decimal(0), Decimal(0)))
        views.append(LotView(
            id=lot.id, number=lot.number, material_id=lot.material_id, material_code=lot.material_code,
            material_name=material.name_zh, storage_condition=material.storage_condition,
            supplier_id=lot.supplier_id, supplier_name=suppliers.get(lot.supplier_id, "") if lot.supplier_id else "",
            supplier_lot=lot.supplier_lot, receipt_number=receipts.get(lot.receipt_id) if lot.receipt_id else None,
            manufactured_on=lot.manufactured_on, expires_on=lot.expires_on, retest_on=lot.retest_on,
            quantity_received=Decimal(lot.quantity_received), unit=lot.unit, state=lot.state,
            received_by=lot.received_by, received_at=lot.received_at, qa_flag=lot.qa_flag,
            qa_flag_assessed=lot.qa_flag_assessed, short_dated_use_approved=lot.short_dated_use_approved,
            on_hand=on_hand, reserved=reserved, available=on_hand - reserved,
            use_problems=tuple(use_problems_of(lot, material, at=at, short_dated=short_dated)
                               + (quality_hold_problems(lot.number) if lot.number in held else [])),
            containers=tuple(containers[lot.id]),
            signatures=tuple(signatures_for(session, lot)) if with_details else (),
            history=tuple(status_history(session, record_type="lot", record_id=lot.id)) if with_details else (),
        ))
    return views


def status_history(session: Session, *, record_type: str, record_id: int) -> list[StatusChange]:
    """The record's state changes from its audit entries, oldest first."""
    changes = []
    for entry in session.scalars(select(AuditEntry).where(
            AuditEntry.record_type == record_type, AuditEntry.record_id == str(record_id)).order_by(AuditEntry.id)):
        state = orjson.loads(entry.changes).get("state")
        if isinstance(state, list) and len(state) == 2:
            changes.append(StatusChange(entry.at, entry.actor, state[0], state[1], entry.reason))
        elif isinstance(state, str):
            changes.append(StatusChange(entry.at, entry.actor, None, state, entry.reason))
    return changes


def _order_views(session: Session, orders: Sequence[PurchaseOrder]) -> list[PurchaseOrderView]:
    if not orders:
        return []
    order_ids = [o.id for o in orders]
    lines = list(session.scalars(select(PurchaseOrderLine).where(PurchaseOrderLine.order_id.in_(order_ids))
                                 .order_by(PurchaseOrderLine.order_id, PurchaseOrderLine.line_no)))
    codes = {line.material_code for line in lines}
    # Name and base unit from the approved version, else the latest one of the code.
    materials: dict[str, Material] = {}
    for m in session.scalars(select(Material).where(Material.code.in_(codes)).order_by(Material.version)):
        if m.code not in materials or materials[m.code].state != "approved":
            materials[m.code] = m
    suppliers = {s.id: s for s in session.scalars(select(Supplier).where(
        Supplier.id.in_({o.supplier_id for o in orders})))}
    by_order: dict[int, list[PurchaseOrderLineView]] = {i: [] for i in order_ids}
    for line in lines:
        material = materials.get(line.material_code)
        by_order[line.order_id].append(PurchaseOrderLineView(
            id=line.id, line_no=line.line_no, material_code=line.material_code,
            material_name=material.name_zh if material else "", quantity=Decimal(line.quantity), unit=line.unit,
            base_unit=material.base_unit if material else "", quantity_base=Decimal(line.quantity_base),
            received_base=Decimal(line.received_base), tolerance_pct=Decimal(line.tolerance_pct),
            due_on=line.due_on))
    return [PurchaseOrderView(
        id=o.id, number=o.number, supplier_id=o.supplier_id, supplier_code=suppliers[o.supplier_id].code,
        supplier_name=suppliers[o.supplier_id].name, status=o.status, ordered_on=o.ordered_on,
        created_by=o.created_by, note=o.note, lines=tuple(by_order[o.id])) for o in orders]


def _receipt_views(session: Session, receipts: Sequence[Receipt], *, short_dated: int,
                   with_lots: bool = True) -> list[ReceiptView]:
    if not receipts:
        return []
    orders = dict(session.execute(select(PurchaseOrder.id, PurchaseOrder.number).where(
        PurchaseOrder.id.in_({r.order_id for r in receipts}))).all())
    suppliers = dict(session.execute(select(Supplier.id, Supplier.name).where(
        Supplier.id.in_({r.supplier_id for r in receipts}))).all())
    locations = dict(session.execute(select(StorageLocation.id, StorageLocation.code).where(
        StorageLocation.id.in_({r.location_id for r in receipts}))).all())
    lots_by_receipt: dict[int, list[LotView]] = {r.id: [] for r in receipts}
    if with_lots:
        lots = list(session.scalars(select(Lot).where(Lot.receipt_id.in_(list(lots_by_receipt))).order_by(Lot.id)))
        for view, lot in zip(lot_views(session, lots, short_dated=short_dated, with_details=True), lots,
                             strict=True):
            lots_by_receipt[lot.receipt_id or 0].append(view)
    return [ReceiptView(
        id=r.id, number=r.number, order_id=r.order_id, order_number=orders[r.order_id], supplier_id=r.supplier_id,
        supplier_name=suppliers[r.supplier_id], delivery_note=r.delivery_note, received_at=r.received_at,
        received_by=r.received_by, logger_id=r.logger_id,
        transport_min_c=Decimal(r.transport_min_c) if r.transport_min_c is not None else None,
        transport_max_c=Decimal(r.transport_max_c) if r.transport_max_c is not None else None,
        location_code=locations[r.location_id], lots=tuple(lots_by_receipt[r.id])) for r in receipts]


# ---------------------------------------------------------------- purchase orders


def _problems_of(error: ValidationFailed) -> list[FieldProblem]:
    return error.fields or [FieldProblem("", error.message)]


def create_purchase_order(*, actor: Actor, supplier_id: int, lines: Sequence[OrderLineInput], note: str = "",
                          ordered_on: date | None = None) -> PurchaseOrderView:
    actor.require("suppliers.edit")
    if not lines:
        raise ValidationFailed.on("lines", "A purchase order needs at least one line.")
    if ordered_on is not None and not isinstance(ordered_on, date):
        raise ValidationFailed.on("ordered_on", "Must be a date.")
    with transaction(actor=actor, reason="Purchase order created") as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None:
            raise ValidationFailed.on("supplier_id", f"No supplier with id {supplier_id}.")
        if not supplier.active:
            raise ValidationFailed.on("supplier_id", f"Supplier {supplier.code} is inactive.")
        problems: list[FieldProblem] = []
        rows = []
        for i, line in enumerate(lines):
            where = f"lines[{i}]"
            material = approved_material(session, (line.material_code or "").strip())
            if material is None:
                problems.append(FieldProblem(f"{where}.material_code",
                                             f"Material {line.material_code!r} has no approved version."))
            quantity = base = None
            try:
                quantity = parse_quantity(line.quantity, field=f"{where}.quantity")
            except ValidationFailed as error:
                problems.extend(_problems_of(error))
            if material is not None and quantity is not None:
                try:
                    base = to_base(quantity, (line.unit or "").strip(), base_unit=material.base_unit,
                                   pack_units=pack_units_of(session, material), field=f"{where}.unit")
                except ValidationFailed as error:
                    problems.extend(_problems_of(error))
            if not isinstance(line.due_on, date):
                problems.append(FieldProblem(f"{where}.due_on", "A due date is required."))
            try:
                tolerance = Decimal(str(line.tolerance_pct).strip())
                if not tolerance.is_finite() or not 0 <= tolerance <= 100:
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                problems.append(FieldProblem(f"{where}.tolerance_pct", "A percentage from 0 to 100."))
                tolerance = Decimal(0)
            if material is not None and quantity is not None and base is not None:
                rows.append(PurchaseOrderLine(line_no=i + 1, material_code=material.code, quantity=quantity,
                                              unit=(line.unit or "").strip(), quantity_base=base,
                                              received_base=Decimal(0), tolerance_pct=tolerance,
                                              due_on=line.due_on))
        if problems:
            raise ValidationFailed("The purchase order was not created.", problems)
        order = PurchaseOrder(number=next_number(session, prefix="PO"), supplier_id=supplier.id, status="open",
                              ordered_on=ordered_on or site_today(), created_by=actor.username,
                              note=(note or "").strip())
        session.add(order)
        session.flush()
        for row in rows:
            row.order_id = order.id
            session.add(row)
        session.flush()
        return _order_views(session, [order])[0]


def _end_order(*, actor: Actor, order_id: int, reason: str, status: str) -> PurchaseOrderView:
    actor.require("suppliers.edit")
    why = required_reason(reason)
    with transaction(actor=actor, reason=why) as session:
        order = session.get(PurchaseOrder, order_id, with_for_update=True)
        if order is None:
            raise NotFound(f"No purchase order with id {order_id}.")
        if order.status != "open":
            raise Conflict(f"Purchase order {order.number} is {order.status}, not open.")
        if status == "cancelled" and session.scalar(select(Receipt.id).where(Receipt.order_id == order.id)
                                                    .limit(1)) is not None:
            raise Conflict(f"Purchase order {order.number} has receipts; close it instead of cancelling.")
        order.status = status
        session.flush()
        return _order_views(session, [order])[0]


def close_purchase_order(*, actor: Actor, order_id: int, reason: str) -> PurchaseOrderView:
    """No more deliveries are expected against this order."""
    return _end_order(actor=actor, order_id=order_id, reason=reason, status="closed")


def cancel_purchase_order(*, actor: Actor, order_id: int, reason: str) -> PurchaseOrderView:
    """Withdraw an order nothing was received against."""
    return _end_order(actor=actor, order_id=order_id, reason=reason, status="cancelled")


def get_purchase_order(*, actor: Actor, order_id: int) -> PurchaseOrderView:
    actor.require("materials.view")
    with read_session() as session:
        order = session.get(PurchaseOrder, order_id)
        if order is None:
            raise NotFound(f"No purchase order with id {order_id}.")
        return _order_views(session, [order])[0]


def list_purchase_orders(*, actor: Actor, status: str | None = None, supplier_id: int | None = None,
                         number: str | None = None, after_id: int | None = None,
                         limit: int = 50) -> list[PurchaseOrderView]:
    """Purchase orders oldest first; ``number`` finds one by its number as scanned (any case)."""
    actor.require("materials.view")
    if status is not None and status not in PO_STATUSES:
        raise ValidationFailed.on("status", f"Unknown status {status!r}.")
    with read_session() as session:
        stmt = select(PurchaseOrder).order_by(PurchaseOrder.id).limit(max(1, min(limit, 500)))
        if status:
            stmt = stmt.where(PurchaseOrder.status == status)
        if supplier_id is not None:
            stmt = stmt.where(PurchaseOrder.supplier_id == supplier_id)
        if number:
            stmt = stmt.where(PurchaseOrder.number == number.strip().upper())
        if after_id is not None:
            stmt = stmt.where(PurchaseOrder.id > after_id)
        return _order_views(session, list(session.scalars(stmt)))


# ---------------------------------------------------------------- lots


def split_evenly(quantity: Decimal, containers: int) -> list[Decimal]:
    """``quantity`` over ``containers`` at the ledger's resolution, the remainder on the last one."""
    each = (quantity / containers).quantize(QUANTUM, rounding=ROUND_DOWN)
    return [each] * (containers - 1) + [quantity - each * (containers - 1)]


def add_lot(
    session: Session,
    *,
    actor: Actor,
    material: Material,
    quantity_base: Decimal,
    containers: int,
    location: StorageLocation,
    expires_on: date,
    manufactured_on: date | None = None,
    retest_on: date | None = None,
    supplier_id: int | None = None,
    supplier_lot: str = "",
    receipt: Receipt | None = None,
    order_line: PurchaseOrderLine | None = None,
    reference: str = "",
    qa_flag: str = "",
) -> Lot:
    """Create one quarantined lot with numbered containers in ``location``, inside the caller's transaction.

    The caller has validated the inputs; each container gets one ``receipt`` ledger entry of
    its share (remainder on the last). ``received_by`` is the actor: the person who received a
    lot is its author and cannot release it (21 CFR 11.10(g) / EU GMP Annex 11 §14).
    """
    if containers < 1 or quantity_base < QUANTUM * containers:
        raise ValidationFailed.on("containers", f"{quantity_base} {material.base_unit} cannot fill "
                                                f"{containers} containers.")
    number = next_number(session, prefix="LOT", pattern="{prefix}-{date:%y%m%d}-{seq:03d}", at=_site_now())
    lot = Lot(
        number=number, material_id=material.id, material_code=material.code,
        receipt_id=receipt.id if receipt is not None else None,
        order_line_id=order_line.id if order_line is not None else None, supplier_id=supplier_id,
        supplier_lot=supplier_lot, manufactured_on=manufactured_on, expires_on=expires_on, retest_on=retest_on,
        quantity_received=quantity_base, unit=material.base_unit, state=LOT_LIFECYCLE.initial,
        received_by_id=actor.user_id, received_by=actor.username, received_at=utcnow(), qa_flag=qa_flag,
        qa_flag_assessed=not qa_flag, short_dated_use_approved=False, status_changed_at=utcnow(),
    )
    session.add(lot)
    session.flush()
    shares = split_evenly(quantity_base, containers)
    rows = [Container(number=f"{number}-C{n:02d}", lot_id=lot.id, material_id=material.id, location_id=None,
                      quantity=Decimal(0), reserved=Decimal(0)) for n in range(1, containers + 1)]
    session.add_all(rows)
    session.flush()
    for container, share in zip(rows, shares, strict=True):
        post_movement(session, kind="receipt", container=container, change=share, quantity=share,
                      unit=material.base_unit, actor=actor, to_location_id=location.id,
                      reason="Received", reference=reference or (receipt.number if receipt else number))
    return lot


def _as_decimal(value: object, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on(field, f"{value!r} is not a temperature in °C.") from None
    if not number.is_finite() or abs(number) >= 1000:
        raise ValidationFailed.on(field, "Not a plausible temperature in °C.")
    return number.quantize(Decimal("0.01"))


@dataclass
class _CheckedLine:
    index: int
    line: ReceiptLineInput
    order_line: PurchaseOrderLine
    material: Material
    quantity: Decimal
    quantity_base: Decimal
    retest_on: date | None
    flags: list[str]


def receive_delivery(
    *,
    actor: Actor,
    order_id: int,
    location_code: str,
    lines: Sequence[ReceiptLineInput],
    delivery_note: str = "",
    logger_id: str = "",
    transport_min_c: Decimal | str | float | None = None,
    transport_max_c: Decimal | str | float | None = None,
) -> ReceiptView:
    """Receive a delivery against an open purchase order: one quarantined lot per line.

    Every problem of every line is reported at once, each naming ``lines[i].field``; a
    refused delivery writes nothing.
    """
    actor.require("materials.receive")
    days = short_dated_days()
    problems: list[FieldProblem] = []
    t_min = t_max = None
    for field, value in (("transport_min_c", transport_min_c), ("transport_max_c", transport_max_c)):
        try:
            parsed = _as_decimal(value, field)
        except ValidationFailed as error:
            problems.extend(_problems_of(error))
            continue
        if field == "transport_min_c":
            t_min = parsed
        else:
            t_max = parsed
    if t_min is not None and t_max is not None and t_min > t_max:
        problems.append(FieldProblem("transport_max_c", "The maximum cannot be below the minimum."))
    for field, text, length in (("delivery_note", delivery_note, 100), ("logger_id", logger_id, 100)):
        if len((text or "").strip()) > length:
            problems.append(FieldProblem(field, f"At most {length} characters."))
    if not lines:
        problems.append(FieldProblem("lines", "A receipt needs at least one line."))
    today = site_today()
    with transaction(actor=actor, reason="Delivery received") as session:
        order = session.get(PurchaseOrder, order_id, with_for_update=True)
        if order is None:
            raise NotFound(f"No purchase order with id {order_id}.")
        if order.status != "open":
            raise ValidationFailed.on("order_id", f"Purchase order {order.number} is {order.status}, not open.")
        supplier = session.get(Supplier, order.supplier_id)
        assert supplier is not None
        location = session.scalar(select(StorageLocation).where(
            StorageLocation.code == (location_code or "").strip()))
        if location is None:
            problems.append(FieldProblem("location_code", f"No location {location_code!r}."))
        elif location.kind != "bin" or not location.active:
            problems.append(FieldProblem("location_code", f"Location {location.code} is not an active bin; "
                                                          "deliveries are received into a bin."))
        order_lines = {ol.id: ol for ol in session.scalars(
            select(PurchaseOrderLine).where(PurchaseOrderLine.order_id == order.id).with_for_update())}
        checked: list[_CheckedLine] = []
        seen_lots: dict[tuple[str, str], int] = {}
        this_receipt: dict[int, Decimal] = {}
        cold_chain_missing = False
        for i, line in enumerate(lines):
            where = f"lines[{i}]"
            line_problems: list[FieldProblem] = []
            order_line = order_lines.get(line.order_line_id)
            material = None
            if order_line is None:
                line_problems.append(FieldProblem(f"{where}.order_line_id",
                                                  f"Not a line of purchase order {order.number}."))
            else:
                material = approved_material(session, order_line.material_code)
                if material is None:
                    line_problems.append(FieldProblem(f"{where}.order_line_id",
                                                      f"Material {order_line.material_code} has no approved version."))
            flags: list[str] = []
            if order_line is not None and material is not None:
                # EU GMP Part I 5.27: materials only from suppliers approved for them.
                entry = supplier_status(session, supplier_id=supplier.id, material_code=material.code)
                if entry is None or entry.status == "disqualified":
                    state = "disqualified" if entry is not None else "not on the approved supplier list"
                    line_problems.append(FieldProblem(
                        f"{where}.order_line_id",
                        f"Supplier {supplier.code} is {state} for material {material.code}; the delivery "
                        "cannot be received."))
                elif entry.status == "conditional":
                    flags.append(f"Conditional supplier {supplier.code} for {material.code}"
                                 + (f": {entry.note}" if entry.note else "") + ".")
            supplier_lot = (line.supplier_lot or "").strip()
            if not supplier_lot:
                line_problems.append(FieldProblem(f"{where}.supplier_lot", "The supplier's lot number is required."))
            elif len(supplier_lot) > 100:
                line_problems.append(FieldProblem(f"{where}.supplier_lot", "At most 100 characters."))
            elif order_line is not None:
                key = (order_line.material_code, supplier_lot)
                if key in seen_lots:
                    line_problems.append(FieldProblem(
                        f"{where}.supplier_lot",
                        f"Supplier lot {supplier_lot} is already on line {seen_lots[key] + 1} of this receipt."))
                else:
                    seen_lots[key] = i
            quantity = base = None
            try:
                quantity = parse_quantity(line.quantity, field=f"{where}.quantity")
            except ValidationFailed as error:
                line_problems.extend(_problems_of(error))
            if material is not None and quantity is not None:
                try:
                    base = to_base(quantity, (line.unit or "").strip(), base_unit=material.base_unit,
                                   pack_units=pack_units_of(session, material), field=f"{where}.unit")
                except ValidationFailed as error:
                    line_problems.extend(_problems_of(error))
            if isinstance(line.containers, bool) or not isinstance(line.containers, int) or line.containers < 1:
                line_problems.append(FieldProblem(f"{where}.containers", "At least one container."))
            elif line.containers > 999:
                line_problems.append(FieldProblem(f"{where}.containers", "At most 999 containers per lot."))
            elif base is not None and base < QUANTUM * line.containers:
                line_problems.append(FieldProblem(f"{where}.containers",
                                                  "Too many containers for this quantity."))
            line_problems.extend(_date_problems(line, where, today))
            retest_on = line.retest_on
            if (retest_on is None and material is not None and material.retest_interval_days
                    and isinstance(line.expires_on, date)):
                start = line.manufactured_on if isinstance(line.manufactured_on, date) else today
                proposed = start + timedelta(days=material.retest_interval_days)
                # A retest date at or after expiry means nothing: the expiry governs.
                retest_on = proposed if proposed < line.expires_on else None
            if order_line is not None and base is not None:
                so_far = this_receipt.get(order_line.id, Decimal(0)) + base
                this_receipt[order_line.id] = so_far
                limit = Decimal(order_line.quantity_base) * (1 + Decimal(order_line.tolerance_pct) / 100)
                total = Decimal(order_line.received_base) + so_far
                if total > limit and not (line.over_tolerance_reason or "").strip():
                    unit = material.base_unit if material else ""
                    line_problems.append(FieldProblem(
                        f"{where}.over_tolerance_reason",
                        f"Receiving {total} {unit} in all exceeds the ordered {order_line.quantity_base} {unit} "
                        f"plus {order_line.tolerance_pct}% tolerance; give a reason."))
            if material is not None and material.storage_condition in COLD_CHAIN_RANGE:
                low, high = COLD_CHAIN_RANGE[material.storage_condition]
                if t_min is None or t_max is None:
                    cold_chain_missing = True
                elif t_min < low or t_max > high:
                    # EU GMP Part I 5.27 / GDP 9.2: a transport excursion is assessed by QA before use.
                    flags.append(f"Cold-chain excursion in transport: {t_min}–{t_max} °C recorded, "
                                 f"{low}–{high} °C required for {material.storage_condition}.")
            problems.extend(line_problems)
            if not line_problems and order_line is not None and material is not None and quantity is not None \
                    and base is not None:
                checked.append(_CheckedLine(i, line, order_line, material, quantity, base, retest_on, flags))
        if cold_chain_missing:
            for field, value in (("transport_min_c", t_min), ("transport_max_c", t_max)):
                if value is None:
                    problems.append(FieldProblem(field, "Cold-chain material: record the transport temperature "
                                                        "(minimum and maximum in °C)."))
        if problems:
            raise ValidationFailed("The delivery was not received.", problems)
        assert location is not None
        receipt = Receipt(number=next_number(session, prefix="RC"), order_id=order.id, supplier_id=supplier.id,
                          delivery_note=(delivery_note or "").strip(), received_at=utcnow(),
                          received_by_id=actor.user_id, received_by=actor.username,
                          logger_id=(logger_id or "").strip(), transport_min_c=t_min, transport_max_c=t_max,
                          location_id=location.id)
        session.add(receipt)
        session.flush()
        for item in checked:
            line = item.line
            assert line.expires_on is not None and line.containers is not None
            lot = add_lot(session, actor=actor, material=item.material, quantity_base=item.quantity_base,
                          containers=line.containers, location=location, expires_on=line.expires_on,
                          manufactured_on=line.manufactured_on, retest_on=item.retest_on, supplier_id=supplier.id,
                          supplier_lot=line.supplier_lot.strip(), receipt=receipt, order_line=item.order_line,
                          reference=receipt.number, qa_flag=" ".join(item.flags))
            item.order_line.received_base = Decimal(item.order_line.received_base) + item.quantity_base
            over = (line.over_tolerance_reason or "").strip()
            if over:
                record_event(session, record_type="purchase_order_line", record_id=item.order_line.id,
                             action="over_tolerance_receipt",
                             details={"receipt": receipt.number, "lot": lot.number, "reason": over,
                                      "ordered_base": str(item.order_line.quantity_base),
                                      "received_base": str(item.order_line.received_base)})
            if item.flags:
                # QA is told through the audit trail's alert entries (and the flagged-lots list).
                record_event(session, record_type="lot", record_id=lot.id, action="qa_alert",
                             details={"lot": lot.number, "flag": lot.qa_flag, "receipt": receipt.number,
                                      "transport_min_c": None if t_min is None else str(t_min),
                                      "transport_max_c": None if t_max is None else str(t_max)})
        session.flush()
        receipt_id = receipt.id
    # The view is read after commit: the numbering and audit-chain locks are held only while writing.
    with read_session() as session:
        committed = session.get(Receipt, receipt_id)
        assert committed is not None
        return _receipt_views(session, [committed], short_dated=days)[0]


def _date_problems(line: ReceiptLineInput, where: str, today: date) -> list[FieldProblem]:
    problems = []
    expires, made, retest = line.expires_on, line.manufactured_on, line.retest_on
    for name, value in (("manufactured_on", made), ("retest_on", retest)):
        if value is not None and not isinstance(value, date):
            problems.append(FieldProblem(f"{where}.{name}", "Must be a date."))
    if not isinstance(expires, date):
        problems.append(FieldProblem(f"{where}.expires_on", "The expiry date is required."))
        return problems
    if isinstance(made, date) and made > today:
        problems.append(FieldProblem(f"{where}.manufactured_on", "The manufacture date cannot be in the future."))
    if isinstance(made, date) and expires <= made:
        problems.append(FieldProblem(f"{where}.expires_on", "The expiry date must be after the manufacture date."))
    elif expires <= today:
        problems.append(FieldProblem(f"{where}.expires_on",
                                     f"The lot expired on {expires.isoformat()}; an expired lot is not received."))
    if isinstance(retest, date):
        if retest > expires:
            problems.append(FieldProblem(f"{where}.retest_on", "The retest date cannot be after the expiry date."))
        elif isinstance(made, date) and retest <= made:
            problems.append(FieldProblem(f"{where}.retest_on", "The retest date must be after the manufacture date."))
    return problems


def get_receipt(*, actor: Actor, receipt_id: int) -> ReceiptView:
    actor.require("materials.view")
    days = short_dated_days()
    with read_session() as session:
        receipt = session.get(Receipt, receipt_id)
        if receipt is None:
            raise NotFound(f"No receipt with id {receipt_id}.")
        return _receipt_views(session, [receipt], short_dated=days)[0]


def list_receipts(*, actor: Actor, order_id: int | None = None, after_id: int | None = None,
                  limit: int = 50) -> list[ReceiptView]:
    actor.require("materials.view")
    days = short_dated_days()
    with read_session() as session:
        stmt = select(Receipt).order_by(Receipt.id).limit(max(1, min(limit, 500)))
        if order_id is not None:
            stmt = stmt.where(Receipt.order_id == order_id)
        if after_id is not None:
            stmt = stmt.where(Receipt.id > after_id)
        return _receipt_views(session, list(session.scalars(stmt)), short_dated=days)


def get_lot(*, actor: Actor, lot_id: int) -> LotView:
    """The lot with its containers, signatures and the reasons it may not be issued now."""
    actor.require("materials.view")
    days = short_dated_days()
    with read_session() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise NotFound(f"No lot with id {lot_id}.")
        return lot_views(session, [lot], short_dated=days, with_details=True)[0]


def find_by_scan(*, actor: Actor, code: str) -> LotView:
    """The lot a scanned label names: a lot number or a container number (what the QR code carries)."""
    actor.require("materials.view")
    scanned = (code or "").strip().upper()
    if not scanned:
        raise ValidationFailed.on("code", "Scan or type a lot or container number.")
    days = short_dated_days()
    with read_session() as session:
        lot = session.scalar(select(Lot).where(Lot.number == scanned))
        if lot is None:
            lot_id = session.scalar(select(Container.lot_id).where(Container.number == scanned))
            lot = session.get(Lot, lot_id) if lot_id is not None else None
        if lot is None:
            raise NotFound(f"No lot or container {scanned}.")
        return lot_views(session, [lot], short_dated=days, with_details=True)[0]


def list_lots(*, actor: Actor, state: str | None = None, material_code: str | None = None,
              expiring_within_days: int | None = None, flagged: bool | None = None, after_id: int | None = None,
              limit: int = 50) -> list[LotView]:
    actor.require("materials.view")
    if state is not None and state not in LOT_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Unknown lot state {state!r}.")
    if expiring_within_days is not None and (isinstance(expiring_within_days, bool)
                                             or not isinstance(expiring_within_days, int)
                                             or expiring_within_days < 0):
        raise ValidationFailed.on("expiring_within_days", "A number of days, zero or more.")
    days = short_dated_days()
    with read_session() as session:
        stmt = select(Lot).order_by(Lot.id).limit(max(1, min(limit, 500)))
        if state:
            stmt = stmt.where(Lot.state == state)
        if material_code:
            stmt = stmt.where(Lot.material_code == material_code.strip())
        if expiring_within_days is not None:
            # Expiring, not already expired: those are the expiry dashboard's own list.
            today = site_today()
            stmt = stmt.where(Lot.expires_on > today, Lot.expires_on <= today + timedelta(days=expiring_within_days))
        if flagged is True:
            stmt = stmt.where(Lot.qa_flag != "", Lot.qa_flag_assessed.is_(False))
        elif flagged is False:
            stmt = stmt.where(Lot.qa_flag_assessed.is_(True))
        if after_id is not None:
            stmt = stmt.where(Lot.id > after_id)
        return lot_views(session, list(session.scalars(stmt)), short_dated=days)


# ---------------------------------------------------------------- QA and QC decisions on a lot


def _signed_lot_decision(*, actor: Actor, lot_id: int, password: str, otp: str | None, reason: str,
                         meaning: str, check: Any, apply: Any) -> LotView:
    """Pre-check, re-authenticate (21 CFR 11.200), then re-check, change and sign under the row lock."""
    why = required_reason(reason)
    if not password:
        raise ValidationFailed.on("password", "Re-enter your password to sign.")
    days = short_dated_days()
    with read_session() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise NotFound(f"No lot with id {lot_id}.")
        check(session, lot)
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason=why) as session:
        lot = session.get(Lot, lot_id, with_for_update=True)
        assert lot is not None
        check(session, lot)
        apply(lot)
        session.flush()
        sign(session, record=lot, meaning=meaning, actor=actor, proof=proof, reason=why)
        return lot_views(session, [lot], short_dated=days, with_details=True)[0]


def assess_qa_flag(*, actor: Actor, lot_id: int, password: str, otp: str | None = None, reason: str) -> LotView:
    """QA's signed assessment of an arrival flag (excursion, conditional supplier); release needs it."""
    actor.require("lots.release")

    def check(_session: Session, lot: Lot) -> None:
        if not lot.qa_flag or lot.qa_flag_assessed:
            raise Conflict(f"Lot {lot.number} has no arrival flag awaiting assessment.")
        if lot.state not in ("quarantine", "under_test"):
            raise Conflict(f"Lot {lot.number} is {lot.state}; flags are assessed before release.")
        if lot.received_by_id is not None and lot.received_by_id == actor.user_id:
            raise Conflict("The person who received the lot cannot assess its arrival flag.")

    def apply(lot: Lot) -> None:
        lot.qa_flag_assessed = True

    return _signed_lot_decision(actor=actor, lot_id=lot_id, password=password, otp=otp, reason=reason,
                                meaning="reviewed", check=check, apply=apply)


def approve_short_dated_use(*, actor: Actor, lot_id: int, password: str, otp: str | None = None,
                            reason: str) -> LotView:
    """QA approval to issue a lot although it is closer to expiry than the site allows by default."""
    actor.require("lots.review")
    today = site_today()

    def check(session: Session, lot: Lot) -> None:
        if lot.short_dated_use_approved:
            raise Conflict(f"Short-dated use of lot {lot.number} is already approved.")
        if lot.state in ("rejected", "expired") or lot.expires_on <= today:
            raise Conflict(f"Lot {lot.number} is {lot.state} (expires on {lot.expires_on.isoformat()}); "
                           "it cannot be approved for use.")
        problem = separation_problem(session, lot, meaning="approved", user_id=actor.user_id)
        if problem:
            raise SignatureRefused(problem)

    def apply(lot: Lot) -> None:
        lot.short_dated_use_approved = True

    return _signed_lot_decision(actor=actor, lot_id=lot_id, password=password, otp=otp, reason=reason,
                                meaning="approved", check=check, apply=apply)


def set_retest_date(*, actor: Actor, lot_id: int, retest_on: date | None, reason: str) -> LotView:
    """QC sets the next retest date of a lot under test (after today, not after expiry)."""
    actor.require("lots.test")
    why = required_reason(reason)
    if not isinstance(retest_on, date):
        raise ValidationFailed.on("retest_on", "Must be a date.")
    days = short_dated_days()
    today = site_today()
    with transaction(actor=actor, reason=why) as session:
        lot = session.get(Lot, lot_id, with_for_update=True)
        if lot is None:
            raise NotFound(f"No lot with id {lot_id}.")
        if lot.state != "under_test":
            raise Conflict(f"Lot {lot.number} is {lot.state}; the retest date is set while it is under test.")
        if retest_on <= today:
            raise ValidationFailed.on("retest_on", "The retest date must be after today.")
        if retest_on > lot.expires_on:
            raise ValidationFailed.on("retest_on", f"The retest date cannot be after the expiry date "
                                                   f"{lot.expires_on.isoformat()}.")
        lot.retest_on = retest_on
        session.flush()
        return lot_views(session, [lot], short_dated=days, with_details=True)[0]

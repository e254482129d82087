"""Spare parts: the part master, which equipment each part fits, and its stock ledger.

Stock moves only through append-only ``spare_part_movement`` rows (database triggers refuse
UPDATE and DELETE), each written in the same transaction as the part's cached ``on_hand``.
The cache changes through one conditional UPDATE (``… WHERE on_hand + change >= 0``), so two
technicians issuing the last part at the same moment cannot both get it: on PostgreSQL the
second waits for the first's row lock and re-evaluates the condition on the committed
balance (READ COMMITTED re-check); a CHECK constraint backs it up. Parts issued to a work
order are part of its maintenance record (EU GMP Part I 3.34, 药品GMP 第八十条).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, func, or_, select, update
from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, required_reason
from pharmos.equipment.models import Equipment, SparePart, SparePartFit, SparePartMovement, WorkOrder
from pharmos.equipment.views import SparePartMovementView, SparePartView, WorkOrderView

__all__ = [
    "MOVEMENT_KINDS",
    "adjust_spare_parts",
    "create_spare_part",
    "get_spare_part",
    "issue_spare_part_to_work_order",
    "list_spare_part_movements",
    "list_spare_parts",
    "receive_spare_parts",
    "return_spare_part_from_work_order",
    "update_spare_part",
]

MOVEMENT_KINDS: dict[str, tuple[str, str]] = {
    "receipt": ("Receipt", "入库"),
    "issue": ("Issue to work order", "领用"),
    "return": ("Return from work order", "退回"),
    "adjustment": ("Adjustment", "库存调整"),
}
CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{1,39}$")
_QUANTUM = Decimal("0.000001")  # Numeric(18, 6)
_MAX = Decimal(10) ** 12


# ---------------------------------------------------------------- input checks


def _number(value: object, field: str) -> Decimal:
    """A finite decimal with at most 6 places, or a ValidationFailed naming ``field``."""
    if isinstance(value, bool) or value is None:
        raise ValidationFailed.on(field, "Must be a number.")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on(field, f"{value!r} is not a number.") from None
    if not number.is_finite():
        raise ValidationFailed.on(field, "Must be a finite number.")
    if abs(number) >= _MAX or number != number.quantize(_QUANTUM):
        raise ValidationFailed.on(field, "At most 12 digits before and 6 after the decimal point.")
    return number


def _plain(value: Decimal) -> str:
    """8, not 8.000000: how a quantity reads in a message."""
    return format(Decimal(value).normalize(), "f")


def _quantity(value: object, field: str = "quantity") -> Decimal:
    quantity = _number(value, field)
    if quantity <= 0:
        raise ValidationFailed.on(field, "The quantity must be greater than zero.")
    return quantity


def _text(value: object, field: str, *, max_length: int, required: str | None = None) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(field, "Must be text.")
    text = (value or "").strip()
    if required is not None and not text:
        raise ValidationFailed.on(field, required)
    if len(text) > max_length:
        raise ValidationFailed.on(field, f"At most {max_length} characters.")
    return text


def _reorder_point(value: object) -> Decimal:
    point = _number(value, "reorder_point")
    if point < 0:
        raise ValidationFailed.on("reorder_point", "The reorder point cannot be negative.")
    return point


def _fit_numbers(fits: object) -> list[str]:
    if not isinstance(fits, list | tuple):
        raise ValidationFailed.on("fits", "Give the equipment numbers the part fits as a list.")
    numbers: list[str] = []
    for i, number in enumerate(fits):
        if not isinstance(number, str) or not number.strip():
            raise ValidationFailed.on(f"fits[{i}]", "Give an equipment number.")
        code = number.strip().upper()
        if code not in numbers:
            numbers.append(code)
    return numbers


def _fit_ids(session: Session, numbers: list[str]) -> dict[str, int]:
    found = {n: i for n, i in session.execute(select(Equipment.number, Equipment.id)
                                              .where(Equipment.number.in_(numbers)))} if numbers else {}
    problems = [FieldProblem(f"fits[{i}]", f"No equipment numbered {n}.") for i, n in enumerate(numbers)
                if n not in found]
    if problems:
        raise ValidationFailed(problems[0].message, problems)
    return found


def _page_size(limit: int) -> int:
    return max(1, min(int(limit), 1000))


# ---------------------------------------------------------------- the ledger


def _exact(expression: ColumnElement[Decimal]) -> ColumnElement[Decimal]:
    # SQLite keeps NUMERIC as binary floating point; rounding to the ledger's resolution keeps
    # balances exact there (0.3 - 0.1 - 0.2 would otherwise leave -2.8e-17). No-op on PostgreSQL.
    return func.round(expression, 6)


def _rows_changed(session: Session, stmt: Update) -> int:
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount


def _post(session: Session, *, part: SparePart, kind: str, change: Decimal, actor: Actor, reason: str = "",
          work_order: WorkOrder | None = None, field: str = "quantity") -> SparePartMovement:
    """Move ``part``'s balance by ``change`` and journal it; Conflict naming ``field`` if it would go negative."""
    stmt = (update(SparePart).where(SparePart.id == part.id).values(on_hand=_exact(SparePart.on_hand + change))
            .execution_options(synchronize_session=False))
    if change < 0:
        # The condition is re-evaluated on the committed row by a concurrent writer (no overdraw).
        stmt = stmt.where(_exact(SparePart.on_hand + change) >= 0)
    if _rows_changed(session, stmt) != 1:
        session.expire(part, ["on_hand"])
        on_hand = _plain(Decimal(session.scalar(select(SparePart.on_hand).where(SparePart.id == part.id)) or 0))
        raise Conflict(f"Only {on_hand} {part.unit} of {part.code} on hand; {_plain(-change)} {part.unit} requested.",
                       [FieldProblem(field, f"Only {on_hand} {part.unit} on hand.")])
    session.expire(part, ["on_hand"])
    movement = SparePartMovement(part_id=part.id, kind=kind, change=change,
                                 work_order_id=None if work_order is None else work_order.id, reason=reason,
                                 actor=actor.username)
    session.add(movement)
    session.flush()
    return movement


def issue_part(session: Session, *, part: SparePart, quantity: Decimal, work_order: WorkOrder,
               actor: Actor) -> SparePartMovement:
    """Take ``quantity`` of ``part`` off the shelf onto ``work_order`` (the caller checked the order and the fit)."""
    return _post(session, part=part, kind="issue", change=-quantity, actor=actor, work_order=work_order,
                 reason=f"Issued to {work_order.number}")


# ---------------------------------------------------------------- views


def _part_views(session: Session, rows: Sequence[SparePart]) -> list[SparePartView]:
    if not rows:
        return []
    fits: dict[int, list[str]] = {row.id: [] for row in rows}
    for part_id, number in session.execute(
            select(SparePartFit.part_id, Equipment.number).join(Equipment, Equipment.id == SparePartFit.equipment_id)
            .where(SparePartFit.part_id.in_(list(fits))).order_by(Equipment.number)):
        fits[part_id].append(number)
    return [SparePartView(id=row.id, code=row.code, name_zh=row.name_zh, name_en=row.name_en, unit=row.unit,
                          on_hand=Decimal(row.on_hand), reorder_point=Decimal(row.reorder_point),
                          storage_location=row.storage_location, active=row.active,
                          low_stock=Decimal(row.on_hand) <= Decimal(row.reorder_point), fits=tuple(fits[row.id]))
            for row in rows]


def _part_view(session: Session, part: SparePart) -> SparePartView:
    session.refresh(part)
    return _part_views(session, [part])[0]


def _part(session: Session, part_id: int, *, lock: bool = False) -> SparePart:
    row = session.get(SparePart, part_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No spare part with id {part_id}.")
    return row


def _work_order_view(session: Session, row: WorkOrder) -> WorkOrderView:
    # Imported here: maintenance.py's views list the parts this module issues.
    from pharmos.equipment.maintenance import work_order_view

    return work_order_view(session, row)


# ---------------------------------------------------------------- part master


def create_spare_part(*, actor: Actor, code: str, name_zh: str, name_en: str = "", unit: str = "pc",
                      reorder_point: Decimal | str | int = 0, storage_location: str = "",
                      fits: Sequence[str] = ()) -> SparePartView:
    """A new spare part (no stock yet); ``fits`` are the numbers of the equipment it fits."""
    actor.require("spareparts.manage")
    code = _text(code, "code", max_length=40, required="Give the part code.").upper()
    if not CODE_PATTERN.match(code):
        raise ValidationFailed.on("code", "Use 2–40 capital letters, digits or . _ / -, starting with a letter or "
                                          "digit (e.g. SP-SEAL-001).")
    name_zh = _text(name_zh, "name_zh", max_length=200, required="Give the Chinese name.")
    name_en = _text(name_en, "name_en", max_length=200)
    unit = _text(unit, "unit", max_length=10, required="Give the unit (e.g. pc).")
    point = _reorder_point(reorder_point)
    storage_location = _text(storage_location, "storage_location", max_length=120)
    numbers = _fit_numbers(fits)
    with transaction(actor=actor, reason=f"Spare part {code} created") as session:
        if session.scalar(select(SparePart.id).where(SparePart.code == code)) is not None:
            raise Conflict(f"Spare part {code} already exists.", [FieldProblem("code", "Already used.")])
        equipment_ids = _fit_ids(session, numbers)
        part = SparePart(code=code, name_zh=name_zh, name_en=name_en, unit=unit, on_hand=Decimal(0),
                         reorder_point=point, storage_location=storage_location, active=True)
        session.add(part)
        session.flush()
        session.add_all([SparePartFit(part_id=part.id, equipment_id=equipment_ids[n]) for n in numbers])
        session.flush()
        return _part_view(session, part)


def update_spare_part(*, actor: Actor, part_id: int, reason: str, name_zh: str | None = None,
                      name_en: str | None = None, reorder_point: Decimal | str | int | None = None,
                      storage_location: str | None = None, fits: Sequence[str] | None = None,
                      active: bool | None = None) -> SparePartView:
    """Change the fields given (None keeps a field); ``fits`` replaces the list of equipment."""
    actor.require("spareparts.manage")
    reason = required_reason(reason)
    changes: dict[str, Any] = {}
    if name_zh is not None:
        changes["name_zh"] = _text(name_zh, "name_zh", max_length=200, required="Give the Chinese name.")
    if name_en is not None:
        changes["name_en"] = _text(name_en, "name_en", max_length=200)
    if reorder_point is not None:
        changes["reorder_point"] = _reorder_point(reorder_point)
    if storage_location is not None:
        changes["storage_location"] = _text(storage_location, "storage_location", max_length=120)
    if active is not None:
        if not isinstance(active, bool):
            raise ValidationFailed.on("active", "Must be yes or no.")
        changes["active"] = active
    numbers = None if fits is None else _fit_numbers(fits)
    with transaction(actor=actor, reason=reason) as session:
        part = _part(session, part_id, lock=True)
        if numbers is not None:
            wanted = _fit_ids(session, numbers)
            current = {fit.equipment_id: fit for fit in session.scalars(
                select(SparePartFit).where(SparePartFit.part_id == part.id))}
            for equipment_id, fit in current.items():
                if equipment_id not in wanted.values():
                    session.delete(fit)  # audited: the trail keeps which equipment it used to fit
            session.add_all([SparePartFit(part_id=part.id, equipment_id=e) for e in wanted.values()
                             if e not in current])
        for name, value in changes.items():
            setattr(part, name, value)
        session.flush()
        return _part_view(session, part)


# ---------------------------------------------------------------- stock


def receive_spare_parts(*, actor: Actor, part_id: int, quantity: Decimal | str | int,
                        reason: str = "") -> SparePartView:
    actor.require("spareparts.manage")
    amount = _quantity(quantity)
    reason = _text(reason, "reason", max_length=2000)
    with transaction(actor=actor, reason=reason or "Spare parts received") as session:
        part = _part(session, part_id)
        _post(session, part=part, kind="receipt", change=amount, actor=actor, reason=reason)
        return _part_view(session, part)


def adjust_spare_parts(*, actor: Actor, part_id: int, change: Decimal | str | int, reason: str) -> SparePartView:
    """Correct the balance by a signed quantity (found damaged, counted short…); never below zero."""
    actor.require("spareparts.manage")
    delta = _number(change, "change")
    if delta == 0:
        raise ValidationFailed.on("change", "An adjustment must change the quantity; zero changes nothing.")
    # EU GMP Annex 11 §9: a correction of a GMP record says why.
    reason = _text(reason, "reason", max_length=2000, required="A reason for the adjustment is required.")
    with transaction(actor=actor, reason=reason) as session:
        part = _part(session, part_id)
        _post(session, part=part, kind="adjustment", change=delta, actor=actor, reason=reason, field="change")
        return _part_view(session, part)


def _work_order_for_parts(session: Session, work_order_id: int, *, lock: bool = False) -> WorkOrder:
    row = session.get(WorkOrder, work_order_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No work order with id {work_order_id}.")
    return row


def _part_by_code(session: Session, part_code: object) -> SparePart:
    code = _text(part_code, "part_code", max_length=40, required="Give the part code.").upper()
    part = session.scalar(select(SparePart).where(SparePart.code == code))
    if part is None:
        raise ValidationFailed.on("part_code", f"No spare part {code}.")
    return part


def issue_spare_part_to_work_order(*, actor: Actor, work_order_id: int, part_code: str,
                                   quantity: Decimal | str | int) -> WorkOrderView:
    """Take parts off the shelf for a work order in progress on equipment the part fits."""
    actor.require("workorders.perform")
    amount = _quantity(quantity)
    with transaction(actor=actor, reason="Spare part issued to a work order") as session:
        work_order = _work_order_for_parts(session, work_order_id)
        if work_order.state != "in_progress":
            raise Conflict(f"{work_order.number} is {work_order.state}; parts are issued while it is in progress.",
                           [FieldProblem("work_order_id", f"The work order is {work_order.state}.")])
        part = _part_by_code(session, part_code)
        if not part.active:
            raise ValidationFailed.on("part_code", f"{part.code} is no longer in use.")
        fits = session.scalar(select(SparePartFit.id).where(SparePartFit.part_id == part.id,
                                                            SparePartFit.equipment_id == work_order.equipment_id))
        if fits is None:
            number = session.scalar(select(Equipment.number).where(Equipment.id == work_order.equipment_id))
            # EU GMP Part I 3.34: only parts specified for the equipment go into it.
            raise ValidationFailed.on("part_code", f"{part.code} is not listed as fitting {number}.")
        if amount > Decimal(part.on_hand):
            on_hand = _plain(part.on_hand)
            raise Conflict(f"Only {on_hand} {part.unit} of {part.code} on hand; {_plain(amount)} requested.",
                           [FieldProblem("quantity", f"Only {on_hand} {part.unit} on hand.")])
        issue_part(session, part=part, quantity=amount, work_order=work_order, actor=actor)
        return _work_order_view(session, work_order)


def return_spare_part_from_work_order(*, actor: Actor, work_order_id: int, part_code: str,
                                      quantity: Decimal | str | int) -> WorkOrderView:
    """Put unused parts back on the shelf; never more than the order still holds."""
    actor.require("workorders.perform")
    amount = _quantity(quantity)
    with transaction(actor=actor, reason="Spare part returned from a work order") as session:
        # The order's row lock queues concurrent returns, so together they cannot exceed the issues.
        work_order = _work_order_for_parts(session, work_order_id, lock=True)
        part = _part_by_code(session, part_code)
        held = -Decimal(session.scalar(select(func.coalesce(func.sum(SparePartMovement.change), 0)).where(
            SparePartMovement.part_id == part.id, SparePartMovement.work_order_id == work_order.id,
            SparePartMovement.kind.in_(("issue", "return")))) or 0)
        if amount > held:
            raise ValidationFailed.on("quantity", f"{work_order.number} holds {_plain(held)} {part.unit} of "
                                                  f"{part.code}; {_plain(amount)} cannot be returned.")
        _post(session, part=part, kind="return", change=amount, actor=actor, work_order=work_order,
              reason=f"Returned from {work_order.number}")
        return _work_order_view(session, work_order)


# ---------------------------------------------------------------- queries


def get_spare_part(*, actor: Actor, part_id: int | None = None, code: str | None = None) -> SparePartView:
    actor.require("equipment.view")
    with read_session() as session:
        if part_id is not None:
            return _part_views(session, [_part(session, part_id)])[0]
        wanted = (code or "").strip().upper()
        row = session.scalar(select(SparePart).where(SparePart.code == wanted))
        if row is None:
            raise NotFound(f"No spare part {wanted}.")
        return _part_views(session, [row])[0]


def list_spare_parts(*, actor: Actor, query: str | None = None, low_stock: bool | None = None,
                     equipment_id: int | None = None, after_id: int | None = None,
                     limit: int = 50) -> list[SparePartView]:
    """Parts by id (page on with ``after_id``); ``query`` matches code, names and storage location."""
    actor.require("equipment.view")
    with read_session() as session:
        stmt = select(SparePart).order_by(SparePart.id).limit(_page_size(limit))
        if query and query.strip():
            like = f"%{query.strip()}%"
            stmt = stmt.where(or_(SparePart.code.ilike(like), SparePart.name_zh.ilike(like),
                                  SparePart.name_en.ilike(like), SparePart.storage_location.ilike(like)))
        if low_stock is not None:
            low = SparePart.on_hand <= SparePart.reorder_point
            stmt = stmt.where(low if low_stock else ~low)
        if equipment_id is not None:
            stmt = stmt.where(SparePart.id.in_(select(SparePartFit.part_id)
                                               .where(SparePartFit.equipment_id == equipment_id)))
        if after_id is not None:
            stmt = stmt.where(SparePart.id > after_id)
        return _part_views(session, list(session.scalars(stmt)))


def list_spare_part_movements(*, actor: Actor, part_id: int, after_id: int | None = None,
                              limit: int = 100) -> list[SparePartMovementView]:
    """The part's ledger, oldest first (page on with ``after_id``)."""
    actor.require("equipment.view")
    with read_session() as session:
        part = _part(session, part_id)
        stmt = (select(SparePartMovement, WorkOrder.number)
                .outerjoin(WorkOrder, WorkOrder.id == SparePartMovement.work_order_id)
                .where(SparePartMovement.part_id == part.id).order_by(SparePartMovement.id)
                .limit(_page_size(limit)))
        if after_id is not None:
            stmt = stmt.where(SparePartMovement.id > after_id)
        return [SparePartMovementView(id=m.id, part_code=part.code, kind=m.kind, change=Decimal(m.change),
                                      work_order_number=number, reason=m.reason, actor=m.actor, at=m.at)
                for m, number in session.execute(stmt)]

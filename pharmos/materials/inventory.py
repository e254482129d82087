"""Stock: movements on the ledger, FEFO allocation and reservations, cycle counts, the daily stock review, reports.

Every balance change goes through ``ledger.post_movement`` / ``ledger.change_reservation``
(never ``Container.quantity`` directly), so the cached balances stay equal to the
append-only ledger. Whether a lot may be used is answered by one rule,
``receiving.use_problems_of`` (the same rule the lot page shows).

Locking order on PostgreSQL, to stay clear of deadlocks with the audit chain's advisory
lock (taken at the first flush of audited rows): every row lock a service needs is taken
before its first flush.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from pharmos.compliance.audit import AuditEntry, record_event
from pharmos.compliance.lifecycle import apply_transition
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    TransitionRefused,
    ValidationFailed,
)
from pharmos.core.numbering import next_number
from pharmos.materials.ledger import MOVEMENT_KINDS, change_reservation, post_movement
from pharmos.materials.lifecycle import COUNT_LIFECYCLE
from pharmos.materials.master import location_subtree, pack_units_of
from pharmos.materials.models import (
    Container,
    CycleCount,
    CycleCountLine,
    FefoOverrideReview,
    Lot,
    Material,
    StockMovement,
    StockReservation,
    StorageLocation,
)
from pharmos.materials.receiving import (
    DEFAULT_EXPIRY_WARNING_DAYS,
    held_lot_numbers,
    quality_hold_problems,
    short_dated_days,
    use_problems_of,
)
from pharmos.materials.storage import storage_problem
from pharmos.materials.units import QUANTUM, STANDARD_UNITS, parse_quantity, to_base
from pharmos.materials.views import (
    Allocation,
    AllocationLine,
    CycleCountLineView,
    CycleCountView,
    DailyReviewResult,
    ExpiryRow,
    MovementView,
    OnHandRow,
)
from pharmos.site.service import effective_value, setting_days

__all__ = [
    "adjust_stock",
    "allocate",
    "cancel_reservation",
    "destroy_stock",
    "expiry_report",
    "get_cycle_count",
    "issue_stock",
    "list_cycle_counts",
    "list_movements",
    "on_hand",
    "open_cycle_count",
    "put_away",
    "record_count",
    "reserve_stock",
    "return_stock",
    "review_fefo_override",
    "run_daily_stock_review",
    "sample_lot",
    "transfer_stock",
]

# Lot states that are still "live" stock (not yet rejected or expired).
LIVE_STATES = ("quarantine", "under_test", "released")
# QC samples quarantined lots to test them and released ones to retest or investigate.
SAMPLEABLE_STATES = LIVE_STATES
# Only stock that can never be used is destroyed.
DESTROYABLE_STATES = ("rejected", "expired")
# With status-by-zone, the lot states a zone of each status category holds.
ZONE_HOLDS: dict[str, frozenset[str]] = {
    "quarantine": frozenset({"quarantine", "under_test"}),
    "released": frozenset({"released"}),
    "rejected": frozenset({"rejected", "expired"}),
}
GROUPINGS = ("lot", "location", "material")
REVIEW_RECORD_TYPE = "stock_review"


# ---------------------------------------------------------------- input checks



def _text(value: object, field: str, *, max_length: int, required: str | None = None) -> str:
    """Trimmed text; ``required`` is the message when it is missing (None: optional)."""
    text = value.strip() if isinstance(value, str) else ""
    if required is not None and not text:
        raise ValidationFailed.on(field, required)
    if len(text) > max_length:
        raise ValidationFailed.on(field, f"At most {max_length} characters.")
    return text


def _reason(value: object) -> str:
    # EU GMP Annex 11 §9: a change to GMP data records why it was made.
    return _text(value, "reason", max_length=2000, required="A reason is required.")


def _signed_change(value: object) -> Decimal:
    """A non-zero signed quantity (an adjustment), or a ValidationFailed naming ``change``."""
    try:
        change = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on("change", f"{value!r} is not a number.") from None
    if not change.is_finite():
        raise ValidationFailed.on("change", "The change must be a finite number.")
    if change == 0:
        raise ValidationFailed.on("change", "An adjustment must change the quantity; zero changes nothing.")
    magnitude = parse_quantity(abs(change), field="change")
    return magnitude if change > 0 else -magnitude


def _count_value(value: object) -> Decimal:
    """A counted quantity: zero (an empty container) or more."""
    try:
        counted = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on("counted", f"{value!r} is not a number.") from None
    if not counted.is_finite():
        raise ValidationFailed.on("counted", "The count must be a finite number.")
    if counted < 0:
        raise ValidationFailed.on("counted", "A count cannot be negative.")
    if counted != counted.quantize(QUANTUM):
        raise ValidationFailed.on("counted", "At most 6 decimal places.")
    return counted


def _page_size(limit: int) -> int:
    # The API asks for one row more than a page (at most 500) to know whether another page follows.
    return max(1, min(limit, 1000))


def _status_by_zone() -> bool:
    # Read before a write transaction opens: the setting is read in its own session.
    return (effective_value(key="materials.status_by_zone") or "").strip().lower() == "true"


# ---------------------------------------------------------------- loading


def _container(session: Session, container_number: object) -> tuple[Container, Lot, Material]:
    """The container (row-locked: its balance is about to change), its lot and the lot's material version."""
    number = _text(container_number, "container_number", max_length=50, required="A container number is required.")
    container = session.scalar(select(Container).where(Container.number == number).with_for_update())
    if container is None:
        raise ValidationFailed.on("container_number", f"No container {number}.")
    # A shared lock: a concurrent hold or rejection of the lot waits for this movement, and
    # this movement waits for it, so no one issues a lot in the instant it is put on hold.
    lot = session.scalar(select(Lot).where(Lot.id == container.lot_id).with_for_update(read=True))
    assert lot is not None
    material = session.get(Material, lot.material_id)
    assert material is not None
    return container, lot, material


def _unit(unit: object) -> str:
    return _text(unit, "unit", max_length=10, required="A unit is required.")


def _in_base(session: Session, material: Material, lot: Lot, quantity: Decimal, unit: object) -> Decimal:
    """``quantity`` of ``unit`` in the lot's base unit (ValidationFailed naming ``unit`` on a mismatch)."""
    return to_base(quantity, _unit(unit), base_unit=lot.unit, pack_units=pack_units_of(session, material))


def _target_bin(session: Session, location_code: object, *, lot: Lot, material: Material,
                by_zone: bool, field: str = "to_location_code") -> StorageLocation:
    """The bin stock may go to, or a ValidationFailed naming ``field`` with why not."""
    code = _text(location_code, field, max_length=40, required="A target location is required.")
    location = session.scalar(select(StorageLocation).where(StorageLocation.code == code))
    if location is None:
        raise ValidationFailed.on(field, f"No location {code}.")
    if location.kind != "bin":
        raise ValidationFailed.on(field, f"{code} is a {location.kind}; stock is only put into bins.")
    if not location.active:
        raise ValidationFailed.on(field, f"Location {code} is inactive.")
    # EU GMP Part I 3.19: stored within the conditions the material's label claims.
    problem = storage_problem(condition=material.storage_condition, protect_from_light=material.protect_from_light,
                              location_class=location.storage_class, light_protected=location.light_protected)
    if problem:
        raise ValidationFailed.on(field, f"{code}: {problem}")
    if by_zone:
        zone = session.get(StorageLocation, location.parent_id) if location.parent_id is not None else None
        holds = location.status_zone or (zone.status_zone if zone is not None else "")
        if holds and lot.state not in ZONE_HOLDS.get(holds, frozenset()):
            # EU GMP Part I 3.21: where status is kept by place, the places keep statuses apart.
            raise ValidationFailed.on(field, f"{code} holds {holds} stock only; lot {lot.number} is {lot.state}.")
    return location


def _material_versions(session: Session, code: str) -> list[int]:
    return list(session.scalars(select(Material.id).where(Material.code == code)))


# ---------------------------------------------------------------- views


def _movement_views(session: Session, movements: Sequence[StockMovement]) -> list[MovementView]:
    if not movements:
        return []

    def ids(values: Iterable[int | None]) -> set[int]:
        return {v for v in values if v is not None}

    lots = dict(session.execute(select(Lot.id, Lot.number).where(
        Lot.id.in_(ids(m.lot_id for m in movements)))).all())
    containers = dict(session.execute(select(Container.id, Container.number).where(
        Container.id.in_(ids(m.container_id for m in movements)))).all())
    codes = dict(session.execute(select(Material.id, Material.code).where(
        Material.id.in_(ids(m.material_id for m in movements)))).all())
    places = dict(session.execute(select(StorageLocation.id, StorageLocation.code).where(StorageLocation.id.in_(
        ids([m.from_location_id for m in movements] + [m.to_location_id for m in movements])))).all())
    overrides = ids(m.id for m in movements if m.fefo_override)
    reviews = dict(session.execute(select(FefoOverrideReview.movement_id, FefoOverrideReview.reviewed_by).where(
        FefoOverrideReview.movement_id.in_(overrides))).all()) if overrides else {}
    return [MovementView(
        id=m.id, kind=m.kind, lot_id=m.lot_id, lot_number=lots.get(m.lot_id, ""),
        container_number=containers.get(m.container_id, ""), material_code=codes.get(m.material_id, ""),
        quantity_change=Decimal(m.quantity_change), quantity=Decimal(m.quantity), unit=m.unit,
        from_location_code=places.get(m.from_location_id) if m.from_location_id is not None else None,
        to_location_code=places.get(m.to_location_id) if m.to_location_id is not None else None,
        actor=m.actor, reason=m.reason, reference=m.reference, at=m.at, fefo_override=m.fefo_override,
        reviewed_by=reviews.get(m.id)) for m in movements]


def _reservation_line(session: Session, reservation: StockReservation, container: Container,
                      lot: Lot) -> AllocationLine:
    code = session.scalar(select(StorageLocation.code).where(StorageLocation.id == container.location_id)) \
        if container.location_id is not None else None
    return AllocationLine(lot_id=lot.id, lot_number=lot.number, container_id=container.id,
                          container_number=container.number, location_code=code, expires_on=lot.expires_on,
                          retest_on=lot.retest_on, quantity=Decimal(reservation.quantity),
                          reservation_id=reservation.id)


# ---------------------------------------------------------------- moving stock


def _relocate(*, actor: Actor, kind: str, container_number: str, to_location_code: str, reason: str) -> MovementView:
    actor.require("stock.move")
    by_zone = _status_by_zone()
    reason = _text(reason, "reason", max_length=2000)
    label = "Put-away" if kind == "put_away" else "Transfer"
    with transaction(actor=actor, reason=reason or label) as session:
        container, lot, material = _container(session, container_number)
        target = _target_bin(session, to_location_code, lot=lot, material=material, by_zone=by_zone)
        if target.id == container.location_id:
            raise ValidationFailed.on("to_location_code", f"Container {container.number} is already in {target.code}.")
        if container.quantity <= 0:
            raise ValidationFailed.on("container_number", f"Container {container.number} is empty; nothing to move.")
        movement = post_movement(session, kind=kind, container=container, change=Decimal(0),
                                 quantity=Decimal(container.quantity), unit=lot.unit, actor=actor,
                                 to_location_id=target.id, reason=reason)
        return _movement_views(session, [movement])[0]


def put_away(*, actor: Actor, container_number: str, to_location_code: str, reason: str = "") -> MovementView:
    """Move a received container from the dock into its storage bin."""
    return _relocate(actor=actor, kind="put_away", container_number=container_number,
                     to_location_code=to_location_code, reason=reason)


def transfer_stock(*, actor: Actor, container_number: str, to_location_code: str, reason: str = "") -> MovementView:
    """Move a container from one bin to another."""
    return _relocate(actor=actor, kind="transfer", container_number=container_number,
                     to_location_code=to_location_code, reason=reason)


def _earlier_usable(session: Session, lot: Lot, container: Container, *, today: date,
                    short_dated: int) -> tuple[str, str, date] | None:
    """(container, lot, expiry) of a usable container of the same material expiring before ``lot`` with stock free."""
    versions = list(session.scalars(select(Material).where(Material.code == lot.material_code)))
    row = session.execute(
        select(Container.number, Lot.number, Lot.expires_on).join(Lot, Lot.id == Container.lot_id)
        .where(*_usable(versions, minimum=0, today=today, short_dated=short_dated, held=held_lot_numbers()),
               Lot.expires_on < lot.expires_on, Container.id != container.id)
        .order_by(Lot.expires_on, Lot.number, Container.number).limit(1)).first()
    return (row[0], row[1], row[2]) if row is not None else None


def issue_stock(*, actor: Actor, container_number: str, quantity: Decimal | str | int, unit: str, reference: str,
                reservation_id: int | None = None, fefo_override_reason: str = "") -> MovementView:
    """Issue stock of a usable lot to production (``reference``: the batch or order it is for)."""
    actor.require("stock.issue")
    entered = parse_quantity(quantity)
    reference = _text(reference, "reference", max_length=100,
                      required="Say what the stock is issued for (batch or order number).")
    override_reason = _text(fefo_override_reason, "fefo_override_reason", max_length=2000)
    short_dated = short_dated_days()
    today = site_today()
    with transaction(actor=actor, reason=override_reason or f"Issue for {reference}") as session:
        container, lot, material = _container(session, container_number)
        change = _in_base(session, material, lot, entered, unit)
        # EU GMP Part I 5.61 / 药品GMP 第一百二十九条: only released, in-date material is used.
        problems = (use_problems_of(lot, material, at=today, short_dated=short_dated)
                    + quality_hold_problems(lot.number))
        if problems:
            raise ValidationFailed(f"Lot {lot.number} may not be issued: " + " ".join(problems),
                                   [FieldProblem("container_number", p) for p in problems])
        reservation = None
        consumed = Decimal(0)
        if reservation_id is not None:
            reservation = session.get(StockReservation, reservation_id, with_for_update=True)
            if reservation is None or reservation.container_id != container.id:
                raise ValidationFailed.on("reservation_id",
                                          f"Reservation {reservation_id} is not a reservation of {container.number}.")
            if reservation.status != "open":
                raise Conflict(f"Reservation {reservation_id} is {reservation.status}.",
                               [FieldProblem("reservation_id", f"The reservation is {reservation.status}.")])
            consumed = min(Decimal(reservation.quantity), change)
        available = Decimal(container.quantity) - Decimal(container.reserved) + consumed
        if change > available:
            raise Conflict(f"Container {container.number} has only {available} {lot.unit} available; "
                           f"{change} {lot.unit} requested.",
                           [FieldProblem("quantity", f"Only {available} {lot.unit} available.")])
        earlier = _earlier_usable(session, lot, container, today=today, short_dated=short_dated)
        if earlier is not None and not override_reason:
            other, other_lot, other_expiry = earlier
            message = (f"First expiry, first out: container {other} of lot {other_lot} expires "
                       f"earlier ({other_expiry.isoformat()}); give a reason to issue this one instead.")
            raise ValidationFailed.on("fefo_override_reason", message)
        movement = post_movement(session, kind="issue", container=container, change=-change, quantity=entered,
                                 unit=unit.strip(), actor=actor, reason=override_reason if earlier else "",
                                 reference=reference, consume_reserved=consumed, fefo_override=earlier is not None)
        if reservation is not None:
            if consumed >= Decimal(reservation.quantity):
                reservation.status = "issued"
            else:
                reservation.quantity = Decimal(reservation.quantity) - consumed
        return _movement_views(session, [movement])[0]


def return_stock(*, actor: Actor, container_number: str, quantity: Decimal | str | int, unit: str,
                 to_location_code: str, reason: str, reference: str = "") -> MovementView:
    """Put unused issued stock back into its container and a bin."""
    actor.require("stock.move")
    entered = parse_quantity(quantity)
    reason = _reason(reason)
    reference = _text(reference, "reference", max_length=100)
    by_zone = _status_by_zone()
    with transaction(actor=actor, reason=reason) as session:
        container, lot, material = _container(session, container_number)
        change = _in_base(session, material, lot, entered, unit)
        target = _target_bin(session, to_location_code, lot=lot, material=material, by_zone=by_zone)
        issued = -Decimal(session.scalar(select(func.coalesce(func.sum(StockMovement.quantity_change), 0)).where(
            StockMovement.container_id == container.id, StockMovement.kind == "issue")) or 0)
        returned = Decimal(session.scalar(select(func.coalesce(func.sum(StockMovement.quantity_change), 0)).where(
            StockMovement.container_id == container.id, StockMovement.kind == "return")) or 0)
        # Only what left this container can come back into it: anything else is another lot.
        if change > issued - returned:
            raise ValidationFailed.on("quantity", f"Only {issued - returned} {lot.unit} issued from "
                                                  f"{container.number} is still out; {change} {lot.unit} returned.")
        movement = post_movement(session, kind="return", container=container, change=change, quantity=entered,
                                 unit=unit.strip(), actor=actor, to_location_id=target.id, reason=reason,
                                 reference=reference)
        return _movement_views(session, [movement])[0]


def adjust_stock(*, actor: Actor, container_number: str, change: Decimal | str | int, unit: str,
                 reason: str) -> MovementView:
    """Correct a container's balance by a signed quantity (found damaged, weighed short…)."""
    actor.require("stock.adjust")
    signed = _signed_change(change)
    reason = _reason(reason)
    with transaction(actor=actor, reason=reason) as session:
        container, lot, material = _container(session, container_number)
        in_base = _in_base(session, material, lot, abs(signed), unit)
        delta = in_base if signed > 0 else -in_base
        available = Decimal(container.quantity) - Decimal(container.reserved)
        if delta < 0 and -delta > available:
            raise Conflict(f"Container {container.number} has only {available} {lot.unit} available; "
                           f"the adjustment would make it negative.",
                           [FieldProblem("change", f"At most -{available} {lot.unit}.")])
        movement = post_movement(session, kind="adjustment", container=container, change=delta,
                                 quantity=abs(signed), unit=unit.strip(), actor=actor, reason=reason)
        return _movement_views(session, [movement])[0]


def _take_out(session: Session, *, actor: Actor, kind: str, container: Container, lot: Lot, material: Material,
              entered: Decimal, unit: str, reason: str, reference: str) -> StockMovement:
    change = _in_base(session, material, lot, entered, unit)
    available = Decimal(container.quantity) - Decimal(container.reserved)
    if change > available:
        raise Conflict(f"Container {container.number} has only {available} {lot.unit} available; "
                       f"{change} {lot.unit} requested.",
                       [FieldProblem("quantity", f"Only {available} {lot.unit} available.")])
    return post_movement(session, kind=kind, container=container, change=-change, quantity=entered,
                         unit=unit.strip(), actor=actor, reason=reason, reference=reference)


def sample_lot(*, actor: Actor, container_number: str, quantity: Decimal | str | int, unit: str,
               reason: str = "QC sampling", reference: str = "") -> MovementView:
    """Take a sample out of a container for QC (quarantined, under test or released lots)."""
    actor.require("stock.sample")
    entered = parse_quantity(quantity)
    reason = _reason(reason)
    reference = _text(reference, "reference", max_length=100)
    with transaction(actor=actor, reason=reason) as session:
        container, lot, material = _container(session, container_number)
        if lot.state not in SAMPLEABLE_STATES:
            raise ValidationFailed.on("container_number", f"Lot {lot.number} is {lot.state}; samples are taken from "
                                                          "quarantined, under-test or released lots only.")
        movement = _take_out(session, actor=actor, kind="sampling", container=container, lot=lot, material=material,
                             entered=entered, unit=unit, reason=reason, reference=reference)
        return _movement_views(session, [movement])[0]


def destroy_stock(*, actor: Actor, container_number: str, quantity: Decimal | str | int, unit: str,
                  reason: str) -> MovementView:
    """Write off destroyed stock of a rejected or expired lot."""
    actor.require("stock.adjust")
    entered = parse_quantity(quantity)
    reason = _reason(reason)
    today = site_today()
    with transaction(actor=actor, reason=reason) as session:
        container, lot, material = _container(session, container_number)
        if lot.state not in DESTROYABLE_STATES and lot.expires_on > today:
            raise ValidationFailed.on("container_number", f"Lot {lot.number} is {lot.state}; only rejected or "
                                                          "expired stock is destroyed.")
        movement = _take_out(session, actor=actor, kind="destruction", container=container, lot=lot,
                             material=material, entered=entered, unit=unit, reason=reason, reference="")
        return _movement_views(session, [movement])[0]


# ---------------------------------------------------------------- reservations and FEFO


def reserve_stock(*, actor: Actor, container_number: str, quantity: Decimal | str | int, unit: str,
                  purpose: str) -> AllocationLine:
    """Promise part of a usable container to ``purpose`` (a batch order); issue it later against the reservation."""
    actor.require("stock.issue")
    entered = parse_quantity(quantity)
    purpose = _text(purpose, "purpose", max_length=100, required="Say what the stock is reserved for.")
    short_dated = short_dated_days()
    today = site_today()
    with transaction(actor=actor, reason=f"Reserved for {purpose}") as session:
        container, lot, material = _container(session, container_number)
        in_base = _in_base(session, material, lot, entered, unit)
        problems = (use_problems_of(lot, material, at=today, short_dated=short_dated)
                    + quality_hold_problems(lot.number))
        if problems:
            raise ValidationFailed(f"Lot {lot.number} may not be reserved: " + " ".join(problems),
                                   [FieldProblem("container_number", p) for p in problems])
        available = Decimal(container.quantity) - Decimal(container.reserved)
        if in_base > available:
            raise Conflict(f"Container {container.number} has only {available} {lot.unit} available.",
                           [FieldProblem("quantity", f"Only {available} {lot.unit} available.")])
        reservation = StockReservation(container_id=container.id, lot_id=lot.id, quantity=in_base, purpose=purpose,
                                       status="open", created_by=actor.username)
        session.add(reservation)
        session.flush()
        change_reservation(session, container=container, change=in_base)
        return _reservation_line(session, reservation, container, lot)


def cancel_reservation(*, actor: Actor, reservation_id: int, reason: str) -> None:
    """Give a reservation's quantity back to the available stock."""
    actor.require("stock.issue")
    reason = _reason(reason)
    with transaction(actor=actor, reason=reason) as session:
        reservation = session.get(StockReservation, reservation_id, with_for_update=True)
        if reservation is None:
            raise NotFound(f"No reservation {reservation_id}.")
        if reservation.status != "open":
            raise Conflict(f"Reservation {reservation_id} is {reservation.status}; only open ones are cancelled.")
        container = session.get(Container, reservation.container_id, with_for_update=True)
        assert container is not None
        reservation.status = "cancelled"
        change_reservation(session, container=container, change=-Decimal(reservation.quantity))


@dataclass(frozen=True)
class _Candidate:
    container_id: int
    container_number: str
    location_code: str | None
    free: Decimal
    lot_id: int
    lot_number: str
    material_id: int
    expires_on: date
    retest_on: date | None


def _usable(versions: Sequence[Material], *, minimum: int, today: date, short_dated: int,
            held: frozenset[str] = frozenset()) -> list[ColumnElement[bool]]:
    """``receiving.use_problems_of`` as SQL over Container ⋈ Lot: containers of usable lots with stock free.

    Kept in step with that rule by tests/materials/test_fefo.py (its oracle is the lot page's
    use_problems), so the database can walk the (material_id, expires_on) index.
    """
    # Each material version has its own minimum remaining shelf life; a batch may ask for more.
    in_date = or_(*(and_(Lot.material_id == version.id, Lot.expires_on >= today + timedelta(
        days=max(version.min_remaining_shelf_life_days or 0, minimum, 1))) for version in versions))
    # 药品GMP 第二百五十条: a lot held by an open deviation is neither allocated nor a FEFO rival.
    not_held = [Lot.number.not_in(held)] if held else []
    return [*not_held, Lot.material_id.in_([v.id for v in versions]), in_date, Lot.state == "released",
            or_(Lot.retest_on.is_(None), Lot.retest_on > today),
            or_(Lot.short_dated_use_approved, Lot.expires_on >= today + timedelta(days=short_dated)),
            Container.quantity > Container.reserved]


def _fefo_candidates(session: Session, *, versions: Sequence[Material], minimum: int, today: date,
                     short_dated: int, needed: Decimal, skip: set[int]) -> list[_Candidate]:
    """Usable containers in FEFO order, cut in SQL where the running free quantity first covers ``needed``."""
    free = (Container.quantity - Container.reserved).label("free")
    order = (Lot.expires_on, Lot.number, Container.number)
    ranked = (select(Container.id.label("container_id"), Container.number.label("container_number"),
                     StorageLocation.code.label("location_code"), free, Lot.id.label("lot_id"),
                     Lot.number.label("lot_number"),
                     Lot.material_id, Lot.expires_on, Lot.retest_on,
                     func.sum(free).over(order_by=order).label("running"))
              .join(Lot, Lot.id == Container.lot_id)
              .outerjoin(StorageLocation, StorageLocation.id == Container.location_id)
              .where(*_usable(versions, minimum=minimum, today=today, short_dated=short_dated,
                              held=held_lot_numbers())))
    if skip:
        ranked = ranked.where(Container.id.not_in(skip))
    window = ranked.subquery()
    rows = session.execute(select(window).where(window.c.running - window.c.free < needed)
                           .order_by(window.c.expires_on, window.c.lot_number, window.c.container_number)).all()
    return [_Candidate(*row[:9]) for row in rows]


def allocate(*, actor: Actor, material_code: str, quantity: Decimal | str | int, unit: str, purpose: str,
             reserve: bool = False, min_remaining_days: int | None = None) -> Allocation:
    """Pick containers first-expiry-first-out until ``quantity`` is covered (and reserve them if asked).

    Only usable stock counts: released, unexpired, retest not due, at least the material's
    minimum remaining shelf life (``min_remaining_days`` may ask for more, never for less),
    short-dated lots only with QA's approval. Order: expiry, lot number, container number.
    """
    actor.require("stock.issue")
    code = _text(material_code, "material_code", max_length=40, required="A material code is required.")
    entered = parse_quantity(quantity)
    purpose = _text(purpose, "purpose", max_length=100, required="Say what the stock is allocated for.")
    if min_remaining_days is not None and (isinstance(min_remaining_days, bool)
                                           or not isinstance(min_remaining_days, int) or min_remaining_days < 0):
        raise ValidationFailed.on("min_remaining_days", "A whole number of days, 0 or more.")
    short_dated = short_dated_days()
    today = site_today()
    scope = transaction(actor=actor, reason=f"Reserved for {purpose}") if reserve else read_session()
    with scope as session:
        versions = {m.id: m for m in session.scalars(select(Material).where(Material.code == code))}
        material = next((m for m in versions.values() if m.state == "approved"), None)
        if material is None:
            raise ValidationFailed.on("material_code", f"No approved material {code}.")
        unit = _unit(unit)
        # Pack unit names never shadow standard units, so those need no lookup (one round trip less).
        requested = to_base(entered, unit, base_unit=material.base_unit,
                            pack_units={} if unit in STANDARD_UNITS else pack_units_of(session, material))
        picked: list[tuple[_Candidate, Decimal]] = []
        locked: dict[int, Container] = {}
        seen: set[int] = set()
        remaining = requested
        while remaining > 0:
            batch = _fefo_candidates(session, versions=list(versions.values()), minimum=min_remaining_days or 0,
                                     today=today, short_dated=short_dated, needed=remaining, skip=seen)
            if not batch:
                break
            ids = [c.container_id for c in batch]
            seen.update(ids)
            free = {c.container_id: Decimal(c.free) for c in batch}
            if reserve:
                # Locked in id order (no deadlock between allocators) and before anything is flushed
                # (module docstring). A reservation committed meanwhile shows in the fresh balance, and
                # the loop then looks further down the FEFO order.
                for container in session.scalars(select(Container).where(Container.id.in_(ids))
                                                 .order_by(Container.id).with_for_update()
                                                 .execution_options(populate_existing=True)):
                    locked[container.id] = container
                    free[container.id] = Decimal(container.quantity) - Decimal(container.reserved)
            for candidate in batch:
                if remaining > 0 and free[candidate.container_id] > 0:
                    take = min(free[candidate.container_id], remaining)
                    picked.append((candidate, take))
                    remaining -= take
            if all(free[c.container_id] == Decimal(c.free) for c in batch):
                # The batch was cut where its running total covers the request, so a shortfall with
                # balances unchanged since the query means there is no more usable stock to look for.
                break
        lines = []
        for candidate, take in picked:
            reservation_id = None
            if reserve:
                reservation = StockReservation(container_id=candidate.container_id, lot_id=candidate.lot_id,
                                               quantity=take, purpose=purpose, status="open",
                                               created_by=actor.username)
                session.add(reservation)
                session.flush()
                change_reservation(session, container=locked[candidate.container_id], change=take)
                reservation_id = reservation.id
            lines.append(AllocationLine(
                lot_id=candidate.lot_id, lot_number=candidate.lot_number, container_id=candidate.container_id,
                container_number=candidate.container_number,
                location_code=candidate.location_code,
                expires_on=candidate.expires_on, retest_on=candidate.retest_on, quantity=take,
                reservation_id=reservation_id))
        return Allocation(material_code=code, requested=requested, unit=material.base_unit, purpose=purpose,
                          lines=tuple(lines), shortfall=max(remaining, Decimal(0)))


# ---------------------------------------------------------------- reports


def on_hand(*, actor: Actor, material_code: str | None = None, lot_id: int | None = None,
            location_code: str | None = None, group_by: str = "lot") -> list[OnHandRow]:
    """Stock on hand, reserved and available, summed from the containers' cached balances."""
    actor.require("materials.view")
    if group_by not in GROUPINGS:
        raise ValidationFailed.on("group_by", f"Group by one of {', '.join(GROUPINGS)}.")
    with read_session() as session:
        filters = [Container.quantity > 0]
        lot_filters: list[ColumnElement[bool]] = []
        if material_code:
            ids = _material_versions(session, material_code.strip())
            if not ids:
                return []
            filters.append(Container.material_id.in_(ids))
            # Also on the lot side, so the planner can start from the lots' material index.
            lot_filters.append(Lot.material_id.in_(ids))
        if lot_id is not None:
            filters.append(Container.lot_id == lot_id)
        if location_code:
            location_id = session.scalar(select(StorageLocation.id).where(
                StorageLocation.code == location_code.strip()))
            if location_id is None:
                raise ValidationFailed.on("location_code", f"No location {location_code.strip()}.")
            filters.append(Container.location_id.in_(location_subtree(session, location_id)))
        totals = (func.count(Container.id), func.sum(Container.quantity), func.sum(Container.reserved))
        if group_by == "lot":
            lot_rows = session.execute(
                select(Lot.material_code, Material.name_zh, Lot.id, Lot.number, Lot.state, Lot.expires_on,
                       Lot.retest_on, Lot.unit, *totals)
                .select_from(Container).join(Lot, Lot.id == Container.lot_id)
                .join(Material, Material.id == Lot.material_id).where(*filters, *lot_filters)
                .group_by(Lot.id, Material.id).order_by(Lot.material_code, Lot.expires_on, Lot.number)).all()
            return [OnHandRow(material_code=code, material_name=name, lot_id=lid, lot_number=number, lot_state=state,
                              expires_on=expires, retest_on=retest, location_code=None, containers=count,
                              on_hand=Decimal(q), reserved=Decimal(r), available=Decimal(q) - Decimal(r), unit=unit)
                    for code, name, lid, number, state, expires, retest, unit, count, q, r in lot_rows]
        names = _material_names(session)
        if group_by == "location":
            place_rows = session.execute(
                select(Material.code, Material.base_unit, Container.location_id, *totals)
                .select_from(Container).join(Material, Material.id == Container.material_id).where(*filters)
                .group_by(Material.code, Material.base_unit, Container.location_id)).all()
            codes = dict(session.execute(select(StorageLocation.id, StorageLocation.code)).all())
            rows = [OnHandRow(material_code=code, material_name=names.get(code, ""), lot_id=None, lot_number=None,
                              lot_state=None, expires_on=None, retest_on=None,
                              location_code=codes.get(location) if location is not None else None, containers=count,
                              on_hand=Decimal(q), reserved=Decimal(r), available=Decimal(q) - Decimal(r), unit=unit)
                    for code, unit, location, count, q, r in place_rows]
            return sorted(rows, key=lambda row: (row.location_code or "", row.material_code))
        material_rows = session.execute(
            select(Material.code, Material.base_unit, *totals)
            .select_from(Container).join(Material, Material.id == Container.material_id).where(*filters)
            .group_by(Material.code, Material.base_unit).order_by(Material.code)).all()
        return [OnHandRow(material_code=code, material_name=names.get(code, ""), lot_id=None, lot_number=None,
                          lot_state=None, expires_on=None, retest_on=None, location_code=None, containers=count,
                          on_hand=Decimal(q), reserved=Decimal(r), available=Decimal(q) - Decimal(r), unit=unit)
                for code, unit, count, q, r in material_rows]


def _material_names(session: Session) -> dict[str, str]:
    # The latest version's name stands for the code.
    names: dict[str, str] = {}
    for code, name in session.execute(select(Material.code, Material.name_zh).order_by(Material.version)):
        names[code] = name
    return names


def list_movements(*, actor: Actor, lot_id: int | None = None, material_code: str | None = None,
                   kind: str | None = None, override_pending: bool | None = None, after_id: int | None = None,
                   limit: int = 50) -> list[MovementView]:
    """Ledger entries, oldest first (page on with ``after_id``)."""
    actor.require("materials.view")
    if kind is not None and kind not in MOVEMENT_KINDS:
        raise ValidationFailed.on("kind", f"Choose one of {', '.join(MOVEMENT_KINDS)}.")
    with read_session() as session:
        stmt = select(StockMovement).order_by(StockMovement.id).limit(_page_size(limit))
        if lot_id is not None:
            stmt = stmt.where(StockMovement.lot_id == lot_id)
        if material_code:
            stmt = stmt.where(StockMovement.material_id.in_(_material_versions(session, material_code.strip())))
        if kind is not None:
            stmt = stmt.where(StockMovement.kind == kind)
        if override_pending is not None:
            reviewed = select(FefoOverrideReview.id).where(FefoOverrideReview.movement_id == StockMovement.id).exists()
            pending = and_(StockMovement.fefo_override, not_(reviewed))
            stmt = stmt.where(pending if override_pending else not_(pending))
        if after_id is not None:
            stmt = stmt.where(StockMovement.id > after_id)
        return _movement_views(session, list(session.scalars(stmt)))


def review_fefo_override(*, actor: Actor, movement_id: int, comment: str) -> MovementView:
    """QA's review of an issue that did not follow first-expiry-first-out."""
    actor.require("lots.review")
    comment = _text(comment, "comment", max_length=2000, required="Record QA's assessment of the override.")
    with transaction(actor=actor, reason=comment) as session:
        movement = session.get(StockMovement, movement_id)
        if movement is None:
            raise NotFound(f"No stock movement {movement_id}.")
        if not movement.fefo_override:
            raise Conflict(f"Movement {movement_id} followed FEFO; there is nothing to review.")
        if session.scalar(select(FefoOverrideReview.id).where(FefoOverrideReview.movement_id == movement.id)):
            raise Conflict(f"The override of movement {movement_id} has already been reviewed.")
        if actor.user_id is not None and movement.actor_id == actor.user_id:
            # Four eyes: whoever chose to override FEFO does not review their own choice.
            raise Conflict("You issued this stock yourself; another QA reviewer must assess the override.")
        session.add(FefoOverrideReview(movement_id=movement.id, reviewed_by=actor.username, comment=comment))
        session.flush()
        return _movement_views(session, [movement])[0]


def _expiry_rows(session: Session, lots: Sequence[Lot], today: date) -> list[ExpiryRow]:
    if not lots:
        return []
    ids = [lot.id for lot in lots]
    stock = {lot_id: Decimal(q) for lot_id, q in session.execute(
        select(Container.lot_id, func.sum(Container.quantity)).where(Container.lot_id.in_(ids))
        .group_by(Container.lot_id))}
    names = dict(session.execute(select(Material.id, Material.name_zh).where(
        Material.id.in_({lot.material_id for lot in lots}))).all())
    return [ExpiryRow(lot_id=lot.id, lot_number=lot.number, material_code=lot.material_code,
                      material_name=names.get(lot.material_id, ""), state=lot.state, expires_on=lot.expires_on,
                      retest_on=lot.retest_on, days_to_expiry=(lot.expires_on - today).days,
                      days_to_retest=(lot.retest_on - today).days if lot.retest_on is not None else None,
                      on_hand=stock.get(lot.id, Decimal(0)), unit=lot.unit) for lot in lots]


def _lots_in_stock() -> ColumnElement[bool]:
    return select(Container.id).where(Container.lot_id == Lot.id, Container.quantity > 0).exists()


def expiry_report(*, actor: Actor, within_days: int = 90) -> list[ExpiryRow]:
    """Lots in stock whose expiry or retest date falls within ``within_days`` (or has passed)."""
    actor.require("materials.view")
    if isinstance(within_days, bool) or not isinstance(within_days, int) or within_days < 0:
        raise ValidationFailed.on("within_days", "A whole number of days, 0 or more.")
    today = site_today()
    horizon = today + timedelta(days=within_days)
    with read_session() as session:
        lots = list(session.scalars(
            select(Lot).where(Lot.state != "rejected", _lots_in_stock(),
                              or_(Lot.expires_on <= horizon, Lot.retest_on <= horizon))
            .order_by(Lot.expires_on, Lot.number)))
        return _expiry_rows(session, lots, today)


def _previously_flagged(session: Session) -> set[str]:
    last = session.scalar(select(AuditEntry.changes).where(AuditEntry.record_type == REVIEW_RECORD_TYPE)
                          .order_by(AuditEntry.id.desc()).limit(1))
    if not last:
        return set()
    details = json.loads(last)
    return set(details.get("expiring", [])) | set(details.get("retest_due", []))


def run_daily_stock_review(*, actor: Actor, today: date | None = None) -> DailyReviewResult:
    """The daily job: expire lots past their expiry date and list lots expiring or due for retest soon."""
    actor.require("lots.expire")
    run_on = today or site_today()
    window = setting_days("materials.expiry_warning_days", DEFAULT_EXPIRY_WARNING_DAYS)
    # The lifecycle's guard judges expiry by the real date; a run "as of" a later day cannot expire early.
    expire_by = min(run_on, site_today())
    with read_session() as session:
        due = list(session.execute(select(Lot.id, Lot.number).where(
            Lot.state.in_(LIVE_STATES), Lot.expires_on <= expire_by).order_by(Lot.expires_on, Lot.number)))
    expired = []
    for lot_id, number in due:
        try:
            apply_transition(actor=actor, collection="lots", record_id=lot_id, name="expire",
                             reason="Expiry date reached (daily stock review)")
        except TransitionRefused:
            continue  # changed by someone else meanwhile; tomorrow's run sees it again
        expired.append(number)
    horizon = run_on + timedelta(days=window)
    with transaction(actor=actor, reason="Daily stock review") as session:
        in_stock = _lots_in_stock()
        expiring = _expiry_rows(session, list(session.scalars(select(Lot).where(
            Lot.state.in_(LIVE_STATES), in_stock, Lot.expires_on > run_on,
            Lot.expires_on <= horizon).order_by(Lot.expires_on, Lot.number))), run_on)
        retest_due = _expiry_rows(session, list(session.scalars(select(Lot).where(
            Lot.state.in_(("quarantine", "released")), in_stock, Lot.expires_on > run_on,
            Lot.retest_on <= horizon).order_by(Lot.retest_on, Lot.number))), run_on)
        before = _previously_flagged(session)
        flagged = sorted({row.lot_number for row in (*expiring, *retest_due)} - before)
        record_event(session, record_type=REVIEW_RECORD_TYPE, record_id=run_on.isoformat(), action="daily_review",
                     details={"run_on": run_on.isoformat(), "window_days": window, "expired": expired,
                              "expiring": [row.lot_number for row in expiring],
                              "retest_due": [row.lot_number for row in retest_due], "flagged": flagged})
    return DailyReviewResult(run_on=run_on, expired=tuple(expired), expiring=tuple(expiring),
                             retest_due=tuple(retest_due), flagged=tuple(flagged))


# ---------------------------------------------------------------- cycle counts


def _count_view(session: Session, count: CycleCount, *, with_lines: bool = True,
                with_signatures: bool = False) -> CycleCountView:
    location_code = session.scalar(select(StorageLocation.code).where(StorageLocation.id == count.location_id))
    lines: list[CycleCountLineView] = []
    if with_lines:
        rows = session.execute(
            select(CycleCountLine, Container.number, Lot.number, Lot.material_code, Lot.unit)
            .join(Container, Container.id == CycleCountLine.container_id).join(Lot, Lot.id == Container.lot_id)
            .where(CycleCountLine.count_id == count.id).order_by(Container.number))
        for line, container_number, lot_number, code, unit in rows:
            expected = Decimal(line.expected)
            counted = Decimal(line.counted) if line.counted is not None else None
            lines.append(CycleCountLineView(
                id=line.id, container_number=container_number, lot_number=lot_number, material_code=code,
                expected=expected, counted=counted, variance=counted - expected if counted is not None else None,
                unit=unit))
    return CycleCountView(id=count.id, number=count.number, location_code=location_code or "", state=count.state,
                          created_by=count.created_by, created_at=count.created_at, lines=tuple(lines),
                          signatures=tuple(signatures_for(session, count)) if with_signatures else ())


def open_cycle_count(*, actor: Actor, location_code: str) -> CycleCountView:
    """List every container holding stock under ``location_code`` for counting."""
    actor.require("stock.count")
    code = _text(location_code, "location_code", max_length=40, required="A location is required.")
    with transaction(actor=actor, reason=f"Cycle count of {code} opened") as session:
        location = session.scalar(select(StorageLocation).where(StorageLocation.code == code))
        if location is None:
            raise ValidationFailed.on("location_code", f"No location {code}.")
        containers = list(session.scalars(select(Container).where(
            Container.location_id.in_(location_subtree(session, location.id)), Container.quantity > 0)
            .order_by(Container.number)))
        if not containers:
            raise ValidationFailed.on("location_code", f"No stock is held under {code}; there is nothing to count.")
        busy = session.scalar(
            select(CycleCount.number).join(CycleCountLine, CycleCountLine.count_id == CycleCount.id)
            .where(CycleCount.state.in_(("open", "submitted")),
                   CycleCountLine.container_id.in_([c.id for c in containers])).limit(1))
        if busy:
            # Two counts of the same container would post its variance twice.
            raise Conflict(f"{busy} is still counting stock under {code}; finish or cancel it first.",
                           [FieldProblem("location_code", f"{busy} is still open.")])
        count = CycleCount(number=next_number(session, prefix="CC"), location_id=location.id,
                           state=COUNT_LIFECYCLE.initial, created_by=actor.username)
        session.add(count)
        session.flush()
        session.add_all([CycleCountLine(count_id=count.id, container_id=c.id, expected=Decimal(c.quantity))
                         for c in containers])
        session.flush()
        return _count_view(session, count)


def record_count(*, actor: Actor, count_id: int, container_number: str, counted: Decimal | str | int
                 ) -> CycleCountView:
    """Record what was found in one container (in the lot's base unit)."""
    actor.require("stock.count")
    value = _count_value(counted)
    number = _text(container_number, "container_number", max_length=50, required="A container number is required.")
    with transaction(actor=actor, reason="Cycle count recorded") as session:
        count = session.get(CycleCount, count_id, with_for_update=True)
        if count is None:
            raise NotFound(f"No cycle count {count_id}.")
        if count.state != "open":
            raise Conflict(f"{count.number} is {count.state}; counts are recorded while it is open.")
        line = session.scalar(select(CycleCountLine).join(Container, Container.id == CycleCountLine.container_id)
                              .where(CycleCountLine.count_id == count.id, Container.number == number))
        if line is None:
            raise ValidationFailed.on("container_number", f"Container {number} is not on {count.number}.")
        line.counted = value
        session.flush()
        return _count_view(session, count)


def get_cycle_count(*, actor: Actor, count_id: int) -> CycleCountView:
    actor.require("materials.view")
    with read_session() as session:
        count = session.get(CycleCount, count_id)
        if count is None:
            raise NotFound(f"No cycle count {count_id}.")
        return _count_view(session, count, with_signatures=True)


def list_cycle_counts(*, actor: Actor, state: str | None = None, after_id: int | None = None,
                      limit: int = 50) -> list[CycleCountView]:
    """Cycle counts, oldest first, without their lines."""
    actor.require("materials.view")
    if state is not None and state not in COUNT_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(COUNT_LIFECYCLE.states)}.")
    with read_session() as session:
        stmt = select(CycleCount).order_by(CycleCount.id).limit(_page_size(limit))
        if state is not None:
            stmt = stmt.where(CycleCount.state == state)
        if after_id is not None:
            stmt = stmt.where(CycleCount.id > after_id)
        return [_count_view(session, count, with_lines=False) for count in session.scalars(stmt)]

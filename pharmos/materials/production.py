"""Lots made in house: a batch's output received into stock, and its release or rejection with the batch.

A batch record's completion puts its output into stock as a new lot in quarantine, exactly like
a delivery (``receiving.add_lot``: numbered container, one ledger entry, the batch number as the
reference and as the lot's "supplier lot"), so the same status, FEFO and label rules apply. QA's
signed release or rejection of the batch record decides the lot too (EU GMP Annex 16 §1.7 /
药品GMP 第二百二十九条: the product is released by the batch certification, not separately); these
services refuse any lot that is not this batch's output.

``lot_summaries`` is the genealogy's view of lots: a domain query without an actor, because the
batches module checks its own ``batches.view`` before tracing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, required_reason
from pharmos.materials.master import approved_material, pack_units_of
from pharmos.materials.models import Lot, Material, StockMovement, StorageLocation, Supplier
from pharmos.materials.receiving import add_lot, lot_views, short_dated_days
from pharmos.materials.storage import storage_problem
from pharmos.materials.units import parse_quantity, to_base
from pharmos.materials.views import LotView

__all__ = [
    "LotSummary",
    "certify_produced_lot",
    "lot_summaries",
    "record_production_output",
    "reject_produced_lot",
]


@dataclass(frozen=True)
class LotSummary:
    """What a genealogy shows of a lot: identity, origin and status."""

    id: int
    number: str
    material_code: str
    material_name: str
    supplier_lot: str
    supplier_name: str
    state: str
    expires_on: date
    produced: bool  # made in house (a batch's output), not received from a supplier


def _batch_number(value: object) -> str:
    number = str(value or "").strip()
    if not number:
        raise ValidationFailed.on("batch_number", "The batch number is required.")
    if len(number) > 40:
        raise ValidationFailed.on("batch_number", "At most 40 characters.")
    return number


def _output_bin(session: Session, material: Material, location_code: str | None) -> StorageLocation:
    """The bin the output goes to: the one named, or the first active bin fit for the material."""
    if location_code is not None and location_code.strip():
        location = session.scalar(select(StorageLocation).where(StorageLocation.code == location_code.strip()))
        if location is None:
            raise ValidationFailed.on("location_code", f"No location {location_code.strip()}.")
        if location.kind != "bin" or not location.active:
            raise ValidationFailed.on("location_code", f"Location {location.code} is not an active bin.")
        problem = storage_problem(condition=material.storage_condition, protect_from_light=material.protect_from_light,
                                  location_class=location.storage_class, light_protected=location.light_protected)
        if problem:
            raise ValidationFailed.on("location_code", f"{location.code}: {problem}")
        return location
    # EU GMP Part I 3.19: the output is stored within the conditions its label claims from the start.
    candidates = session.scalars(select(StorageLocation).where(
        StorageLocation.kind == "bin", StorageLocation.active.is_(True)).order_by(
        StorageLocation.status_zone != "quarantine", StorageLocation.code))
    for location in candidates:
        if storage_problem(condition=material.storage_condition, protect_from_light=material.protect_from_light,
                           location_class=location.storage_class, light_protected=location.light_protected) is None:
            return location
    raise ValidationFailed.on("location_code", f"No active bin satisfies storage condition "
                                               f"{material.storage_condition} of {material.code}; name one.")


def record_production_output(*, actor: Actor, material_code: str, quantity: Decimal | str | int, unit: str,
                             batch_number: str, location_code: str | None = None,
                             manufactured_on: date | None = None) -> LotView:
    """Put a batch's output into stock: a new quarantined lot of the approved product material.

    Expiry (and retest) follow from the material's shelf life counted from the manufacturing
    date (today by default); one container; one ``receipt`` ledger entry referencing the batch.
    """
    # 药品GMP 第一百八十四条: the output is recorded by those who executed the batch.
    actor.require("batches.execute")
    number = _batch_number(batch_number)
    problems: list[FieldProblem] = []
    try:
        entered = parse_quantity(quantity)
    except ValidationFailed as error:
        problems.extend(error.fields)
        entered = Decimal(0)
    made_on = manufactured_on or site_today()
    if made_on > site_today():
        problems.append(FieldProblem("manufactured_on", "The manufacturing date cannot be in the future."))
    days = short_dated_days()
    with transaction(actor=actor, reason=f"Output of batch {number}") as session:
        material = approved_material(session, (material_code or "").strip())
        if material is None:
            problems.append(FieldProblem("material_code", f"No approved material {material_code!r}."))
        elif not material.shelf_life_days:
            problems.append(FieldProblem("material_code", f"Material {material.code} has no shelf life; "
                                                          "the output lot's expiry cannot be set."))
        if problems:
            raise ValidationFailed("The production output cannot be recorded.", problems)
        assert material is not None and material.shelf_life_days
        quantity_base = to_base(entered, (unit or "").strip(), base_unit=material.base_unit,
                                pack_units=pack_units_of(session, material))
        if session.scalar(select(Lot.id).where(Lot.supplier_id.is_(None), Lot.receipt_id.is_(None),
                                               Lot.supplier_lot == number, Lot.material_code == material.code)):
            raise Conflict(f"Batch {number} already has an output lot of {material.code}.",
                           [FieldProblem("batch_number", "The output of this batch is already recorded.")])
        location = _output_bin(session, material, location_code)
        retest_on = (made_on + timedelta(days=material.retest_interval_days)
                     if material.retest_interval_days else None)
        expires_on = made_on + timedelta(days=material.shelf_life_days)
        lot = add_lot(session, actor=actor, material=material, quantity_base=quantity_base, containers=1,
                      location=location, expires_on=expires_on, manufactured_on=made_on,
                      retest_on=retest_on if retest_on is not None and retest_on < expires_on else None,
                      supplier_lot=number, reference=number)
        return lot_views(session, [lot], short_dated=days, with_details=True)[0]


def _produced_lot(session: Session, *, lot_id: int, batch_number: str) -> Lot:
    lot = session.get(Lot, lot_id, with_for_update=True)
    if lot is None:
        raise NotFound(f"No lot with id {lot_id}.")
    produced = (lot.supplier_id is None and lot.receipt_id is None and lot.supplier_lot == batch_number
                and session.scalar(select(StockMovement.id).where(
                    StockMovement.lot_id == lot.id, StockMovement.kind == "receipt",
                    StockMovement.reference == batch_number).limit(1)) is not None)
    if not produced:
        raise ValidationFailed.on("lot_id", f"Lot {lot.number} is not the output of batch {batch_number}.")
    return lot


def _decide(*, actor: Actor, lot_id: int, batch_number: str, state: str, reason: str) -> LotView:
    days = short_dated_days()
    with transaction(actor=actor, reason=reason) as session:
        lot = _produced_lot(session, lot_id=lot_id, batch_number=batch_number)
        if lot.state not in ("quarantine", "under_test"):
            raise Conflict(f"Lot {lot.number} is {lot.state}; only a quarantined output lot is decided with "
                           "its batch.", [FieldProblem("lot_id", f"The lot is {lot.state}.")])
        lot.state = state
        lot.status_changed_at = utcnow()
    # Read after the unit of work: the status history comes from the audit entries it wrote.
    with read_session() as session:
        row = session.get(Lot, lot_id)
        assert row is not None
        return lot_views(session, [row], short_dated=days, with_details=True)[0]


def certify_produced_lot(*, actor: Actor, lot_id: int, batch_number: str) -> LotView:
    """Release a batch's output lot: QA's signed release of the batch record is the lot's release."""
    # EU GMP Annex 16 §1.7: the certification of the batch covers its output; the audit entry
    # of the lot's state change names the batch whose signature decided it.
    actor.require("batches.release")
    number = _batch_number(batch_number)
    return _decide(actor=actor, lot_id=lot_id, batch_number=number, state="released",
                   reason=f"Released with batch {number}")


def reject_produced_lot(*, actor: Actor, lot_id: int, batch_number: str, reason: str) -> LotView:
    """Reject a batch's output lot together with the batch (never used, to be destroyed)."""
    actor.require("batches.release")
    number = _batch_number(batch_number)
    why = required_reason(reason)
    return _decide(actor=actor, lot_id=lot_id, batch_number=number, state="rejected",
                   reason=f"Rejected with batch {number}: {why}")


def lot_summaries(*, lot_ids: Iterable[int]) -> dict[int, LotSummary]:
    """Identity and status of the given lots by id (unknown ids are left out): a domain query."""
    ids = sorted({int(i) for i in lot_ids})
    if not ids:
        return {}
    found: dict[int, LotSummary] = {}
    with read_session() as session:
        # Chunked: a deep trace may name thousands of lots, beyond some drivers' parameter limits.
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = session.execute(
                select(Lot.id, Lot.number, Lot.material_code, Material.name_zh, Lot.supplier_lot, Supplier.name,
                       Lot.state, Lot.expires_on, Lot.receipt_id, Lot.supplier_id)
                .join(Material, Material.id == Lot.material_id)
                .outerjoin(Supplier, Supplier.id == Lot.supplier_id)
                .where(Lot.id.in_(chunk)))
            for (lot_id, number, code, name, supplier_lot, supplier, state, expires_on, receipt_id,
                 supplier_id) in rows:
                found[lot_id] = LotSummary(
                    id=lot_id, number=number, material_code=code, material_name=name, supplier_lot=supplier_lot,
                    supplier_name=supplier or "", state=state, expires_on=expires_on,
                    produced=receipt_id is None and supplier_id is None and bool(supplier_lot))
    return found

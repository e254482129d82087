"""Batch orders: a batch is ordered from the effective master batch record, scaled, with its materials reserved.

EU GMP Part I 4.20 / 药品GMP 第一百七十五条: the batch record is made from the current approved
recipe; each batch has a unique number. The BOM is scaled to the planned size (parameters
never are) and every dispensed line is reserved first-expiry-first-out through the
materials module in the same unit of work: a shortage refuses the order and writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.batches.models import Batch, BatchMaterial, BatchStep, MasterBatchRecord, MbrMaterial, MbrPhase, MbrStep
from pharmos.batches.views import BatchView
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc
from pharmos.core.db import transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from pharmos.core.numbering import next_number

__all__ = [
    "BATCH_NUMBER_PATTERN",
    "cancel_reservations",
    "order_batch",
    "with_stock_right",
]

# B26110001: prefix, year and month of ordering, sequence restarting each month.
BATCH_NUMBER_PATTERN = "{prefix}{date:%y%m}{seq:04d}"
_BATCH_PREFIX = "B"
_SIZE_PLACES = Decimal("0.000001")
_FACTOR_PLACES = Decimal("0.000000001")


def with_stock_right(actor: Actor) -> Actor:
    """``actor`` allowed to reserve and issue stock for the batch they order or weigh into.

    Ordering a batch (batches.plan) includes reserving its materials, and weighing into it
    (batches.execute) is the issue of that stock: the ledger entry stays attributed to the person
    (ALCOA+ 'A'), acting under the batch record's right, not a general stock.issue right.
    """
    if actor.can("stock.issue"):
        return actor
    return replace(actor, permissions=actor.permissions | {"stock.issue"})


def _planned_size(problems: list[FieldProblem], value: object) -> Decimal:
    if isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
        problems.append(FieldProblem("planned_size", "A quantity, e.g. 200 (sent as text or a whole number)."))
        return Decimal(0)
    try:
        size = Decimal(str(value).strip())
    except InvalidOperation:
        problems.append(FieldProblem("planned_size", "A quantity, e.g. 200."))
        return Decimal(0)
    if not size.is_finite() or size <= 0:
        problems.append(FieldProblem("planned_size", "Greater than zero."))
        return Decimal(0)
    return size


def _planned_start(problems: list[FieldProblem], value: object) -> datetime | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            problems.append(FieldProblem("planned_start", "Give the time with its time zone."))
            return None
        return as_utc(value)
    if isinstance(value, date):
        # A planned day starts at the site's midnight (the site calendar, not the server's).
        from zoneinfo import ZoneInfo

        from pharmos.core.config import get_settings

        return as_utc(datetime.combine(value, time(0, 0), tzinfo=ZoneInfo(get_settings().site_timezone)))
    problems.append(FieldProblem("planned_start", "A date and time."))
    return None


def order_batch(*, actor: Actor, mbr_id: int, planned_size: Decimal | str | int, planned_start: datetime | date,
                reserve: bool = True) -> BatchView:
    """Order a batch from an effective recipe: number, scaled BOM and yield, steps (pending), FEFO reservations."""
    from pharmos.batches.mbr import scale_bom
    from pharmos.batches.review import batch_view
    from pharmos.materials import service as materials

    actor.require("batches.plan")
    problems: list[FieldProblem] = []
    size = _planned_size(problems, planned_size)
    start = _planned_start(problems, planned_start)
    if problems:
        raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    assert start is not None
    with transaction(actor=actor, reason="Batch ordered") as session:
        mbr = session.get(MasterBatchRecord, mbr_id)
        if mbr is None:
            raise NotFound(f"No master batch record with id {mbr_id}.")
        if mbr.state != "effective":
            # EU GMP Part I 4.3: only the recipe in force is used to make batches.
            message = f"{mbr.number} v{mbr.version} is {mbr.state}; batches are ordered from the effective version."
            raise Conflict(message, [FieldProblem("mbr_id", message)])
        number = next_number(session, prefix=_BATCH_PREFIX, pattern=BATCH_NUMBER_PATTERN)
        factor = (size / Decimal(mbr.batch_size)).quantize(_FACTOR_PLACES, rounding=ROUND_HALF_UP)
        batch = Batch(
            number=number, mbr_id=mbr.id, mbr_number=mbr.number, mbr_version=mbr.version,
            product_code=mbr.product_code, product_name=mbr.product_name, stage=mbr.stage, planned_size=size,
            unit=mbr.batch_unit, scale_factor=factor, planned_start=start, state="planned", ordered_by=actor.username,
            theoretical_yield=(Decimal(mbr.theoretical_yield) * size / Decimal(mbr.batch_size)).quantize(
                _SIZE_PLACES, rounding=ROUND_HALF_UP),
            yield_unit=mbr.yield_unit, yield_low_pct=mbr.yield_low_pct, yield_high_pct=mbr.yield_high_pct)
        session.add(batch)
        session.flush()
        bom = list(session.scalars(select(MbrMaterial).where(MbrMaterial.mbr_id == mbr.id)
                                   .order_by(MbrMaterial.line_no)))
        by_line = {row.line_no: row for row in bom}
        lines = []
        for scaled in scale_bom(bom, batch_size=Decimal(mbr.batch_size), planned_size=size):
            source = by_line[scaled.line_no]
            line = BatchMaterial(
                batch_id=batch.id, line_no=scaled.line_no, material_code=scaled.material_code,
                material_name=source.material_name, target=scaled.target, unit=scaled.unit,
                tolerance_pct=source.tolerance_pct, low=scaled.low, high=scaled.high, dispensed=source.dispensed,
                scan_required=source.scan_required, step_code=source.step_code, reservations=[])
            session.add(line)
            lines.append(line)
        phases = {p.id: p for p in session.scalars(select(MbrPhase).where(MbrPhase.mbr_id == mbr.id))}
        for step in session.scalars(select(MbrStep).where(MbrStep.mbr_id == mbr.id).order_by(MbrStep.seq)):
            phase = phases[step.phase_id]
            session.add(BatchStep(batch_id=batch.id, mbr_step_id=step.id, phase_seq=phase.seq, phase_name=phase.name,
                                  seq=step.seq, code=step.code, title=step.title, critical=step.critical,
                                  state="pending", record_snapshot={}, signature_round=0))
        session.flush()
        if reserve:
            shortages: list[FieldProblem] = []
            for line in lines:
                if not line.dispensed:
                    continue
                allocation = materials.allocate(actor=with_stock_right(actor), material_code=line.material_code,
                                                quantity=Decimal(line.target), unit=line.unit,
                                                purpose=f"batch {number}", reserve=True)
                if allocation.shortfall > 0:
                    shortages.append(FieldProblem(
                        f"materials.{line.line_no}.material_code",
                        f"{line.material_code}: {allocation.shortfall.normalize():f} {allocation.unit} short of "
                        f"{allocation.requested.normalize():f} {allocation.unit} in usable stock."))
                    continue
                line.reservations = [_reservation(r) for r in allocation.lines]
            if shortages:
                # Every short material at once; the whole order, reservations included, is undone.
                raise Conflict("Not enough usable stock: " + " ".join(p.message for p in shortages), shortages)
        session.flush()
        return batch_view(session, batch, details=True)


def _reservation(line: Any) -> dict[str, Any]:
    return {"reservation_id": line.reservation_id, "container_number": line.container_number, "lot_id": line.lot_id,
            "lot_number": line.lot_number, "quantity": str(line.quantity)}


def cancel_reservations(session: Session, *, batch: Batch, actor: Actor) -> None:
    """Effect of ``cancel``: the batch's open reservations go back to available stock."""
    from pharmos.core.errors import Conflict as AlreadyClosed
    from pharmos.materials import service as materials

    for line in session.scalars(select(BatchMaterial).where(BatchMaterial.batch_id == batch.id)):
        for reservation in line.reservations or ():
            try:
                materials.cancel_reservation(actor=with_stock_right(actor),
                                             reservation_id=int(reservation["reservation_id"]),
                                             reason=f"Batch {batch.number} cancelled")
            except AlreadyClosed:
                continue  # released by the warehouse meanwhile: nothing left to give back
        line.reservations = []
    session.flush()

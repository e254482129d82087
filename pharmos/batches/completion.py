"""Yield, material reconciliation, the output lot and its release or rejection with the batch.

药品GMP 第一百八十八条 / EU GMP Part I 5.39: at the end of a batch the actual yield is compared
with the theoretical yield and the materials issued with what the recipe asked for; a yield
outside the recipe's window is explained and becomes a ``yield`` exception QA reviews before
release. Completing execution puts the output into stock as a quarantined lot (through the
materials module, in the same unit of work) and links every dispensed lot to it (genealogy);
QA's signed release or rejection of the batch decides that lot (EU GMP Annex 16 §1.7).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.batches.genealogy import link_lots
from pharmos.batches.models import Batch, BatchEntry, BatchMaterial, Dispense
from pharmos.batches.views import BatchView, MaterialReconciliation
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed

__all__ = ["finish_execution", "material_reconciliation", "record_yield", "reject_output", "release_output",
           "yield_percent"]

_PCT = Decimal("0.001")


def yield_percent(actual: Decimal, theoretical: Decimal) -> Decimal:
    """Actual as a percentage of theoretical, rounded half-up to 0.001 %."""
    return (actual * 100 / theoretical).quantize(_PCT, rounding=ROUND_HALF_UP)


def _actual_yield(value: object) -> Decimal:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed.on("actual_yield", "Enter the actual yield.")
    if isinstance(value, float | bool):
        raise ValidationFailed.on("actual_yield", "Give the yield as a decimal number (text), not a float.")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on("actual_yield", f"{value!r} is not a number.") from None
    if not number.is_finite() or number < 0 or number != number.quantize(Decimal("0.000001")):
        raise ValidationFailed.on("actual_yield", "Zero or more, with at most 6 decimal places.")
    return number


def record_yield(*, actor: Actor, batch_id: int, actual_yield: Decimal | str | None, note: str = "") -> BatchView:
    """Record the batch's actual output; outside the recipe's yield window it needs a note and is an exception."""
    from pharmos.batches.exceptions import raise_exception
    from pharmos.batches.review import get_batch

    actor.require("batches.execute")
    actual = _actual_yield(actual_yield)
    text = (note or "").strip()
    if len(text) > 4000:
        raise ValidationFailed.on("note", "At most 4000 characters.")
    with transaction(actor=actor, reason=text or "Yield recorded") as session:
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch is None:
            raise NotFound(f"No batch with id {batch_id}.")
        if batch.state != "in_progress":
            raise Conflict(f"Batch {batch.number} is {batch.state}; the yield is recorded while it is in progress.",
                           [FieldProblem("batch_id", f"The batch is {batch.state}.")])
        theoretical = Decimal(batch.theoretical_yield)
        pct = yield_percent(actual, theoretical)
        low, high = Decimal(batch.yield_low_pct), Decimal(batch.yield_high_pct)
        outside = not low <= pct <= high
        if outside and not text:
            raise ValidationFailed.on("note", f"Yield {pct} % is outside {low}–{high} %; explain why.")
        batch.actual_yield, batch.yield_pct, batch.reconciliation_note = actual, pct, text
        session.flush()
        if outside:
            raise_exception(session, batch=batch, actor=actor, kind="yield", reason=text,
                            description=f"Yield {pct} % ({actual} {batch.yield_unit} of {theoretical}) is outside "
                                        f"the accepted {low}–{high} %.",
                            context={"actual": str(actual), "theoretical": str(theoretical), "yield_pct": str(pct),
                                     "low_pct": str(low), "high_pct": str(high), "unit": batch.yield_unit})
    return get_batch(actor=actor, batch_id=batch_id)


def material_reconciliation(*, actor: Actor, batch_id: int) -> list[MaterialReconciliation]:
    """Per BOM line: target against what was dispensed, and whether it is within the line's tolerance."""
    actor.require("batches.view")
    with read_session() as session:
        if session.get(Batch, batch_id) is None:
            raise NotFound(f"No batch with id {batch_id}.")
        lines = session.scalars(select(BatchMaterial).where(BatchMaterial.batch_id == batch_id)
                                .order_by(BatchMaterial.line_no))
        rows = []
        for line in lines:
            dispensed = Decimal(line.dispensed_total)
            rows.append(MaterialReconciliation(
                line_no=line.line_no, material_code=line.material_code, target=Decimal(line.target),
                dispensed=dispensed, unit=line.unit, difference=dispensed - Decimal(line.target),
                # A line not weighed through the record (e.g. water for injection) is not reconciled here.
                within_tolerance=(not line.dispensed) or Decimal(line.low) <= dispensed <= Decimal(line.high)))
        return rows


def _end_equipment_uses(session: Session, *, batch: Batch, actor: Actor) -> None:
    from pharmos.equipment import service as equipment

    numbers = sorted(set(session.scalars(select(BatchEntry.value).where(
        BatchEntry.batch_id == batch.id, BatchEntry.kind == "equipment"))))
    for number in numbers:
        try:
            unit = equipment.get_equipment(actor=actor, number=number)
        except NotFound:
            continue
        held_by = unit.in_use_by or ""
        # EU GMP Part I 5.19: equipment left in use by a finished batch is released (and dirty) now.
        if held_by == batch.number or held_by.startswith((f"{batch.number} ", f"{batch.number}/")):
            equipment.end_use(actor=actor, equipment_id=unit.id, reference=held_by,
                              note=f"Batch {batch.number} completed")


def finish_execution(session: Session, *, batch: Batch, actor: Actor) -> None:
    """Effect of ``complete``: the output lot in quarantine, genealogy links, equipment uses ended."""
    from pharmos.materials import service as materials

    if batch.actual_yield is None:  # the guard already says so; never make a lot of unknown size
        raise ValidationFailed.on("actual_yield", "Record the yield first.")
    if batch.output_lot_id is None:
        lot = materials.record_production_output(actor=actor, material_code=batch.product_code,
                                                 quantity=Decimal(batch.actual_yield), unit=batch.yield_unit,
                                                 batch_number=batch.number)
        batch.output_lot_id, batch.output_lot_number = lot.id, lot.number
    issued: dict[tuple[int, str, str], Decimal] = defaultdict(Decimal)
    for row in session.scalars(select(Dispense).where(Dispense.batch_id == batch.id).order_by(Dispense.id)):
        issued[(row.lot_id, row.lot_number, row.unit)] += Decimal(row.net)
    assert batch.output_lot_id is not None and batch.output_lot_number is not None
    for (lot_id, lot_number, unit), quantity in issued.items():
        link_lots(session, batch=batch, parent_lot_id=lot_id, parent_lot_number=lot_number,
                  child_lot_id=batch.output_lot_id, child_lot_number=batch.output_lot_number,
                  quantity=quantity, unit=unit)
    _end_equipment_uses(session, batch=batch, actor=actor)
    batch.completed_at = utcnow()
    session.flush()


def release_output(session: Session, *, batch: Batch, actor: Actor) -> None:
    """Effect of ``release``: the output lot is released under the batch's release signature."""
    from pharmos.materials import service as materials

    if batch.output_lot_id is not None:
        materials.certify_produced_lot(actor=actor, lot_id=batch.output_lot_id, batch_number=batch.number)


def reject_output(session: Session, *, batch: Batch, actor: Actor) -> None:
    """Effect of ``reject``: the output lot (if execution finished) is rejected with the transition's reason."""
    from pharmos.materials import service as materials

    if batch.output_lot_id is None:
        return
    context = session.info.get("audit")
    reason = (getattr(context, "reason", None) or "").strip() or f"Batch {batch.number} rejected"
    materials.reject_produced_lot(actor=actor, lot_id=batch.output_lot_id, batch_number=batch.number, reason=reason)

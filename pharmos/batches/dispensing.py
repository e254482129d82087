"""Weighing and dispensing: one scanned container weighed into one BOM line of a batch.

Every check is made before anything is written and every failure is reported at once, each on
the field that caused it (药品GMP 第一百一十六条: 称量/配料 are checked; EU GMP Part I 5.32–5.34):
the container's lot must be of the line's material and usable now (released, in date, retest not
due, not held), the container must still hold stock, the balance must be usable (calibrated,
qualified), the weights must add up (net = gross − tare) and keep the line within its tolerance
window. A lot other than the one allocated by FEFO needs a reason and becomes a
``lot_substitution`` exception reviewed by QA. The stock is issued through the materials module
in the same unit of work, so a refused dispense leaves no movement behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.batches.models import Batch, BatchMaterial, BatchStep, Dispense, MbrStep
from pharmos.batches.orders import with_stock_right
from pharmos.batches.views import DispenseView
from pharmos.compliance.audit import record_event
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, DomainError, FieldProblem, NotFound, ValidationFailed
from pharmos.core.numbering import next_number

__all__ = ["WEIGHT_SOURCES", "dispense", "dispense_views", "dispensing_label_pdf", "list_dispenses"]

WEIGHT_SOURCES = ("manual", "balance")
_QUANTUM = Decimal("0.000001")
# Fields of the materials services' refusals, as this service's caller named them.
_ISSUE_FIELDS = {"quantity": "net", "unit": "line_no", "reservation_id": "container_number",
                 "fefo_override_reason": "substitution_reason", "container_number": "container_number",
                 "reference": "batch_id"}


@dataclass(frozen=True)
class _Weights:
    gross: Decimal | None
    tare: Decimal | None
    net: Decimal


def _weight(value: object, field: str, problems: list[FieldProblem]) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float | bool):
        # A float has already lost the balance's reading (0.1 is not 0.1): weights come as text or Decimal.
        problems.append(FieldProblem(field, "Give the weight as a decimal number (text), not a float."))
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problems.append(FieldProblem(field, f"{value!r} is not a number."))
        return None
    if not number.is_finite() or number != number.quantize(_QUANTUM) or abs(number) >= Decimal(10) ** 12:
        problems.append(FieldProblem(field, "A finite number with at most 6 decimal places."))
        return None
    return number


def _weights(gross: object, tare: object, net: object, problems: list[FieldProblem]) -> _Weights | None:
    """net = gross − tare when both are weighed; a given net must agree (21 CFR 211.101(c): weights checked)."""
    before = len(problems)
    g, t, n = _weight(gross, "gross", problems), _weight(tare, "tare", problems), _weight(net, "net", problems)
    if len(problems) > before:
        return None
    if t is not None and t < 0:
        problems.append(FieldProblem("tare", "The tare cannot be negative."))
        return None
    if g is not None and t is not None:
        computed = g - t
        if n is not None and n != computed:
            problems.append(FieldProblem("net", f"Net {n} does not equal gross {g} − tare {t} = {computed}."))
            return None
        n = computed
    elif g is not None or t is not None:
        if n is None:
            missing = "tare" if t is None else "gross"
            problems.append(FieldProblem(missing, "Give both gross and tare, or the net weight."))
            return None
        if g is not None and n > g:
            problems.append(FieldProblem("net", f"Net {n} is more than the gross {g}."))
            return None
    if n is None:
        problems.append(FieldProblem("net", "Weigh the material: give gross and tare, or the net weight."))
        return None
    if n <= 0:
        problems.append(FieldProblem("net", "The net weight must be greater than zero."))
        return None
    return _Weights(g, t, n)


def _balance_problems(balance_number: str) -> list[FieldProblem]:
    from pharmos.equipment import service as equipment

    if not balance_number:
        return [FieldProblem("balance_number", "Scan the balance used.")]
    try:
        usable = equipment.usability(number=balance_number)
    except NotFound:
        return [FieldProblem("balance_number", f"No equipment {balance_number}.")]
    # EU GMP Part I 3.41 / 药品GMP 第九十二条: weighing only on a calibrated, released balance.
    return [FieldProblem("balance_number", f"{usable.number}: {reason.message_en}") for reason in usable.reasons]


def _dispense_step(session: Session, batch: Batch, line: BatchMaterial) -> BatchStep | None:
    """The step this line is weighed in: the one the BOM names, else the batch's first dispensing step."""
    if line.step_code:
        return session.scalar(select(BatchStep).where(BatchStep.batch_id == batch.id,
                                                      BatchStep.code == line.step_code))
    return session.scalar(select(BatchStep).join(MbrStep, MbrStep.id == BatchStep.mbr_step_id).where(
        BatchStep.batch_id == batch.id, MbrStep.kind == "dispense").order_by(BatchStep.seq).limit(1))


def _reservation_for(session: Session, line: BatchMaterial, container_number: str, lot_unit: str) -> int | None:
    """The line's open reservation of this container, judged by what earlier dispenses already took from it."""
    for reserved in line.reservations or []:
        if reserved.get("container_number") != container_number or reserved.get("reservation_id") is None:
            continue
        taken = [Decimal(d.net) for d in session.scalars(select(Dispense).where(
            Dispense.material_line_id == line.id, Dispense.container_number == container_number))]
        if not taken:
            return int(reserved["reservation_id"])
        if line.unit == lot_unit and sum(taken, Decimal(0)) < Decimal(str(reserved.get("quantity", 0))):
            return int(reserved["reservation_id"])
        return None
    return None


def dispense_views(session: Session, rows: Sequence[Dispense]) -> list[DispenseView]:
    """Views of dispenses with their batch and line (one query each)."""
    if not rows:
        return []
    batches = dict(session.execute(select(Batch.id, Batch.number).where(
        Batch.id.in_({r.batch_id for r in rows}))).all())
    lines = {line.id: line for line in session.scalars(select(BatchMaterial).where(
        BatchMaterial.id.in_({r.material_line_id for r in rows})))}
    return [DispenseView(
        id=r.id, number=r.number, batch_id=r.batch_id, batch_number=batches[r.batch_id],
        material_line_id=r.material_line_id, line_no=lines[r.material_line_id].line_no,
        material_code=lines[r.material_line_id].material_code, material_name=lines[r.material_line_id].material_name,
        container_number=r.container_number, lot_id=r.lot_id, lot_number=r.lot_number,
        gross=Decimal(r.gross) if r.gross is not None else None, tare=Decimal(r.tare) if r.tare is not None else None,
        net=Decimal(r.net), unit=r.unit, balance_number=r.balance_number, weight_source=r.weight_source,
        allocated_lot=r.allocated_lot, substitution_reason=r.substitution_reason, dispensed_by=r.dispensed_by,
        dispensed_at=r.dispensed_at, labels_printed=r.labels_printed) for r in rows]


def dispense(*, actor: Actor, batch_id: int, line_no: int, container_number: str,
             gross: Decimal | str | None = None, tare: Decimal | str | None = None, net: Decimal | str | None = None,
             balance_number: str, weight_source: str = "manual", substitution_reason: str = "") -> DispenseView:
    """Weigh one scanned container into BOM line ``line_no`` and issue the stock to the batch."""
    from pharmos.batches.exceptions import raise_exception
    from pharmos.batches.execution import refresh_step_record
    from pharmos.materials import service as materials

    actor.require("batches.execute")
    problems: list[FieldProblem] = []
    weights = _weights(gross, tare, net, problems)
    if weight_source not in WEIGHT_SOURCES:
        problems.append(FieldProblem("weight_source", f"One of {', '.join(WEIGHT_SOURCES)}."))
    reason = (substitution_reason or "").strip()
    if len(reason) > 2000:
        problems.append(FieldProblem("substitution_reason", "At most 2000 characters."))
    balance = (balance_number or "").strip().upper()
    problems.extend(_balance_problems(balance))
    scanned = (container_number or "").strip().upper()
    lot = None
    if not scanned:
        problems.append(FieldProblem("container_number", "Scan the container's label."))
    else:
        try:
            lot = materials.find_by_scan(actor=actor, code=scanned)
        except NotFound:
            problems.append(FieldProblem("container_number", f"No container {scanned}."))
    container = next((c for c in lot.containers if c.number == scanned), None) if lot is not None else None
    if lot is not None and container is None:
        problems.append(FieldProblem("container_number", f"{scanned} is a lot number; scan a container of it."))
    lot_problems = materials.lot_use_problems(lot_id=lot.id) if lot is not None else []
    with transaction(actor=actor, reason=reason or "Dispensed") as session:
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch is None:
            raise NotFound(f"No batch with id {batch_id}.")
        if batch.state != "in_progress":
            # 药品GMP 第一百八十四条: nothing is weighed into a batch that is not being executed.
            raise Conflict(f"Batch {batch.number} is {batch.state}; dispensing needs it in progress.",
                           [FieldProblem("batch_id", f"The batch is {batch.state}.")])
        line = session.scalar(select(BatchMaterial).where(BatchMaterial.batch_id == batch.id,
                                                          BatchMaterial.line_no == line_no).with_for_update())
        if line is None or not line.dispensed:
            raise ValidationFailed.on("line_no", f"Batch {batch.number} has no dispensed BOM line {line_no}.")
        step = _dispense_step(session, batch, line)
        if step is not None and step.state != "open":
            problems.append(FieldProblem("line_no", f"Step {step.code} is {step.state}, not open for dispensing."))
        allocated = True
        if lot is not None and container is not None:
            if lot.material_code != line.material_code:
                problems.append(FieldProblem("container_number", f"{scanned} holds {lot.material_code}; line "
                                                                 f"{line.line_no} needs {line.material_code}."))
            else:
                # EU GMP Part I 5.61 / 药品GMP 第一百二十九条: only released, in-date, unheld material.
                problems.extend(FieldProblem("container_number", p) for p in lot_problems)
            if container.quantity <= 0:
                problems.append(FieldProblem("container_number", f"Container {scanned} is empty (consumed)."))
            allocated_lots = {int(r["lot_id"]) for r in line.reservations or [] if r.get("lot_id") is not None}
            allocated = not allocated_lots or lot.id in allocated_lots
            if not allocated and not reason and lot.material_code == line.material_code:
                problems.append(FieldProblem("substitution_reason", f"Lot {lot.number} was not allocated to this "
                                                                    "line; give the reason for substituting it."))
        if weights is not None:
            total = Decimal(line.dispensed_total) + weights.net
            if total > Decimal(line.high):
                problems.append(FieldProblem("net", f"{weights.net} {line.unit} brings line {line.line_no} to "
                                                    f"{total} {line.unit}, above its upper limit {line.high}."))
        if problems:
            raise ValidationFailed("The container cannot be dispensed: " + " ".join(p.message for p in problems),
                                   problems)
        assert lot is not None and container is not None and weights is not None
        try:
            movement = materials.issue_stock(
                actor=with_stock_right(actor), container_number=scanned, quantity=weights.net, unit=line.unit,
                reference=batch.number,
                reservation_id=_reservation_for(session, line, scanned, lot.unit),
                fefo_override_reason=reason if not allocated else "")
        except DomainError as refused:
            refused.fields = [FieldProblem(_ISSUE_FIELDS.get(p.field, p.field), p.message) for p in refused.fields]
            raise
        row = Dispense(
            batch_id=batch.id, material_line_id=line.id, step_id=step.id if step is not None else None,
            number=next_number(session, prefix="DSP", pattern="{prefix}-{date:%y%m}-{seq:05d}"),
            container_number=scanned, lot_id=lot.id, lot_number=lot.number, gross=weights.gross, tare=weights.tare,
            net=weights.net, unit=line.unit, balance_number=balance, weight_source=weight_source,
            allocated_lot=allocated, substitution_reason=reason if not allocated else "",
            movement_id=movement.id, dispensed_by=actor.username, dispensed_at=utcnow(), labels_printed=0)
        session.add(row)
        line.dispensed_total = Decimal(line.dispensed_total) + weights.net
        line.complete = Decimal(line.low) <= Decimal(line.dispensed_total) <= Decimal(line.high)
        session.flush()
        if not allocated:
            raise_exception(session, batch=batch, actor=actor, kind="lot_substitution", step=step, reason=reason,
                            description=f"Lot {lot.number} dispensed into line {line.line_no} "
                                        f"({line.material_code}) instead of the allocated lot.",
                            context={"dispense": row.number, "lot_number": lot.number,
                                     "allocated": sorted({str(r.get("lot_number")) for r in line.reservations})})
        if step is not None:
            refresh_step_record(session, step=step)
        return dispense_views(session, [row])[0]


def list_dispenses(*, actor: Actor, batch_id: int) -> list[DispenseView]:
    actor.require("batches.view")
    with read_session() as session:
        if session.get(Batch, batch_id) is None:
            raise NotFound(f"No batch with id {batch_id}.")
        rows = list(session.scalars(select(Dispense).where(Dispense.batch_id == batch_id).order_by(Dispense.id)))
        return dispense_views(session, rows)


# ---------------------------------------------------------------- label

LABEL_WIDTH_MM = 105  # A7 landscape
LABEL_HEIGHT_MM = 74


def _quantity(value: Decimal | None, unit: str) -> str:
    return "—" if value is None else f"{format(value.normalize(), 'f')} {unit}"


def render_dispensing_label(view: DispenseView, *, product: str, printed_by: str, printed_at: datetime,
                            copy: int) -> bytes:
    """One A7 label for the dispensed container (EU GMP Part I 5.34: dispensed materials are labelled)."""
    from reportlab.lib.units import mm

    from pharmos.core.labels import PDF_FONT, draw_qr, fit_text, label_canvas

    width, height = LABEL_WIDTH_MM * mm, LABEL_HEIGHT_MM * mm
    margin, qr_size = 3 * mm, 24 * mm
    buffer = io.BytesIO()
    canvas = label_canvas(buffer, width_mm=LABEL_WIDTH_MM, height_mm=LABEL_HEIGHT_MM,
                          title=f"Dispensing label {view.number}")
    canvas.setFont(PDF_FONT, 12)
    canvas.drawString(margin, height - margin - 4 * mm, "称量配料标签 DISPENSED")
    if copy > 1:
        # A reprint says so: only one original label may exist (label reconciliation).
        canvas.setFont(PDF_FONT, 10)
        canvas.drawRightString(width - margin, height - margin - 4 * mm, f"副本 COPY {copy}")
    qr_x, qr_y = width - margin - qr_size, margin + 4 * mm
    draw_qr(canvas, view.number, x=qr_x, y=qr_y, size=qr_size)
    canvas.setFont(PDF_FONT, 6.5)
    canvas.drawCentredString(qr_x + qr_size / 2, qr_y - 2.5 * mm, view.number)
    room = qr_x - 2 * margin
    rows = [
        ("批号 Batch", f"{view.batch_number}  {product}", 9),
        ("物料 Material", f"{view.material_code}  {view.material_name}", 9),
        ("物料批号 Lot", view.lot_number, 9),
        ("容器 Container", view.container_number, 8),
        ("净重 Net", _quantity(view.net, view.unit), 11),
        ("毛重/皮重 Gross/Tare", f"{_quantity(view.gross, view.unit)} / {_quantity(view.tare, view.unit)}", 8),
        ("天平 Balance", view.balance_number, 8),
        ("称量人 By", f"{view.dispensed_by}  {view.dispensed_at.astimezone(printed_at.tzinfo):%Y-%m-%d %H:%M}", 8),
        ("称量单号 No.", view.number, 8),
    ]
    y = height - margin - 10 * mm
    caption_room = 26 * mm
    for caption, value, size in rows:
        canvas.setFont(PDF_FONT, 6.5)
        canvas.drawString(margin, y, caption)
        canvas.setFont(PDF_FONT, size)
        canvas.drawString(margin + caption_room, y, fit_text(value, size, room - caption_room))
        y -= max(size, 7) * 0.42 * mm + 2 * mm
    canvas.setFont(PDF_FONT, 5.5)
    canvas.drawString(margin, margin, fit_text(f"打印 printed {printed_at:%Y-%m-%d %H:%M} {printed_by}", 5.5,
                                               width - 2 * margin))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def dispensing_label_pdf(*, actor: Actor, dispense_id: int, batch_id: int | None = None) -> bytes:
    """The dispensed container's label; every printing is counted and audited (label reconciliation)."""
    actor.require("batches.view")
    settings = get_settings()
    now = utcnow().astimezone(ZoneInfo(settings.site_timezone))
    with transaction(actor=actor, reason="Dispensing label printed") as session:
        row = session.get(Dispense, dispense_id, with_for_update=True)
        if row is None or (batch_id is not None and row.batch_id != batch_id):
            raise NotFound(f"No dispense with id {dispense_id}.")
        row.labels_printed += 1
        session.flush()
        view = dispense_views(session, [row])[0]
        product = session.scalar(select(Batch.product_name).where(Batch.id == row.batch_id)) or ""
        details: dict[str, Any] = {"dispense": view.number, "batch": view.batch_number, "copy": row.labels_printed}
        record_event(session, record_type="dispense", record_id=row.id, action="label_printed", details=details)
    printed_by = actor.full_name if actor.full_name == actor.username else f"{actor.full_name} ({actor.username})"
    return render_dispensing_label(view, product=product, printed_by=printed_by, printed_at=now,
                                   copy=view.labels_printed)

"""Spreadsheet exchange and printed labels of the equipment module.

Exports (CSV and Excel) read through the same services as the screens. Imports (the
equipment ledger, the calibration plan kept in Excel before go-live) check every row first
and write nothing unless every row is acceptable, then write all rows in one transaction,
judged by the same rules as the forms (``register.equipment_field_problems`` /
``add_equipment``). The spreadsheet reading and writing and the label drawing are the
site-wide ones of ``pharmos.core.spreadsheets`` and ``pharmos.core.labels``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pharmos.compliance.audit import record_event
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import FieldProblem, ValidationFailed
from pharmos.core.labels import PDF_FONT, draw_qr, fit_text, label_canvas
from pharmos.core.spreadsheets import (
    RowReader,
    TableRow,
    all_pages,
    download,
    export_format,
    read_table,
    refuse_import,
)
from pharmos.equipment.logbook import write_entry
from pharmos.equipment.maintenance import list_work_orders
from pharmos.equipment.models import Calibration, Equipment, EquipmentClass
from pharmos.equipment.register import (
    add_equipment,
    effective_calibration_interval,
    equipment_field_problems,
    list_equipment,
    parse_reading,
)
from pharmos.equipment.reports import downtime_report
from pharmos.equipment.views import EquipmentView

__all__ = [
    "CALIBRATION_PLAN_COLUMNS",
    "EQUIPMENT_COLUMNS",
    "EQUIPMENT_REQUIRED",
    "ImportResult",
    "calibration_plan_template",
    "equipment_labels_pdf",
    "equipment_template",
    "export_calibration_plan",
    "export_downtime",
    "export_equipment",
    "export_work_orders",
    "import_calibration_plan",
    "import_equipment",
]

# Equipment ledger columns (import and export). Required ones first; a blank number is generated.
EQUIPMENT_REQUIRED = ("class_code", "name_zh")
EQUIPMENT_COLUMNS = (
    "number", *EQUIPMENT_REQUIRED, "name_en", "location", "manufacturer", "model", "serial_number", "install_date",
    "owner_department", "owner_username", "gmp_critical", "requalification_interval_days", "calibration_required",
    "range_low", "range_high", "range_unit", "tolerance", "calibration_interval_days", "usage_unit")
# Columns the export adds that an import of the same file ignores (the system keeps them).
EQUIPMENT_EXPORT_ONLY = ("state", "calibration_status", "last_calibrated_on", "calibration_due_on",
                         "requalification_due_on", "iq_on", "oq_on", "pq_on", "created_at")

CALIBRATION_PLAN_REQUIRED = ("number",)
CALIBRATION_PLAN_COLUMNS = ("number", "calibration_interval_days", "tolerance", "range_low", "range_high",
                            "range_unit", "last_calibrated_on")
CALIBRATION_PLAN_EXPORT_ONLY = ("name_zh", "class_code", "location", "calibration_status", "calibration_due_on")

WORK_ORDER_COLUMNS = ("number", "equipment_number", "equipment_name", "kind", "title", "plan_number",
                      "fault_number", "due_on", "state", "assigned_to", "created_at", "started_at", "completed_at",
                      "closed_at", "performed_by", "overdue")
DOWNTIME_COLUMNS = ("equipment_number", "equipment_name", "faults", "stopping_faults", "downtime_hours",
                    "mttr_hours", "mtbf_hours")

LABEL_WIDTH_MM = 70
LABEL_HEIGHT_MM = 40


@dataclass(frozen=True)
class ImportResult(Mapping[str, Any]):
    """What an equipment import wrote (or, with ``dry_run``, would write); reads as a mapping for the API."""

    rows: int
    created: tuple[str, ...] = ()  # equipment numbers registered, in file order
    updated: tuple[str, ...] = ()  # equipment numbers whose calibration plan changed
    unchanged: tuple[str, ...] = ()  # rows already in the ledger exactly as in the file
    dry_run: bool = False

    def _items(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": len(self.created), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "dry_run": self.dry_run,
                "numbers": [*self.created, *self.updated]}

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())


# ---------------------------------------------------------------- exports


def _every_equipment(actor: Actor) -> list[EquipmentView]:
    return list(all_pages(lambda after: list_equipment(actor=actor, after_id=after, limit=500), lambda e: e.id))


def _equipment_row(e: EquipmentView) -> list[Any]:
    return [e.number, e.class_code, e.name_zh, e.name_en, e.location, e.manufacturer, e.model, e.serial_number,
            e.install_date, e.owner_department, e.owner or None, e.gmp_critical, e.requalification_interval_days,
            e.calibration_required, e.range_low, e.range_high, e.range_unit, e.tolerance,
            e.calibration_interval_days, e.usage_unit, e.state, e.calibration_status, e.last_calibrated_on,
            e.calibration_due_on, e.requalification_due_on, e.iq_on, e.oq_on, e.pq_on, e.created_at]


def export_equipment(*, actor: Actor, fmt: str = "csv") -> tuple[bytes, str, str]:
    """The equipment ledger as CSV or Excel: (content, media type, filename).

    The columns are the import's plus state, calibration and qualification dates, which an
    import of the same file ignores.
    """
    actor.require("equipment.view")
    fmt = export_format(fmt)
    data = [_equipment_row(e) for e in _every_equipment(actor)]
    return download(fmt, (*EQUIPMENT_COLUMNS, *EQUIPMENT_EXPORT_ONLY), data, name="equipment-ledger",
                    sheet="Equipment 设备台账")


def export_calibration_plan(*, actor: Actor, fmt: str = "csv") -> tuple[bytes, str, str]:
    """Every instrument that needs calibration, with its interval, accuracy, range and dates."""
    actor.require("equipment.view")
    fmt = export_format(fmt)
    data = [[e.number, e.effective_calibration_interval_days, e.tolerance, e.range_low, e.range_high, e.range_unit,
             e.last_calibrated_on, e.name_zh, e.class_code, e.location, e.calibration_status, e.calibration_due_on]
            for e in _every_equipment(actor) if e.calibration_required and e.state != "retired"]
    return download(fmt, (*CALIBRATION_PLAN_COLUMNS, *CALIBRATION_PLAN_EXPORT_ONLY), data, name="calibration-plan",
                    sheet="Calibration plan 校准计划")


def export_work_orders(*, actor: Actor, fmt: str = "csv", state: str | None = None) -> tuple[bytes, str, str]:
    """Work orders (all, or those in ``state``) as CSV or Excel."""
    actor.require("equipment.view")
    fmt = export_format(fmt)
    orders = list(all_pages(lambda after: list_work_orders(actor=actor, state=state, after_id=after, limit=500),
                            lambda w: w.id))
    data = [[w.number, w.equipment_number, w.equipment_name, w.kind, w.title, w.plan_number, w.fault_number,
             w.due_on, w.state, w.assigned_to, w.created_at, w.started_at, w.completed_at, w.closed_at,
             w.performed_by, w.overdue] for w in orders]
    return download(fmt, WORK_ORDER_COLUMNS, data, name="work-orders", sheet="Work orders 工单")


def export_downtime(*, actor: Actor, fmt: str = "csv", start: date | None = None,
                    end: date | None = None) -> tuple[bytes, str, str]:
    """The downtime report (per equipment with faults in the period) as CSV or Excel."""
    actor.require("equipment.view")
    fmt = export_format(fmt)
    rows = downtime_report(actor=actor, start=start, end=end)
    data = [[r.equipment_number, r.equipment_name, r.faults, r.stopping_faults, r.downtime_hours, r.mttr_hours,
             r.mtbf_hours] for r in rows]
    return download(fmt, DOWNTIME_COLUMNS, data, name="downtime", sheet="Downtime 停机")


def equipment_template(*, fmt: str = "csv") -> tuple[bytes, str, str]:
    """An empty equipment ledger with the import's column names."""
    fmt = export_format(fmt)
    return download(fmt, EQUIPMENT_COLUMNS, [], name="equipment-import-template", sheet="Equipment 设备台账")


def calibration_plan_template(*, fmt: str = "csv") -> tuple[bytes, str, str]:
    """An empty calibration plan with the import's column names."""
    fmt = export_format(fmt)
    return download(fmt, CALIBRATION_PLAN_COLUMNS, [], name="calibration-plan-import-template",
                    sheet="Calibration plan 校准计划")


# ---------------------------------------------------------------- equipment ledger import

_TEXT_COLUMNS = ("class_code", "name_zh", "name_en", "location", "manufacturer", "model", "serial_number",
                 "owner_department", "owner_username", "range_unit", "usage_unit")


def _equipment_fields(reader: RowReader) -> tuple[dict[str, Any], set[str]]:
    """The row as ``register_equipment`` arguments, and the columns whose cells could not be read."""
    unreadable: set[str] = set()

    def read(name: str, value: Callable[[str], Any]) -> Any:
        before = len(reader.problems)
        found = value(name)
        if len(reader.problems) > before:
            unreadable.add(name)
        return found

    fields: dict[str, Any] = {name: reader.text(name) for name in _TEXT_COLUMNS if not reader.is_blank(name)}
    fields["class_code"] = reader.text("class_code")
    fields["name_zh"] = reader.text("name_zh")
    fields["number"] = reader.text("number").upper() or None
    install = read("install_date", reader.day)
    if install is not None:
        fields["install_date"] = install
    for name in ("requalification_interval_days", "calibration_interval_days"):
        value = read(name, reader.whole)
        if value is not None:
            fields[name] = value
    gmp = read("gmp_critical", lambda c: reader.boolean(c, True))
    if gmp is not None:
        fields["gmp_critical"] = gmp
    if not reader.is_blank("calibration_required"):
        required = read("calibration_required", lambda c: reader.boolean(c, False))
        if required is not None:
            fields["calibration_required"] = required
    for name in ("range_low", "range_high", "tolerance"):
        if not reader.is_blank(name):
            fields[name] = reader.text(name)
    return fields, unreadable


def _ledger_differences(session: Any, row: Equipment, fields: Mapping[str, Any]) -> list[str]:
    """Columns where the file differs from the registered equipment (blank cells are not compared)."""
    cls = session.get(EquipmentClass, row.class_id)
    current: dict[str, Any] = {
        "class_code": cls.code if cls else "", "name_zh": row.name_zh, "name_en": row.name_en,
        "location": row.location, "manufacturer": row.manufacturer, "model": row.model,
        "serial_number": row.serial_number, "install_date": row.install_date,
        "owner_department": row.owner_department, "gmp_critical": row.gmp_critical,
        "requalification_interval_days": row.requalification_interval_days,
        "calibration_required": row.calibration_required, "range_low": row.range_low, "range_high": row.range_high,
        "range_unit": row.range_unit, "tolerance": row.tolerance,
        "calibration_interval_days": row.calibration_interval_days, "usage_unit": row.usage_unit}
    differs = []
    for name, value in fields.items():
        if name not in current or value is None:
            continue
        now = current[name]
        if name in ("range_low", "range_high", "tolerance"):
            same = now is not None and parse_reading(name, value, []) == Decimal(now)
        else:
            same = value == now
        if not same:
            differs.append(name)
    return differs


def import_equipment(*, actor: Actor, filename: str, content: bytes, dry_run: bool = False,
                     reason: str = "") -> ImportResult:
    """Register equipment from a CSV or Excel ledger, all rows or none.

    Row 1 names the columns (any order, case-insensitive): required ``class_code`` and
    ``name_zh``; optional the other columns of ``EQUIPMENT_COLUMNS`` (the export's, so an
    exported ledger can be extended and imported back). A blank ``number`` is generated
    per class. A row whose number is already registered with the same values (blank cells
    are not compared) is left as it is; one that differs is refused, since registered
    equipment changes on its page with a reason. Every bad row is reported together
    (field ``row N: column``) and nothing is written unless every row is acceptable.
    """
    actor.require("equipment.import")
    rows = read_table(content, filename, required=EQUIPMENT_REQUIRED,
                      optional=[c for c in EQUIPMENT_COLUMNS if c not in EQUIPMENT_REQUIRED],
                      ignored=EQUIPMENT_EXPORT_ONLY)
    problems: list[FieldProblem] = []
    accepted: list[tuple[TableRow, dict[str, Any]]] = []
    unchanged: list[str] = []
    numbers_in_file: dict[str, int] = {}
    serials_in_file: dict[tuple[str, str, str], int] = {}
    with read_session() as session:
        for row in rows:
            reader = RowReader(row, problems)
            before = len(problems)
            fields, unreadable = _equipment_fields(reader)
            number = fields["number"]
            if number:
                if number in numbers_in_file:
                    reader.problem("number", f"{number} is already in row {numbers_in_file[number]} of this file.")
                    continue
                numbers_in_file[number] = row.number
                existing = session.scalar(select(Equipment).where(Equipment.number == number))
                if existing is not None:
                    for name in _ledger_differences(session, existing, fields):
                        reader.problem(name, f"{number} is registered with a different {name}; change registered "
                                             "equipment on its page, with a reason.")
                    if len(problems) == before:
                        unchanged.append(number)
                    continue
            serial = fields.get("serial_number")
            if serial:
                key = (fields.get("manufacturer", ""), fields.get("model", ""), serial)
                if key in serials_in_file:
                    reader.problem("serial_number", f"Serial number {serial} of this manufacturer and model is "
                                                    f"already in row {serials_in_file[key]} of this file.")
                else:
                    serials_in_file[key] = row.number
            # The register form's rules (class, number pattern, serial, ranges, owner…), minus unreadable cells.
            reader.adopt([p for p in equipment_field_problems(session, **fields) if p.field not in unreadable])
            if len(problems) > before:
                continue
            accepted.append((row, fields))
    if problems:
        raise refuse_import(problems, len(rows))
    if dry_run:
        return ImportResult(rows=len(rows), created=tuple(f["number"] or f"({f['class_code']})"
                                                          for _, f in accepted),
                            unchanged=tuple(unchanged), dry_run=True)
    digest = hashlib.sha256(content).hexdigest()
    created: list[str] = []
    with transaction(actor=actor, reason=reason.strip() or f"Equipment ledger imported from {filename}") as session:
        for row, fields in accepted:
            try:
                equipment = add_equipment(session, actor=actor, **fields)
            except ValidationFailed as error:  # registered by someone else since the check above
                RowReader(row, problems).adopt(error.fields or [FieldProblem("number", error.message)])
                continue
            created.append(equipment.number)
        if problems:
            raise refuse_import(problems, len(rows))
        record_event(session, record_type="equipment_import", record_id=digest, action="import", details={
            "filename": filename, "rows": len(rows), "created": created, "unchanged": unchanged, "sha256": digest})
    return ImportResult(rows=len(rows), created=tuple(created), unchanged=tuple(unchanged))


# ---------------------------------------------------------------- calibration plan import


@dataclass
class _PlanLine:
    row: TableRow
    equipment_id: int
    number: str
    changes: dict[str, Any]


def _plan_line(session: Any, reader: RowReader, has_records: set[int], today: date) -> _PlanLine | None:
    before = len(reader.problems)
    number = reader.text("number").upper()
    equipment = session.scalar(select(Equipment).where(Equipment.number == number)) if number else None
    if not number:
        reader.problem("number", "Required.")
    elif equipment is None:
        reader.problem("number", f"No equipment {number}; register it first.")
    elif not equipment.calibration_required:
        reader.problem("number", f"{number} does not require calibration.")
    elif equipment.state == "retired":
        reader.problem("number", f"{number} is retired.")
    interval = reader.whole("calibration_interval_days")
    if interval is not None and interval <= 0:
        reader.problem("calibration_interval_days", "Must be more than zero days.")
    readings: dict[str, Decimal | None] = {}
    for name in ("tolerance", "range_low", "range_high"):
        found: list[FieldProblem] = []
        readings[name] = parse_reading(name, reader.text(name) or None, found)
        reader.adopt(found)
    if readings["tolerance"] is not None and readings["tolerance"] <= 0:
        reader.problem("tolerance", "The tolerance must be more than zero.")
    unit = reader.text("range_unit")
    if len(unit) > 20:
        reader.problem("range_unit", "At most 20 characters.")
    last = reader.day("last_calibrated_on")
    if last is not None and last > today:
        reader.problem("last_calibrated_on", "The calibration date cannot be in the future.")
    if equipment is None:
        return None
    low = readings["range_low"] if readings["range_low"] is not None else equipment.range_low
    high = readings["range_high"] if readings["range_high"] is not None else equipment.range_high
    if low is not None and high is not None and Decimal(low) >= Decimal(high):
        reader.problem("range_high", "The upper end of the range must be above the lower end.")
    if last is not None and equipment.id in has_records and last != equipment.last_calibrated_on:
        # 药品GMP 第九十二条: once calibrations are recorded, the dates come from those records alone.
        reader.problem("last_calibrated_on", f"{number} has calibration records; its dates come from them.")
    if len(reader.problems) > before:
        return None
    changes: dict[str, Any] = {}
    if interval is not None:
        changes["calibration_interval_days"] = interval
    for name, value in readings.items():
        if value is not None:
            changes[name] = value
    if unit:
        changes["range_unit"] = unit
    if last is not None and equipment.id not in has_records:
        changes["last_calibrated_on"] = last
    return _PlanLine(reader.row, equipment.id, equipment.number, changes)


def _apply_plan(session: Any, line: _PlanLine, actor: Actor) -> bool:
    """Write one row's changes; whether anything changed."""
    equipment = session.get(Equipment, line.equipment_id, with_for_update=True)
    cls = session.get(EquipmentClass, equipment.class_id)
    changed = False
    for name, value in line.changes.items():
        current = getattr(equipment, name)
        if name == "calibration_interval_days" and value == effective_calibration_interval(equipment, cls):
            continue  # the interval in force already (the export writes the class's where the equipment has none)
        if name in ("tolerance", "range_low", "range_high") and current is not None:
            current = Decimal(current)
        if current != value:
            setattr(equipment, name, value)
            changed = True
    interval = effective_calibration_interval(equipment, cls)
    if equipment.last_calibrated_on is not None and interval:
        due = equipment.last_calibrated_on + timedelta(days=interval)
        if due != equipment.calibration_due_on:
            equipment.calibration_due_on = due
            changed = True
    if "last_calibrated_on" in line.changes and equipment.calibration_status == "never_calibrated":
        # Go-live of a calibration kept on paper: the cached status changes with a logbook entry (EU GMP 4.31).
        equipment.calibration_status = "in_tolerance"
        changed = True
    if changed:
        session.flush()
        due_text = equipment.calibration_due_on.isoformat() if equipment.calibration_due_on else "—"
        last_text = equipment.last_calibrated_on.isoformat() if equipment.last_calibrated_on else "—"
        write_entry(session, equipment=equipment, kind="calibration", actor=actor,
                    description=f"Calibration plan imported: last calibrated {last_text}, due {due_text}, "
                                f"interval {interval or '—'} days")
    return changed


def import_calibration_plan(*, actor: Actor, filename: str, content: bytes, dry_run: bool = False,
                            reason: str = "") -> ImportResult:
    """Set the calibration plan of registered instruments from CSV or Excel, all rows or none.

    Columns: required ``number``; optional ``calibration_interval_days``, ``tolerance``,
    ``range_low``, ``range_high``, ``range_unit``, ``last_calibrated_on`` (blank cells keep
    the registered value). ``last_calibrated_on`` sets the dates only of instruments without
    calibration records (the paper history at go-live); the due date follows from it and the
    interval. Every change is audited and written to the instrument's logbook.
    """
    actor.require("equipment.import")
    rows = read_table(content, filename, required=CALIBRATION_PLAN_REQUIRED,
                      optional=CALIBRATION_PLAN_COLUMNS[1:], ignored=CALIBRATION_PLAN_EXPORT_ONLY)
    today = site_today()
    problems: list[FieldProblem] = []
    lines: list[_PlanLine] = []
    seen: dict[str, int] = {}
    with read_session() as session:
        has_records = set(session.scalars(select(Calibration.equipment_id).distinct()))
        for row in rows:
            reader = RowReader(row, problems)
            number = reader.text("number").upper()
            if number and number in seen:
                reader.problem("number", f"{number} is already in row {seen[number]} of this file.")
                continue
            if number:
                seen[number] = row.number
            line = _plan_line(session, reader, has_records, today)
            if line is not None:
                lines.append(line)
    if problems:
        raise refuse_import(problems, len(rows))
    if dry_run:
        return ImportResult(rows=len(rows), updated=tuple(line.number for line in lines if line.changes),
                            dry_run=True)
    digest = hashlib.sha256(content).hexdigest()
    updated: list[str] = []
    unchanged: list[str] = []
    with transaction(actor=actor, reason=reason.strip() or f"Calibration plan imported from {filename}") as session:
        for line in lines:
            (updated if _apply_plan(session, line, actor) else unchanged).append(line.number)
        record_event(session, record_type="calibration_plan_import", record_id=digest, action="import", details={
            "filename": filename, "rows": len(rows), "updated": updated, "sha256": digest})
    return ImportResult(rows=len(rows), updated=tuple(updated), unchanged=tuple(unchanged))


# ---------------------------------------------------------------- labels


def equipment_labels_pdf(*, actor: Actor, equipment_ids: Sequence[int]) -> bytes:
    """Equipment labels as one PDF, a 70 × 40 mm page per equipment, in the order given.

    The QR code carries the equipment number, which the scan field and inspection rounds read
    (``find_equipment_by_scan``, ``record_round_result``). Each printing is audited.
    """
    actor.require("equipment.view")
    ids = list(dict.fromkeys(int(i) for i in equipment_ids))
    if not ids:
        raise ValidationFailed.on("equipment_ids", "Choose at least one equipment.")
    if len(ids) > 1000:
        raise ValidationFailed.on("equipment_ids", "At most 1000 labels per print.")
    settings = get_settings()
    with read_session() as session:
        found = {e.id: (e, cls) for e, cls in session.execute(
            select(Equipment, EquipmentClass).join(EquipmentClass, EquipmentClass.id == Equipment.class_id)
            .where(Equipment.id.in_(ids)))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationFailed.on("equipment_ids", f"No equipment with id {', '.join(map(str, missing))}.")
        labels = [(found[i][0].number, found[i][0].name_zh, found[i][0].name_en, found[i][1].name_zh,
                   found[i][1].name_en, found[i][0].location) for i in ids]
    printed_at = utcnow().astimezone(ZoneInfo(settings.site_timezone))
    pdf = _render_equipment_labels(labels, company=settings.site_name, printed_at=f"{printed_at:%Y-%m-%d}")
    with transaction(actor=actor, reason="Equipment labels printed") as session:
        record_event(session, record_type="equipment", record_id=",".join(map(str, ids))[:200],
                     action="labels_printed", details={"numbers": [label[0] for label in labels],
                                                       "sha256": hashlib.sha256(pdf).hexdigest()})
    return pdf


def _render_equipment_labels(labels: Sequence[tuple[str, str, str, str, str, str]], *, company: str,
                             printed_at: str) -> bytes:
    from reportlab.lib.units import mm

    width, height = LABEL_WIDTH_MM * mm, LABEL_HEIGHT_MM * mm
    margin = 2.5 * mm
    qr_size = height - 2 * margin - 4 * mm
    buffer = io.BytesIO()
    canvas = label_canvas(buffer, width_mm=LABEL_WIDTH_MM, height_mm=LABEL_HEIGHT_MM, title="Equipment labels")
    for number, name_zh, name_en, class_zh, class_en, location in labels:
        qr_x = width - margin - qr_size
        qr_y = height - margin - qr_size
        draw_qr(canvas, number, x=qr_x, y=qr_y, size=qr_size)
        canvas.setFont(PDF_FONT, 6)
        canvas.drawCentredString(qr_x + qr_size / 2, qr_y - 3 * mm, fit_text(number, 6, qr_size))
        room = qr_x - 2 * margin
        y = height - margin - 5 * mm
        canvas.setFont(PDF_FONT, 12)
        canvas.drawString(margin, y, fit_text(number, 12, room))
        for text, size in ((name_zh, 9), (name_en, 7), (f"{class_zh} {class_en}".strip(), 7),
                           (f"位置 Location: {location or '—'}", 7)):
            if not text:
                continue
            y -= size * 0.42 * mm + 1.8 * mm
            canvas.setFont(PDF_FONT, size)
            canvas.drawString(margin, y, fit_text(text, size, room))
        canvas.setFont(PDF_FONT, 5.5)
        canvas.drawString(margin, margin, fit_text(f"{company} · {printed_at}", 5.5, room))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


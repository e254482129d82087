"""Spreadsheet exchange and printed labels of the materials module.

Exports (CSV and Excel) read through the same services as the screens, so a report and its
spreadsheet never disagree. Imports (material master, opening stock) check every row of the
file first and write nothing unless every row is acceptable; then all rows go in one
transaction (no partial import), checked by the same building blocks the forms use
(``master.validate_material_fields`` / ``add_material``, ``receiving.add_lot``).

Container labels are GMP-controlled print: each printing is recorded in the audit trail so
issued labels can be reconciled (EU GMP Part I 5.42 / 药品GMP 第一百二十条).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
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
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, required_reason
from pharmos.core.spreadsheets import (
    EXPORT_FORMATS,
    MAX_UPLOAD_BYTES,
    RowReader,
    TableRow,
    all_pages,
    blank,
    download,
    export_format,
    read_table,
    refuse_import,
)
from pharmos.materials import inventory, master, receiving
from pharmos.materials.labels import ContainerLabel, label_status, render_labels
from pharmos.materials.models import Container, Lot, Material, StorageLocation, Supplier
from pharmos.materials.storage import storage_problem
from pharmos.materials.units import QUANTUM, parse_quantity, to_base
from pharmos.materials.views import ExpiryRow, MaterialView, MovementView, OnHandRow
from pharmos.site.service import effective_value

__all__ = [
    "EXPORT_FORMATS",
    "MATERIAL_COLUMNS",
    "MATERIAL_REQUIRED",
    "MAX_UPLOAD_BYTES",
    "OPENING_STOCK_COLUMNS",
    "OPENING_STOCK_REFERENCE",
    "OPENING_STOCK_REQUIRED",
    "ImportResult",
    "export_expiry_report",
    "export_lot_movements",
    "export_materials",
    "export_on_hand",
    "import_materials",
    "import_opening_stock",
    "lot_labels_pdf",
]

# Every opening-stock ledger entry carries this reference, so go-live stock stays identifiable.
OPENING_STOCK_REFERENCE = "OPENING-STOCK"

# Material master columns (import and export). Required ones first.
MATERIAL_REQUIRED = ("code", "name_zh", "material_type", "base_unit", "storage_condition")
MATERIAL_COLUMNS = (*MATERIAL_REQUIRED, "name_en", "protect_from_light", "shelf_life_days", "retest_interval_days",
                    "min_remaining_shelf_life_days", "sampling_plan", "gmp_critical", "pack_units")
# Columns the export adds that an import of the same file ignores (the system sets them).
MATERIAL_EXPORT_ONLY = ("version", "state", "author", "created_at", "approved_at")

OPENING_STOCK_REQUIRED = ("material_code", "quantity", "unit", "location_code", "expires_on")
OPENING_STOCK_COLUMNS = (*OPENING_STOCK_REQUIRED, "containers", "supplier_code", "supplier_lot", "manufactured_on",
                         "retest_on")

# ---------------------------------------------------------------- exports

ON_HAND_COLUMNS = ("material_code", "material_name", "lot_number", "lot_state", "expires_on", "retest_on",
                   "location_code", "containers", "on_hand", "reserved", "available", "unit")
EXPIRY_COLUMNS = ("lot_number", "material_code", "material_name", "state", "expires_on", "days_to_expiry",
                  "retest_on", "days_to_retest", "on_hand", "unit")
MOVEMENT_COLUMNS = ("id", "at_local", "kind", "lot_number", "container_number", "material_code", "quantity_change",
                    "quantity", "unit", "from_location_code", "to_location_code", "actor", "reason", "reference",
                    "fefo_override", "reviewed_by")


def export_on_hand(*, actor: Actor, fmt: str = "csv", material_code: str | None = None, lot_id: int | None = None,
                   location_code: str | None = None, group_by: str = "lot") -> tuple[bytes, str, str]:
    """Stock on hand as CSV or Excel: (content, media type, filename). Filters as ``on_hand``."""
    fmt = export_format(fmt)
    rows: list[OnHandRow] = inventory.on_hand(actor=actor, material_code=material_code, lot_id=lot_id,
                                              location_code=location_code, group_by=group_by)
    data = [[r.material_code, r.material_name, r.lot_number, r.lot_state, r.expires_on, r.retest_on,
             r.location_code, r.containers, r.on_hand, r.reserved, r.available, r.unit] for r in rows]
    return download(fmt, ON_HAND_COLUMNS, data, name=f"stock-on-hand-by-{group_by}", sheet="On hand 库存")


def export_expiry_report(*, actor: Actor, fmt: str = "csv", within_days: int = 90) -> tuple[bytes, str, str]:
    """Lots in stock expiring or due for retest within ``within_days``, as CSV or Excel."""
    fmt = export_format(fmt)
    rows: list[ExpiryRow] = inventory.expiry_report(actor=actor, within_days=within_days)
    data = [[r.lot_number, r.material_code, r.material_name, r.state, r.expires_on, r.days_to_expiry, r.retest_on,
             r.days_to_retest, r.on_hand, r.unit] for r in rows]
    return download(fmt, EXPIRY_COLUMNS, data, name=f"expiry-report-{within_days}d", sheet="Expiry 效期")


def export_lot_movements(*, actor: Actor, lot_id: int, fmt: str = "csv") -> tuple[bytes, str, str]:
    """The complete ledger history of one lot, oldest first, as CSV or Excel."""
    fmt = export_format(fmt)
    lot = receiving.get_lot(actor=actor, lot_id=lot_id)  # NotFound for an unknown lot
    movements: list[MovementView] = list(all_pages(
        lambda after: inventory.list_movements(actor=actor, lot_id=lot_id, after_id=after, limit=500),
        lambda m: m.id))
    data = [[m.id, m.at, m.kind, m.lot_number, m.container_number, m.material_code, m.quantity_change, m.quantity,
             m.unit, m.from_location_code, m.to_location_code, m.actor, m.reason, m.reference, m.fefo_override,
             m.reviewed_by] for m in movements]
    return download(fmt, MOVEMENT_COLUMNS, data, name=f"movements-{lot.number}", sheet="Movements 出入库")


def _pack_units_text(view: MaterialView) -> str:
    return "; ".join(f"{p.unit}={format(p.factor_to_base.normalize(), 'f')}" for p in view.pack_units)


def export_materials(*, actor: Actor, fmt: str = "csv", state: str | None = None) -> tuple[bytes, str, str]:
    """The material master (every version, or those in ``state``) as CSV or Excel.

    The columns are the import's, plus version, state, author, created_at and approved_at,
    which an import of the same file ignores.
    """
    fmt = export_format(fmt)
    materials: list[MaterialView] = list(all_pages(
        lambda after: master.list_materials(actor=actor, state=state, after_id=after, limit=500), lambda m: m.id))
    data = [[m.code, m.name_zh, m.material_type, m.base_unit, m.storage_condition, m.name_en, m.protect_from_light,
             m.shelf_life_days, m.retest_interval_days, m.min_remaining_shelf_life_days, m.sampling_plan,
             m.gmp_critical, _pack_units_text(m), m.version, m.state, m.author, m.created_at, m.approved_at]
            for m in materials]
    return download(fmt, (*MATERIAL_COLUMNS, *MATERIAL_EXPORT_ONLY), data, name="materials",
                     sheet="Materials 物料")


# ---------------------------------------------------------------- reading spreadsheets


@dataclass(frozen=True)
class ImportResult(Mapping[str, int]):
    """What an import wrote; reads as a mapping of counts (``dict(result)``) for the API."""

    rows: int
    materials: int = 0
    lots: int = 0
    containers: int = 0
    # Material codes or lot numbers created, in file order.
    created: tuple[str, ...] = ()

    def _counts(self) -> dict[str, int]:
        return {"rows": self.rows, "materials": self.materials, "lots": self.lots, "containers": self.containers}

    def __getitem__(self, key: str) -> int:
        return self._counts()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts())

    def __len__(self) -> int:
        return 4


class _RowReader(RowReader):
    """The shared row reader plus quantities in the materials module's units."""

    def quantity(self, column: str) -> Decimal | None:
        value = self.row.values.get(column)
        if blank(value):
            self.problem(column, "Required.")
            return None
        try:
            # repr of an Excel float is the shortest exact decimal (25.5, not 25.499999…).
            return parse_quantity(repr(value) if isinstance(value, float) else value, field=column)
        except ValidationFailed as error:
            self.adopt(error.fields)
            return None


def _pack_units(reader: _RowReader) -> dict[str, str] | None:
    """``box=100; drum=25`` → {"box": "100", "drum": "25"}; None when blank (keep the approved version's)."""
    text = reader.text("pack_units")
    if not text:
        return None
    found: dict[str, str] = {}
    for part in re.split(r"[;；,，]", text):
        if not part.strip():
            continue
        name, sep, factor = part.partition("=")
        if not sep or not name.strip() or not factor.strip():
            reader.problem("pack_units", f"{part.strip()!r}: write each pack unit as name=quantity, e.g. box=100.")
            continue
        if name.strip() in found:
            reader.problem("pack_units", f"Pack unit {name.strip()!r} is given twice.")
        found[name.strip()] = factor.strip()
    return found



# ---------------------------------------------------------------- material master import


def import_materials(*, actor: Actor, content: bytes, filename: str, reason: str) -> ImportResult:
    """Import material master records from CSV or Excel as drafts (QA approves them afterwards).

    Row 1 names the columns (any order, case-insensitive):

    required ``code``, ``name_zh``, ``material_type`` (raw_material, excipient, packaging,
    intermediate, finished_product, consumable), ``base_unit`` (kg g mg L mL each),
    ``storage_condition`` (2-8C, -20C, -80C, 15-25C, le30C); optional ``name_en``,
    ``protect_from_light`` and ``gmp_critical`` (true/false, yes/no, 是/否; defaults false and
    true), ``shelf_life_days``, ``retest_interval_days``, ``min_remaining_shelf_life_days``
    (whole days), ``sampling_plan``, ``pack_units`` (``box=100; drum=25`` in the base unit).
    The export's ``version``, ``state``, ``author``, ``created_at`` and ``approved_at`` are
    ignored, so an exported file can be edited and imported back.

    A code new to the site becomes version 1; a code with an approved version gets a new draft
    version. Every row's problems are reported together (field ``row N: column``) and nothing
    is written unless every row is acceptable; then all rows go in in one transaction.
    """
    actor.require("materials.import")
    reason = required_reason(reason)
    rows = read_table(content, filename, required=MATERIAL_REQUIRED,
                       optional=MATERIAL_COLUMNS[len(MATERIAL_REQUIRED):], ignored=MATERIAL_EXPORT_ONLY)
    problems: list[FieldProblem] = []
    accepted: list[tuple[TableRow, dict[str, Any]]] = []
    first_row_of: dict[str, int] = {}
    for row in rows:
        reader = _RowReader(row, problems)
        before = len(problems)
        fields: dict[str, Any] = {
            "code": reader.text("code"),
            "name_zh": reader.text("name_zh"),
            "name_en": reader.text("name_en"),
            "material_type": reader.text("material_type"),
            "base_unit": reader.text("base_unit"),
            "storage_condition": reader.text("storage_condition"),
            "sampling_plan": reader.text("sampling_plan"),
        }
        badly_typed: set[str] = set()
        for name, read in (
            ("protect_from_light", lambda r: r.boolean("protect_from_light", False)),
            ("gmp_critical", lambda r: r.boolean("gmp_critical", True)),
            ("shelf_life_days", lambda r: r.whole("shelf_life_days")),
            ("retest_interval_days", lambda r: r.whole("retest_interval_days")),
            ("min_remaining_shelf_life_days", lambda r: r.whole("min_remaining_shelf_life_days") or 0),
            ("pack_units", lambda r: _pack_units(r)),
        ):
            noted = len(problems)
            value = read(reader)
            if len(problems) > noted:
                badly_typed.add(name)
            else:
                fields[name] = value
        # The form's rules, minus the cells already reported as unreadable.
        reader.adopt([p for p in master.validate_material_fields(**fields)
                      if p.field.split(".", 1)[0] not in badly_typed])
        code = fields["code"]
        if code in first_row_of:
            reader.problem("code", f"{code} is already in row {first_row_of[code]} of this file.")
        elif code:
            first_row_of[code] = row.number
        if len(problems) == before:
            accepted.append((row, fields))
    if accepted:
        with read_session() as session:
            codes = [fields["code"] for _, fields in accepted]
            drafts = dict(session.execute(select(Material.code, Material.version).where(
                Material.code.in_(codes), Material.state == "draft")).all())
        for row, fields in accepted:
            if fields["code"] in drafts:
                _RowReader(row, problems).problem(
                    "code", f"Version {drafts[fields['code']]} of {fields['code']} is an open draft; finish or "
                            "withdraw it first.")
    if problems:
        raise refuse_import(problems, len(rows))
    digest = hashlib.sha256(content).hexdigest()
    created: list[str] = []
    with transaction(actor=actor, reason=reason) as session:
        for row, fields in accepted:
            try:
                material = master.add_material(session, actor=actor, **fields)
            except (ValidationFailed, Conflict) as error:  # a draft opened since the check above
                _RowReader(row, problems).adopt(error.fields or [FieldProblem("code", error.message)])
                continue
            created.append(f"{material.code} v{material.version}")
        if problems:
            raise refuse_import(problems, len(rows))
        record_event(session, record_type="materials_import", record_id=digest, action="import", details={
            "filename": filename, "rows": len(rows), "created": created, "sha256": digest})
    return ImportResult(rows=len(rows), materials=len(created), created=tuple(created))


# ---------------------------------------------------------------- opening stock import


@dataclass
class _StockLine:
    row: TableRow
    material_id: int
    location_id: int
    supplier_id: int | None
    quantity_base: Decimal
    containers: int
    expires_on: date
    manufactured_on: date | None
    retest_on: date | None
    supplier_lot: str


def _zone_holds_quarantine(session: Any, location: StorageLocation) -> str | None:
    """With status-by-zone, why this bin may not hold quarantined stock, or None."""
    zone = session.get(StorageLocation, location.parent_id) if location.parent_id is not None else None
    holds = location.status_zone or (zone.status_zone if zone is not None else "")
    if holds and holds != "quarantine":
        # EU GMP Part I 3.21: quarantined stock is kept apart from released and rejected stock.
        return f"{location.code} holds {holds} stock only; opening stock arrives in quarantine."
    return None


def import_opening_stock(*, actor: Actor, content: bytes, filename: str, reason: str) -> ImportResult:
    """Import stock held at go-live from CSV or Excel: one quarantined lot per row.

    Row 1 names the columns (any order, case-insensitive):

    required ``material_code`` (a code with an approved version), ``quantity`` (> 0),
    ``unit`` (kg g mg L mL each or one of the material's pack units, convertible to its base
    unit), ``location_code`` (an active bin whose storage class satisfies the material),
    ``expires_on`` (YYYY-MM-DD; stock already past it is imported too, because it is
    physically held until destroyed, and the next daily stock review marks it expired);
    optional ``containers`` (1–999, default 1;
    the quantity is split evenly, the remainder on the last), ``supplier_code`` (an existing
    supplier), ``supplier_lot``, ``manufactured_on`` (not in the future, before expiry),
    ``retest_on`` (after manufacture, not after expiry; defaults from the material's retest
    interval as on receipt).

    Each lot lands in quarantine with numbered containers and one ``receipt`` ledger entry per
    container referenced ``OPENING-STOCK``; QA releases it through the lot lifecycle as any
    other lot. Every row's problems are reported together (``row N: column``); nothing is
    written unless every row is acceptable, then all rows go in in one transaction.
    """
    actor.require("materials.import")
    reason = required_reason(reason)
    rows = read_table(content, filename, required=OPENING_STOCK_REQUIRED,
                       optional=OPENING_STOCK_COLUMNS[len(OPENING_STOCK_REQUIRED):])
    today = site_today()
    # Read before the write transaction: the setting has its own session.
    by_zone = (effective_value(key="materials.status_by_zone") or "").strip().lower() == "true"
    problems: list[FieldProblem] = []
    lines: list[_StockLine] = []
    supplier_lots: dict[tuple[str, str], int] = {}
    with read_session() as session:
        materials: dict[str, Material | None] = {}
        locations: dict[str, StorageLocation | None] = {}
        suppliers: dict[str, int | None] = {}
        for row in rows:
            reader = _RowReader(row, problems)
            before = len(problems)
            code = reader.text("material_code")
            material: Material | None = None
            if not code:
                reader.problem("material_code", "Required.")
            else:
                if code not in materials:
                    materials[code] = master.approved_material(session, code)
                material = materials[code]
                if material is None:
                    reader.problem("material_code", f"No approved material {code}; QA approves the material master "
                                                    "before stock is imported.")
            quantity = reader.quantity("quantity")
            unit = reader.text("unit")
            quantity_base: Decimal | None = None
            if not unit:
                reader.problem("unit", "Required.")
            elif material is not None and quantity is not None:
                try:
                    quantity_base = to_base(quantity, unit, base_unit=material.base_unit,
                                            pack_units=master.pack_units_of(session, material))
                except ValidationFailed as error:
                    reader.adopt(error.fields)
            containers = reader.whole("containers")
            if blank(row.values.get("containers")):
                containers = 1
            elif containers is not None and not 1 <= containers <= 999:
                reader.problem("containers", "Between 1 and 999 containers per lot.")
                containers = None
            if quantity_base is not None and containers is not None and quantity_base < QUANTUM * containers:
                reader.problem("containers", "Too many containers for this quantity.")
            location_code = reader.text("location_code")
            location: StorageLocation | None = None
            if not location_code:
                reader.problem("location_code", "Required.")
            else:
                if location_code not in locations:
                    locations[location_code] = session.scalar(
                        select(StorageLocation).where(StorageLocation.code == location_code))
                location = locations[location_code]
                if location is None:
                    reader.problem("location_code", f"No location {location_code}.")
                elif location.kind != "bin" or not location.active:
                    reader.problem("location_code", f"{location_code} is not an active bin; stock is only kept in "
                                                    "bins.")
                    location = None
                elif material is not None:
                    # EU GMP Part I 3.19 / 药品GMP 第五十八条: stored under the conditions the material needs.
                    problem = storage_problem(condition=material.storage_condition,
                                              protect_from_light=material.protect_from_light,
                                              location_class=location.storage_class,
                                              light_protected=location.light_protected)
                    if problem is None and by_zone:
                        problem = _zone_holds_quarantine(session, location)
                    if problem:
                        reader.problem("location_code", f"{location_code}: {problem}")
            supplier_code = reader.text("supplier_code")
            supplier_id: int | None = None
            if supplier_code:
                if supplier_code not in suppliers:
                    suppliers[supplier_code] = session.scalar(select(Supplier.id).where(Supplier.code == supplier_code))
                supplier_id = suppliers[supplier_code]
                if supplier_id is None:
                    reader.problem("supplier_code", f"No supplier {supplier_code}.")
            supplier_lot = reader.text("supplier_lot")
            if len(supplier_lot) > 100:
                reader.problem("supplier_lot", "At most 100 characters.")
            elif supplier_lot and code:
                key = (code, supplier_lot)
                if key in supplier_lots:
                    reader.problem("supplier_lot", f"Supplier lot {supplier_lot} of {code} is already in row "
                                                   f"{supplier_lots[key]} of this file.")
                else:
                    supplier_lots[key] = row.number
            expires = reader.day("expires_on", required=True)
            made = reader.day("manufactured_on")
            retest = reader.day("retest_on")
            if made is not None and made > today:
                reader.problem("manufactured_on", "The manufacture date cannot be in the future.")
            if expires is not None:
                if made is not None and expires <= made:
                    reader.problem("expires_on", "The expiry date must be after the manufacture date.")
                if retest is not None and retest > expires:
                    reader.problem("retest_on", "The retest date cannot be after the expiry date.")
            if retest is not None and made is not None and retest <= made:
                reader.problem("retest_on", "The retest date must be after the manufacture date.")
            if len(problems) > before:
                continue
            assert material is not None and location is not None and quantity_base is not None
            assert containers is not None and expires is not None
            if retest is None and material.retest_interval_days:
                # As on receipt: the retest interval runs from manufacture (or today when unknown).
                proposed = (made or today) + timedelta(days=material.retest_interval_days)
                retest = proposed if proposed < expires else None
            lines.append(_StockLine(row, material.id, location.id, supplier_id, quantity_base, containers, expires,
                                    made, retest, supplier_lot))
    if problems:
        raise refuse_import(problems, len(rows))
    digest = hashlib.sha256(content).hexdigest()
    created: list[str] = []
    container_count = 0
    with transaction(actor=actor, reason=reason) as session:
        for line in lines:
            material = session.get(Material, line.material_id)
            location = session.get(StorageLocation, line.location_id)
            if material is None or material.state != "approved" or location is None or not location.active:
                # Changed between the check and the write (QA made it obsolete, a bin was retired).
                _RowReader(line.row, problems).problem("material_code" if location else "location_code",
                                                       "Changed while the file was checked; import it again.")
                continue
            lot = receiving.add_lot(
                session, actor=actor, material=material, quantity_base=line.quantity_base,
                containers=line.containers, location=location, expires_on=line.expires_on,
                manufactured_on=line.manufactured_on, retest_on=line.retest_on, supplier_id=line.supplier_id,
                supplier_lot=line.supplier_lot, reference=OPENING_STOCK_REFERENCE)
            created.append(lot.number)
            container_count += line.containers
        if problems:
            raise refuse_import(problems, len(rows))
        record_event(session, record_type="opening_stock_import", record_id=digest, action="import", details={
            "filename": filename, "rows": len(rows), "lots": created, "sha256": digest})
    return ImportResult(rows=len(rows), lots=len(created), containers=container_count, created=tuple(created))


# ---------------------------------------------------------------- labels


def lot_labels_pdf(*, actor: Actor, lot_id: int, container_numbers: Sequence[str] | None = None) -> bytes:
    """Status labels of a lot's containers as one PDF, a 100 × 70 mm page per container.

    By default every container still holding stock; ``container_numbers`` picks some (of this
    lot). The status shown is the lot's, or EXPIRED once its expiry date is reached. Each
    printing is recorded in the audit trail (action ``labels_printed``) for label reconciliation.
    """
    actor.require("materials.view")
    settings = get_settings()
    now = utcnow()
    today = site_today()
    with read_session() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise NotFound(f"No lot with id {lot_id}.")
        material = session.get(Material, lot.material_id)
        assert material is not None
        stmt = select(Container).where(Container.lot_id == lot.id).order_by(Container.number)
        if container_numbers is not None:
            wanted = [str(n).strip().upper() for n in container_numbers if str(n).strip()]
            if not wanted:
                raise ValidationFailed.on("container_numbers", "Name at least one container.")
            containers = list(session.scalars(stmt.where(Container.number.in_(wanted))))
            unknown = sorted(set(wanted) - {c.number for c in containers})
            if unknown:
                raise ValidationFailed.on("container_numbers",
                                          f"Not containers of lot {lot.number}: {', '.join(unknown)}.")
        else:
            containers = [c for c in session.scalars(stmt) if c.quantity > 0]
            if not containers:
                raise Conflict(f"No container of lot {lot.number} holds stock; name the containers to label.",
                               [FieldProblem("container_numbers", "Name the containers to label.")])
        status = label_status(state=lot.state, expires_on=lot.expires_on, today=today)
        printed_by = actor.full_name if actor.full_name == actor.username else f"{actor.full_name} ({actor.username})"
        labels = [ContainerLabel(
            company=settings.site_name, status=status, material_code=material.code,
            material_name_zh=material.name_zh, material_name_en=material.name_en, lot_number=lot.number,
            supplier_lot=lot.supplier_lot, container_number=c.number, quantity=Decimal(c.quantity), unit=lot.unit,
            expires_on=lot.expires_on, retest_on=lot.retest_on, storage_condition=material.storage_condition,
            protect_from_light=material.protect_from_light, printed_by=printed_by,
            printed_at_local=now.astimezone(ZoneInfo(settings.site_timezone))) for c in containers]
        lot_number = lot.number
    pdf = render_labels(labels, title=f"Labels {lot_number}")
    with transaction(actor=actor, reason="Container status labels printed") as session:
        record_event(session, record_type="lot", record_id=lot_id, action="labels_printed", details={
            "lot_number": lot_number, "status": status, "containers": [label.container_number for label in labels],
            "copies": len(labels), "sha256": hashlib.sha256(pdf).hexdigest()})
    return pdf

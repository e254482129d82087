"""Material master, suppliers and the approved supplier list, storage locations.

A material master record is versioned: a change to an approved material is a new draft
version that QA approves through the ``materials`` lifecycle (approving it makes the old
version obsolete). The approved supplier list decides, per supplier and material code,
whether a delivery may be received at all (EU GMP Part I 5.27 / 药品GMP 第二百五十五条).
Locations form the tree site → warehouse → zone → bin; stock only ever sits in bins.

``validate_material_fields`` and ``add_material`` are the session-level building blocks
the spreadsheet import uses so that a row is checked by exactly the rules a form is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, required_reason, text_problem
from pharmos.materials.lifecycle import MATERIAL_LIFECYCLE
from pharmos.materials.models import (
    Container,
    Lot,
    Material,
    MaterialUnit,
    PurchaseOrderLine,
    Receipt,
    StorageLocation,
    Supplier,
    SupplierApproval,
)
from pharmos.materials.storage import MATERIAL_TYPES, STORAGE_CONDITIONS, storage_problem
from pharmos.materials.units import BASE_UNITS, QUANTUM, STANDARD_UNITS
from pharmos.materials.views import (
    LocationView,
    MaterialView,
    PackUnitView,
    SupplierApprovalView,
    SupplierView,
)

__all__ = [
    "APPROVAL_STATUSES",
    "KEEP",
    "LOCATION_KINDS",
    "STATUS_ZONES",
    "SUPPLIER_KINDS",
    "create_location",
    "create_supplier",
    "current_material",
    "draft_material",
    "get_location",
    "get_material",
    "get_supplier",
    "list_locations",
    "list_materials",
    "list_suppliers",
    "revise_material_draft",
    "set_supplier_approval",
    "update_location",
    "update_supplier",
    "validate_material_fields",
]

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
SUPPLIER_KINDS: dict[str, tuple[str, str]] = {
    "manufacturer": ("Manufacturer", "生产商"),
    "distributor": ("Distributor", "经销商"),
}
APPROVAL_STATUSES: dict[str, tuple[str, str]] = {
    "approved": ("Approved", "合格"),
    "conditional": ("Conditional", "有条件合格"),
    "disqualified": ("Disqualified", "不合格"),
}
# kind → the kind its parent must be (None: no parent).
LOCATION_KINDS: dict[str, str | None] = {"site": None, "warehouse": "site", "zone": "warehouse", "bin": "zone"}
# With status-by-zone, what a zone holds; '' holds any status.
STATUS_ZONES: dict[str, tuple[str, str]] = {
    "": ("Any status", "任意状态"),
    "quarantine": ("Quarantine", "待验"),
    "released": ("Released", "合格"),
    "rejected": ("Rejected", "不合格"),
}


class _Keep(Enum):
    KEEP = "keep"


# Passed (or defaulted) for a field an update leaves as it is; None can mean "clear".
KEEP = _Keep.KEEP




def _code_problem(field: str, code: object) -> FieldProblem | None:
    if not isinstance(code, str) or not CODE_PATTERN.match(code.strip()):
        return FieldProblem(field, "Use 2–40 capital letters, digits or hyphens, starting with a letter or digit "
                                   "(e.g. RM-0001).")
    return None


def _day_count_problem(field: str, value: object, *, optional: bool) -> FieldProblem | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return FieldProblem(field, "Must be a whole number of days.")
    if value < 0:
        return FieldProblem(field, "Must not be negative.")
    if value > 36500:
        return FieldProblem(field, "At most 36500 days.")
    return None


def _pack_unit_problems(pack_units: object, base_unit: object) -> list[FieldProblem]:
    if pack_units is None:
        return []
    if not isinstance(pack_units, Mapping):
        return [FieldProblem("pack_units", "Give pack units as unit name → quantity of the base unit.")]
    problems = []
    for name, factor in pack_units.items():
        field = f"pack_units.{name}"
        if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,9}$", name):
            problems.append(FieldProblem(field, "A pack unit name is 1–10 letters, digits or underscores."))
            continue
        if name in STANDARD_UNITS:
            problems.append(FieldProblem(field, f"{name} is a standard unit; a pack unit needs its own name."))
            continue
        try:
            value = Decimal(str(factor).strip())
        except (InvalidOperation, ValueError):
            problems.append(FieldProblem(field, f"{factor!r} is not a number."))
            continue
        if not value.is_finite() or value <= 0:
            problems.append(FieldProblem(field, f"One {name} must hold more than zero {base_unit}."))
        elif value != value.quantize(QUANTUM):
            problems.append(FieldProblem(field, "At most 6 decimal places."))
    return problems


_MATERIAL_DEFAULTS: dict[str, Any] = {
    "name_en": "", "protect_from_light": False, "shelf_life_days": None, "retest_interval_days": None,
    "min_remaining_shelf_life_days": 0, "sampling_plan": "", "gmp_critical": True, "pack_units": None,
}
_MATERIAL_FIELDS = ("code", "name_zh", "name_en", "material_type", "base_unit", "storage_condition",
                    "protect_from_light", "shelf_life_days", "retest_interval_days", "min_remaining_shelf_life_days",
                    "sampling_plan", "gmp_critical", "pack_units")


def validate_material_fields(**fields: Any) -> list[FieldProblem]:
    """Every problem with a material master record's fields (pure: no database).

    Takes the keyword arguments of ``draft_material``; ``code`` is checked only when given
    (a revision keeps its code). Optional fields left out take ``draft_material``'s defaults.
    """
    unknown = sorted(set(fields) - set(_MATERIAL_FIELDS))
    problems = [FieldProblem(name, "Unknown field.") for name in unknown]
    values = {**_MATERIAL_DEFAULTS, **fields}
    if "code" in fields:
        problem = _code_problem("code", fields["code"])
        if problem:
            problems.append(problem)
    for name, required, length in (("name_zh", True, 200), ("name_en", False, 200), ("sampling_plan", False, 100)):
        problem = text_problem(name, values.get(name), required=required, max_length=length)
        if problem:
            problems.append(problem)
    if values.get("material_type") not in MATERIAL_TYPES:
        problems.append(FieldProblem("material_type", f"Choose one of {', '.join(MATERIAL_TYPES)}."))
    if values.get("base_unit") not in BASE_UNITS:
        problems.append(FieldProblem("base_unit", f"Choose one of {', '.join(BASE_UNITS)}."))
    if values.get("storage_condition") not in STORAGE_CONDITIONS:
        problems.append(FieldProblem("storage_condition", f"Choose one of {', '.join(STORAGE_CONDITIONS)}."))
    for name in ("protect_from_light", "gmp_critical"):
        if not isinstance(values.get(name), bool):
            problems.append(FieldProblem(name, "Must be yes or no."))
    for name, optional in (("shelf_life_days", True), ("retest_interval_days", True),
                           ("min_remaining_shelf_life_days", False)):
        problem = _day_count_problem(name, values.get(name), optional=optional)
        if problem:
            problems.append(problem)
    shelf, retest = values.get("shelf_life_days"), values.get("retest_interval_days")
    if (isinstance(shelf, int) and isinstance(retest, int) and not isinstance(shelf, bool)
            and not isinstance(retest, bool) and 0 <= shelf < retest):
        problems.append(FieldProblem("retest_interval_days", "The retest interval cannot exceed the shelf life."))
    minimum = values.get("min_remaining_shelf_life_days")
    if (isinstance(shelf, int) and isinstance(minimum, int) and not isinstance(minimum, bool)
            and 0 <= shelf < minimum):
        problems.append(FieldProblem("min_remaining_shelf_life_days",
                                     "The minimum remaining shelf life cannot exceed the shelf life."))
    problems.extend(_pack_unit_problems(values.get("pack_units"), values.get("base_unit")))
    return problems


def _pack_units_of(session: Session, material_ids: Iterable[int]) -> dict[int, list[MaterialUnit]]:
    ids = list(material_ids)
    found: dict[int, list[MaterialUnit]] = {i: [] for i in ids}
    if ids:
        for unit in session.scalars(select(MaterialUnit).where(MaterialUnit.material_id.in_(ids))
                                    .order_by(MaterialUnit.unit)):
            found[unit.material_id].append(unit)
    return found


def pack_units_of(session: Session, material: Material) -> dict[str, Decimal]:
    """The material version's own pack units (unit → quantity of the base unit), for ``units.to_base``."""
    return {u.unit: Decimal(u.factor_to_base) for u in _pack_units_of(session, [material.id])[material.id]}


def _material_view(session: Session, row: Material, units: Sequence[MaterialUnit] | None = None, *,
                   with_signatures: bool = False) -> MaterialView:
    if units is None:
        units = _pack_units_of(session, [row.id])[row.id]
    return MaterialView(
        id=row.id, code=row.code, version=row.version, name_zh=row.name_zh, name_en=row.name_en,
        material_type=row.material_type, base_unit=row.base_unit, storage_condition=row.storage_condition,
        protect_from_light=row.protect_from_light, shelf_life_days=row.shelf_life_days,
        retest_interval_days=row.retest_interval_days,
        min_remaining_shelf_life_days=row.min_remaining_shelf_life_days, sampling_plan=row.sampling_plan,
        gmp_critical=row.gmp_critical, state=row.state, author=row.author, created_at=row.created_at,
        approved_at=row.approved_at,
        pack_units=tuple(PackUnitView(u.unit, Decimal(u.factor_to_base)) for u in units),
        signatures=tuple(signatures_for(session, row)) if with_signatures else (),
    )


def _set_pack_units(session: Session, material: Material, pack_units: Mapping[str, Any]) -> None:
    existing = {u.unit: u for u in _pack_units_of(session, [material.id])[material.id]}
    wanted = {name: Decimal(str(factor).strip()) for name, factor in pack_units.items()}
    for name, unit in existing.items():
        if name not in wanted:
            session.delete(unit)
        elif unit.factor_to_base != wanted[name]:
            unit.factor_to_base = wanted[name]
    for name, factor in wanted.items():
        if name not in existing:
            session.add(MaterialUnit(material_id=material.id, unit=name, factor_to_base=factor))
    session.flush()


def _clean_text(value: Any) -> str:
    return (value or "").strip()


def add_material(session: Session, *, actor: Actor, **fields: Any) -> Material:
    """Create a draft material version inside the caller's transaction (import and ``draft_material``).

    Version 1 for a new code; otherwise the next version of the code (refused while a draft of
    the code is open). A new version without ``pack_units`` keeps those of the approved version.
    Raises ValidationFailed naming the field, or Conflict.
    """
    problems = validate_material_fields(**fields)
    if "code" not in fields:
        problems.insert(0, FieldProblem("code", "Required."))
    if problems:
        raise ValidationFailed("The material was not drafted.", problems)
    values = {**_MATERIAL_DEFAULTS, **fields}
    code = fields["code"].strip()
    versions = list(session.scalars(select(Material).where(Material.code == code).order_by(Material.version)))
    open_draft = next((m for m in versions if m.state == "draft"), None)
    if open_draft is not None:
        raise Conflict(f"Version {open_draft.version} of {code} is already an open draft.",
                       [FieldProblem("code", f"Finish or withdraw draft version {open_draft.version} first.")])
    pack_units = values["pack_units"]
    if pack_units is None:
        approved = next((m for m in versions if m.state == "approved"), None)
        pack_units = pack_units_of(session, approved) if approved is not None else {}
    material = Material(
        code=code, version=(versions[-1].version + 1) if versions else 1,
        name_zh=_clean_text(values["name_zh"]), name_en=_clean_text(values["name_en"]),
        material_type=values["material_type"], base_unit=values["base_unit"],
        storage_condition=values["storage_condition"], protect_from_light=values["protect_from_light"],
        shelf_life_days=values["shelf_life_days"], retest_interval_days=values["retest_interval_days"],
        min_remaining_shelf_life_days=values["min_remaining_shelf_life_days"],
        sampling_plan=_clean_text(values["sampling_plan"]), gmp_critical=values["gmp_critical"],
        state=MATERIAL_LIFECYCLE.initial, author_id=actor.user_id, author=actor.username,
    )
    session.add(material)
    session.flush()
    _set_pack_units(session, material, pack_units)
    return material


def draft_material(
    *,
    actor: Actor,
    code: str,
    name_zh: str,
    name_en: str = "",
    material_type: str,
    base_unit: str,
    storage_condition: str,
    protect_from_light: bool = False,
    shelf_life_days: int | None = None,
    retest_interval_days: int | None = None,
    min_remaining_shelf_life_days: int = 0,
    sampling_plan: str = "",
    gmp_critical: bool = True,
    pack_units: Mapping[str, Decimal | str | int] | None = None,
) -> MaterialView:
    """Draft version 1 of a new material code, or the next version of an approved one."""
    actor.require("materials.edit")
    fields = dict(code=code, name_zh=name_zh, name_en=name_en, material_type=material_type, base_unit=base_unit,
                  storage_condition=storage_condition, protect_from_light=protect_from_light,
                  shelf_life_days=shelf_life_days, retest_interval_days=retest_interval_days,
                  min_remaining_shelf_life_days=min_remaining_shelf_life_days, sampling_plan=sampling_plan,
                  gmp_critical=gmp_critical, pack_units=pack_units)
    problems = validate_material_fields(**fields)
    if problems:
        raise ValidationFailed("The material was not drafted.", problems)
    with transaction(actor=actor, reason="Material master drafted") as session:
        material = add_material(session, actor=actor, **fields)
        return _material_view(session, material)


def revise_material_draft(
    *,
    actor: Actor,
    material_id: int,
    reason: str,
    name_zh: str | _Keep = KEEP,
    name_en: str | _Keep = KEEP,
    material_type: str | _Keep = KEEP,
    base_unit: str | _Keep = KEEP,
    storage_condition: str | _Keep = KEEP,
    protect_from_light: bool | _Keep = KEEP,
    shelf_life_days: int | _Keep | None = KEEP,
    retest_interval_days: int | _Keep | None = KEEP,
    min_remaining_shelf_life_days: int | _Keep = KEEP,
    sampling_plan: str | _Keep = KEEP,
    gmp_critical: bool | _Keep = KEEP,
    pack_units: Mapping[str, Decimal | str | int] | _Keep | None = KEEP,
) -> MaterialView:
    """Change a draft version (fields left out stay as they are; reason required, EU GMP Annex 11 §9)."""
    actor.require("materials.edit")
    why = required_reason(reason)
    given = {k: v for k, v in dict(
        name_zh=name_zh, name_en=name_en, material_type=material_type, base_unit=base_unit,
        storage_condition=storage_condition, protect_from_light=protect_from_light, shelf_life_days=shelf_life_days,
        retest_interval_days=retest_interval_days, min_remaining_shelf_life_days=min_remaining_shelf_life_days,
        sampling_plan=sampling_plan, gmp_critical=gmp_critical, pack_units=pack_units).items() if v is not KEEP}
    with transaction(actor=actor, reason=why) as session:
        row = session.get(Material, material_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No material with id {material_id}.")
        if row.state != "draft":
            raise Conflict(f"{row.code} version {row.version} is {row.state}; only drafts can be edited "
                           "(draft a new version).")
        current = {name: getattr(row, name) for name in _MATERIAL_FIELDS if name not in ("code", "pack_units")}
        current["pack_units"] = pack_units_of(session, row)
        merged = {**current, **given}
        problems = validate_material_fields(**merged)
        if problems:
            raise ValidationFailed("The draft was not changed.", problems)
        for name, value in merged.items():
            if name == "pack_units":
                _set_pack_units(session, row, value or {})
            else:
                setattr(row, name, value.strip() if isinstance(value, str) else value)
        session.flush()
        return _material_view(session, row)


def get_material(*, actor: Actor, material_id: int) -> MaterialView:
    actor.require("materials.view")
    with read_session() as session:
        row = session.get(Material, material_id)
        if row is None:
            raise NotFound(f"No material with id {material_id}.")
        return _material_view(session, row, with_signatures=True)


def approved_material(session: Session, code: str) -> Material | None:
    """The version of ``code`` in force (approved), or None."""
    return session.scalar(select(Material).where(Material.code == code, Material.state == "approved"))


def current_material(*, actor: Actor, code: str) -> MaterialView:
    """The approved version of a material code."""
    actor.require("materials.view")
    with read_session() as session:
        row = approved_material(session, (code or "").strip())
        if row is None:
            raise NotFound(f"Material {code} has no approved version.")
        return _material_view(session, row, with_signatures=True)


def list_materials(*, actor: Actor, state: str | None = None, material_type: str | None = None,
                   query: str | None = None, after_id: int | None = None, limit: int = 50) -> list[MaterialView]:
    actor.require("materials.view")
    if state is not None and state not in MATERIAL_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Unknown state {state!r}.")
    if material_type is not None and material_type not in MATERIAL_TYPES:
        raise ValidationFailed.on("material_type", f"Unknown material type {material_type!r}.")
    with read_session() as session:
        stmt = select(Material).order_by(Material.id).limit(max(1, min(limit, 500)))
        if state:
            stmt = stmt.where(Material.state == state)
        if material_type:
            stmt = stmt.where(Material.material_type == material_type)
        if query and query.strip():
            like = f"%{query.strip().lower()}%"
            stmt = stmt.where(or_(func.lower(Material.code).like(like), func.lower(Material.name_zh).like(like),
                                  func.lower(Material.name_en).like(like)))
        if after_id is not None:
            stmt = stmt.where(Material.id > after_id)
        rows = list(session.scalars(stmt))
        units = _pack_units_of(session, [r.id for r in rows])
        return [_material_view(session, r, units[r.id]) for r in rows]


# ---------------------------------------------------------------- suppliers


def _supplier_problems(*, name: object, name_en: object, kind: object, address: object, contact: object,
                       last_audit_on: object, next_audit_due: object) -> list[FieldProblem]:
    problems = [p for p in (
        text_problem("name", name, required=True, max_length=200),
        text_problem("name_en", name_en, required=False, max_length=200),
        text_problem("address", address, required=False, max_length=2000),
        text_problem("contact", contact, required=False, max_length=200),
    ) if p]
    if kind not in SUPPLIER_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(SUPPLIER_KINDS)}."))
    for field, value in (("last_audit_on", last_audit_on), ("next_audit_due", next_audit_due)):
        if value is not None and not isinstance(value, date):
            problems.append(FieldProblem(field, "Must be a date."))
    if isinstance(last_audit_on, date) and last_audit_on > site_today():
        problems.append(FieldProblem("last_audit_on", "The last audit cannot be in the future."))
    if isinstance(last_audit_on, date) and isinstance(next_audit_due, date) and next_audit_due <= last_audit_on:
        problems.append(FieldProblem("next_audit_due", "The next audit must be due after the last audit."))
    return problems


def _on_time_figures(session: Session, supplier_ids: Sequence[int]) -> dict[int, tuple[float | None, int]]:
    """Per supplier: share of received PO lines that arrived by their due date, and the receipt count."""
    figures: dict[int, tuple[float | None, int]] = {i: (None, 0) for i in supplier_ids}
    if not supplier_ids:
        return figures
    zone = ZoneInfo(get_settings().site_timezone)
    counts = dict(session.execute(select(Receipt.supplier_id, func.count(Receipt.id))
                                  .where(Receipt.supplier_id.in_(supplier_ids)).group_by(Receipt.supplier_id)).all())
    # One delivery of a PO line = one lot received against it; it is on time when it
    # arrived (site calendar date) on or before the line's due date.
    rows = session.execute(
        select(Receipt.supplier_id, Receipt.received_at, PurchaseOrderLine.due_on)
        .join(Lot, Lot.receipt_id == Receipt.id)
        .join(PurchaseOrderLine, PurchaseOrderLine.id == Lot.order_line_id)
        .where(Receipt.supplier_id.in_(supplier_ids)))
    tally: dict[int, list[int]] = {}
    for supplier_id, received_at, due_on in rows:
        on_time, total = tally.setdefault(supplier_id, [0, 0])
        tally[supplier_id] = [on_time + (received_at.astimezone(zone).date() <= due_on), total + 1]
    for supplier_id in supplier_ids:
        on_time, total = tally.get(supplier_id, [0, 0])
        figures[supplier_id] = (round(100.0 * on_time / total, 1) if total else None,
                                int(counts.get(supplier_id, 0)))
    return figures


def _supplier_views(session: Session, rows: Sequence[Supplier]) -> list[SupplierView]:
    ids = [r.id for r in rows]
    approvals: dict[int, list[SupplierApprovalView]] = {i: [] for i in ids}
    if ids:
        for a in session.scalars(select(SupplierApproval).where(SupplierApproval.supplier_id.in_(ids))
                                 .order_by(SupplierApproval.material_code)):
            approvals[a.supplier_id].append(SupplierApprovalView(a.material_code, a.status, a.decided_on,
                                                                 a.decided_by, a.note))
    figures = _on_time_figures(session, ids)
    return [SupplierView(
        id=r.id, code=r.code, name=r.name, name_en=r.name_en, kind=r.kind, address=r.address, contact=r.contact,
        last_audit_on=r.last_audit_on, next_audit_due=r.next_audit_due, active=r.active,
        approvals=tuple(approvals[r.id]), on_time_delivery_pct=figures[r.id][0], receipt_count=figures[r.id][1],
    ) for r in rows]


def create_supplier(*, actor: Actor, code: str, name: str, name_en: str = "", kind: str = "manufacturer",
                    address: str = "", contact: str = "", last_audit_on: date | None = None,
                    next_audit_due: date | None = None) -> SupplierView:
    actor.require("suppliers.edit")
    problems = [p for p in [_code_problem("code", code)] if p] + _supplier_problems(
        name=name, name_en=name_en, kind=kind, address=address, contact=contact, last_audit_on=last_audit_on,
        next_audit_due=next_audit_due)
    if problems:
        raise ValidationFailed("The supplier was not created.", problems)
    code = code.strip()
    with transaction(actor=actor, reason="Supplier created") as session:
        if session.scalar(select(Supplier.id).where(Supplier.code == code)) is not None:
            raise Conflict(f"Supplier {code} already exists.", [FieldProblem("code", "Already used.")])
        row = Supplier(code=code, name=name.strip(), name_en=_clean_text(name_en), kind=kind,
                       address=_clean_text(address), contact=_clean_text(contact), last_audit_on=last_audit_on,
                       next_audit_due=next_audit_due, active=True)
        session.add(row)
        session.flush()
        return _supplier_views(session, [row])[0]


def update_supplier(
    *,
    actor: Actor,
    supplier_id: int,
    reason: str,
    name: str | _Keep = KEEP,
    name_en: str | _Keep = KEEP,
    kind: str | _Keep = KEEP,
    address: str | _Keep = KEEP,
    contact: str | _Keep = KEEP,
    last_audit_on: date | _Keep | None = KEEP,
    next_audit_due: date | _Keep | None = KEEP,
    active: bool | _Keep = KEEP,
) -> SupplierView:
    """Change a supplier's master data (fields left out stay as they are)."""
    actor.require("suppliers.edit")
    why = required_reason(reason)
    given: dict[str, Any] = {k: v for k, v in dict(
        name=name, name_en=name_en, kind=kind, address=address, contact=contact, last_audit_on=last_audit_on,
        next_audit_due=next_audit_due).items() if v is not KEEP}
    if active is not KEEP and not isinstance(active, bool):
        raise ValidationFailed.on("active", "Must be yes or no.")
    with transaction(actor=actor, reason=why) as session:
        row = session.get(Supplier, supplier_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No supplier with id {supplier_id}.")
        merged = {k: getattr(row, k) for k in ("name", "name_en", "kind", "address", "contact", "last_audit_on",
                                               "next_audit_due")} | given
        problems = _supplier_problems(**merged)
        if problems:
            raise ValidationFailed("The supplier was not changed.", problems)
        for key, value in merged.items():
            setattr(row, key, value.strip() if isinstance(value, str) else value)
        if isinstance(active, bool):
            row.active = active
        session.flush()
        return _supplier_views(session, [row])[0]


def get_supplier(*, actor: Actor, supplier_id: int) -> SupplierView:
    actor.require("materials.view")
    with read_session() as session:
        row = session.get(Supplier, supplier_id)
        if row is None:
            raise NotFound(f"No supplier with id {supplier_id}.")
        return _supplier_views(session, [row])[0]


def list_suppliers(*, actor: Actor, query: str | None = None, active: bool | None = None,
                   after_id: int | None = None, limit: int = 50) -> list[SupplierView]:
    actor.require("materials.view")
    with read_session() as session:
        stmt = select(Supplier).order_by(Supplier.id).limit(max(1, min(limit, 500)))
        if query and query.strip():
            like = f"%{query.strip().lower()}%"
            stmt = stmt.where(or_(func.lower(Supplier.code).like(like), func.lower(Supplier.name).like(like),
                                  func.lower(Supplier.name_en).like(like)))
        if active is not None:
            stmt = stmt.where(Supplier.active.is_(active))
        if after_id is not None:
            stmt = stmt.where(Supplier.id > after_id)
        return _supplier_views(session, list(session.scalars(stmt)))


def set_supplier_approval(*, actor: Actor, supplier_id: int, material_code: str, status: str, note: str = "",
                          reason: str) -> SupplierView:
    """QA's decision on the approved supplier list for one supplier and material code."""
    actor.require("suppliers.qualify")
    why = required_reason(reason)
    problems = []
    if status not in APPROVAL_STATUSES:
        problems.append(FieldProblem("status", f"Choose one of {', '.join(APPROVAL_STATUSES)}."))
    note_problem = text_problem("note", note, required=False, max_length=2000)
    if note_problem:
        problems.append(note_problem)
    code = (material_code or "").strip()
    if problems:
        raise ValidationFailed("The approval was not recorded.", problems)
    with transaction(actor=actor, reason=why) as session:
        supplier = session.get(Supplier, supplier_id, with_for_update=True)
        if supplier is None:
            raise NotFound(f"No supplier with id {supplier_id}.")
        if session.scalar(select(Material.id).where(Material.code == code).limit(1)) is None:
            raise ValidationFailed.on("material_code", f"No material with code {code!r}.")
        row = session.scalar(select(SupplierApproval).where(SupplierApproval.supplier_id == supplier_id,
                                                            SupplierApproval.material_code == code))
        if row is None:
            row = SupplierApproval(supplier_id=supplier_id, material_code=code, status=status,
                                   decided_on=site_today(), decided_by=actor.username, note=_clean_text(note))
            session.add(row)
        else:
            row.status, row.note = status, _clean_text(note)
            row.decided_on, row.decided_by = site_today(), actor.username
        session.flush()
        return _supplier_views(session, [supplier])[0]


def supplier_status(session: Session, *, supplier_id: int, material_code: str) -> SupplierApproval | None:
    """The approved-supplier-list entry for this supplier and material, or None (not on the list)."""
    return session.scalar(select(SupplierApproval).where(SupplierApproval.supplier_id == supplier_id,
                                                         SupplierApproval.material_code == material_code))


# ---------------------------------------------------------------- locations


def location_paths(session: Session) -> dict[int, str]:
    """Every location's path of codes from the site down ("HD/WH1/CR/CR-A01")."""
    rows = {r.id: (r.code, r.parent_id) for r in session.execute(
        select(StorageLocation.id, StorageLocation.code, StorageLocation.parent_id))}
    paths: dict[int, str] = {}

    def path(location_id: int) -> str:
        if location_id not in paths:
            code, parent = rows[location_id]
            paths[location_id] = code if parent is None or parent not in rows else f"{path(parent)}/{code}"
        return paths[location_id]

    for location_id in rows:
        path(location_id)
    return paths


def _location_view(row: StorageLocation, paths: Mapping[int, str]) -> LocationView:
    return LocationView(id=row.id, code=row.code, name=row.name, kind=row.kind, parent_id=row.parent_id,
                        path=paths.get(row.id, row.code), storage_class=row.storage_class,
                        light_protected=row.light_protected, status_zone=row.status_zone, active=row.active)


def _location_problems(*, name: object, storage_class: object, light_protected: object,
                       status_zone: object) -> list[FieldProblem]:
    problems = [p for p in [text_problem("name", name, required=True, max_length=200)] if p]
    if storage_class not in STORAGE_CONDITIONS:
        problems.append(FieldProblem("storage_class", f"Choose one of {', '.join(STORAGE_CONDITIONS)}."))
    if not isinstance(light_protected, bool):
        problems.append(FieldProblem("light_protected", "Must be yes or no."))
    if status_zone not in STATUS_ZONES:
        problems.append(FieldProblem("status_zone", "Choose quarantine, released, rejected or none."))
    return problems


def create_location(*, actor: Actor, code: str, name: str, kind: str, parent_code: str | None = None,
                    storage_class: str, light_protected: bool = False, status_zone: str = "") -> LocationView:
    actor.require("locations.manage")
    problems = [p for p in [_code_problem("code", code)] if p] + _location_problems(
        name=name, storage_class=storage_class, light_protected=light_protected, status_zone=status_zone)
    if kind not in LOCATION_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(LOCATION_KINDS)}."))
    elif LOCATION_KINDS[kind] is None and parent_code:
        problems.append(FieldProblem("parent_code", "A site has no parent location."))
    elif LOCATION_KINDS[kind] is not None and not (parent_code or "").strip():
        problems.append(FieldProblem("parent_code", f"A {kind} belongs to a {LOCATION_KINDS[kind]}."))
    if problems:
        raise ValidationFailed("The location was not created.", problems)
    code = code.strip()
    with transaction(actor=actor, reason="Storage location created") as session:
        if session.scalar(select(StorageLocation.id).where(StorageLocation.code == code)) is not None:
            raise Conflict(f"Location {code} already exists.", [FieldProblem("code", "Already used.")])
        parent_id = None
        if LOCATION_KINDS[kind] is not None:
            parent = session.scalar(select(StorageLocation).where(StorageLocation.code == (parent_code or "").strip()))
            if parent is None:
                raise ValidationFailed.on("parent_code", f"No location {parent_code!r}.")
            if parent.kind != LOCATION_KINDS[kind]:
                raise ValidationFailed.on("parent_code", f"A {kind} belongs to a {LOCATION_KINDS[kind]}, "
                                                         f"not a {parent.kind}.")
            if not parent.active:
                raise ValidationFailed.on("parent_code", f"Location {parent.code} is inactive.")
            parent_id = parent.id
        row = StorageLocation(code=code, name=name.strip(), kind=kind, parent_id=parent_id,
                              storage_class=storage_class, light_protected=light_protected,
                              status_zone=status_zone, active=True)
        session.add(row)
        session.flush()
        return _location_view(row, location_paths(session))


def location_subtree(session: Session, location_id: int) -> list[int]:
    """The location and every location below it."""
    children: dict[int | None, list[int]] = {}
    for lid, parent in session.execute(select(StorageLocation.id, StorageLocation.parent_id)):
        children.setdefault(parent, []).append(lid)
    found, todo = [], [location_id]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def update_location(*, actor: Actor, location_id: int, reason: str, name: str | None = None,
                    storage_class: str | None = None, light_protected: bool | None = None,
                    status_zone: str | None = None, active: bool | None = None) -> LocationView:
    """Change a location; refused when the stock it holds would no longer be stored correctly."""
    actor.require("locations.manage")
    why = required_reason(reason)
    if active is not None and not isinstance(active, bool):
        raise ValidationFailed.on("active", "Must be yes or no.")
    with transaction(actor=actor, reason=why) as session:
        row = session.get(StorageLocation, location_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No location with id {location_id}.")
        merged = dict(name=row.name if name is None else name,
                      storage_class=row.storage_class if storage_class is None else storage_class,
                      light_protected=row.light_protected if light_protected is None else light_protected,
                      status_zone=row.status_zone if status_zone is None else status_zone)
        problems = _location_problems(**merged)
        if problems:
            raise ValidationFailed("The location was not changed.", problems)
        held = list(session.execute(
            select(Container.number, Material.code, Material.storage_condition, Material.protect_from_light)
            .join(Material, Material.id == Container.material_id)
            .where(Container.location_id.in_(location_subtree(session, row.id)), Container.quantity > 0)))
        for container_number, material_code, condition, dark in held:
            # EU GMP Part I 3.19: storage conditions of the stock held must stay met.
            problem = storage_problem(condition=condition, protect_from_light=dark,
                                      location_class=str(merged["storage_class"]),
                                      light_protected=bool(merged["light_protected"]))
            if problem:
                field = "storage_class" if merged["storage_class"] != row.storage_class else "light_protected"
                raise Conflict(f"Container {container_number} of {material_code} is stored here: {problem}",
                               [FieldProblem(field, f"Move container {container_number} out first.")])
        if active is False and row.active and held:
            raise Conflict(f"Location {row.code} still holds stock (container {held[0][0]}).",
                           [FieldProblem("active", "Move the stock out before deactivating.")])
        row.name = str(merged["name"]).strip()
        row.storage_class = str(merged["storage_class"])
        row.light_protected = bool(merged["light_protected"])
        row.status_zone = str(merged["status_zone"])
        if active is not None:
            row.active = active
        session.flush()
        return _location_view(row, location_paths(session))


def get_location(*, actor: Actor, location_id: int) -> LocationView:
    actor.require("materials.view")
    with read_session() as session:
        row = session.get(StorageLocation, location_id)
        if row is None:
            raise NotFound(f"No location with id {location_id}.")
        return _location_view(row, location_paths(session))


def list_locations(*, actor: Actor, kind: str | None = None, parent_id: int | None = None,
                   active: bool | None = None, after_id: int | None = None, limit: int = 500) -> list[LocationView]:
    actor.require("materials.view")
    if kind is not None and kind not in LOCATION_KINDS:
        raise ValidationFailed.on("kind", f"Unknown location kind {kind!r}.")
    with read_session() as session:
        stmt = select(StorageLocation).order_by(StorageLocation.id).limit(max(1, min(limit, 5000)))
        if kind:
            stmt = stmt.where(StorageLocation.kind == kind)
        if parent_id is not None:
            stmt = stmt.where(StorageLocation.parent_id == parent_id)
        if active is not None:
            stmt = stmt.where(StorageLocation.active.is_(active))
        if after_id is not None:
            stmt = stmt.where(StorageLocation.id > after_id)
        rows = list(session.scalars(stmt))
        paths = location_paths(session)
        return [_location_view(r, paths) for r in rows]

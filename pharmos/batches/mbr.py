"""Master batch records (recipes): authoring, production review, versions and BOM scaling.

药品GMP 第一百七十条 (工艺规程) / EU GMP Part I 4.15–4.18: the recipe names the product, the
batch size, every material with its quantity, the equipment, the procedures and each processing
step with its parameters and limits. It is written in draft, signed by its author on submit,
reviewed by production (signed "reviewed", never by its author), approved by QA and made
effective, one effective version per product and stage.

Every draft edit rebuilds ``content_snapshot``, the whole recipe as its signatures cover it
(21 CFR 11.70): a recipe edited after it was signed shows those signatures as broken. State
changes go through ``compliance.service.apply_transition`` (collection ``master-batch-records``,
declared in ``lifecycle.py``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmos.batches.lifecycle import MBR_LIFECYCLE
from pharmos.batches.models import MasterBatchRecord, MbrMaterial, MbrParameter, MbrPhase, MbrStep
from pharmos.batches.views import (
    MbrMaterialView,
    MbrParameterView,
    MbrPhaseView,
    MbrStepView,
    MbrView,
    ScaledLine,
)
from pharmos.compliance.signatures import authenticate_signer, sign, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from pharmos.core.errors import collect_choice as _choice
from pharmos.core.errors import collect_text as _text
from pharmos.core.errors import raise_problems as _raise
from pharmos.core.numbering import next_number
from pharmos.materials.units import STANDARD_UNITS

__all__ = [
    "MBR_STAGES",
    "PARAMETER_KINDS",
    "STEP_KINDS",
    "BomLineInput",
    "ParameterInput",
    "add_bom_line",
    "add_phase",
    "add_step",
    "create_mbr",
    "effective_mbr",
    "get_mbr",
    "list_mbrs",
    "mbr_completeness_problems",
    "new_mbr_version",
    "remove_bom_line",
    "remove_step",
    "review_mbr",
    "scale_bom",
    "scaled_bom",
    "set_bom",
    "update_mbr_header",
    "update_step",
]

MBR_STAGES = ("upstream", "downstream", "formulation_fill", "other")
STEP_KINDS = ("process", "dispense")
PARAMETER_KINDS = ("numeric", "choice", "text", "check", "timestamp", "duration")
_LIMITED_KINDS = ("numeric", "duration")  # the kinds with target/lower/upper
_OPEN_STATES = ("draft", "in_review", "approved")  # a version being worked on

_TITLE_MAX = 200
_TEXT_MAX = 20_000
_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_MAX_DIGITS = 12  # Numeric(18, 6): twelve digits before the point
_PLACES = 6
_MAX_LINES = 200
_MAX_PARAMETERS = 50
_MAX_REFERENCES = 20
# Reads another module's master data to check a reference; never writes.
_REFERENCE_READER = Actor.system("mbr-reference-check")


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class BomLineInput:
    """One bill-of-materials line as the author writes it (quantity per the recipe's batch size)."""

    material_code: str
    quantity: Decimal | str | int
    unit: str
    tolerance_pct: Decimal | str | int
    dispensed: bool = True
    scan_required: bool = True
    rounding_places: int = 3
    step_code: str = ""


@dataclass(frozen=True)
class ParameterInput:
    """A value a step records, with its limits (numeric/duration) or allowed values (choice)."""

    code: str
    label: str
    kind: str
    unit: str = ""
    target: Decimal | str | int | None = None
    lower: Decimal | str | int | None = None
    upper: Decimal | str | int | None = None
    choices: Sequence[str] = ()
    expected: str = ""
    critical: bool = False
    required: bool = True


# ---------------------------------------------------------------- input checks


def _flag(problems: list[FieldProblem], field: str, value: object) -> bool:
    if not isinstance(value, bool):
        problems.append(FieldProblem(field, "Yes or no."))
        return False
    return value


def _number(problems: list[FieldProblem], field: str, value: object, *, required: bool = True,
            places: int = _PLACES, positive: bool = False, minimum: Decimal | None = None,
            maximum: Decimal | None = None) -> Decimal | None:
    """A decimal parsed without floats' rounding surprises, or None with a problem naming ``field``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(FieldProblem(field, "Required."))
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        problems.append(FieldProblem(field, "A number."))
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problems.append(FieldProblem(field, f"{value!r} is not a number."))
        return None
    if not number.is_finite():
        problems.append(FieldProblem(field, "A finite number."))
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        problems.append(FieldProblem(field, f"At most {places} decimal places."))
        return None
    if abs(number) >= Decimal(10) ** _MAX_DIGITS:
        problems.append(FieldProblem(field, "Too large."))
        return None
    if positive and number <= 0:
        problems.append(FieldProblem(field, "Must be greater than zero."))
        return None
    if minimum is not None and number < minimum:
        problems.append(FieldProblem(field, f"Must be at least {minimum}."))
        return None
    if maximum is not None and number > maximum:
        problems.append(FieldProblem(field, f"Must be at most {maximum}."))
        return None
    return number


def _whole(problems: list[FieldProblem], field: str, value: object, *, low: int, high: int,
           required: bool = True) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(FieldProblem(field, "Required."))
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        problems.append(FieldProblem(field, f"A whole number from {low} to {high}."))
        return None
    return number


def _material(code: str, actor: Actor) -> Any | None:
    """The approved version of a material (materials service), or None."""
    from pharmos.materials import service as materials

    reader = actor if actor.can("materials.view") else _REFERENCE_READER
    try:
        return materials.current_material(actor=reader, code=code)
    except NotFound:
        return None


def _unit_problem(unit: str, material: Any) -> str | None:
    """Why ``unit`` cannot measure ``material`` (another dimension than its base unit), or None."""
    packs = {p.unit for p in material.pack_units}
    if unit in packs:
        return None
    if unit not in STANDARD_UNITS:
        known = ", ".join([*STANDARD_UNITS, *sorted(packs)])
        return f"Unknown unit {unit!r} for {material.code} (known: {known})."
    dimension = STANDARD_UNITS[unit][0]
    base_dimension = STANDARD_UNITS[material.base_unit][0] if material.base_unit in STANDARD_UNITS else None
    if dimension != base_dimension:
        return f"{unit} measures {dimension}; {material.code} is kept in {material.base_unit}."
    return None


def _material_code(problems: list[FieldProblem], field: str, value: object, actor: Actor) -> Any | None:
    code = _text(problems, field, value, max_length=40)
    if not code:
        return None
    material = _material(code, actor)
    if material is None:
        # EU GMP Part I 5.27: only approved materials are used in production.
        problems.append(FieldProblem(field, f"{code} is not an approved material."))
    return material


def _equipment_classes(problems: list[FieldProblem], value: object, actor: Actor) -> list[str]:
    codes = _code_list(problems, "equipment_classes", value)
    if not codes:
        return codes
    from pharmos.equipment import service as equipment

    reader = actor if actor.can("equipment.view") else _REFERENCE_READER
    known = {c.code: c for c in equipment.list_equipment_classes(actor=reader)}
    for i, code in enumerate(codes):
        if code not in known:
            problems.append(FieldProblem(f"equipment_classes.{i}", f"No equipment class {code}."))
        elif not known[code].active:
            problems.append(FieldProblem(f"equipment_classes.{i}", f"Equipment class {code} is not active."))
    return codes


def _sop_numbers(problems: list[FieldProblem], value: object, actor: Actor) -> list[str]:
    numbers = [n.upper() for n in _code_list(problems, "sop_numbers", value)]
    if not numbers:
        return numbers
    from pharmos.quality import service as quality

    reader = actor if actor.can("quality.view") else _REFERENCE_READER
    for i, number in enumerate(numbers):
        field = f"sop_numbers.{i}"
        try:
            document = quality.get_document(actor=reader, number=number)
        except NotFound:
            problems.append(FieldProblem(field, f"No controlled document {number}."))
            continue
        # 药品GMP 第一百五十五条: operators work to the procedure in force, never a withdrawn one.
        if document.obsolete:
            problems.append(FieldProblem(field, f"{number} is obsolete."))
        elif document.effective_version is None:
            problems.append(FieldProblem(field, f"{number} has no effective version."))
    return numbers


def _code_list(problems: list[FieldProblem], field: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        problems.append(FieldProblem(field, "A list of codes."))
        return []
    if len(value) > _MAX_REFERENCES:
        problems.append(FieldProblem(field, f"At most {_MAX_REFERENCES}."))
        return []
    codes: list[str] = []
    for i, item in enumerate(value):
        code = item.strip() if isinstance(item, str) else ""
        if not code or len(code) > 40:
            problems.append(FieldProblem(f"{field}.{i}", "A code of at most 40 characters."))
        elif code in codes:
            problems.append(FieldProblem(f"{field}.{i}", f"{code} is listed twice."))
        else:
            codes.append(code)
    return codes


# ---------------------------------------------------------------- header


_HEADER_FIELDS = ("title", "product_code", "stage", "batch_size", "batch_unit", "theoretical_yield", "yield_unit",
                  "yield_low_pct", "yield_high_pct", "description", "change_summary")


def _checked_header(values: Mapping[str, Any], actor: Actor, *, current: MasterBatchRecord | None = None
                    ) -> dict[str, Any]:
    """The header fields given in ``values``, checked together with the ones kept from ``current``."""
    problems: list[FieldProblem] = []
    for name in values:
        if name not in _HEADER_FIELDS:
            problems.append(FieldProblem(name, "Not a field of the master batch record header."))
    _raise(problems)
    out: dict[str, Any] = {}
    if "title" in values:
        out["title"] = _text(problems, "title", values["title"], max_length=_TITLE_MAX)
    if "description" in values:
        out["description"] = _text(problems, "description", values["description"], max_length=_TEXT_MAX,
                                   required=False)
    if "change_summary" in values:
        out["change_summary"] = _text(problems, "change_summary", values["change_summary"], max_length=_TEXT_MAX,
                                      required=False)
    if "stage" in values:
        out["stage"] = _choice(problems, "stage", values["stage"], MBR_STAGES)
    if "batch_size" in values:
        out["batch_size"] = _number(problems, "batch_size", values["batch_size"], positive=True)
    if "batch_unit" in values:
        unit = values["batch_unit"].strip() if isinstance(values["batch_unit"], str) else ""
        if unit not in STANDARD_UNITS:
            problems.append(FieldProblem("batch_unit", f"Choose one of {', '.join(STANDARD_UNITS)}."))
        out["batch_unit"] = unit
    if "theoretical_yield" in values:
        out["theoretical_yield"] = _number(problems, "theoretical_yield", values["theoretical_yield"], positive=True)
    # Accepted yield window in % of the theoretical yield (药品GMP 第一百八十八条 物料平衡).
    for name in ("yield_low_pct", "yield_high_pct"):
        if name in values:
            out[name] = _number(problems, name, values[name], places=3, positive=True, maximum=Decimal(200))
    low = out.get("yield_low_pct", current.yield_low_pct if current else None)
    high = out.get("yield_high_pct", current.yield_high_pct if current else None)
    if low is not None and high is not None and low > high:
        problems.append(FieldProblem("yield_low_pct", "The low limit must not exceed the high limit."))
    product = None
    if "product_code" in values:
        product = _material_code(problems, "product_code", values["product_code"], actor)
        out["product_code"] = product.code if product else ""
        out["product_name"] = product.name_zh if product else ""
    if "yield_unit" in values or product is not None:
        unit = values.get("yield_unit", current.yield_unit if current else "")
        unit = unit.strip() if isinstance(unit, str) else ""
        if product is None and current is not None and "product_code" not in values:
            product = _material(current.product_code, actor)
        if not unit:
            problems.append(FieldProblem("yield_unit", "Required."))
        elif product is not None:
            why = _unit_problem(unit, product)
            if why:
                problems.append(FieldProblem("yield_unit", why))
        out["yield_unit"] = unit
    _raise(problems)
    return out


# ---------------------------------------------------------------- steps and parameters


@dataclass(frozen=True)
class _CheckedParameter:
    code: str
    label: str
    kind: str
    unit: str
    target: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    choices: list[str]
    expected: str
    critical: bool
    required: bool


def _checked_parameters(problems: list[FieldProblem], parameters: object) -> list[_CheckedParameter]:
    if parameters is None:
        return []
    if isinstance(parameters, str) or not isinstance(parameters, Sequence):
        problems.append(FieldProblem("parameters", "A list of parameters."))
        return []
    if len(parameters) > _MAX_PARAMETERS:
        problems.append(FieldProblem("parameters", f"At most {_MAX_PARAMETERS} parameters per step."))
        return []
    checked: list[_CheckedParameter] = []
    seen: set[str] = set()
    for i, p in enumerate(parameters):
        at = f"parameters.{i}"
        if not isinstance(p, ParameterInput):
            problems.append(FieldProblem(at, "A parameter."))
            continue
        before = len(problems)
        code = _text(problems, f"{at}.code", p.code, max_length=40)
        if code and not _CODE_PATTERN.match(code):
            problems.append(FieldProblem(f"{at}.code", "Letters, digits, '_', '-' and '.' only."))
        elif code.lower() in seen:
            problems.append(FieldProblem(f"{at}.code", f"{code} is used twice in this step."))
        seen.add(code.lower())
        label = _text(problems, f"{at}.label", p.label, max_length=_TITLE_MAX)
        kind = _choice(problems, f"{at}.kind", p.kind, PARAMETER_KINDS)
        unit = _text(problems, f"{at}.unit", p.unit, max_length=20, required=False)
        target = lower = upper = None
        if kind in _LIMITED_KINDS:
            minimum = Decimal(0) if kind == "duration" else None
            target = _number(problems, f"{at}.target", p.target, required=False, minimum=minimum)
            lower = _number(problems, f"{at}.lower", p.lower, required=False, minimum=minimum)
            upper = _number(problems, f"{at}.upper", p.upper, required=False, minimum=minimum)
            # ICH Q8 / 药品GMP 第一百七十条: a parameter's limits bracket its set point.
            if lower is not None and upper is not None and lower > upper:
                problems.append(FieldProblem(f"{at}.lower", "The lower limit must not exceed the upper limit."))
            elif target is not None and lower is not None and target < lower:
                problems.append(FieldProblem(f"{at}.target", "The target is below the lower limit."))
            elif target is not None and upper is not None and target > upper:
                problems.append(FieldProblem(f"{at}.target", "The target is above the upper limit."))
            if kind == "duration":
                if unit not in ("", "min"):
                    problems.append(FieldProblem(f"{at}.unit", "A duration is recorded in minutes (min)."))
                unit = "min"
            if p.critical and lower is None and upper is None:
                problems.append(FieldProblem(f"{at}.lower", "A critical parameter needs a lower or upper limit."))
        elif kind:
            for name in ("target", "lower", "upper"):
                if getattr(p, name) not in (None, ""):
                    problems.append(FieldProblem(f"{at}.{name}", "Only numeric and duration parameters have limits."))
        choices: list[str] = []
        expected = _text(problems, f"{at}.expected", p.expected, max_length=_TITLE_MAX, required=False)
        if kind == "choice":
            raw = p.choices
            if isinstance(raw, str) or not isinstance(raw, Sequence):
                problems.append(FieldProblem(f"{at}.choices", "A list of allowed values."))
            else:
                for j, c in enumerate(raw):
                    value = c.strip() if isinstance(c, str) else ""
                    if not value or len(value) > 100:
                        problems.append(FieldProblem(f"{at}.choices.{j}", "A value of at most 100 characters."))
                    elif value in choices:
                        problems.append(FieldProblem(f"{at}.choices.{j}", f"{value} is listed twice."))
                    else:
                        choices.append(value)
                if len(choices) < 2 and not any(pr.field.startswith(f"{at}.choices") for pr in problems):
                    problems.append(FieldProblem(f"{at}.choices", "A choice needs at least two allowed values."))
            if expected and choices and expected not in choices:
                problems.append(FieldProblem(f"{at}.expected", "The expected value must be one of the choices."))
        elif kind and p.choices:
            problems.append(FieldProblem(f"{at}.choices", "Only choice parameters list allowed values."))
        if kind in ("text", "timestamp", *_LIMITED_KINDS) and expected:
            problems.append(FieldProblem(f"{at}.expected", "Only choice and check parameters have an expected value."))
        critical = _flag(problems, f"{at}.critical", p.critical)
        required = _flag(problems, f"{at}.required", p.required)
        if len(problems) == before:
            checked.append(_CheckedParameter(code, label, kind, unit, target, lower, upper, choices, expected,
                                             critical, required))
    return checked


@dataclass(frozen=True)
class _CheckedStep:
    values: dict[str, Any]
    parameters: list[_CheckedParameter] | None  # None: keep the step's parameters


def _checked_step(values: Mapping[str, Any], actor: Actor) -> _CheckedStep:
    problems: list[FieldProblem] = []
    out: dict[str, Any] = {}
    if "title" in values:
        out["title"] = _text(problems, "title", values["title"], max_length=_TITLE_MAX)
    if "instructions" in values:
        out["instructions"] = _text(problems, "instructions", values["instructions"], max_length=_TEXT_MAX,
                                    required=False)
    if "kind" in values:
        out["kind"] = _choice(problems, "kind", values["kind"], STEP_KINDS)
    if "equipment_classes" in values:
        out["equipment_classes"] = _equipment_classes(problems, values["equipment_classes"], actor)
    if "sop_numbers" in values:
        out["sop_numbers"] = _sop_numbers(problems, values["sop_numbers"], actor)
    if "critical" in values:
        out["critical"] = _flag(problems, "critical", values["critical"])
    if "time_limit_minutes" in values:
        out["time_limit_minutes"] = _whole(problems, "time_limit_minutes", values["time_limit_minutes"], low=1,
                                           high=60 * 24 * 90, required=False)
    parameters = _checked_parameters(problems, values["parameters"]) if "parameters" in values else None
    _raise(problems)
    return _CheckedStep(out, parameters)


def _checked_bom(lines: object, actor: Actor, product_code: str) -> list[dict[str, Any]]:
    problems: list[FieldProblem] = []
    if isinstance(lines, str) or not isinstance(lines, Sequence):
        raise ValidationFailed.on("lines", "A list of BOM lines.")
    if len(lines) > _MAX_LINES:
        raise ValidationFailed.on("lines", f"At most {_MAX_LINES} lines.")
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for i, line in enumerate(lines):
        at = f"lines.{i}"
        if not isinstance(line, BomLineInput):
            problems.append(FieldProblem(at, "A BOM line."))
            continue
        material = _material_code(problems, f"{at}.material_code", line.material_code, actor)
        if material is not None and material.code == product_code:
            problems.append(FieldProblem(f"{at}.material_code", "A product is not a material of its own recipe."))
        quantity = _number(problems, f"{at}.quantity", line.quantity, positive=True)
        unit = _text(problems, f"{at}.unit", line.unit, max_length=20)
        if unit and material is not None:
            why = _unit_problem(unit, material)
            if why:
                problems.append(FieldProblem(f"{at}.unit", why))
        tolerance = _number(problems, f"{at}.tolerance_pct", line.tolerance_pct, places=3, minimum=Decimal(0),
                            maximum=Decimal(100))
        places = _whole(problems, f"{at}.rounding_places", line.rounding_places, low=0, high=_PLACES)
        step_code = _text(problems, f"{at}.step_code", line.step_code, max_length=20, required=False)
        dispensed = _flag(problems, f"{at}.dispensed", line.dispensed)
        scan_required = _flag(problems, f"{at}.scan_required", line.scan_required)
        if quantity is not None and places is not None and quantity != quantity.quantize(Decimal(1).scaleb(-places)):
            problems.append(FieldProblem(f"{at}.quantity", f"More decimals than the line's {places} rounding places."))
        key = (material.code if material else str(line.material_code), step_code)
        if material is not None and key in seen:
            problems.append(FieldProblem(f"{at}.material_code", f"{material.code} is listed twice for this step."))
        seen.add(key)
        out.append({"line_no": i + 1, "material_code": material.code if material else "",
                    "material_name": material.name_zh if material else "", "quantity": quantity, "unit": unit,
                    "tolerance_pct": tolerance, "dispensed": dispensed, "scan_required": scan_required,
                    "rounding_places": places, "step_code": step_code})
    _raise(problems)
    return out


# ---------------------------------------------------------------- loading, snapshot and views


def _load(session: Session, mbr_id: int, *, lock: bool = False) -> MasterBatchRecord:
    row = session.get(MasterBatchRecord, mbr_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No master batch record with id {mbr_id}.")
    return row


def _require_draft(row: MasterBatchRecord) -> None:
    # EU GMP Annex 11 §10: a signed recipe changes only through a new version (or a return to draft).
    if row.state != "draft":
        message = f"{row.number} v{row.version} is {row.state}; only a draft is edited."
        raise Conflict(message, [FieldProblem("mbr_id", message)])


def _phases(session: Session, mbr_id: int) -> list[MbrPhase]:
    return list(session.scalars(select(MbrPhase).where(MbrPhase.mbr_id == mbr_id).order_by(MbrPhase.seq)))


def _steps(session: Session, mbr_id: int) -> list[MbrStep]:
    return list(session.scalars(select(MbrStep).where(MbrStep.mbr_id == mbr_id).order_by(MbrStep.seq)))


def _parameters(session: Session, step_ids: Sequence[int]) -> dict[int, list[MbrParameter]]:
    found: dict[int, list[MbrParameter]] = {i: [] for i in step_ids}
    if step_ids:
        for p in session.scalars(select(MbrParameter).where(MbrParameter.step_id.in_(step_ids))
                                 .order_by(MbrParameter.step_id, MbrParameter.seq)):
            found[p.step_id].append(p)
    return found


def _lines(session: Session, mbr_id: int) -> list[MbrMaterial]:
    return list(session.scalars(select(MbrMaterial).where(MbrMaterial.mbr_id == mbr_id)
                                .order_by(MbrMaterial.line_no)))


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _refresh_snapshot(session: Session, row: MasterBatchRecord) -> None:
    """The recipe's whole content as its signatures cover it (21 CFR 11.70), rebuilt after every edit."""
    session.flush()
    phases = _phases(session, row.id)
    steps = _steps(session, row.id)
    params = _parameters(session, [s.id for s in steps])
    phase_seq = {p.id: p.seq for p in phases}
    row.content_snapshot = {
        "header": {
            "title": row.title, "product_code": row.product_code, "stage": row.stage,
            "batch_size": _plain(row.batch_size), "batch_unit": row.batch_unit,
            "theoretical_yield": _plain(row.theoretical_yield), "yield_unit": row.yield_unit,
            "yield_low_pct": _plain(row.yield_low_pct), "yield_high_pct": _plain(row.yield_high_pct),
            "description": row.description, "change_summary": row.change_summary},
        "bom": [{"line_no": m.line_no, "material_code": m.material_code, "quantity": _plain(m.quantity),
                 "unit": m.unit, "tolerance_pct": _plain(m.tolerance_pct), "dispensed": m.dispensed,
                 "scan_required": m.scan_required, "rounding_places": m.rounding_places, "step_code": m.step_code}
                for m in _lines(session, row.id)],
        "phases": [{"seq": p.seq, "name": p.name, "parallel_with_previous": p.parallel_with_previous}
                   for p in phases],
        "steps": [{"phase_seq": phase_seq[s.phase_id], "seq": s.seq, "code": s.code, "title": s.title,
                   "instructions": s.instructions, "kind": s.kind, "equipment_classes": list(s.equipment_classes),
                   "sop_numbers": list(s.sop_numbers), "critical": s.critical,
                   "time_limit_minutes": s.time_limit_minutes,
                   "parameters": [{"code": p.code, "label": p.label, "kind": p.kind, "unit": p.unit,
                                   "target": _plain(p.target), "lower": _plain(p.lower), "upper": _plain(p.upper),
                                   "choices": list(p.choices), "expected": p.expected, "critical": p.critical,
                                   "required": p.required} for p in params[s.id]]}
                  for s in steps],
    }
    session.flush()


def instructions_html(text: str) -> str:
    """Instructions shown as escaped text with line breaks: no raw HTML ever reaches the page."""
    return html.escape(text or "").replace("\r\n", "\n").replace("\n", "<br>\n")


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _parameter_view(p: MbrParameter) -> MbrParameterView:
    return MbrParameterView(p.id, p.seq, p.code, p.label, p.kind, p.unit, _decimal(p.target), _decimal(p.lower),
                            _decimal(p.upper), tuple(p.choices or ()), p.expected, p.critical, p.required)


def _views(session: Session, rows: Sequence[MasterBatchRecord], *, details: bool = False) -> list[MbrView]:
    ids = [r.id for r in rows]
    counts: dict[int, int] = {}
    if ids:
        counts = {row[0]: row[1] for row in session.execute(
            select(MbrStep.mbr_id, func.count()).where(MbrStep.mbr_id.in_(ids)).group_by(MbrStep.mbr_id))}
    views = []
    for row in rows:
        extra: dict[str, Any] = {}
        if details:
            phases = _phases(session, row.id)
            steps = _steps(session, row.id)
            params = _parameters(session, [s.id for s in steps])
            phase_views = []
            for phase in phases:
                step_views = tuple(MbrStepView(
                    s.id, phase.seq, s.seq, s.code, s.title, s.instructions, instructions_html(s.instructions),
                    s.kind, tuple(s.equipment_classes or ()), tuple(s.sop_numbers or ()), s.critical,
                    s.time_limit_minutes, tuple(_parameter_view(p) for p in params[s.id]))
                    for s in steps if s.phase_id == phase.id)
                phase_views.append(MbrPhaseView(phase.id, phase.seq, phase.name, phase.parallel_with_previous,
                                                step_views))
            materials = tuple(MbrMaterialView(
                m.id, m.line_no, m.material_code, m.material_name, Decimal(m.quantity), m.unit,
                Decimal(m.tolerance_pct), m.dispensed, m.scan_required, m.rounding_places, m.step_code)
                for m in _lines(session, row.id))
            extra = {"materials": materials, "phases": tuple(phase_views),
                     "signatures": tuple(signatures_for(session, row))}
        views.append(MbrView(
            id=row.id, number=row.number, version=row.version, title=row.title, product_code=row.product_code,
            product_name=row.product_name, stage=row.stage, batch_size=Decimal(row.batch_size),
            batch_unit=row.batch_unit, theoretical_yield=Decimal(row.theoretical_yield), yield_unit=row.yield_unit,
            yield_low_pct=Decimal(row.yield_low_pct), yield_high_pct=Decimal(row.yield_high_pct),
            description=row.description, change_summary=row.change_summary, state=row.state, author=row.author,
            created_at=as_utc(row.created_at), effective_at=as_utc(row.effective_at) if row.effective_at else None,
            superseded_at=as_utc(row.superseded_at) if row.superseded_at else None,
            step_count=counts.get(row.id, 0), **extra))
    return views


def _detailed(mbr_id: int) -> MbrView:
    with read_session() as session:
        return _views(session, [_load(session, mbr_id)], details=True)[0]


def mbr_completeness_problems(session: Session, mbr: MasterBatchRecord) -> list[str]:
    """Every reason the recipe is not complete enough to submit (empty when it is): EU GMP Part I 4.18."""
    problems: list[str] = []
    phases = _phases(session, mbr.id)
    steps = _steps(session, mbr.id)
    lines = _lines(session, mbr.id)
    if not steps:
        problems.append("Add at least one phase with a step first.")
    for phase in phases:
        if not any(s.phase_id == phase.id for s in steps):
            problems.append(f"Phase {phase.seq} ({phase.name}) has no step.")
    if not lines:
        problems.append("Add the bill of materials first.")
    dispense_steps = {s.code for s in steps if s.kind == "dispense"}
    for line in lines:
        if line.dispensed and not line.step_code:
            problems.append(f"BOM line {line.line_no} ({line.material_code}) names no dispensing step.")
        elif line.step_code and line.step_code not in dispense_steps:
            problems.append(f"BOM line {line.line_no} ({line.material_code}): step {line.step_code} "
                            "is not a dispensing step of this recipe.")
    weighed = {line.step_code for line in lines if line.dispensed}
    for code in sorted(dispense_steps - weighed):
        problems.append(f"Dispensing step {code} has no BOM line to dispense.")
    return problems


# ---------------------------------------------------------------- authoring


def create_mbr(*, actor: Actor, title: str, product_code: str, stage: str, batch_size: Decimal | str,
               batch_unit: str, theoretical_yield: Decimal | str, yield_unit: str, yield_low_pct: Decimal | str,
               yield_high_pct: Decimal | str, description: str = "") -> MbrView:
    """A new recipe (number MBR-NNNN, version 1) in draft, for an approved product material."""
    actor.require("mbr.author")
    values = _checked_header({
        "title": title, "product_code": product_code, "stage": stage, "batch_size": batch_size,
        "batch_unit": batch_unit, "theoretical_yield": theoretical_yield, "yield_unit": yield_unit,
        "yield_low_pct": yield_low_pct, "yield_high_pct": yield_high_pct, "description": description}, actor)
    with transaction(actor=actor, reason="Master batch record created") as session:
        row = MasterBatchRecord(number=next_number(session, prefix="MBR", pattern="{prefix}-{seq:04d}"), version=1,
                                state=MBR_LIFECYCLE.initial, author_id=actor.user_id, author=actor.username,
                                change_summary="", content_snapshot={}, **values)
        session.add(row)
        _refresh_snapshot(session, row)
        mbr_id = row.id
    return _detailed(mbr_id)


def update_mbr_header(*, actor: Actor, mbr_id: int, reason: str, **fields: Any) -> MbrView:
    """Change header fields of a draft; only the fields given change."""
    actor.require("mbr.author")
    problems: list[FieldProblem] = []
    why = _text(problems, "reason", reason, max_length=2000)
    _raise(problems)
    if not fields:
        raise ValidationFailed.on("fields", "Nothing to change.")
    with read_session() as session:
        current = _load(session, mbr_id)
        _require_draft(current)
        values = _checked_header(fields, actor, current=current)
    with transaction(actor=actor, reason=why) as session:
        row = _load(session, mbr_id, lock=True)
        _require_draft(row)
        for name, value in values.items():
            setattr(row, name, value)
        if row.yield_low_pct > row.yield_high_pct:
            raise ValidationFailed.on("yield_low_pct", "The low limit must not exceed the high limit.")
        _refresh_snapshot(session, row)
    return _detailed(mbr_id)


def set_bom(*, actor: Actor, mbr_id: int, lines: Sequence[BomLineInput]) -> MbrView:
    """Replace the draft's bill of materials (quantities per the recipe's batch size)."""
    actor.require("mbr.author")
    with read_session() as session:
        current = _load(session, mbr_id)
        _require_draft(current)
        product_code = current.product_code
    checked = _checked_bom(lines, actor, product_code)
    with transaction(actor=actor, reason="Bill of materials set") as session:
        row = _load(session, mbr_id, lock=True)
        _require_draft(row)
        for old in _lines(session, row.id):
            session.delete(old)
        session.flush()
        for values in checked:
            session.add(MbrMaterial(mbr_id=row.id, **values))
        _refresh_snapshot(session, row)
    return _detailed(mbr_id)


def _as_input(line: MbrMaterial) -> BomLineInput:
    return BomLineInput(line.material_code, Decimal(line.quantity), line.unit, Decimal(line.tolerance_pct),
                        line.dispensed, line.scan_required, line.rounding_places, line.step_code)


def add_bom_line(*, actor: Actor, mbr_id: int, line: BomLineInput) -> MbrView:
    """Append one line to a draft's BOM (the page's form); its problems are named by the line's own fields."""
    actor.require("mbr.author")
    with read_session() as session:
        current = _load(session, mbr_id)
        _require_draft(current)
        existing = [_as_input(m) for m in _lines(session, mbr_id)]
    try:
        return set_bom(actor=actor, mbr_id=mbr_id, lines=[*existing, line])
    except ValidationFailed as refused:
        prefix = f"lines.{len(existing)}."
        raise ValidationFailed(refused.message, [FieldProblem(p.field.removeprefix(prefix), p.message)
                                                 for p in refused.fields]) from None


def remove_bom_line(*, actor: Actor, mbr_id: int, line_no: int) -> MbrView:
    """Remove one line from a draft's BOM; the lines after it move up."""
    actor.require("mbr.author")
    with read_session() as session:
        current = _load(session, mbr_id)
        _require_draft(current)
        lines = _lines(session, mbr_id)
        kept = [_as_input(m) for m in lines if m.line_no != line_no]
    if len(kept) == len(lines):
        raise NotFound(f"No BOM line {line_no} in {current.number} v{current.version}.")
    return set_bom(actor=actor, mbr_id=mbr_id, lines=kept)


def add_phase(*, actor: Actor, mbr_id: int, name: str, parallel_with_previous: bool = False) -> MbrView:
    """Append a phase; ``parallel_with_previous`` lets it run beside the phase before it."""
    actor.require("mbr.author")
    problems: list[FieldProblem] = []
    phase_name = _text(problems, "name", name, max_length=_TITLE_MAX)
    parallel = _flag(problems, "parallel_with_previous", parallel_with_previous)
    _raise(problems)
    with transaction(actor=actor, reason=f"Phase added: {phase_name}") as session:
        row = _load(session, mbr_id, lock=True)
        _require_draft(row)
        last = session.scalar(select(func.max(MbrPhase.seq)).where(MbrPhase.mbr_id == row.id)) or 0
        if parallel and last == 0:
            raise ValidationFailed.on("parallel_with_previous", "The first phase has no phase before it.")
        session.add(MbrPhase(mbr_id=row.id, seq=last + 1, name=phase_name, parallel_with_previous=parallel))
        _refresh_snapshot(session, row)
    return _detailed(mbr_id)


def _renumber_steps(session: Session, mbr_id: int) -> None:
    """Steps numbered 1..n in recipe order (phase, then position); two passes keep the unique seq happy."""
    session.flush()
    phase_seq = {p.id: p.seq for p in _phases(session, mbr_id)}
    steps = sorted(_steps(session, mbr_id), key=lambda s: (phase_seq[s.phase_id], s.seq))
    for i, step in enumerate(steps):
        step.seq = -(i + 1)
    session.flush()
    for i, step in enumerate(steps):
        step.seq = i + 1
    session.flush()


def _write_parameters(session: Session, step: MbrStep, parameters: Sequence[_CheckedParameter]) -> None:
    for old in session.scalars(select(MbrParameter).where(MbrParameter.step_id == step.id)):
        session.delete(old)
    session.flush()
    for i, p in enumerate(parameters):
        session.add(MbrParameter(step_id=step.id, seq=i + 1, code=p.code, label=p.label, kind=p.kind, unit=p.unit,
                                 target=p.target, lower=p.lower, upper=p.upper, choices=list(p.choices),
                                 expected=p.expected, critical=p.critical, required=p.required))


def add_step(*, actor: Actor, mbr_id: int, phase_seq: int, title: str, instructions: str = "",
             kind: str = "process", equipment_classes: Sequence[str] = (), sop_numbers: Sequence[str] = (),
             critical: bool = False, time_limit_minutes: int | None = None,
             parameters: Sequence[ParameterInput] = ()) -> MbrView:
    """Append a step to a phase; its code is "<phase>.<n>" (e.g. 2.3)."""
    actor.require("mbr.author")
    checked = _checked_step({
        "title": title, "instructions": instructions, "kind": kind, "equipment_classes": list(equipment_classes),
        "sop_numbers": list(sop_numbers), "critical": critical, "time_limit_minutes": time_limit_minutes,
        "parameters": list(parameters)}, actor)
    with transaction(actor=actor, reason=f"Step added: {checked.values['title']}") as session:
        row = _load(session, mbr_id, lock=True)
        _require_draft(row)
        phase = session.scalar(select(MbrPhase).where(MbrPhase.mbr_id == row.id, MbrPhase.seq == phase_seq))
        if phase is None:
            raise ValidationFailed.on("phase_seq", f"{row.number} has no phase {phase_seq}.")
        codes = session.scalars(select(MbrStep.code).where(MbrStep.phase_id == phase.id)).all()
        suffixes = [int(c.rsplit(".", 1)[1]) for c in codes if c.rsplit(".", 1)[-1].isdigit()]
        last_seq = session.scalar(select(func.max(MbrStep.seq)).where(MbrStep.mbr_id == row.id)) or 0
        step = MbrStep(mbr_id=row.id, phase_id=phase.id, seq=last_seq + 1,
                       code=f"{phase.seq}.{max(suffixes, default=0) + 1}", **checked.values)
        session.add(step)
        session.flush()
        _write_parameters(session, step, checked.parameters or [])
        _renumber_steps(session, row.id)
        _refresh_snapshot(session, row)
    return _detailed(mbr_id)


_STEP_FIELDS = ("title", "instructions", "kind", "equipment_classes", "sop_numbers", "critical",
                "time_limit_minutes", "parameters")


def _step_of(session: Session, row: MasterBatchRecord, step_id: int) -> MbrStep:
    step = session.get(MbrStep, step_id)
    if step is None or step.mbr_id != row.id:
        raise NotFound(f"No step {step_id} in {row.number} v{row.version}.")
    return step


def update_step(*, actor: Actor, mbr_id: int, step_id: int, **fields: Any) -> MbrView:
    """Change a draft's step; only the fields given change (``parameters`` replaces them all)."""
    actor.require("mbr.author")
    unknown = [FieldProblem(name, "Not a field of a step.") for name in fields if name not in _STEP_FIELDS]
    _raise(unknown)
    if not fields:
        raise ValidationFailed.on("fields", "Nothing to change.")
    values = {k: (list(v) if k in ("equipment_classes", "sop_numbers", "parameters") and v is not None
                  and not isinstance(v, str) else v) for k, v in fields.items()}
    checked = _checked_step(values, actor)
    with transaction(actor=actor, reason="Step changed") as session:
        row = _load(session, mbr_id, lock=True)
        _require_draft(row)
        step = _step_of(session, row, step_id)
        for name, value in checked.values.items():
            setattr(step, name, value)
        if checked.parameters is not None:
            _write_parameters(session, step, checked.parameters)
        _refresh_snapshot(session, row)
    return _detailed(mbr_id)


def remove_step(*, actor: Actor, mbr_id: int, step_id: int) -> MbrView:
    """Remove a step (and its parameters) from a draft."""
    actor.require("mbr.author")
    with transaction(actor=actor, reason="Step removed") as session:
        row = _load(session, mbr_id, lock=True)
        _require_draft(row)
        step = _step_of(session, row, step_id)
        for p in session.scalars(select(MbrParameter).where(MbrParameter.step_id == step.id)):
            session.delete(p)
        session.flush()
        session.delete(step)
        _renumber_steps(session, row.id)
        _refresh_snapshot(session, row)
    return _detailed(mbr_id)


# ---------------------------------------------------------------- review and versions


def review_mbr(*, actor: Actor, mbr_id: int, password: str, otp: str | None = None, comment: str = "") -> MbrView:
    """Production reviews a submitted recipe and signs "reviewed"; never its author (药品GMP 第一百七十条)."""
    actor.require("mbr.review")
    problems: list[FieldProblem] = []
    note = _text(problems, "comment", comment, max_length=2000, required=False)
    if not password:
        problems.append(FieldProblem("password", "Re-enter your password to sign."))
    _raise(problems)

    def refusal(session: Session, row: MasterBatchRecord) -> None:
        if row.state != "in_review":
            message = f"{row.number} v{row.version} is {row.state}; it is reviewed while in review."
            raise Conflict(message, [FieldProblem("mbr_id", message)])
        signatures = signatures_for(session, row)
        # EU GMP Annex 11 §14 / 21 CFR 11.10(g): the reviewer is a second person, not the author.
        authored = {s.username for s in signatures if s.meaning == "authored"}
        if row.author_id == actor.user_id or actor.username in authored:
            raise PermissionDenied("The author of a master batch record cannot review it.")
        if any(s.meaning == "reviewed" and s.valid and s.username == actor.username for s in signatures):
            raise Conflict("You have already reviewed this version.", [FieldProblem("mbr_id", "Already reviewed.")])

    with read_session() as session:
        refusal(session, _load(session, mbr_id))
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason="Master batch record reviewed") as session:
        row = _load(session, mbr_id, lock=True)
        refusal(session, row)
        sign(session, record=row, meaning="reviewed", actor=actor, proof=proof, reason=note or None)
    return _detailed(mbr_id)


def new_mbr_version(*, actor: Actor, mbr_id: int, change_summary: str) -> MbrView:
    """A new draft version copying an effective or superseded one (header, BOM, phases, steps, parameters)."""
    actor.require("mbr.author")
    problems: list[FieldProblem] = []
    summary = _text(problems, "change_summary", change_summary, max_length=_TEXT_MAX)
    _raise(problems)
    with transaction(actor=actor, reason=f"New version: {summary}") as session:
        source = _load(session, mbr_id)
        if source.state not in ("effective", "superseded"):
            message = f"{source.number} v{source.version} is {source.state}; copy an effective or superseded version."
            raise Conflict(message, [FieldProblem("mbr_id", message)])
        open_version = session.scalar(select(MasterBatchRecord).where(
            MasterBatchRecord.number == source.number, MasterBatchRecord.state.in_(_OPEN_STATES)))
        if open_version is not None:
            message = f"{source.number} v{open_version.version} is already {open_version.state}; finish it first."
            raise Conflict(message, [FieldProblem("mbr_id", message)])
        latest = session.scalar(select(func.max(MasterBatchRecord.version)).where(
            MasterBatchRecord.number == source.number)) or source.version
        row = MasterBatchRecord(
            number=source.number, version=latest + 1, title=source.title, product_code=source.product_code,
            product_name=source.product_name, stage=source.stage, batch_size=source.batch_size,
            batch_unit=source.batch_unit, theoretical_yield=source.theoretical_yield, yield_unit=source.yield_unit,
            yield_low_pct=source.yield_low_pct, yield_high_pct=source.yield_high_pct,
            description=source.description, change_summary=summary, state=MBR_LIFECYCLE.initial,
            author_id=actor.user_id, author=actor.username, content_snapshot={})
        session.add(row)
        session.flush()
        for m in _lines(session, source.id):
            session.add(MbrMaterial(mbr_id=row.id, line_no=m.line_no, material_code=m.material_code,
                                    material_name=m.material_name, quantity=m.quantity, unit=m.unit,
                                    tolerance_pct=m.tolerance_pct, dispensed=m.dispensed,
                                    scan_required=m.scan_required, rounding_places=m.rounding_places,
                                    step_code=m.step_code))
        phase_ids: dict[int, int] = {}
        for ph in _phases(session, source.id):
            phase = MbrPhase(mbr_id=row.id, seq=ph.seq, name=ph.name, parallel_with_previous=ph.parallel_with_previous)
            session.add(phase)
            session.flush()
            phase_ids[ph.id] = phase.id
        steps = _steps(session, source.id)
        params = _parameters(session, [s.id for s in steps])
        for s in steps:
            step = MbrStep(mbr_id=row.id, phase_id=phase_ids[s.phase_id], seq=s.seq, code=s.code, title=s.title,
                           instructions=s.instructions, kind=s.kind, equipment_classes=list(s.equipment_classes),
                           sop_numbers=list(s.sop_numbers), critical=s.critical,
                           time_limit_minutes=s.time_limit_minutes)
            session.add(step)
            session.flush()
            for p in params[s.id]:
                session.add(MbrParameter(step_id=step.id, seq=p.seq, code=p.code, label=p.label, kind=p.kind,
                                         unit=p.unit, target=p.target, lower=p.lower, upper=p.upper,
                                         choices=list(p.choices), expected=p.expected, critical=p.critical,
                                         required=p.required))
        _refresh_snapshot(session, row)
        new_id = row.id
    return _detailed(new_id)


# ---------------------------------------------------------------- reading


def get_mbr(*, actor: Actor, mbr_id: int) -> MbrView:
    """A recipe with its BOM, phases, steps, parameters and signatures (each checked against the content)."""
    actor.require("mbr.view")
    return _detailed(mbr_id)


def list_mbrs(*, actor: Actor, state: str | None = None, product_code: str | None = None, stage: str | None = None,
              query: str | None = None, after_id: int | None = None, limit: int = 50) -> list[MbrView]:
    """Recipes, oldest first, filtered; keyset pagination by id."""
    actor.require("mbr.view")
    problems: list[FieldProblem] = []
    if state is not None and state not in MBR_LIFECYCLE.states:
        problems.append(FieldProblem("state", f"Unknown state {state!r}."))
    if stage is not None and stage not in MBR_STAGES:
        problems.append(FieldProblem("stage", f"Unknown stage {stage!r}."))
    _raise(problems)
    with read_session() as session:
        stmt = select(MasterBatchRecord).order_by(MasterBatchRecord.id).limit(max(1, min(int(limit), 500)))
        if state:
            stmt = stmt.where(MasterBatchRecord.state == state)
        if stage:
            stmt = stmt.where(MasterBatchRecord.stage == stage)
        if product_code and product_code.strip():
            stmt = stmt.where(MasterBatchRecord.product_code == product_code.strip())
        if query and query.strip():
            like = f"%{query.strip().lower()}%"
            stmt = stmt.where(or_(func.lower(MasterBatchRecord.number).like(like),
                                  func.lower(MasterBatchRecord.title).like(like),
                                  func.lower(MasterBatchRecord.product_code).like(like),
                                  func.lower(MasterBatchRecord.product_name).like(like)))
        if after_id is not None:
            stmt = stmt.where(MasterBatchRecord.id > after_id)
        return _views(session, list(session.scalars(stmt)))


def effective_mbr(*, product_code: str, stage: str) -> MbrView | None:
    """The recipe in force for a product and stage (domain query for other services), or None."""
    with read_session() as session:
        row = session.scalar(select(MasterBatchRecord).where(
            MasterBatchRecord.product_code == product_code, MasterBatchRecord.stage == stage,
            MasterBatchRecord.state == "effective"))
        return _views(session, [row], details=True)[0] if row is not None else None


# ---------------------------------------------------------------- scaling


class _BomLine(Protocol):
    @property
    def line_no(self) -> int: ...
    @property
    def material_code(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def unit(self) -> str: ...
    @property
    def tolerance_pct(self) -> Decimal: ...
    @property
    def rounding_places(self) -> int: ...


def _half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def scale_bom(lines: Sequence[_BomLine], *, batch_size: Decimal, planned_size: Decimal) -> list[ScaledLine]:
    """Each BOM line scaled to ``planned_size``: quantity × planned/batch size, rounded half-up to the
    line's places, with the weighing window ± ``tolerance_pct``. Parameters are never scaled."""
    problems: list[FieldProblem] = []
    size = _number(problems, "batch_size", batch_size, positive=True)
    planned = _number(problems, "planned_size", planned_size, positive=True)
    _raise(problems)
    assert size is not None and planned is not None
    scaled = []
    for line in lines:
        places = int(line.rounding_places)
        target = _half_up(Decimal(line.quantity) * planned / size, places)
        tolerance = Decimal(line.tolerance_pct)
        margin = target * tolerance / 100
        scaled.append(ScaledLine(line.line_no, line.material_code, target, line.unit,
                                 _half_up(target - margin, places), _half_up(target + margin, places)))
    return scaled


def scaled_bom(*, actor: Actor, mbr_id: int, planned_size: Decimal | str) -> list[ScaledLine]:
    """A recipe's BOM scaled to ``planned_size`` (what ordering a batch of that size would reserve)."""
    actor.require("mbr.view")
    view = get_mbr(actor=actor, mbr_id=mbr_id)
    problems: list[FieldProblem] = []
    planned = _number(problems, "planned_size", planned_size, positive=True)
    _raise(problems)
    assert planned is not None
    return scale_bom(view.materials, batch_size=view.batch_size, planned_size=planned)

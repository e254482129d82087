"""Equipment classes, the equipment ledger, qualification records and documents.

An equipment row is created in ``commissioning`` with its status cache set from its class
(calibration needed for instruments, cleaning tracked where the class has hold times);
from then on the cache changes only together with a logbook entry. Qualification
records move the IQ/OQ/PQ dates and the requalification due date (EU GMP Annex 15 §3-§4).

Besides the public services, other parts of the equipment module build on:
``load_equipment`` and ``equipment_view`` (one row → one view), ``store_attachment`` and
``attachment_view`` (files kept inside the caller's transaction), and
``equipment_field_problems`` / ``add_equipment`` (the rules ``register_equipment`` applies,
for the spreadsheet import). Their signatures are kept stable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmos.auth import service as auth
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    ValidationFailed,
    required_reason,
    text_problem,
)
from pharmos.core.numbering import next_number
from pharmos.equipment.lifecycle import EQUIPMENT_LIFECYCLE
from pharmos.equipment.logbook import assess_usability, write_entry
from pharmos.equipment.models import (
    Attachment,
    Calibration,
    Equipment,
    EquipmentClass,
    Fault,
    Qualification,
    WorkOrder,
)
from pharmos.equipment.views import (
    AttachmentView,
    EquipmentClassView,
    EquipmentView,
    QualificationView,
    UsabilityView,
)

__all__ = [
    "ATTACHMENT_KINDS",
    "ATTACHMENT_MEDIA_TYPES",
    "ATTACHMENT_OWNER_TYPES",
    "CALIBRATION_FILTERS",
    "KEEP",
    "MAX_ATTACHMENT_BYTES",
    "QUALIFICATION_PHASES",
    "attach_document",
    "create_equipment_class",
    "find_equipment_by_scan",
    "get_attachment",
    "get_equipment",
    "list_attachments",
    "list_equipment",
    "list_equipment_classes",
    "record_qualification",
    "register_equipment",
    "update_equipment",
    "update_equipment_class",
]

CLASS_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
PREFIX_PATTERN = re.compile(r"^[A-Z]{1,6}$")
NUMBER_PATTERN = re.compile(r"^EQ-[A-Z0-9]+(-[A-Z0-9]+)*$")
QUALIFICATION_PHASES: dict[str, tuple[str, str]] = {
    "IQ": ("Installation qualification", "安装确认"),
    "OQ": ("Operational qualification", "运行确认"),
    "PQ": ("Performance qualification", "性能确认"),
    "RQ": ("Requalification", "再确认"),
}
# The phase that must have passed before this one (EU GMP Annex 15 §3.1: IQ → OQ → PQ in order).
_PREVIOUS_PHASE = {"OQ": "IQ", "PQ": "OQ", "RQ": "PQ"}
CALIBRATION_FILTERS = ("any", "overdue", "due_soon", "out_of_tolerance")

# owner type → the right needed to add a file to it.
ATTACHMENT_OWNER_TYPES: dict[str, str] = {
    "equipment": "equipment.edit",
    "calibration": "calibrations.record",
    "fault": "faults.report",
    "work_order": "workorders.perform",
}
ATTACHMENT_KINDS: dict[str, tuple[str, str]] = {
    "manual": ("Manual", "说明书"),
    "protocol": ("Protocol", "方案"),
    "certificate": ("Certificate", "证书"),
    "photo": ("Photo", "照片"),
    "drawing": ("Drawing", "图纸"),
    "other": ("Other", "其他"),
}
ATTACHMENT_MEDIA_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/webp": "webp",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/plain": "txt",
    "text/markdown": "md",
}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_DEFAULT_REMINDER_DAYS = 30


class _Keep(Enum):
    KEEP = "keep"


# Passed (or defaulted) for a field an update leaves as it is; None can mean "clear".
KEEP = _Keep.KEEP

# ---------------------------------------------------------------- owners (users, through auth's public queries)


def _owner_id_for(session: Session, username: str) -> int:
    """The id of the active user ``username``; ValidationFailed on ``owner_username`` otherwise."""
    user = auth.directory_entry(session, username=username)
    if user is None:
        raise ValidationFailed.on("owner_username", f"No user named {username!r}.")
    if not user.is_active:
        raise ValidationFailed.on("owner_username", f"{user.username} is deactivated.")
    return user.id


def _usernames(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Username per user id (ids of users that do not exist are left out)."""
    return auth.usernames_by_id(session, user_ids)


# ---------------------------------------------------------------- views


def class_view(row: EquipmentClass) -> EquipmentClassView:
    return EquipmentClassView(
        id=row.id, code=row.code, name_zh=row.name_zh, name_en=row.name_en, number_prefix=row.number_prefix,
        is_instrument=row.is_instrument, calibration_interval_days=row.calibration_interval_days,
        requalification_interval_days=row.requalification_interval_days, clean_hold_hours=row.clean_hold_hours,
        dirty_hold_hours=row.dirty_hold_hours, active=row.active)


def attachment_view(row: Attachment) -> AttachmentView:
    return AttachmentView(
        id=row.id, owner_type=row.owner_type, owner_id=row.owner_id, kind=row.kind, title=row.title,
        filename=row.filename, media_type=row.media_type, size=row.size, sha256=row.sha256,
        uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at)


def qualification_view(row: Qualification) -> QualificationView:
    return QualificationView(
        id=row.id, equipment_id=row.equipment_id, phase=row.phase, protocol_number=row.protocol_number,
        completed_on=row.completed_on, passed=row.passed, performed_by=row.performed_by, note=row.note,
        recorded_at=row.recorded_at)


def effective_calibration_interval(row: Equipment, equipment_class: EquipmentClass) -> int | None:
    return row.calibration_interval_days if row.calibration_interval_days is not None \
        else equipment_class.calibration_interval_days


def effective_requalification_interval(row: Equipment, equipment_class: EquipmentClass) -> int | None:
    return row.requalification_interval_days if row.requalification_interval_days is not None \
        else equipment_class.requalification_interval_days


def load_class(session: Session, class_id: int) -> EquipmentClass:
    cls = session.get(EquipmentClass, class_id)
    if cls is None:
        raise NotFound(f"No equipment class with id {class_id}.")
    return cls


def equipment_view(session: Session, row: Equipment, *, equipment_class: EquipmentClass | None = None,
                   owner: str | None = None, at: datetime | None = None, usability: bool = True,
                   with_details: bool = False) -> EquipmentView:
    """The view of one equipment row, with its usability at ``at`` (default now).

    Lists pass the class row and the owner's username they loaded once for all rows, so a
    row costs no extra query; ``with_details`` adds qualifications, documents and signatures.
    """
    cls = equipment_class if equipment_class is not None else load_class(session, row.class_id)
    if owner is None:
        owner = _usernames(session, [row.owner_id]).get(row.owner_id, "") if row.owner_id is not None else ""
    assessed: UsabilityView | None = None
    if usability:
        assessed = assess_usability(row, cls, at=at or utcnow())
    qualifications: tuple[QualificationView, ...] = ()
    documents: tuple[AttachmentView, ...] = ()
    signatures: tuple[Any, ...] = ()
    if with_details:
        qualifications = tuple(qualification_view(q) for q in session.scalars(
            select(Qualification).where(Qualification.equipment_id == row.id)
            .order_by(Qualification.completed_on, Qualification.id)))
        documents = tuple(attachment_view(a) for a in _attachments_of(session, "equipment", row.id))
        signatures = tuple(signatures_for(session, row))
    return EquipmentView(
        id=row.id, number=row.number, name_zh=row.name_zh, name_en=row.name_en, class_code=cls.code,
        class_name_zh=cls.name_zh, class_name_en=cls.name_en, location=row.location,
        manufacturer=row.manufacturer, model=row.model, serial_number=row.serial_number,
        install_date=row.install_date, owner_department=row.owner_department, owner_id=row.owner_id, owner=owner,
        gmp_critical=row.gmp_critical, state=row.state, state_changed_at=as_utc(row.state_changed_at),
        iq_on=row.iq_on, oq_on=row.oq_on, pq_on=row.pq_on,
        requalification_interval_days=row.requalification_interval_days,
        requalification_due_on=row.requalification_due_on, calibration_required=row.calibration_required,
        range_low=row.range_low, range_high=row.range_high, range_unit=row.range_unit, tolerance=row.tolerance,
        calibration_interval_days=row.calibration_interval_days,
        effective_calibration_interval_days=effective_calibration_interval(row, cls),
        last_calibrated_on=row.last_calibrated_on, calibration_due_on=row.calibration_due_on,
        calibration_status=row.calibration_status, clean_status=row.clean_status,
        clean_expires_at=as_utc(row.clean_expires_at) if row.clean_expires_at else None,
        dirty_since=as_utc(row.dirty_since) if row.dirty_since else None, in_use_by=row.in_use_by,
        in_use_since=as_utc(row.in_use_since) if row.in_use_since else None,
        usage_counter=Decimal(row.usage_counter), usage_unit=row.usage_unit, author=row.author,
        created_at=as_utc(row.created_at), usability=assessed, qualifications=qualifications,
        documents=documents, signatures=signatures)


def equipment_views(session: Session, rows: list[Equipment]) -> list[EquipmentView]:
    """Views of many rows: classes and owners read once for all of them (no query per row)."""
    class_ids = {r.class_id for r in rows}
    classes = {c.id: c for c in session.scalars(select(EquipmentClass).where(EquipmentClass.id.in_(class_ids)))} \
        if class_ids else {}
    owners = _usernames(session, (r.owner_id for r in rows))
    now = utcnow()
    return [equipment_view(session, r, equipment_class=classes[r.class_id],
                           owner=owners.get(r.owner_id, "") if r.owner_id is not None else "", at=now)
            for r in rows]


def load_equipment(session: Session, *, equipment_id: int | None = None, number: str | None = None,
                   lock: bool = False) -> Equipment:
    """One equipment row by id or number (NotFound otherwise); ``lock`` takes the row lock for a change."""
    if equipment_id is None and not (number or "").strip():
        raise ValidationFailed.on("equipment_id", "Give the equipment id or number.")
    if equipment_id is not None:
        row = session.get(Equipment, equipment_id, with_for_update=lock or None)
        if row is None:
            raise NotFound(f"No equipment with id {equipment_id}.")
        return row
    code = (number or "").strip().upper()
    stmt = select(Equipment).where(Equipment.number == code)
    if lock:
        stmt = stmt.with_for_update()
    found = session.scalar(stmt)
    if found is None:
        raise NotFound(f"No equipment numbered {code}.")
    return found


# ---------------------------------------------------------------- field checks


def _interval_problem(field: str, value: object) -> FieldProblem | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return FieldProblem(field, "Must be a whole number of days.")
    if value <= 0:
        return FieldProblem(field, "Must be more than zero.")
    if value > 36500:
        return FieldProblem(field, "At most 36500.")
    return None


def _hours_problem(field: str, value: object) -> FieldProblem | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return FieldProblem(field, "Must be a whole number of hours.")
    if value <= 0:
        return FieldProblem(field, "Must be more than zero.")
    if value > 8760:
        return FieldProblem(field, "At most 8760 hours (one year).")
    return None


def parse_reading(field: str, value: object, problems: list[FieldProblem]) -> Decimal | None:
    """``value`` as a finite Decimal (None stays None); appends a problem naming ``field`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        problems.append(FieldProblem(field, "Must be a number."))
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        problems.append(FieldProblem(field, f"{value!r} is not a number."))
        return None
    if not number.is_finite():
        problems.append(FieldProblem(field, "Must be a finite number."))
        return None
    if abs(number) >= Decimal(10) ** 12 or number != number.quantize(Decimal("0.000001")):
        problems.append(FieldProblem(field, "At most 12 digits before and 6 after the decimal point."))
        return None
    return number


_EQUIPMENT_DEFAULTS: dict[str, Any] = {
    "name_en": "", "number": None, "location": "", "manufacturer": "", "model": "", "serial_number": None,
    "install_date": None, "owner_department": "", "owner_username": None, "gmp_critical": True,
    "requalification_interval_days": None, "calibration_required": None, "range_low": None, "range_high": None,
    "range_unit": "", "tolerance": None, "calibration_interval_days": None, "usage_unit": "h",
}
_EQUIPMENT_FIELDS = ("class_code", "name_zh", *_EQUIPMENT_DEFAULTS)
_UPDATABLE_FIELDS = tuple(f for f in _EQUIPMENT_FIELDS if f not in ("class_code", "number"))


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalized(values: Mapping[str, Any], problems: list[FieldProblem]) -> dict[str, Any]:
    """Check the fields that need no database; return them cleaned (readings as Decimal)."""
    for name, required, length in (("name_zh", True, 200), ("name_en", False, 200), ("location", False, 120),
                                   ("manufacturer", False, 120), ("model", False, 120),
                                   ("serial_number", False, 120), ("owner_department", False, 120),
                                   ("range_unit", False, 20), ("usage_unit", True, 20)):
        problem = text_problem(name, values.get(name), required=required, max_length=length)
        if problem:
            problems.append(problem)
    for name in ("requalification_interval_days", "calibration_interval_days"):
        problem = _interval_problem(name, values.get(name))
        if problem:
            problems.append(problem)
    if not isinstance(values.get("gmp_critical"), bool):
        problems.append(FieldProblem("gmp_critical", "Must be yes or no."))
    if values.get("calibration_required") is not None and not isinstance(values.get("calibration_required"), bool):
        problems.append(FieldProblem("calibration_required", "Must be yes or no."))
    install = values.get("install_date")
    if install is not None and (not isinstance(install, date) or isinstance(install, datetime)):
        problems.append(FieldProblem("install_date", "Must be a date."))
    elif install is not None and install > site_today():
        problems.append(FieldProblem("install_date", "The installation date cannot be in the future."))
    low = parse_reading("range_low", values.get("range_low"), problems)
    high = parse_reading("range_high", values.get("range_high"), problems)
    tolerance = parse_reading("tolerance", values.get("tolerance"), problems)
    if low is not None and high is not None and low >= high:
        problems.append(FieldProblem("range_high", "The upper end of the range must be above the lower end."))
    if tolerance is not None and tolerance <= 0:
        problems.append(FieldProblem("tolerance", "The tolerance must be more than zero."))
    cleaned = {k: _clean(v) for k, v in values.items()}
    serial = cleaned.get("serial_number")
    cleaned["serial_number"] = serial if isinstance(serial, str) and serial else None
    cleaned.update(range_low=low, range_high=high, tolerance=tolerance)
    return cleaned


def _serial_problem(session: Session, *, manufacturer: str, model: str, serial_number: str | None,
                    except_id: int | None = None) -> FieldProblem | None:
    if serial_number is None:
        return None
    stmt = select(Equipment.number).where(Equipment.manufacturer == manufacturer, Equipment.model == model,
                                          Equipment.serial_number == serial_number)
    if except_id is not None:
        stmt = stmt.where(Equipment.id != except_id)
    taken = session.scalar(stmt.limit(1))
    if taken is not None:
        return FieldProblem("serial_number", f"Serial number {serial_number} of this manufacturer and model "
                                             f"is already registered as {taken}.")
    return None


def equipment_field_problems(session: Session, **fields: Any) -> list[FieldProblem]:
    """Every problem ``register_equipment`` would refuse these fields for (reads, never writes)."""
    unknown = sorted(set(fields) - set(_EQUIPMENT_FIELDS))
    problems = [FieldProblem(name, "Unknown field.") for name in unknown]
    values = {**_EQUIPMENT_DEFAULTS, **{k: v for k, v in fields.items() if k in _EQUIPMENT_FIELDS}}
    cleaned = _normalized(values, problems)
    code = cleaned.get("class_code")
    cls = session.scalar(select(EquipmentClass).where(EquipmentClass.code == code)) if isinstance(code, str) else None
    if cls is None:
        problems.append(FieldProblem("class_code", f"No equipment class {code!r}."))
    elif not cls.active:
        problems.append(FieldProblem("class_code", f"The equipment class {code} is no longer in use."))
    number = cleaned.get("number")
    if number is not None and number != "":
        if not isinstance(number, str) or len(number) > 40 or not NUMBER_PATTERN.match(number.upper()):
            problems.append(FieldProblem("number", "Use EQ- followed by capital letters and digits in "
                                                   "hyphen-separated groups (e.g. EQ-BR-002)."))
        elif session.scalar(select(Equipment.id).where(Equipment.number == number.upper())) is not None:
            problems.append(FieldProblem("number", f"{number.upper()} is already taken (numbers are never reused)."))
    if not any(p.field in ("manufacturer", "model", "serial_number") for p in problems):
        problem = _serial_problem(session, manufacturer=cleaned.get("manufacturer") or "",
                                  model=cleaned.get("model") or "", serial_number=cleaned["serial_number"])
        if problem:
            problems.append(problem)
    owner = cleaned.get("owner_username")
    if owner is not None and owner != "":
        if not isinstance(owner, str):
            problems.append(FieldProblem("owner_username", "Must be a username."))
        else:
            try:
                _owner_id_for(session, owner)
            except ValidationFailed as exc:
                problems.extend(exc.fields)
    return problems


def _next_free_number(session: Session, prefix: str) -> str:
    while True:
        candidate = next_number(session, prefix=f"EQ-{prefix}", pattern="{prefix}-{seq:03d}")
        # A hand-entered number may already hold this sequence value; numbers are never reused.
        if session.scalar(select(Equipment.id).where(Equipment.number == candidate)) is None:
            return candidate


def add_equipment(session: Session, *, actor: Actor, **fields: Any) -> Equipment:
    """Register equipment inside the caller's transaction (``register_equipment`` and the import).

    Raises ValidationFailed naming every bad field before anything is written.
    """
    problems = equipment_field_problems(session, **fields)
    if problems:
        raise ValidationFailed("The equipment was not registered.", problems)
    values = _normalized({**_EQUIPMENT_DEFAULTS, **fields}, [])
    cls = session.scalar(select(EquipmentClass).where(EquipmentClass.code == values["class_code"]))
    assert cls is not None
    owner_id = _owner_id_for(session, values["owner_username"]) if values["owner_username"] else None
    number = values["number"].upper() if values["number"] else _next_free_number(session, cls.number_prefix)
    calibration_required = cls.is_instrument if values["calibration_required"] is None \
        else values["calibration_required"]
    now = utcnow()
    tracked = cls.clean_hold_hours is not None
    row = Equipment(
        number=number, name_zh=values["name_zh"], name_en=values["name_en"] or "", class_id=cls.id,
        location=values["location"] or "", manufacturer=values["manufacturer"] or "", model=values["model"] or "",
        serial_number=values["serial_number"], install_date=values["install_date"],
        owner_department=values["owner_department"] or "", owner_id=owner_id, gmp_critical=values["gmp_critical"],
        state=EQUIPMENT_LIFECYCLE.initial, state_changed_at=now,
        requalification_interval_days=values["requalification_interval_days"],
        calibration_required=calibration_required, range_low=values["range_low"], range_high=values["range_high"],
        range_unit=values["range_unit"] or "", tolerance=values["tolerance"],
        calibration_interval_days=values["calibration_interval_days"],
        calibration_status="never_calibrated" if calibration_required else "not_required",
        # Never cleaned: dirty until its first recorded cleaning (EU GMP Part I 5.19).
        clean_status="dirty" if tracked else "not_tracked", dirty_since=now if tracked else None,
        usage_counter=Decimal(0), usage_unit=values["usage_unit"], author_id=actor.user_id, author=actor.username,
        created_at=now)
    session.add(row)
    session.flush()
    write_entry(session, equipment=row, kind="note", actor=actor, at=now, description="Registered")
    session.flush()
    return row


# ---------------------------------------------------------------- classes


def _class_problems(values: Mapping[str, Any]) -> list[FieldProblem]:
    problems = [p for p in (
        text_problem("name_zh", values.get("name_zh"), required=True, max_length=100),
        text_problem("name_en", values.get("name_en"), max_length=100),
        _interval_problem("calibration_interval_days", values.get("calibration_interval_days")),
        _interval_problem("requalification_interval_days", values.get("requalification_interval_days")),
        _hours_problem("clean_hold_hours", values.get("clean_hold_hours")),
        _hours_problem("dirty_hold_hours", values.get("dirty_hold_hours")),
    ) if p]
    prefix = values.get("number_prefix")
    if not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix.strip()):
        problems.append(FieldProblem("number_prefix", "Use 1–6 capital letters (e.g. BR)."))
    if not isinstance(values.get("is_instrument"), bool):
        problems.append(FieldProblem("is_instrument", "Must be yes or no."))
    if values.get("dirty_hold_hours") is not None and values.get("clean_hold_hours") is None:
        problems.append(FieldProblem("dirty_hold_hours", "A dirty hold time needs a clean hold time "
                                                         "(cleaning is tracked only with one)."))
    if "active" in values and not isinstance(values.get("active"), bool):
        problems.append(FieldProblem("active", "Must be yes or no."))
    return problems


def create_equipment_class(*, actor: Actor, code: str, name_zh: str, name_en: str = "", number_prefix: str,
                           is_instrument: bool = False, calibration_interval_days: int | None = None,
                           requalification_interval_days: int | None = None, clean_hold_hours: int | None = None,
                           dirty_hold_hours: int | None = None) -> EquipmentClassView:
    actor.require("equipment.edit")
    values = dict(name_zh=name_zh, name_en=name_en, number_prefix=number_prefix, is_instrument=is_instrument,
                  calibration_interval_days=calibration_interval_days,
                  requalification_interval_days=requalification_interval_days, clean_hold_hours=clean_hold_hours,
                  dirty_hold_hours=dirty_hold_hours)
    problems = _class_problems(values)
    if not isinstance(code, str) or not CLASS_CODE_PATTERN.match(code.strip()):
        problems.insert(0, FieldProblem("code", "Use 2–30 lower-case letters, digits or underscores, starting "
                                                "with a letter (e.g. bioreactor)."))
    if problems:
        raise ValidationFailed("The equipment class was not created.", problems)
    with transaction(actor=actor, reason="Equipment class created") as session:
        code = code.strip()
        if session.scalar(select(EquipmentClass.id).where(EquipmentClass.code == code)) is not None:
            raise ValidationFailed.on("code", f"The class code {code} is already taken.")
        row = EquipmentClass(code=code, name_zh=name_zh.strip(), name_en=(name_en or "").strip(),
                             number_prefix=number_prefix.strip(), is_instrument=is_instrument,
                             calibration_interval_days=calibration_interval_days,
                             requalification_interval_days=requalification_interval_days,
                             clean_hold_hours=clean_hold_hours, dirty_hold_hours=dirty_hold_hours, active=True)
        session.add(row)
        session.flush()
        return class_view(row)


def _latest_passed_qualification(session: Session, equipment_id: int) -> date | None:
    return session.scalar(select(func.max(Qualification.completed_on)).where(
        Qualification.equipment_id == equipment_id, Qualification.passed.is_(True),
        Qualification.phase.in_(("PQ", "RQ"))))


def _refresh_due_dates(session: Session, row: Equipment, cls: EquipmentClass, actor: Actor, why: str) -> None:
    """Recompute the cached due dates after an interval changed; log what moved (EU GMP Part I 4.31)."""
    changes = []
    interval = effective_calibration_interval(row, cls)
    if row.last_calibrated_on is not None and row.calibration_status == "in_tolerance":
        due = row.last_calibrated_on + timedelta(days=interval) if interval else None
        if due != row.calibration_due_on:
            changes.append(f"calibration due {row.calibration_due_on} → {due}")
            row.calibration_due_on = due
    requal = effective_requalification_interval(row, cls)
    last = _latest_passed_qualification(session, row.id)
    if last is not None:
        due = last + timedelta(days=requal) if requal else None
        if due != row.requalification_due_on:
            changes.append(f"requalification due {row.requalification_due_on} → {due}")
            row.requalification_due_on = due
    if changes:
        write_entry(session, equipment=row, kind="note", actor=actor, description=f"{why}: {'; '.join(changes)}")


def update_equipment_class(*, actor: Actor, class_id: int, reason: str, name_zh: str | _Keep = KEEP,
                           name_en: str | _Keep = KEEP, number_prefix: str | _Keep = KEEP,
                           is_instrument: bool | _Keep = KEEP, calibration_interval_days: int | _Keep | None = KEEP,
                           requalification_interval_days: int | _Keep | None = KEEP,
                           clean_hold_hours: int | _Keep | None = KEEP, dirty_hold_hours: int | _Keep | None = KEEP,
                           active: bool | _Keep = KEEP) -> EquipmentClassView:
    """Change a class; members' cached due dates and cleaning tracking follow, each change logged."""
    actor.require("equipment.edit")
    why = required_reason(reason)
    given = {k: v for k, v in dict(
        name_zh=name_zh, name_en=name_en, number_prefix=number_prefix, is_instrument=is_instrument,
        calibration_interval_days=calibration_interval_days,
        requalification_interval_days=requalification_interval_days, clean_hold_hours=clean_hold_hours,
        dirty_hold_hours=dirty_hold_hours, active=active).items() if v is not KEEP}
    with transaction(actor=actor, reason=why) as session:
        row = session.get(EquipmentClass, class_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No equipment class with id {class_id}.")
        current = {k: getattr(row, k) for k in (
            "name_zh", "name_en", "number_prefix", "is_instrument", "calibration_interval_days",
            "requalification_interval_days", "clean_hold_hours", "dirty_hold_hours", "active")}
        merged = {**current, **given}
        problems = _class_problems(merged)
        if problems:
            raise ValidationFailed("The equipment class was not changed.", problems)
        was_tracked = row.clean_hold_hours is not None
        for name, value in merged.items():
            setattr(row, name, _clean(value))
        session.flush()
        now_tracked = row.clean_hold_hours is not None
        members = list(session.scalars(select(Equipment).where(Equipment.class_id == row.id)
                                       .order_by(Equipment.id).with_for_update()))
        if was_tracked and not now_tracked and any(m.in_use_by for m in members):
            raise Conflict("Equipment of this class is in use; stop tracking cleaning once it is free.",
                           [FieldProblem("clean_hold_hours", "Equipment of this class is in use.")])
        now = utcnow()
        for member in members:
            if {"calibration_interval_days", "requalification_interval_days"} & set(given):
                _refresh_due_dates(session, member, row, actor, f"Class {row.code} intervals changed")
            if not was_tracked and now_tracked and member.clean_status == "not_tracked":
                # EU GMP Part I 5.19: once cleaning is tracked, equipment counts as dirty until cleaned.
                member.clean_status, member.dirty_since, member.clean_expires_at = "dirty", now, None
                write_entry(session, equipment=member, kind="marked_dirty", actor=actor, at=now,
                            description=f"Cleaning status now tracked for class {row.code}: dirty until cleaned")
            elif was_tracked and not now_tracked and member.clean_status != "not_tracked":
                member.clean_status, member.dirty_since, member.clean_expires_at = "not_tracked", None, None
                write_entry(session, equipment=member, kind="note", actor=actor, at=now,
                            description=f"Cleaning status no longer tracked for class {row.code}")
        session.flush()
        return class_view(row)


def list_equipment_classes(*, actor: Actor, active: bool | None = None) -> list[EquipmentClassView]:
    actor.require("equipment.view")
    with read_session() as session:
        stmt = select(EquipmentClass).order_by(EquipmentClass.code)
        if active is not None:
            stmt = stmt.where(EquipmentClass.active.is_(active))
        return [class_view(c) for c in session.scalars(stmt)]


# ---------------------------------------------------------------- equipment


def register_equipment(*, actor: Actor, class_code: str, name_zh: str, name_en: str = "", number: str | None = None,
                       location: str = "", manufacturer: str = "", model: str = "",
                       serial_number: str | None = None, install_date: date | None = None,
                       owner_department: str = "", owner_username: str | None = None, gmp_critical: bool = True,
                       requalification_interval_days: int | None = None, calibration_required: bool | None = None,
                       range_low: Decimal | str | int | None = None, range_high: Decimal | str | int | None = None,
                       range_unit: str = "", tolerance: Decimal | str | int | None = None,
                       calibration_interval_days: int | None = None, usage_unit: str = "h") -> EquipmentView:
    """Register equipment in ``commissioning`` (EU GMP Annex 15 §3: qualified before routine use)."""
    actor.require("equipment.edit")
    fields = dict(class_code=class_code, name_zh=name_zh, name_en=name_en, number=number, location=location,
                  manufacturer=manufacturer, model=model, serial_number=serial_number, install_date=install_date,
                  owner_department=owner_department, owner_username=owner_username, gmp_critical=gmp_critical,
                  requalification_interval_days=requalification_interval_days,
                  calibration_required=calibration_required, range_low=range_low, range_high=range_high,
                  range_unit=range_unit, tolerance=tolerance, calibration_interval_days=calibration_interval_days,
                  usage_unit=usage_unit)
    with transaction(actor=actor, reason="Equipment registered") as session:
        row = add_equipment(session, actor=actor, **fields)
        return equipment_view(session, row)


def update_equipment(*, actor: Actor, equipment_id: int, reason: str, **changes: Any) -> EquipmentView:
    """Change registered fields (not class or number); reason required (EU GMP Annex 11 §9)."""
    actor.require("equipment.edit")
    why = required_reason(reason)
    unknown = sorted(k for k in changes if k not in _UPDATABLE_FIELDS)
    if unknown:
        raise ValidationFailed("The equipment was not changed.",
                               [FieldProblem(k, "This field cannot be changed here." if k in _EQUIPMENT_FIELDS
                                             else "Unknown field.") for k in unknown])
    given = {k: v for k, v in changes.items() if v is not KEEP}
    with transaction(actor=actor, reason=why) as session:
        row = load_equipment(session, equipment_id=equipment_id, lock=True)
        cls = load_class(session, row.class_id)
        current: dict[str, Any] = {k: getattr(row, k) for k in _UPDATABLE_FIELDS if k != "owner_username"}
        current["owner_username"] = None
        merged = {**current, **given}
        problems: list[FieldProblem] = []
        cleaned = _normalized(merged, problems)
        if not any(p.field in ("manufacturer", "model", "serial_number") for p in problems):
            problem = _serial_problem(session, manufacturer=cleaned["manufacturer"] or "",
                                      model=cleaned["model"] or "", serial_number=cleaned["serial_number"],
                                      except_id=row.id)
            if problem:
                problems.append(problem)
        owner_id = row.owner_id
        if "owner_username" in given:
            owner = given["owner_username"]
            if owner is None or (isinstance(owner, str) and not owner.strip()):
                owner_id = None
            elif not isinstance(owner, str):
                problems.append(FieldProblem("owner_username", "Must be a username."))
            else:
                try:
                    owner_id = _owner_id_for(session, owner)
                except ValidationFailed as exc:
                    problems.extend(exc.fields)
        if "calibration_required" in given and cleaned["calibration_required"] is None:
            problems.append(FieldProblem("calibration_required", "Must be yes or no."))
        if cleaned.get("calibration_required") is False and row.calibration_status == "out_of_tolerance":
            problems.append(FieldProblem("calibration_required", "The last calibration failed; record a passing "
                                                                 "calibration before dropping the requirement."))
        if problems:
            raise ValidationFailed("The equipment was not changed.", problems)
        for name in _UPDATABLE_FIELDS:
            if name == "owner_username":
                continue
            value = cleaned[name]
            if name in ("name_en", "location", "manufacturer", "model", "owner_department", "range_unit"):
                value = value or ""
            setattr(row, name, value)
        row.owner_id = owner_id
        if row.calibration_required and row.calibration_status == "not_required":
            row.calibration_status = "in_tolerance" if row.calibration_due_on is not None else "never_calibrated"
            write_entry(session, equipment=row, kind="note", actor=actor,
                        description=f"Calibration now required ({row.calibration_status})")
        elif not row.calibration_required and row.calibration_status != "not_required":
            row.calibration_status = "not_required"
            write_entry(session, equipment=row, kind="note", actor=actor, description="Calibration no longer required")
        if {"calibration_interval_days", "requalification_interval_days"} & set(given):
            _refresh_due_dates(session, row, cls, actor, "Interval changed")
        session.flush()
        return equipment_view(session, row, equipment_class=cls)


def get_equipment(*, actor: Actor, equipment_id: int | None = None, number: str | None = None) -> EquipmentView:
    actor.require("equipment.view")
    with read_session() as session:
        row = load_equipment(session, equipment_id=equipment_id, number=number)
        return equipment_view(session, row, with_details=True)


def find_equipment_by_scan(*, actor: Actor, code: str) -> EquipmentView:
    """The equipment whose QR label was scanned (scanners type the equipment number)."""
    actor.require("equipment.view")
    scanned = (code or "").strip().upper()
    if not scanned:
        raise NotFound("Nothing was scanned.")
    with read_session() as session:
        row = session.scalar(select(Equipment).where(func.upper(Equipment.number) == scanned))
        if row is None:
            raise NotFound(f"No equipment numbered {scanned}.")
        return equipment_view(session, row, with_details=True)


def _reminder_days() -> int:
    from pharmos.site import service as site

    value = site.effective_value(key="equipment.calibration_reminder_days")
    try:
        return int(value) if value is not None else _DEFAULT_REMINDER_DAYS
    except ValueError:
        return _DEFAULT_REMINDER_DAYS


def list_equipment(*, actor: Actor, state: str | None = None, class_code: str | None = None,
                   query: str | None = None, calibration: str = "any", after_id: int | None = None,
                   limit: int = 50) -> list[EquipmentView]:
    actor.require("equipment.view")
    if state is not None and state not in EQUIPMENT_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Unknown state {state!r}.")
    if calibration not in CALIBRATION_FILTERS:
        raise ValidationFailed.on("calibration", f"Choose one of {', '.join(CALIBRATION_FILTERS)}.")
    reminder_days = _reminder_days() if calibration == "due_soon" else 0
    today = site_today()
    with read_session() as session:
        stmt = select(Equipment).order_by(Equipment.id).limit(max(1, min(limit, 500)))
        if state:
            stmt = stmt.where(Equipment.state == state)
        if class_code:
            class_id = session.scalar(select(EquipmentClass.id).where(EquipmentClass.code == class_code))
            if class_id is None:
                raise ValidationFailed.on("class_code", f"No equipment class {class_code!r}.")
            stmt = stmt.where(Equipment.class_id == class_id)
        if query and query.strip():
            like = f"%{query.strip().lower()}%"
            stmt = stmt.where(or_(func.lower(Equipment.number).like(like), func.lower(Equipment.name_zh).like(like),
                                  func.lower(Equipment.name_en).like(like),
                                  func.lower(Equipment.serial_number).like(like),
                                  func.lower(Equipment.location).like(like)))
        if calibration == "overdue":
            stmt = stmt.where(Equipment.calibration_required.is_(True), Equipment.calibration_due_on < today)
        elif calibration == "due_soon":
            stmt = stmt.where(Equipment.calibration_required.is_(True), Equipment.calibration_due_on >= today,
                              Equipment.calibration_due_on <= today + timedelta(days=reminder_days))
        elif calibration == "out_of_tolerance":
            stmt = stmt.where(Equipment.calibration_status == "out_of_tolerance")
        if after_id is not None:
            stmt = stmt.where(Equipment.id > after_id)
        return equipment_views(session, list(session.scalars(stmt)))


# ---------------------------------------------------------------- qualification


def record_qualification(*, actor: Actor, equipment_id: int, phase: str, protocol_number: str, completed_on: date,
                         passed: bool, performed_by: str, note: str = "") -> EquipmentView:
    """Record one IQ/OQ/PQ/RQ (EU GMP Annex 15 §3-§4); a passed PQ or RQ sets the requalification due date."""
    actor.require("equipment.edit")
    problems = [p for p in (
        text_problem("protocol_number", protocol_number, required=True, max_length=60),
        text_problem("performed_by", performed_by, required=True, max_length=150),
        text_problem("note", note, max_length=5000),
    ) if p]
    if phase not in QUALIFICATION_PHASES:
        problems.insert(0, FieldProblem("phase", f"Choose one of {', '.join(QUALIFICATION_PHASES)}."))
    if not isinstance(completed_on, date) or isinstance(completed_on, datetime):
        problems.append(FieldProblem("completed_on", "Must be a date."))
    elif completed_on > site_today():
        problems.append(FieldProblem("completed_on", "The completion date cannot be in the future."))
    if not isinstance(passed, bool):
        problems.append(FieldProblem("passed", "Must be yes or no."))
    if problems:
        raise ValidationFailed("The qualification was not recorded.", problems)
    with transaction(actor=actor, reason=f"{phase} recorded") as session:
        row = load_equipment(session, equipment_id=equipment_id, lock=True)
        if row.state == "retired":
            raise Conflict(f"{row.number} is retired.")
        previous = _PREVIOUS_PHASE.get(phase)
        if previous is not None and getattr(row, f"{previous.lower()}_on") is None:
            raise ValidationFailed.on("phase", f"{phase} needs a passed {previous} first.")
        cls = load_class(session, row.class_id)
        session.add(Qualification(equipment_id=row.id, phase=phase, protocol_number=protocol_number.strip(),
                                  completed_on=completed_on, passed=passed, performed_by=performed_by.strip(),
                                  note=(note or "").strip()))
        if passed:
            if phase in ("IQ", "OQ", "PQ"):
                setattr(row, f"{phase.lower()}_on", completed_on)
            if phase in ("PQ", "RQ"):
                interval = effective_requalification_interval(row, cls)
                row.requalification_due_on = completed_on + timedelta(days=interval) if interval else None
        outcome = "passed" if passed else "failed"
        write_entry(session, equipment=row, kind="qualification", actor=actor, reference=protocol_number.strip(),
                    description=f"{phase} {outcome} on {completed_on.isoformat()} ({performed_by.strip()})"
                    + (f": {note.strip()}" if (note or "").strip() else ""))
        session.flush()
        return equipment_view(session, row, equipment_class=cls, with_details=True)


# ---------------------------------------------------------------- documents


_OWNER_MODELS: dict[str, Any] = {"equipment": Equipment, "calibration": Calibration, "fault": Fault,
                                 "work_order": WorkOrder}


def _media_type(value: object) -> str:
    return value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""


def _attachments_of(session: Session, owner_type: str, owner_id: int) -> list[Attachment]:
    # The bytes stay in the database until someone downloads the file.
    from sqlalchemy.orm import defer

    return list(session.scalars(select(Attachment).options(defer(Attachment.content)).where(
        Attachment.owner_type == owner_type, Attachment.owner_id == owner_id).order_by(Attachment.id)))


def attachment_problems(*, owner_type: object, kind: object, title: object, filename: object, content: object,
                        media_type: object) -> list[FieldProblem]:
    """Every problem with a file to keep (pure: no database)."""
    problems = [p for p in (
        text_problem("title", title, max_length=200),
        text_problem("filename", filename, required=True, max_length=200),
    ) if p]
    if owner_type not in ATTACHMENT_OWNER_TYPES:
        problems.insert(0, FieldProblem("owner_type", f"Choose one of {', '.join(ATTACHMENT_OWNER_TYPES)}."))
    if kind not in ATTACHMENT_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(ATTACHMENT_KINDS)}."))
    if not isinstance(content, bytes | bytearray):
        problems.append(FieldProblem("file", "No file content."))
    elif not content:
        problems.append(FieldProblem("file", "The file is empty."))
    elif len(content) > MAX_ATTACHMENT_BYTES:
        problems.append(FieldProblem("file", f"The file is {len(content) / 1024 / 1024:.1f} MB; at most 10 MB."))
    if _media_type(media_type) not in ATTACHMENT_MEDIA_TYPES:
        problems.append(FieldProblem("file", f"Files of type {media_type!r} are not accepted; use "
                                             f"{', '.join(ATTACHMENT_MEDIA_TYPES.values())}."))
    return problems


def store_attachment(session: Session, *, owner_type: str, owner_id: int, kind: str, title: str, filename: str,
                     content: bytes, media_type: str, actor: Actor) -> Attachment:
    """Keep a file with a record inside the caller's transaction (the caller checked the right).

    Stored once with its SHA-256 so it can be shown unchanged (EU GMP Annex 11 §7.1).
    Raises ValidationFailed (the content, size and type on field ``file``) or NotFound.
    """
    problems = attachment_problems(owner_type=owner_type, kind=kind, title=title, filename=filename,
                                   content=content, media_type=media_type)
    if problems:
        raise ValidationFailed("The file was not stored.", problems)
    if session.get(_OWNER_MODELS[owner_type], owner_id) is None:
        raise NotFound(f"No {owner_type.replace('_', ' ')} with id {owner_id}.")
    # Keep the name, never a client path.
    name = re.split(r"[\\/]", filename.strip())[-1] or "file"
    data = bytes(content)
    row = Attachment(owner_type=owner_type, owner_id=owner_id, kind=kind, title=(title or "").strip() or name,
                     filename=name, media_type=_media_type(media_type), size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), content=data, uploaded_by=actor.username,
                     uploaded_at=utcnow())
    session.add(row)
    session.flush()
    return row


def attach_document(*, actor: Actor, owner_type: str, owner_id: int, kind: str, title: str, filename: str,
                    content: bytes, media_type: str) -> AttachmentView:
    actor.require(ATTACHMENT_OWNER_TYPES.get(owner_type, "equipment.edit"))
    problems = attachment_problems(owner_type=owner_type, kind=kind, title=title, filename=filename,
                                   content=content, media_type=media_type)
    if problems:
        raise ValidationFailed("The file was not stored.", problems)
    with transaction(actor=actor, reason=f"Document attached to {owner_type.replace('_', ' ')}") as session:
        row = store_attachment(session, owner_type=owner_type, owner_id=owner_id, kind=kind, title=title,
                               filename=filename, content=content, media_type=media_type, actor=actor)
        if owner_type == "equipment":
            equipment = load_equipment(session, equipment_id=owner_id)
            write_entry(session, equipment=equipment, kind="note", actor=actor,
                        description=f"Document attached: {row.title} ({row.filename}, sha256 {row.sha256[:12]}…)")
        return attachment_view(row)


def get_attachment(*, actor: Actor, attachment_id: int) -> tuple[AttachmentView, bytes]:
    actor.require("equipment.view")
    with read_session() as session:
        row = session.get(Attachment, attachment_id)
        if row is None:
            raise NotFound(f"No attachment with id {attachment_id}.")
        return attachment_view(row), bytes(row.content)


def list_attachments(*, actor: Actor, owner_type: str, owner_id: int) -> list[AttachmentView]:
    actor.require("equipment.view")
    if owner_type not in ATTACHMENT_OWNER_TYPES:
        raise ValidationFailed.on("owner_type", f"Choose one of {', '.join(ATTACHMENT_OWNER_TYPES)}.")
    with read_session() as session:
        return [attachment_view(a) for a in _attachments_of(session, owner_type, owner_id)]

"""Batch execution: steps in the recipe's order, server-stamped entries, scans, corrections and signing.

药品GMP 第一百七十五条 / EU GMP Part I 4.20: the batch record shows each step as it was done,
when and by whom, with the values, equipment and material lots used. A step is signed only
when every check passes — the operator is trained on the current SOP (quality), each scanned
equipment is usable for this batch (equipment), each scanned lot is the right material,
released and in date (materials) — and ``sign_step`` lists every failed reason at once.

Entries are append-only (ALCOA+): a correction adds an entry and keeps the original visible;
``record_snapshot`` holds the step's current content, which the signatures cover (21 CFR 11.70),
so a correction after signing invalidates them and the step is signed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.batches.exceptions import exception_view, raise_exception
from pharmos.batches.models import (
    Batch,
    BatchEntry,
    BatchException,
    BatchMaterial,
    BatchStep,
    Dispense,
    MbrParameter,
    MbrPhase,
    MbrStep,
)
from pharmos.batches.views import (
    BatchMaterialView,
    DispenseView,
    EntryView,
    MbrParameterView,
    ParameterEntryView,
    StepView,
)
from pharmos.compliance.signatures import authenticate_signer, sign, signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    NotFound,
    TransitionRefused,
    ValidationFailed,
    text_problem,
)

__all__ = [
    "PARAMETER_KINDS",
    "correct_entry",
    "dispense_view",
    "entry_view",
    "get_step",
    "material_line_view",
    "open_first_steps",
    "open_next_steps",
    "open_step_out_of_order",
    "parameter_view",
    "record_entry",
    "refresh_step_record",
    "scan_equipment",
    "scan_lot",
    "sign_step",
    "step_view",
    "verify_step",
]

PARAMETER_KINDS = ("numeric", "choice", "text", "check", "timestamp", "duration")
# A pass/fail check is answered pass/fail or yes/no; the recipe names the good answer (default pass).
_CHECK_VALUES = {"pass": "pass", "yes": "pass", "fail": "fail", "no": "fail"}
_VALUE_MAX = 2000
# A recorded instant may run slightly ahead of the server clock (device clocks), never more.
_FUTURE_GRACE = timedelta(minutes=5)


# ---------------------------------------------------------------- views


def parameter_view(row: MbrParameter) -> MbrParameterView:
    return MbrParameterView(
        id=row.id, seq=row.seq, code=row.code, label=row.label, kind=row.kind, unit=row.unit,
        target=_dec(row.target), lower=_dec(row.lower), upper=_dec(row.upper), choices=tuple(row.choices or ()),
        expected=row.expected, critical=row.critical, required=row.required)


def entry_view(row: BatchEntry) -> EntryView:
    return EntryView(
        id=row.id, step_id=row.step_id, kind=row.kind, parameter_code=row.parameter_code, value=row.value,
        numeric_value=_dec(row.numeric_value), unit=row.unit, reference_id=row.reference_id,
        within_limits=row.within_limits, recorded_by=row.recorded_by, recorded_at=as_utc(row.recorded_at),
        corrects_id=row.corrects_id, correction_reason=row.correction_reason, superseded=row.superseded)


def dispense_view(row: Dispense, *, batch_number: str, line: BatchMaterial) -> DispenseView:
    return DispenseView(
        id=row.id, number=row.number, batch_id=row.batch_id, batch_number=batch_number,
        material_line_id=row.material_line_id, line_no=line.line_no, material_code=line.material_code,
        material_name=line.material_name, container_number=row.container_number, lot_id=row.lot_id,
        lot_number=row.lot_number, gross=_dec(row.gross), tare=_dec(row.tare), net=Decimal(row.net), unit=row.unit,
        balance_number=row.balance_number, weight_source=row.weight_source, allocated_lot=row.allocated_lot,
        substitution_reason=row.substitution_reason, dispensed_by=row.dispensed_by,
        dispensed_at=as_utc(row.dispensed_at), labels_printed=row.labels_printed)


def material_line_view(row: BatchMaterial, *, dispenses: Sequence[DispenseView] = ()) -> BatchMaterialView:
    return BatchMaterialView(
        id=row.id, line_no=row.line_no, material_code=row.material_code, material_name=row.material_name,
        target=Decimal(row.target), unit=row.unit, tolerance_pct=Decimal(row.tolerance_pct), low=Decimal(row.low),
        high=Decimal(row.high), dispensed=row.dispensed, scan_required=row.scan_required, step_code=row.step_code,
        dispensed_total=Decimal(row.dispensed_total), complete=row.complete,
        reservations=tuple(dict(r) for r in row.reservations or ()), dispenses=tuple(dispenses))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _instructions_html(markdown: str) -> str:
    # Escaped, paragraphs kept: the recipe's text is shown as written, never as markup.
    paragraphs = [p.strip() for p in (markdown or "").split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p)}</p>".replace("\n", "<br>") for p in paragraphs)


def step_view(session: Session, step: BatchStep, *, details: bool = False, batch: Batch | None = None,
              signer: Actor | None = None) -> StepView:
    """The step as the tablet shows it; with ``details`` its parameters, scans, materials and sign blockers."""
    batch = batch or session.get(Batch, step.batch_id)
    assert batch is not None
    base: dict[str, Any] = {
        "id": step.id, "batch_id": step.batch_id, "batch_number": batch.number, "seq": step.seq, "code": step.code,
        "title": step.title, "phase_seq": step.phase_seq, "phase_name": step.phase_name, "critical": step.critical,
        "state": step.state, "available_at": as_utc(step.available_at) if step.available_at else None,
        "due_at": as_utc(step.due_at) if step.due_at else None, "performed_by": step.performed_by,
        "performed_at": as_utc(step.performed_at) if step.performed_at else None, "verified_by": step.verified_by,
        "verified_at": as_utc(step.verified_at) if step.verified_at else None}
    if not details:
        return StepView(**base)
    mbr_step = session.get(MbrStep, step.mbr_step_id)
    assert mbr_step is not None
    entries = list(session.scalars(select(BatchEntry).where(BatchEntry.step_id == step.id).order_by(BatchEntry.id)))
    parameters = []
    for parameter in _parameters(session, step):
        mine = [e for e in entries if e.kind == "parameter" and e.parameter_id == parameter.id]
        current = next((e for e in mine if not e.superseded), None)
        parameters.append(ParameterEntryView(
            parameter=parameter_view(parameter), current=entry_view(current) if current else None,
            history=tuple(entry_view(e) for e in mine if e.superseded)))
    lines = _step_lines(session, step)
    dispenses = list(session.scalars(select(Dispense).where(
        Dispense.batch_id == batch.id, Dispense.material_line_id.in_([line.id for line in lines]))
        .order_by(Dispense.id))) if lines else []
    exceptions = session.scalars(select(BatchException).where(BatchException.step_id == step.id)
                                 .order_by(BatchException.seq))
    may_sign = (signer is not None and signer.user_id is not None and signer.can("batches.execute")
                and step.state in ("pending", "open"))
    blockers = sign_problems(session, batch=batch, step=step, performer=signer) if may_sign and signer else []
    return StepView(
        **base, instructions_html=_instructions_html(mbr_step.instructions), kind=mbr_step.kind,
        equipment_classes=tuple(mbr_step.equipment_classes or ()), sop_numbers=tuple(mbr_step.sop_numbers or ()),
        time_limit_minutes=mbr_step.time_limit_minutes, parameters=tuple(parameters),
        equipment=tuple(entry_view(e) for e in entries if e.kind == "equipment" and not e.superseded),
        lots=tuple(entry_view(e) for e in entries if e.kind == "lot" and not e.superseded),
        materials=tuple(material_line_view(line, dispenses=[
            dispense_view(d, batch_number=batch.number, line=line) for d in dispenses if d.material_line_id == line.id])
            for line in lines),
        exceptions=tuple(exception_view(x, batch_number=batch.number) for x in exceptions),
        signatures=tuple(signatures_for(session, step)),
        sign_blockers=tuple(p.message for p in blockers))


# ---------------------------------------------------------------- loading


def _load(session: Session, batch_id: int, step_id: int, *, lock: bool = False) -> tuple[Batch, BatchStep]:
    batch = session.get(Batch, batch_id, with_for_update=lock or None)
    if batch is None:
        raise NotFound(f"No batch with id {batch_id}.")
    step = session.get(BatchStep, step_id, with_for_update=lock or None)
    if step is None or step.batch_id != batch.id:
        raise NotFound(f"No step {step_id} in batch {batch.number}.")
    return batch, step


def _parameters(session: Session, step: BatchStep) -> list[MbrParameter]:
    # Parameters are read from the recipe version the batch was ordered from, never copied (or scaled).
    return list(session.scalars(select(MbrParameter).where(MbrParameter.step_id == step.mbr_step_id)
                                .order_by(MbrParameter.seq)))


def _step_lines(session: Session, step: BatchStep) -> list[BatchMaterial]:
    return list(session.scalars(select(BatchMaterial).where(
        BatchMaterial.batch_id == step.batch_id, BatchMaterial.step_code == step.code).order_by(BatchMaterial.line_no)))


def _current_entries(session: Session, step: BatchStep, kind: str) -> list[BatchEntry]:
    return list(session.scalars(select(BatchEntry).where(
        BatchEntry.step_id == step.id, BatchEntry.kind == kind, BatchEntry.superseded.is_(False))
        .order_by(BatchEntry.id)))


def _require_executing(batch: Batch) -> None:
    if batch.state != "in_progress":
        why = f" ({batch.hold_reason})" if batch.state == "on_hold" and batch.hold_reason else ""
        message = f"Batch {batch.number} is {batch.state}{why}; steps are worked on only while it is in_progress."
        raise Conflict(message, [FieldProblem("batch", message)])


def _require_open(step: BatchStep) -> None:
    if step.state != "open":
        message = f"Step {step.code} is {step.state}; entries and scans go into an open step."
        raise Conflict(message, [FieldProblem("step", message)])


# ---------------------------------------------------------------- step order


def _phase_groups(session: Session, batch: Batch) -> dict[int, int]:
    """Phase seq → group: consecutive phases marked parallel_with_previous run side by side in one group."""
    groups: dict[int, int] = {}
    group = -1
    for seq, parallel in session.execute(select(MbrPhase.seq, MbrPhase.parallel_with_previous)
                                         .where(MbrPhase.mbr_id == batch.mbr_id).order_by(MbrPhase.seq)):
        if not parallel or group < 0:
            group += 1
        groups[seq] = group
    return groups


def _waiting_for(steps: Sequence[BatchStep], groups: dict[int, int], step: BatchStep) -> list[BatchStep]:
    """The steps that must be done before ``step`` may be worked on (empty when it may)."""
    mine = groups.get(step.phase_seq, step.phase_seq)
    return [s for s in steps if s.id != step.id and s.state != "done" and (
        groups.get(s.phase_seq, s.phase_seq) < mine or (s.phase_seq == step.phase_seq and s.seq < step.seq))]


def open_next_steps(session: Session, *, batch: Batch) -> list[BatchStep]:
    """Open every pending step whose predecessors are done (EU GMP Part I 4.20: steps in the recipe's order)."""
    steps = list(session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id).order_by(BatchStep.seq)))
    groups = _phase_groups(session, batch)
    limits = dict(session.execute(select(MbrStep.id, MbrStep.time_limit_minutes).where(
        MbrStep.mbr_id == batch.mbr_id)).all())
    now = utcnow()
    opened = []
    for step in steps:
        if step.state == "pending" and not _waiting_for(steps, groups, step):
            limit = limits.get(step.mbr_step_id)
            step.state, step.available_at = "open", now
            step.due_at = now + timedelta(minutes=limit) if limit else None
            opened.append(step)
    session.flush()
    return opened


def open_step_out_of_order(*, actor: Actor, batch_id: int, step_id: int, reason: str) -> StepView:
    """Open a non-critical step before its predecessors are done: a manual override with its reason.

    EU GMP Annex 11 §12.3 / 药品GMP 第一百七十五条: departing from the recipe's order is recorded with
    its reason as an ``override`` exception that QA reviews before release; a critical step never is.
    """
    actor.require("batches.execute")
    why = reason.strip() if isinstance(reason, str) else ""
    if not why:
        raise ValidationFailed.on("reason", "Say why the step is done out of the recipe's order.")
    if len(why) > 2000:
        raise ValidationFailed.on("reason", "At most 2000 characters.")
    with transaction(actor=actor, reason=why) as session:
        batch, step = _load(session, batch_id, step_id, lock=True)
        _require_executing(batch)
        if step.state != "pending":
            message = f"Step {step.code} is {step.state}; only a step not yet available is opened out of order."
            raise Conflict(message, [FieldProblem("step", message)])
        if step.critical:
            message = f"Step {step.code} is critical; it is never done out of the recipe's order."
            raise Conflict(message, [FieldProblem("step", message)])
        steps = list(session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id)))
        waiting = sorted(_waiting_for(steps, _phase_groups(session, batch), step), key=lambda s: s.seq)
        limit = session.scalar(select(MbrStep.time_limit_minutes).where(MbrStep.id == step.mbr_step_id))
        now = utcnow()
        step.state, step.available_at = "open", now
        step.due_at = now + timedelta(minutes=limit) if limit else None
        raise_exception(session, batch=batch, actor=actor, kind="override", step=step, reason=why,
                        description=f"Step {step.code} opened before {', '.join(s.code for s in waiting)} were "
                                    "signed (out of the recipe's order).",
                        context={"waiting_for": [s.code for s in waiting]})
        session.flush()
        return step_view(session, step, details=True, batch=batch, signer=actor)


def open_first_steps(session: Session, *, batch: Batch) -> list[BatchStep]:
    """Effect of ``start``: the first step of each phase in the first phase group becomes available."""
    return open_next_steps(session, batch=batch)


# ---------------------------------------------------------------- the signed record


def _snapshot(session: Session, step: BatchStep) -> dict[str, Any]:
    entries = list(session.scalars(select(BatchEntry).where(
        BatchEntry.step_id == step.id, BatchEntry.superseded.is_(False)).order_by(BatchEntry.id)))
    dispenses = session.scalars(select(Dispense).where(Dispense.step_id == step.id).order_by(Dispense.id))
    return {
        "parameters": {e.parameter_code: {"value": e.value, "unit": e.unit, "within_limits": e.within_limits,
                                          "entry": e.id} for e in entries if e.kind == "parameter"},
        "equipment": [e.value for e in entries if e.kind == "equipment"],
        "lots": [e.value for e in entries if e.kind == "lot"],
        "dispenses": [{"number": d.number, "lot": d.lot_number, "container": d.container_number,
                       "net": str(Decimal(d.net)), "unit": d.unit, "balance": d.balance_number} for d in dispenses],
    }


def refresh_step_record(session: Session, *, step: BatchStep) -> bool:
    """Rebuild the step's signed content; a change to a signed step reopens it. Returns whether it reopened."""
    snapshot = _snapshot(session, step)
    reopened = False
    if snapshot != (step.record_snapshot or {}) and step.state in ("performed", "done"):
        # 21 CFR 11.70 / EU GMP Annex 11 §9: the earlier signatures no longer cover the record;
        # they stay (shown invalid) and the step is signed again in a new round.
        step.state = "open"
        step.signature_round += 1
        step.performed_by = step.performer_id = step.performed_at = None
        step.verified_by = step.verified_at = None
        reopened = True
    step.record_snapshot = snapshot
    session.flush()
    return reopened


# ---------------------------------------------------------------- values


def _parse_value(parameter: MbrParameter, value: object) -> tuple[str, Decimal | None, bool | None, str | None]:
    """(value as stored, numeric value, within limits, problem) for a value entered for ``parameter``."""
    if isinstance(value, (bool, float)):
        # Floats lose digits (21 CFR 11.10(a) accuracy): numbers come as text or Decimal.
        return "", None, None, "Send the value as text."
    text = str(value).strip() if isinstance(value, (str, int, Decimal)) else ""
    if value is None or not text:
        return "", None, None, "Enter a value."
    if len(text) > _VALUE_MAX:
        return "", None, None, f"At most {_VALUE_MAX} characters."
    kind = parameter.kind
    if kind in ("numeric", "duration"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return "", None, None, "A number, e.g. 7.25." if kind == "numeric" else "A number of minutes."
        if kind == "duration" and number < 0:
            return "", None, None, "A duration cannot be negative."
        within = ((parameter.lower is None or number >= Decimal(parameter.lower))
                  and (parameter.upper is None or number <= Decimal(parameter.upper)))
        return text, number, within, None
    if kind == "timestamp":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            return "", None, None, "A date and time with its time zone, e.g. 2026-11-03T09:30+08:00."
        if as_utc(moment) > utcnow() + _FUTURE_GRACE:
            return "", None, None, "A time in the future cannot have been observed."
        return as_utc(moment).isoformat(), None, None, None
    if kind == "choice":
        choices = list(parameter.choices or ())
        if text not in choices:
            return "", None, None, f"Choose one of {', '.join(choices)}."
        return text, None, (text == parameter.expected) if parameter.expected else None, None
    if kind == "check":
        verdict = text.lower()
        if verdict not in _CHECK_VALUES:
            return "", None, None, "pass or fail (yes or no)."
        good = (parameter.expected or "pass").strip().lower()
        return verdict, None, _CHECK_VALUES[verdict] == _CHECK_VALUES.get(good, good), None
    return text, None, None, None  # text


def _limits_text(parameter: MbrParameter) -> str:
    if parameter.kind in ("choice", "check"):
        return f"expected {parameter.expected or 'pass'}"
    low = "" if parameter.lower is None else f"{Decimal(parameter.lower).normalize():f}"
    high = "" if parameter.upper is None else f"{Decimal(parameter.upper).normalize():f}"
    return f"[{low or '…'}, {high or '…'}] {parameter.unit}".strip()


def _add_entry(session: Session, *, batch: Batch, step: BatchStep, actor: Actor, parameter: MbrParameter,
               value: object, field: str, corrects: BatchEntry | None = None, reason: str = "") -> BatchEntry:
    stored, number, within, problem = _parse_value(parameter, value)
    if problem is not None:
        raise ValidationFailed(f"{parameter.code}: {problem}", [FieldProblem(field, problem)])
    if corrects is not None:
        corrects.superseded = True
        session.flush()
    entry = BatchEntry(
        batch_id=batch.id, step_id=step.id, kind="parameter", parameter_id=parameter.id,
        parameter_code=parameter.code, value=stored, numeric_value=number,
        unit="min" if parameter.kind == "duration" else parameter.unit, within_limits=within,
        recorded_by=actor.username, recorded_at=utcnow(),  # ALCOA+ contemporaneous: server time only
        corrects_id=corrects.id if corrects else None, correction_reason=reason)
    session.add(entry)
    session.flush()
    if within is False:
        critical = parameter.critical
        raise_exception(
            session, batch=batch, actor=actor, kind="out_of_limit", critical=critical, step=step, entry=entry,
            description=f"{parameter.label} ({parameter.code}) = {stored} {entry.unit}".strip()
                        + f" outside {_limits_text(parameter)}" + (" — critical parameter" if critical else ""),
            context={"parameter": parameter.code, "value": stored, "unit": entry.unit,
                     "lower": None if parameter.lower is None else f"{Decimal(parameter.lower).normalize():f}",
                     "upper": None if parameter.upper is None else f"{Decimal(parameter.upper).normalize():f}",
                     "expected": parameter.expected, "recorded_by": actor.username})
    return entry


def record_entry(*, actor: Actor, batch_id: int, step_id: int, parameter_code: str, value: object,
                 reason: str = "") -> StepView:
    """Record a parameter's value in an open step, time-stamped by the server.

    A value for a parameter already entered is a correction: it needs ``reason`` and keeps the original.
    """
    actor.require("batches.execute")
    code = parameter_code.strip() if isinstance(parameter_code, str) else ""
    with transaction(actor=actor, reason=f"Value recorded for {code or 'parameter'}") as session:
        batch, step = _load(session, batch_id, step_id, lock=True)
        _require_executing(batch)
        parameter = next((p for p in _parameters(session, step) if p.code == code), None)
        if parameter is None:
            raise ValidationFailed.on("parameter_code", f"Step {step.code} has no parameter {code!r}.")
        current = session.scalar(select(BatchEntry).where(
            BatchEntry.step_id == step.id, BatchEntry.parameter_id == parameter.id, BatchEntry.superseded.is_(False)))
        if current is not None:
            why = (reason or "").strip()
            if not why:
                # EU GMP Annex 11 §9 / ALCOA+: a recorded value is changed only with a reason, visibly.
                raise ValidationFailed.on("reason", f"{code} is already recorded ({current.value}); give a reason "
                                                    "to correct it.")
            _correct(session, batch=batch, step=step, actor=actor, original=current, value=value, reason=why)
        else:
            _require_open(step)
            _add_entry(session, batch=batch, step=step, actor=actor, parameter=parameter, value=value, field="value")
            refresh_step_record(session, step=step)
        return step_view(session, step, details=True, batch=batch, signer=actor)


def _correct(session: Session, *, batch: Batch, step: BatchStep, actor: Actor, original: BatchEntry, value: object,
             reason: str) -> BatchEntry:
    if original.kind == "parameter":
        parameter = session.get(MbrParameter, original.parameter_id)
        assert parameter is not None
        entry = _add_entry(session, batch=batch, step=step, actor=actor, parameter=parameter, value=value,
                           field="value", corrects=original, reason=reason)
    else:
        entry = _add_scan(session, batch=batch, step=step, actor=actor, kind=original.kind, code=value,
                          corrects=original, reason=reason)
    was_signed = step.state in ("performed", "done")
    reopened = refresh_step_record(session, step=step)
    raise_exception(
        session, batch=batch, actor=actor, kind="correction", step=step, entry=entry, reason=reason,
        description=f"{original.parameter_code or original.kind} corrected from {original.value} to {entry.value}"
                    + (" after signing; the step reopened for signature" if reopened or was_signed else ""),
        context={"original_entry": original.id, "original_value": original.value, "value": entry.value,
                 "original_by": original.recorded_by, "corrected_by": actor.username})
    return entry


def correct_entry(*, actor: Actor, batch_id: int, step_id: int, entry_id: int, value: object,
                  reason: str) -> StepView:
    """Replace an entry with a new one; the original stays visible, the correction is an exception to review."""
    actor.require("batches.execute")
    problem = text_problem("reason", reason, required=True, max_length=_VALUE_MAX)
    if problem is not None:
        raise ValidationFailed(f"reason: {problem.message}", [problem])
    why = reason.strip()
    with transaction(actor=actor, reason=why) as session:
        batch, step = _load(session, batch_id, step_id, lock=True)
        _require_executing(batch)
        original = session.get(BatchEntry, entry_id, with_for_update=True)
        if original is None or original.step_id != step.id:
            raise NotFound(f"No entry {entry_id} in step {step.code}.")
        if original.superseded:
            raise Conflict(f"Entry {entry_id} was already corrected; correct the current entry.",
                           [FieldProblem("entry_id", "Already corrected.")])
        _correct(session, batch=batch, step=step, actor=actor, original=original, value=value, reason=why)
        return step_view(session, step, details=True, batch=batch, signer=actor)


# ---------------------------------------------------------------- scans


def _equipment_problems(batch: Batch, mbr_step: MbrStep, number: str, class_code: str | None) -> list[str]:
    from pharmos.equipment import service as equipment

    problems = []
    classes = list(mbr_step.equipment_classes or ())
    if classes and class_code is not None and class_code not in classes:
        problems.append(f"{number} is a {class_code}; this step needs {' or '.join(classes)}.")
    # Equipment already in use by this batch stays usable for its later steps (EU GMP Part I 3.44).
    usable = equipment.usability(number=number, for_reference=batch.number)
    problems += [f"{number}: {reason.message_en}" for reason in usable.reasons]
    return problems


def _lot_problems(session: Session, step: BatchStep, lot_id: int, lot_number: str, material_code: str) -> list[str]:
    from pharmos.materials import service as materials

    problems = []
    codes = sorted({line.material_code for line in _step_lines(session, step)})
    where = "this step"
    if not codes:
        # A step that names no BOM line takes only materials of the batch's BOM (药品GMP 第一百一十四条).
        codes, where = sorted(set(session.scalars(select(BatchMaterial.material_code).where(
            BatchMaterial.batch_id == step.batch_id)))), "this batch"
    if codes and material_code not in codes:
        problems.append(f"Lot {lot_number} is {material_code}; {where} takes {', '.join(codes)}.")
    problems += [f"Lot {lot_number}: {p}" for p in materials.lot_use_problems(lot_id=lot_id)]
    return problems


def _add_scan(session: Session, *, batch: Batch, step: BatchStep, actor: Actor, kind: str, code: object,
              corrects: BatchEntry | None = None, reason: str = "") -> BatchEntry:
    scanned = code.strip().upper() if isinstance(code, str) else ""
    field = "value" if corrects is not None else ("number" if kind == "equipment" else "code")
    if not scanned:
        raise ValidationFailed.on(field, "Scan or type the label's number.")
    mbr_step = session.get(MbrStep, step.mbr_step_id)
    assert mbr_step is not None
    if kind == "equipment":
        from pharmos.equipment import service as equipment

        try:
            unit = equipment.get_equipment(actor=actor, number=scanned)
        except NotFound:
            raise ValidationFailed.on(field, f"No equipment {scanned}.") from None
        value, reference, detail = unit.number, unit.id, unit.class_code
        problems = _equipment_problems(batch, mbr_step, unit.number, unit.class_code)
    else:
        from pharmos.materials import service as materials

        try:
            lot = materials.find_by_scan(actor=actor, code=scanned)
        except NotFound:
            raise ValidationFailed.on(field, f"No lot or container {scanned}.") from None
        value, reference, detail = lot.number, lot.id, lot.material_code
        problems = _lot_problems(session, step, lot.id, lot.number, lot.material_code)
    if problems:
        # Immediate feedback at the scan (EU GMP Annex 11 §6): every reason, nothing recorded.
        raise ValidationFailed("; ".join(problems), [FieldProblem(field, p) for p in problems])
    if corrects is None and any(e.value == value for e in _current_entries(session, step, kind)):
        raise Conflict(f"{value} is already scanned in step {step.code}.", [FieldProblem(field, "Already scanned.")])
    if corrects is not None:
        corrects.superseded = True
        session.flush()
    entry = BatchEntry(batch_id=batch.id, step_id=step.id, kind=kind, parameter_code=detail, value=value,
                       reference_id=reference, recorded_by=actor.username, recorded_at=utcnow(),
                       corrects_id=corrects.id if corrects else None, correction_reason=reason)
    session.add(entry)
    session.flush()
    return entry


def _scan(*, actor: Actor, batch_id: int, step_id: int, kind: str, code: object) -> StepView:
    actor.require("batches.execute")
    with transaction(actor=actor, reason=f"{kind.capitalize()} scanned") as session:
        batch, step = _load(session, batch_id, step_id, lock=True)
        _require_executing(batch)
        _require_open(step)
        _add_scan(session, batch=batch, step=step, actor=actor, kind=kind, code=code)
        refresh_step_record(session, step=step)
        return step_view(session, step, details=True, batch=batch, signer=actor)


def scan_equipment(*, actor: Actor, batch_id: int, step_id: int, number: str) -> StepView:
    """Record the equipment used in the step; refused with every reason when it is not usable for this batch."""
    return _scan(actor=actor, batch_id=batch_id, step_id=step_id, kind="equipment", code=number)


def scan_lot(*, actor: Actor, batch_id: int, step_id: int, code: str, reason: str = "") -> StepView:
    """Record a material lot (or a container of it) used in the step; wrong, unreleased or expired lots refused."""
    return _scan(actor=actor, batch_id=batch_id, step_id=step_id, kind="lot", code=code)


# ---------------------------------------------------------------- signing


def sign_problems(session: Session, *, batch: Batch, step: BatchStep, performer: Actor) -> list[FieldProblem]:
    """Every reason ``performer`` may not sign the step now (empty when they may): what sign_step checks."""
    from pharmos.equipment import service as equipment
    from pharmos.materials import service as materials
    from pharmos.quality import service as quality

    problems: list[FieldProblem] = []
    if batch.state != "in_progress":
        problems.append(FieldProblem("batch", f"Batch {batch.number} is {batch.state}; steps are signed only while it "
                                              "is in_progress." + (f" {batch.hold_reason}" if batch.hold_reason
                                                                   and batch.state == "on_hold" else "")))
    if step.state == "pending":
        steps = list(session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id)))
        waiting = _waiting_for(steps, _phase_groups(session, batch), step)
        problems.append(FieldProblem("step", f"Step {step.code} is not yet available: sign "
                                             f"{', '.join(s.code for s in sorted(waiting, key=lambda s: s.seq))} "
                                             "first."))
    elif step.state != "open":
        problems.append(FieldProblem("step", f"Step {step.code} is already {step.state}."))
    mbr_step = session.get(MbrStep, step.mbr_step_id)
    assert mbr_step is not None
    entries = list(session.scalars(select(BatchEntry).where(
        BatchEntry.step_id == step.id, BatchEntry.superseded.is_(False)).order_by(BatchEntry.id)))
    entered = {e.parameter_id for e in entries if e.kind == "parameter"}
    for parameter in _parameters(session, step):
        if parameter.required and parameter.id not in entered:
            problems.append(FieldProblem(f"parameters.{parameter.code}", f"{parameter.label}: not recorded."))
    lines = _step_lines(session, step)
    for line in lines:
        if line.dispensed and not line.complete and mbr_step.kind == "dispense":
            problems.append(FieldProblem(f"materials.{line.line_no}",
                                         f"{line.material_code}: dispensed "
                                         f"{Decimal(line.dispensed_total).normalize():f} of "
                                         f"{Decimal(line.low).normalize():f}–{Decimal(line.high).normalize():f} "
                                         f"{line.unit}."))
    # 药品GMP 第十八条 / EU GMP Part I 2.8: only people trained on the current procedure perform it.
    for number in mbr_step.sop_numbers or ():
        qualified = quality.is_qualified(username=performer.username, document_number=number)
        if not qualified.qualified:
            problems.append(FieldProblem("sop", f"{performer.username} is not qualified on {number}: "
                                                + "; ".join(qualified.reasons)))
    scanned_classes = set()
    for entry in (e for e in entries if e.kind == "equipment"):
        scanned_classes.add(entry.parameter_code)
        problems += [FieldProblem("equipment", p) for p in _equipment_problems(
            batch, mbr_step, entry.value, entry.parameter_code)]
    if mbr_step.kind == "dispense" and lines:
        # Balances used for weighing are named on the dispenses; they count as the step's equipment.
        for balance in set(session.scalars(select(Dispense.balance_number).where(
                Dispense.material_line_id.in_([line.id for line in lines]), Dispense.balance_number != ""))):
            try:
                scanned_classes.add(equipment.get_equipment(actor=Actor.system("batches"), number=balance).class_code)
            except DomainError:
                continue
    for required in mbr_step.equipment_classes or ():
        if required not in scanned_classes:
            problems.append(FieldProblem("equipment", f"Scan the {required} used."))
    scanned_materials = set()
    for entry in (e for e in entries if e.kind == "lot"):
        scanned_materials.add(entry.parameter_code)
        if entry.reference_id is not None:
            # 药品GMP 第一百一十四条: only released material within its shelf life is used.
            problems += [FieldProblem("lots", f"Lot {entry.value}: {p}")
                         for p in materials.lot_use_problems(lot_id=entry.reference_id)]
    for line in lines:
        if not line.dispensed and line.scan_required and line.material_code not in scanned_materials:
            problems.append(FieldProblem("lots", f"Scan the lot of {line.material_code} used."))
    return problems


def sign_step(*, actor: Actor, batch_id: int, step_id: int, password: str, otp: str | None = None) -> StepView:
    """Sign the step as performer ("performed") once every check passes; every failed check is listed at once.

    Nothing is overridden here: the recipe's order is left only through ``open_step_out_of_order``
    (an exception with its reason); qualification, equipment and lot problems are never overridable.
    """
    actor.require("batches.execute")
    with read_session() as session:
        batch, step = _load(session, batch_id, step_id)
        problems = sign_problems(session, batch=batch, step=step, performer=actor)
        code = step.code
    if not password:
        problems.insert(0, FieldProblem("password", "Re-enter your password to sign."))
    if problems:
        raise TransitionRefused(f"Step {code} cannot be signed: " + " ".join(p.message for p in problems), problems)
    # 21 CFR 11.200(a): the signer re-authenticates before the unit of work opens.
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason=f"Step {code} signed (performed)") as session:
        batch, step = _load(session, batch_id, step_id, lock=True)
        problems = sign_problems(session, batch=batch, step=step, performer=actor)  # again, under the lock
        if problems:
            raise TransitionRefused(f"Step {code} cannot be signed: " + " ".join(p.message for p in problems),
                                    problems)
        refresh_step_record(session, step=step)
        sign(session, record=step, meaning="performed", actor=actor, proof=proof)
        now = utcnow()
        step.performed_by, step.performer_id, step.performed_at = actor.username, actor.user_id, now
        _start_equipment_use(session, batch=batch, step=step, actor=actor)
        if step.due_at is not None and now > as_utc(step.due_at):
            late = now - as_utc(step.due_at)
            raise_exception(session, batch=batch, actor=actor, kind="late_step", step=step,
                            description=f"Step {step.code} signed {int(late.total_seconds() // 60)} min after its "
                                        f"time limit ({as_utc(step.due_at).isoformat()}).",
                            context={"due_at": as_utc(step.due_at).isoformat(), "signed_at": now.isoformat()})
        # EU GMP Annex 11 §15 / 药品GMP 第一百七十五条: critical steps need a second person's verification.
        step.state = "performed" if step.critical else "done"
        session.flush()
        if step.state == "done":
            open_next_steps(session, batch=batch)
        return step_view(session, step, details=True, batch=batch, signer=actor)


def _start_equipment_use(session: Session, *, batch: Batch, step: BatchStep, actor: Actor) -> None:
    """Equipment scanned in the step is in use by the batch until execution completes (then dirty)."""
    from pharmos.equipment import service as equipment

    for entry in _current_entries(session, step, "equipment"):
        unit = equipment.get_equipment(actor=actor, number=entry.value)
        if unit.in_use_by != batch.number:
            # EU GMP Part I 4.31: the logbook shows which batch used the equipment and when.
            equipment.start_use(actor=actor, number=entry.value, reference=batch.number,
                                activity=f"Step {step.code} {step.title}"[:500])


def verify_step(*, actor: Actor, batch_id: int, step_id: int, password: str, otp: str | None = None) -> StepView:
    """The second person's signature ("verified") on a performed critical step; never the performer."""
    actor.require("batches.verify")

    def problems_of(session: Session, batch: Batch, step: BatchStep) -> list[FieldProblem]:
        found = []
        if batch.state != "in_progress":
            found.append(FieldProblem("batch", f"Batch {batch.number} is {batch.state}; steps are verified only "
                                               "while it is in_progress."))
        if step.state != "performed":
            found.append(FieldProblem("step", f"Step {step.code} is {step.state}; only a performed critical step "
                                              "awaits verification."))
        if step.performer_id is not None and step.performer_id == actor.user_id:
            # EU GMP Annex 11 §15 (four-eyes): the performer never verifies their own step.
            found.append(FieldProblem("verifier", f"{actor.username} performed step {step.code}; another person "
                                                  "verifies it."))
        return found

    with read_session() as session:
        batch, step = _load(session, batch_id, step_id)
        problems = problems_of(session, batch, step)
        code = step.code
    if not password:
        problems.insert(0, FieldProblem("password", "Re-enter your password to sign."))
    if problems:
        raise TransitionRefused(f"Step {code} cannot be verified: " + " ".join(p.message for p in problems), problems)
    proof = authenticate_signer(actor=actor, password=password, otp=otp)
    with transaction(actor=actor, reason=f"Step {code} verified") as session:
        batch, step = _load(session, batch_id, step_id, lock=True)
        problems = problems_of(session, batch, step)
        if problems:
            raise TransitionRefused(f"Step {code} cannot be verified: " + " ".join(p.message for p in problems),
                                    problems)
        sign(session, record=step, meaning="verified", actor=actor, proof=proof)
        step.verified_by, step.verified_at, step.state = actor.username, utcnow(), "done"
        session.flush()
        open_next_steps(session, batch=batch)
        return step_view(session, step, details=True, batch=batch, signer=actor)


def get_step(*, actor: Actor, batch_id: int, step_id: int) -> StepView:
    """The step with its parameters, scans, materials, exceptions, signatures and why it cannot be signed now."""
    actor.require("batches.view")
    with read_session() as session:
        batch, step = _load(session, batch_id, step_id)
        return step_view(session, step, details=True, batch=batch, signer=actor)

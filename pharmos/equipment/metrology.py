"""Calibrations, impact assessments of out-of-tolerance instruments, and the due-date calendar.

A calibration's result governs the instrument at once (药品GMP 第九十二条 / EU GMP Part I 3.41):
a pass moves its due date on, a fail marks it out of tolerance so ``usability`` refuses it.
Whenever a calibration shows the instrument was out of tolerance before adjustment (a
failed result, or any as-found reading outside tolerance) every use since the last passing
calibration is in doubt: an impact assessment lists each of those uses (the ``use_started``
entries of the equipment logbook) for the assessor to judge, and QA approves the conclusion
through the ``impact-assessments`` lifecycle (21 CFR 211.68(a), EU GMP Part I 5.21).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_date, site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from pharmos.core.numbering import next_number
from pharmos.equipment.logbook import write_entry
from pharmos.equipment.models import (
    Attachment,
    Calibration,
    CalibrationPoint,
    Equipment,
    EquipmentClass,
    ImpactAssessment,
    ImpactItem,
    LogbookEntry,
    MaintenancePlan,
)
from pharmos.equipment.register import (
    attachment_problems,
    attachment_view,
    effective_calibration_interval,
    equipment_views,
    load_equipment,
    parse_reading,
    store_attachment,
)
from pharmos.equipment.views import (
    CalendarEntry,
    CalibrationPointView,
    CalibrationView,
    EquipmentView,
    ImpactAssessmentView,
    ImpactItemView,
)

__all__ = [
    "CALIBRATION_KINDS",
    "CALIBRATION_RESULTS",
    "IMPACT_VERDICTS",
    "CalibrationPointInput",
    "calibration_calendar",
    "calibrations_due",
    "conclude_impact_assessment",
    "get_calibration",
    "get_impact_assessment",
    "judge_impact_item",
    "list_calibrations",
    "list_impact_assessments",
    "record_calibration",
]

CALIBRATION_KINDS: dict[str, tuple[str, str]] = {"internal": ("Internal", "内部校准"),
                                                  "external": ("External", "外部校准")}
CALIBRATION_RESULTS: dict[str, tuple[str, str]] = {"pass": ("Pass", "合格"), "fail": ("Fail", "不合格")}
IMPACT_VERDICTS: dict[str, tuple[str, str]] = {"no_impact": ("No impact", "无影响"), "impact": ("Impact", "有影响")}
CALIBRATION_PATTERN = "{prefix}-{date:%y%m}-{seq:04d}"
ASSESSMENT_PATTERN = "{prefix}-{date:%Y}-{seq:03d}"
MAX_CALENDAR_DAYS = 400


@dataclass(frozen=True)
class CalibrationPointInput:
    """One calibration point: the standard's nominal value, the readings before and after adjustment.

    ``tolerance`` (± in the equipment's range unit) defaults to the equipment's tolerance.
    """

    nominal: Decimal | str | int
    as_left: Decimal | str | int
    as_found: Decimal | str | int | None = None
    tolerance: Decimal | str | int | None = None


# ---------------------------------------------------------------- input checks


def _reading(value: object, field: str, problems: list[FieldProblem]) -> Decimal | None:
    """A required reading (see ``register.parse_reading``), or None with a problem naming ``field``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(FieldProblem(field, "Required."))
        return None
    return parse_reading(field, value, problems)


def _text(value: object, field: str, *, max_length: int, problems: list[FieldProblem],
          required: str | None = None) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        problems.append(FieldProblem(field, "Must be text."))
    elif required is not None and not text:
        problems.append(FieldProblem(field, required))
    elif len(text) > max_length:
        problems.append(FieldProblem(field, f"At most {max_length} characters."))
    return text


def _plain(value: Decimal | None) -> str:
    """0.001, not 0.001000: how a reading reads in a message."""
    return "" if value is None else format(Decimal(value).normalize(), "f")


def _is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _page_size(limit: int) -> int:
    return max(1, min(int(limit), 1000))


def _within(reading: Decimal, nominal: Decimal, tolerance: Decimal) -> bool:
    return abs(reading - nominal) <= tolerance


def _start_of_site_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(get_settings().site_timezone)).astimezone(UTC)


@dataclass(frozen=True)
class _Point:
    nominal: Decimal
    as_found: Decimal | None
    as_left: Decimal
    tolerance: Decimal

    @property
    def as_left_within(self) -> bool:
        return _within(self.as_left, self.nominal, self.tolerance)

    @property
    def as_found_within(self) -> bool | None:
        return None if self.as_found is None else _within(self.as_found, self.nominal, self.tolerance)


def _parse_points(points: object, *, default_tolerance: Decimal | None, problems: list[FieldProblem]) -> list[_Point]:
    if not isinstance(points, Sequence) or isinstance(points, str | bytes) or not points:
        problems.append(FieldProblem("points", "Record at least one calibration point."))
        return []
    if len(points) > 100:
        problems.append(FieldProblem("points", "At most 100 points."))
        return []
    parsed: list[_Point] = []
    for i, point in enumerate(points):
        if not isinstance(point, CalibrationPointInput):
            problems.append(FieldProblem(f"points[{i}]", "Give a nominal value and an as-left reading."))
            continue
        found = len(problems)
        nominal = _reading(point.nominal, f"points[{i}].nominal", problems)
        as_left = _reading(point.as_left, f"points[{i}].as_left", problems)
        as_found = None if point.as_found is None else _reading(point.as_found, f"points[{i}].as_found", problems)
        tolerance = default_tolerance
        if point.tolerance is not None:
            tolerance = _reading(point.tolerance, f"points[{i}].tolerance", problems)
        if tolerance is None:
            if point.tolerance is None:
                problems.append(FieldProblem(f"points[{i}].tolerance",
                                             "The equipment has no tolerance; give this point's tolerance."))
        elif tolerance <= 0:
            problems.append(FieldProblem(f"points[{i}].tolerance", "The tolerance must be greater than zero."))
        if len(problems) == found and nominal is not None and as_left is not None and tolerance is not None:
            parsed.append(_Point(nominal, as_found, as_left, tolerance))
    return parsed  # complete only when no problem was added


# ---------------------------------------------------------------- views


def _point_view(point: CalibrationPoint) -> CalibrationPointView:
    nominal, tolerance = Decimal(point.nominal), Decimal(point.tolerance)
    as_found = None if point.as_found is None else Decimal(point.as_found)
    return CalibrationPointView(
        nominal=nominal, as_found=as_found, as_left=Decimal(point.as_left), tolerance=tolerance, unit=point.unit,
        as_found_within=None if as_found is None else _within(as_found, nominal, tolerance),
        as_left_within=_within(Decimal(point.as_left), nominal, tolerance))


def _calibration_views(session: Session, rows: Sequence[Calibration], *, detail: bool) -> list[CalibrationView]:
    """Views of ``rows`` with a fixed number of queries (points, numbers, assessments, certificates)."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    numbers = {i: n for i, n in session.execute(select(Equipment.id, Equipment.number).where(
        Equipment.id.in_({row.equipment_id for row in rows})))}
    points: dict[int, list[CalibrationPointView]] = {i: [] for i in ids}
    for point in session.scalars(select(CalibrationPoint).where(CalibrationPoint.calibration_id.in_(ids))
                                 .order_by(CalibrationPoint.id)):
        points[point.calibration_id].append(_point_view(point))
    assessments: dict[int, tuple[int, str]] = {}
    for cal_id, ia_id, ia_number in session.execute(
            select(ImpactAssessment.calibration_id, ImpactAssessment.id, ImpactAssessment.number)
            .where(ImpactAssessment.calibration_id.in_(ids))):
        assessments[cal_id] = (ia_id, ia_number)
    certificates: dict[int, list[Attachment]] = {i: [] for i in ids}
    for attachment in session.scalars(select(Attachment).options(defer(Attachment.content)).where(
            Attachment.owner_type == "calibration", Attachment.owner_id.in_(ids)).order_by(Attachment.id)):
        certificates[attachment.owner_id].append(attachment)
    views = []
    for row in rows:
        assessment = assessments.get(row.id)
        views.append(CalibrationView(
            id=row.id, number=row.number, equipment_id=row.equipment_id,
            equipment_number=numbers.get(row.equipment_id, ""), performed_on=row.performed_on, kind=row.kind,
            performed_by=row.performed_by, certificate_number=row.certificate_number,
            reference_standard=row.reference_standard, result=row.result,
            as_found_out_of_tolerance=row.as_found_out_of_tolerance, next_due_on=row.next_due_on,
            comment=row.comment, state=row.state, author=row.author, recorded_at=as_utc(row.recorded_at),
            points=tuple(points[row.id]), certificates=tuple(attachment_view(a) for a in certificates[row.id]),
            impact_assessment_id=assessment[0] if assessment else None,
            impact_assessment_number=assessment[1] if assessment else None,
            signatures=tuple(signatures_for(session, row)) if detail else ()))
    return views


def _assessment_views(session: Session, rows: Sequence[ImpactAssessment], *, detail: bool
                      ) -> list[ImpactAssessmentView]:
    """Views of ``rows``; the items (one per use, possibly thousands) and signatures only with ``detail``."""
    if not rows:
        return []
    numbers = {i: n for i, n in session.execute(select(Equipment.id, Equipment.number).where(
        Equipment.id.in_({row.equipment_id for row in rows})))}
    cal_numbers = {i: n for i, n in session.execute(select(Calibration.id, Calibration.number).where(
        Calibration.id.in_({row.calibration_id for row in rows})))}
    views = []
    for row in rows:
        items: tuple[ImpactItemView, ...] = ()
        if detail:
            items = tuple(ImpactItemView(id=item.id, logbook_entry_id=item.logbook_entry_id, reference=item.reference,
                                         used_at=as_utc(item.used_at), verdict=item.verdict, comment=item.comment)
                          for item in session.scalars(select(ImpactItem).where(ImpactItem.assessment_id == row.id)
                                                      .order_by(ImpactItem.used_at, ImpactItem.id)))
        views.append(ImpactAssessmentView(
            id=row.id, number=row.number, equipment_id=row.equipment_id,
            equipment_number=numbers.get(row.equipment_id, ""), calibration_id=row.calibration_id,
            calibration_number=cal_numbers.get(row.calibration_id, ""),
            since=None if row.since is None else as_utc(row.since), until=as_utc(row.until),
            conclusion=row.conclusion, deviation_number=row.deviation_number, state=row.state,
            opened_at=as_utc(row.opened_at), author=row.author, items=items,
            signatures=tuple(signatures_for(session, row)) if detail else ()))
    return views


# ---------------------------------------------------------------- calibrations


def _last_passing_start(session: Session, equipment: Equipment) -> datetime:
    """Since when uses are in doubt: the start (site time) of the last passing calibration's day.

    The cached ``last_calibrated_on`` covers instruments whose history predates Pharmos
    (the imported calibration plan); with neither, every use since registration.
    """
    last_pass = session.scalar(select(func.max(Calibration.performed_on)).where(
        Calibration.equipment_id == equipment.id, Calibration.result == "pass"))
    day = last_pass or equipment.last_calibrated_on
    if day is None:
        return as_utc(equipment.created_at)
    return _start_of_site_day(day)


def _open_assessment(session: Session, *, equipment: Equipment, calibration: Calibration, actor: Actor,
                     since: datetime) -> ImpactAssessment:
    until = utcnow()
    assessment = ImpactAssessment(
        number=next_number(session, prefix="IA", pattern=ASSESSMENT_PATTERN), equipment_id=equipment.id,
        calibration_id=calibration.id, since=since, until=until, state="open", opened_at=until,
        author_id=actor.user_id, author=actor.username)
    session.add(assessment)
    session.flush()
    # One range scan of ix_equipment_logbook_equipment_at, however long the logbook is.
    uses = session.execute(
        select(LogbookEntry.id, LogbookEntry.reference, LogbookEntry.at)
        .where(LogbookEntry.equipment_id == equipment.id, LogbookEntry.at >= since, LogbookEntry.at <= until,
               LogbookEntry.kind == "use_started")
        .order_by(LogbookEntry.at, LogbookEntry.id)).all()
    # Through the ORM, not a bulk insert: each item is a GMP record with its own audit trail entry.
    session.add_all([ImpactItem(assessment_id=assessment.id, logbook_entry_id=entry_id, reference=reference,
                                used_at=as_utc(at), verdict="pending", comment="") for entry_id, reference, at in uses])
    return assessment


def _raise_deviation(session: Session, *, equipment: Equipment, calibration: Calibration,
                     assessment: ImpactAssessment, actor: Actor, passed: bool, since: datetime) -> str:
    """Raise the deviation for an out-of-tolerance instrument in the caller's transaction; its number."""
    # Imported here: quality's service imports materials and equipment services for its links.
    from pharmos.quality import service as quality

    uses = session.scalar(select(func.count()).select_from(ImpactItem)
                          .where(ImpactItem.assessment_id == assessment.id)) or 0
    finding = ("failed its calibration" if not passed else "was found out of tolerance before adjustment")
    description = (f"{equipment.number} {equipment.name_zh} {finding} ({calibration.number}, "
                   f"{calibration.performed_on.isoformat()}). Uses since "
                   f"{site_date(since).isoformat()} are in doubt: {uses} listed in impact assessment "
                   f"{assessment.number}.")
    action = ("Instrument blocked from use (out of tolerance); impact assessment opened." if not passed else
              "Instrument adjusted and passed; impact assessment of earlier uses opened.")
    # EU GMP Part I 1.4(xiv) / 药品GMP 第二百四十九条: an out-of-tolerance instrument is a deviation, raised
    # with the calibration that found it so the two records cannot disagree.
    # The recorder raises it; a recorder whose role may not report deviations still may not skip this one.
    reporter = actor if actor.can("deviations.report") else Actor.system("equipment")
    deviation = quality.open_deviation_in(
        session, actor=reporter, title=f"Instrument out of tolerance: {equipment.number}", description=description,
        source=f"calibration {calibration.number}", links=[quality.LinkInput("equipment", equipment.number)],
        immediate_action=action)
    return str(deviation.number)


def record_calibration(*, actor: Actor, equipment_id: int, performed_on: date, kind: str, performed_by: str,
                       points: list[CalibrationPointInput], result: str, certificate_number: str = "",
                       reference_standard: str = "", comment: str = "",
                       certificate: tuple[str, bytes, str] | None = None) -> CalibrationView:
    """Record a calibration; its result governs the instrument's use at once.

    ``certificate`` is the calibration certificate file as (filename, bytes, media type),
    stored under the attachment rules in the same transaction.

    An out-of-tolerance result (or any as-found reading outside tolerance) opens an impact
    assessment listing every use since the last passing calibration, and raises a deviation
    linked to the instrument in the same transaction (``quality.service.open_deviation_in``);
    its number is stored on the assessment (EU GMP Part I 1.4(xiv), 药品GMP 第二百四十九条).
    """
    actor.require("calibrations.record")
    problems: list[FieldProblem] = []
    if kind not in CALIBRATION_KINDS:
        problems.append(FieldProblem("kind", f"Choose one of {', '.join(CALIBRATION_KINDS)}."))
    if result not in CALIBRATION_RESULTS:
        problems.append(FieldProblem("result", f"Choose one of {', '.join(CALIBRATION_RESULTS)}."))
    performed_by = _text(performed_by, "performed_by", max_length=150, problems=problems,
                         required="Say who calibrated it (person or calibration vendor).")
    certificate_number = _text(certificate_number, "certificate_number", max_length=80, problems=problems)
    reference_standard = _text(reference_standard, "reference_standard", max_length=200, problems=problems)
    comment = _text(comment, "comment", max_length=4000, problems=problems)
    # 21 CFR 211.194(d) / EU GMP Part I 3.41: an external calibration is evidenced by its certificate.
    if kind == "external" and not certificate_number:
        problems.append(FieldProblem("certificate_number", "An external calibration needs its certificate number."))
    if not _is_date(performed_on):
        problems.append(FieldProblem("performed_on", "Give the date of the calibration."))
    elif performed_on > site_today():
        problems.append(FieldProblem("performed_on", "A calibration cannot be recorded before it is performed."))
    if certificate is not None:
        if not isinstance(certificate, tuple) or len(certificate) != 3:
            problems.append(FieldProblem("certificate", "Give the certificate as (filename, content, media type)."))
        else:
            problems += [FieldProblem("certificate", p.message) for p in attachment_problems(
                owner_type="calibration", kind="certificate", title=certificate_number, filename=certificate[0],
                content=certificate[1], media_type=certificate[2])]
    with transaction(actor=actor, reason=f"Calibration recorded ({result})") as session:
        equipment = load_equipment(session, equipment_id=equipment_id, lock=True)
        equipment_class = session.get(EquipmentClass, equipment.class_id)
        assert equipment_class is not None
        if not equipment.calibration_required:
            # Nothing else about the entry matters: there is no calibration to record.
            raise ValidationFailed.on("equipment_id", f"{equipment.number} does not require calibration.")
        interval = effective_calibration_interval(equipment, equipment_class)
        if interval is None:
            problems.append(FieldProblem("equipment_id", f"Set a calibration interval for {equipment.number} or "
                                                         "its class first: the next due date depends on it."))
        if _is_date(performed_on):
            last = session.scalar(select(func.max(Calibration.performed_on))
                                  .where(Calibration.equipment_id == equipment.id))
            # ALCOA+ 'contemporaneous': the calibration history is kept in order; a forgotten older
            # calibration is a note, not a record that would rewrite the due date.
            if last is not None and performed_on < last:
                problems.append(FieldProblem("performed_on", f"The last calibration was on {last.isoformat()}; "
                                                             "a calibration cannot be dated before it."))
        tolerance = None if equipment.tolerance is None else Decimal(equipment.tolerance)
        parsed = _parse_points(points, default_tolerance=tolerance, problems=problems)
        if not any(p.field.startswith("points") for p in problems):
            low, high = equipment.range_low, equipment.range_high
            for i, point in enumerate(parsed):
                if (low is not None and point.nominal < Decimal(low)) or (
                        high is not None and point.nominal > Decimal(high)):
                    problems.append(FieldProblem(f"points[{i}].nominal", f"{_plain(point.nominal)} is outside the "
                                                 f"range {_plain(low)}–{_plain(high)} {equipment.range_unit}."))
                # 药品GMP 第九十二条: an instrument left outside its tolerance is not passed for use.
                if result == "pass" and not point.as_left_within:
                    problems.append(FieldProblem(
                        f"points[{i}].as_left", f"As left {_plain(point.as_left)} is outside "
                                                f"{_plain(point.nominal)} ± {_plain(point.tolerance)}: the "
                                                "calibration cannot pass."))
            if result == "fail" and parsed and all(p.as_left_within for p in parsed) and not comment:
                problems.append(FieldProblem("comment", "Every point is within tolerance; say why the calibration "
                                                        "failed."))
        if problems:
            raise ValidationFailed("The calibration cannot be recorded: "
                                   + " ".join(p.message for p in problems[:3]), problems)
        found_out = any(p.as_found_within is False for p in parsed)
        passed = result == "pass"
        in_doubt_since = _last_passing_start(session, equipment) if (found_out or not passed) else None
        next_due = performed_on + timedelta(days=interval) if passed and interval is not None else None
        calibration = Calibration(
            number=next_number(session, prefix="CAL", pattern=CALIBRATION_PATTERN), equipment_id=equipment.id,
            performed_on=performed_on, kind=kind, performed_by=performed_by, certificate_number=certificate_number,
            reference_standard=reference_standard, result=result, as_found_out_of_tolerance=found_out,
            next_due_on=next_due, comment=comment, state="recorded", author_id=actor.user_id,
            author=actor.username, recorded_at=utcnow())
        session.add(calibration)
        session.flush()
        session.add_all([CalibrationPoint(calibration_id=calibration.id, nominal=p.nominal, as_found=p.as_found,
                                          as_left=p.as_left, tolerance=p.tolerance, unit=equipment.range_unit)
                         for p in parsed])
        if passed:
            equipment.calibration_status = "in_tolerance"
            equipment.last_calibrated_on = performed_on
            equipment.calibration_due_on = next_due
            summary = f"Calibration {calibration.number} passed; next due {next_due.isoformat() if next_due else '-'}"
        else:
            # 药品GMP 第九十二条: out of tolerance blocks use (usability: calibration_failed).
            equipment.calibration_status = "out_of_tolerance"
            summary = f"Calibration {calibration.number} failed: out of tolerance"
        if found_out:
            summary += "; found out of tolerance before adjustment"
        write_entry(session, equipment=equipment, kind="calibration", actor=actor, description=summary,
                    source_number=calibration.number)
        if in_doubt_since is not None:
            assessment = _open_assessment(session, equipment=equipment, calibration=calibration, actor=actor,
                                          since=in_doubt_since)
            assessment.deviation_number = _raise_deviation(session, equipment=equipment, calibration=calibration,
                                                           assessment=assessment, actor=actor, passed=passed,
                                                           since=in_doubt_since)
        if certificate is not None:
            filename, content, media_type = certificate
            store_attachment(session, actor=actor, owner_type="calibration", owner_id=calibration.id,
                             kind="certificate", title=certificate_number or filename, filename=filename,
                             content=content, media_type=media_type)
        session.flush()
        return _calibration_views(session, [calibration], detail=True)[0]


def get_calibration(*, actor: Actor, calibration_id: int) -> CalibrationView:
    actor.require("equipment.view")
    with read_session() as session:
        row = session.get(Calibration, calibration_id)
        if row is None:
            raise NotFound(f"No calibration with id {calibration_id}.")
        return _calibration_views(session, [row], detail=True)[0]


def list_calibrations(*, actor: Actor, equipment_id: int | None = None, result: str | None = None,
                      state: str | None = None, after_id: int | None = None, limit: int = 50) -> list[CalibrationView]:
    """Calibrations, oldest first (page on with ``after_id``); points and certificates included."""
    actor.require("equipment.view")
    if result is not None and result not in CALIBRATION_RESULTS:
        raise ValidationFailed.on("result", f"Choose one of {', '.join(CALIBRATION_RESULTS)}.")
    with read_session() as session:
        stmt = select(Calibration).order_by(Calibration.id).limit(_page_size(limit))
        if equipment_id is not None:
            stmt = stmt.where(Calibration.equipment_id == equipment_id)
        if result is not None:
            stmt = stmt.where(Calibration.result == result)
        if state is not None:
            stmt = stmt.where(Calibration.state == state)
        if after_id is not None:
            stmt = stmt.where(Calibration.id > after_id)
        return _calibration_views(session, list(session.scalars(stmt)), detail=False)


# ---------------------------------------------------------------- impact assessments


def _assessment(session: Session, assessment_id: int, *, lock: bool = False) -> ImpactAssessment:
    row = session.get(ImpactAssessment, assessment_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"No impact assessment with id {assessment_id}.")
    return row


def _still_open(row: ImpactAssessment) -> None:
    if row.state != "open":
        raise Conflict(f"{row.number} is {row.state}; it is changed only while open.")


def get_impact_assessment(*, actor: Actor, assessment_id: int) -> ImpactAssessmentView:
    actor.require("equipment.view")
    with read_session() as session:
        return _assessment_views(session, [_assessment(session, assessment_id)], detail=True)[0]


def list_impact_assessments(*, actor: Actor, state: str | None = None, after_id: int | None = None,
                            limit: int = 50) -> list[ImpactAssessmentView]:
    """Assessments, oldest first (page on with ``after_id``); items are on ``get_impact_assessment``."""
    actor.require("equipment.view")
    with read_session() as session:
        stmt = select(ImpactAssessment).order_by(ImpactAssessment.id).limit(_page_size(limit))
        if state is not None:
            stmt = stmt.where(ImpactAssessment.state == state)
        if after_id is not None:
            stmt = stmt.where(ImpactAssessment.id > after_id)
        return _assessment_views(session, list(session.scalars(stmt)), detail=False)


def judge_impact_item(*, actor: Actor, assessment_id: int, item_id: int, verdict: str,
                      comment: str) -> ImpactAssessmentView:
    """The assessor's verdict on one use of the instrument (may be revised while the assessment is open)."""
    actor.require("calibrations.assess")
    problems: list[FieldProblem] = []
    if verdict not in IMPACT_VERDICTS:
        problems.append(FieldProblem("verdict", f"Choose one of {', '.join(IMPACT_VERDICTS)}."))
    comment = _text(comment, "comment", max_length=4000, problems=problems)
    # EU GMP Part I 1.4(xiv): a use judged affected is justified, so the batch decision can follow it.
    if verdict == "impact" and not comment:
        problems.append(FieldProblem("comment", "Explain the impact on this use."))
    if problems:
        raise ValidationFailed("The verdict cannot be recorded.", problems)
    with transaction(actor=actor, reason=f"Impact verdict: {verdict}") as session:
        row = _assessment(session, assessment_id, lock=True)
        _still_open(row)
        item = session.get(ImpactItem, item_id)
        if item is None or item.assessment_id != row.id:
            raise NotFound(f"{row.number} has no item {item_id}.")
        item.verdict = verdict
        item.comment = comment
        session.flush()
        return _assessment_views(session, [row], detail=True)[0]


def conclude_impact_assessment(*, actor: Actor, assessment_id: int, conclusion: str,
                               deviation_number: str = "") -> ImpactAssessmentView:
    """Write the assessor's conclusion (and the deviation raised for it, if any) before submitting."""
    actor.require("calibrations.assess")
    problems: list[FieldProblem] = []
    conclusion = _text(conclusion, "conclusion", max_length=4000, problems=problems,
                       required="Write the conclusion of the assessment.")
    deviation_number = _text(deviation_number, "deviation_number", max_length=40, problems=problems)
    if problems:
        raise ValidationFailed("The conclusion cannot be recorded.", problems)
    with transaction(actor=actor, reason="Impact assessment concluded") as session:
        row = _assessment(session, assessment_id, lock=True)
        _still_open(row)
        row.conclusion = conclusion
        if deviation_number:
            # A blank field keeps the deviation raised with the calibration.
            row.deviation_number = deviation_number
        session.flush()
        return _assessment_views(session, [row], detail=True)[0]


# ---------------------------------------------------------------- calendar


def calibration_calendar(*, actor: Actor, start: date, end: date) -> list[CalendarEntry]:
    """Calibration, requalification and preventive-maintenance due dates in [start, end], overdue first."""
    actor.require("equipment.view")
    if not _is_date(start):
        raise ValidationFailed.on("start", "Give a start date.")
    if not _is_date(end):
        raise ValidationFailed.on("end", "Give an end date.")
    if end < start:
        raise ValidationFailed.on("end", "The end date is before the start date.")
    if (end - start).days > MAX_CALENDAR_DAYS:
        raise ValidationFailed.on("end", f"Show at most {MAX_CALENDAR_DAYS} days at once.")
    today = site_today()
    entries: list[CalendarEntry] = []

    def add(on: date | None, kind: str, eq_id: int, number: str, name: str, title: str, reference: str = "") -> None:
        assert on is not None  # the queries select due dates within [start, end]
        entries.append(CalendarEntry(on=on, kind=kind, equipment_id=eq_id, equipment_number=number,
                                     equipment_name=name, title=title, overdue=on < today, reference=reference))

    live = Equipment.state != "retired"
    with read_session() as session:
        for eq_id, number, name, on in session.execute(
                select(Equipment.id, Equipment.number, Equipment.name_zh, Equipment.calibration_due_on)
                .where(live, Equipment.calibration_required.is_(True),
                       Equipment.calibration_due_on.between(start, end))):
            add(on, "calibration", eq_id, number, name, "Calibration due")
        for eq_id, number, name, on in session.execute(
                select(Equipment.id, Equipment.number, Equipment.name_zh, Equipment.requalification_due_on)
                .where(live, Equipment.requalification_due_on.between(start, end))):
            add(on, "requalification", eq_id, number, name, "Requalification due")
        for eq_id, number, name, on, title, plan_number in session.execute(
                select(Equipment.id, Equipment.number, Equipment.name_zh, MaintenancePlan.next_due_on,
                       MaintenancePlan.title, MaintenancePlan.number)
                .join(Equipment, Equipment.id == MaintenancePlan.equipment_id)
                .where(live, MaintenancePlan.active.is_(True), MaintenancePlan.next_due_on.between(start, end))):
            add(on, "maintenance", eq_id, number, name, title, plan_number)
    entries.sort(key=lambda e: (not e.overdue, e.on, e.kind, e.equipment_number, e.reference))
    return entries


def calibrations_due(*, actor: Actor, within_days: int = 30) -> list[EquipmentView]:
    """In-service and commissioning instruments whose calibration is due within ``within_days`` or overdue."""
    actor.require("equipment.view")
    if isinstance(within_days, bool) or not isinstance(within_days, int) or not 0 <= within_days <= 3650:
        raise ValidationFailed.on("within_days", "Give a whole number of days from 0 to 3650.")
    horizon = site_today() + timedelta(days=within_days)
    with read_session() as session:
        rows = session.scalars(
            select(Equipment).where(Equipment.state.in_(("in_service", "commissioning")),
                                    Equipment.calibration_required.is_(True),
                                    Equipment.calibration_due_on <= horizon)
            .order_by(Equipment.calibration_due_on, Equipment.number))
        return equipment_views(session, list(rows))

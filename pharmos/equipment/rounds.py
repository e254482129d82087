"""Inspection routes and rounds: the walk a technician makes each shift, one scanned check per point.

A route lists checks at equipment (a reading within limits, a yes/no, a remark). Rounds are
scheduled per shift in site time; the technician who starts a round records every check by
scanning the equipment's label first, so each result proves presence at the equipment
(ALCOA+ 'attributable' and 'contemporaneous'; EU GMP Part I 3.34 / 药品GMP 第八十条:
equipment is checked and the checks recorded). A reading outside its limits needs a comment
and opens a fault report, so an abnormal finding cannot be recorded and forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, required_reason
from pharmos.core.numbering import next_numbers
from pharmos.equipment.lifecycle import ROUND_LIFECYCLE
from pharmos.equipment.logbook import write_entry
from pharmos.equipment.maintenance import open_fault
from pharmos.equipment.models import (
    Equipment,
    Fault,
    InspectionPoint,
    InspectionResult,
    InspectionRound,
    InspectionRoute,
)
from pharmos.equipment.views import (
    InspectionPointView,
    InspectionResultView,
    InspectionRoundView,
    InspectionRouteView,
)

__all__ = [
    "POINT_KINDS",
    "ROUTE_FREQUENCIES",
    "InspectionPointInput",
    "correct_round_result",
    "create_inspection_route",
    "flag_missed_rounds",
    "get_inspection_round",
    "get_inspection_route",
    "list_inspection_rounds",
    "list_inspection_routes",
    "my_rounds",
    "record_round_result",
    "schedule_rounds",
    "update_inspection_route",
]

POINT_KINDS = ("numeric", "yes_no", "text")
ROUTE_FREQUENCIES = ("shift", "daily")
OPEN_ROUND_STATES = ("scheduled", "in_progress")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_SHIFT_START = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_YES = frozenset({"yes", "y", "true", "1", "是", "合格", "ok"})
_NO = frozenset({"no", "n", "false", "0", "否", "不合格"})
ROUND_NUMBER_PATTERN = "{prefix}-{date:%y%m%d}-{seq:03d}"


@dataclass(frozen=True)
class InspectionPointInput:
    """One check of a route, as the route form or API gives it."""

    equipment_number: str
    prompt_zh: str
    prompt_en: str = ""
    kind: str = "numeric"  # numeric | yes_no | text
    unit: str = ""
    lower_limit: Decimal | str | int | None = None
    upper_limit: Decimal | str | int | None = None
    expected_yes: bool = True


# ---------------------------------------------------------------- views


def _site_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().site_timezone)


def _point_views(session: Session, route_ids: Iterable[int]) -> dict[int, tuple[InspectionPointView, ...]]:
    ids = list(set(route_ids))
    found: dict[int, list[InspectionPointView]] = {i: [] for i in ids}
    if not ids:
        return {}
    rows = session.execute(
        select(InspectionPoint, Equipment.number, Equipment.name_zh)
        .join(Equipment, Equipment.id == InspectionPoint.equipment_id)
        .where(InspectionPoint.route_id.in_(ids)).order_by(InspectionPoint.route_id, InspectionPoint.position))
    for point, number, name in rows:
        found[point.route_id].append(InspectionPointView(
            id=point.id, position=point.position, equipment_id=point.equipment_id, equipment_number=number,
            equipment_name=name, prompt_zh=point.prompt_zh, prompt_en=point.prompt_en, kind=point.kind,
            unit=point.unit, lower_limit=_decimal_or_none(point.lower_limit),
            upper_limit=_decimal_or_none(point.upper_limit), expected_yes=point.expected_yes))
    return {k: tuple(v) for k, v in found.items()}


def _decimal_or_none(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _route_view(route: InspectionRoute, points: tuple[InspectionPointView, ...] = ()) -> InspectionRouteView:
    return InspectionRouteView(
        id=route.id, code=route.code, name_zh=route.name_zh, name_en=route.name_en, frequency=route.frequency,
        shift_starts=tuple(s for s in route.shift_starts.split(",") if s), window_hours=route.window_hours,
        active=route.active, points=points)


def _result_views(session: Session, round_id: int) -> tuple[InspectionResultView, ...]:
    rows = session.execute(
        select(InspectionResult, Equipment.number, Fault.number)
        .join(Equipment, Equipment.id == InspectionResult.equipment_id)
        .join(InspectionPoint, InspectionPoint.id == InspectionResult.point_id)
        .outerjoin(Fault, Fault.id == InspectionResult.fault_id)
        .where(InspectionResult.round_id == round_id).order_by(InspectionPoint.position, InspectionResult.id))
    return tuple(InspectionResultView(
        id=r.id, point_id=r.point_id, equipment_number=number, scanned=r.scanned,
        numeric_value=_decimal_or_none(r.numeric_value), yes_no_value=r.yes_no_value, text_value=r.text_value,
        within_limits=r.within_limits, comment=r.comment, fault_number=fault_number, recorded_at=r.recorded_at,
        recorded_by=r.recorded_by) for r, number, fault_number in rows)


def _round_views(session: Session, rounds: Sequence[InspectionRound], *,
                 with_details: bool = False) -> list[InspectionRoundView]:
    routes = {r.id: r for r in session.scalars(select(InspectionRoute).where(
        InspectionRoute.id.in_({r.route_id for r in rounds})))} if rounds else {}
    points = _point_views(session, routes) if with_details else {}
    views = []
    for r in rounds:
        route = routes[r.route_id]
        views.append(InspectionRoundView(
            id=r.id, number=r.number, route_id=r.route_id, route_code=route.code, route_name_zh=route.name_zh,
            route_name_en=route.name_en, scheduled_at=as_utc(r.scheduled_at), due_by=as_utc(r.due_by), state=r.state,
            technician=r.technician, started_at=r.started_at, completed_at=r.completed_at,
            points=points.get(r.route_id, ()) if with_details else (),
            results=_result_views(session, r.id) if with_details else (),
            signatures=tuple(signatures_for(session, r)) if with_details else ()))
    return views


# ---------------------------------------------------------------- routes


def _limit(value: Any, field: str, problems: list[FieldProblem]) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = _number(value)
    if number is None:
        problems.append(FieldProblem(field, "Must be a number."))
    return number


def _number(value: Any) -> Decimal | None:
    """A finite Decimal from Decimal, int, float or text; None for anything else (bools, NaN, infinity)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)  # the shortest exact decimal (25.5, not 25.499999…)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _checked_points(session: Session, points: Sequence[InspectionPointInput],
                    problems: list[FieldProblem]) -> list[dict[str, Any]]:
    if not points:
        problems.append(FieldProblem("points", "A route needs at least one check."))
        return []
    wanted = {str(p.equipment_number).strip().upper() for p in points}
    equipment = {number.upper(): (eid, state) for eid, number, state in session.execute(
        select(Equipment.id, Equipment.number, Equipment.state).where(func.upper(Equipment.number).in_(wanted)))}
    rows = []
    for i, p in enumerate(points):
        where = f"points[{i}]"
        number = str(p.equipment_number).strip().upper()
        found = equipment.get(number)
        if not number:
            problems.append(FieldProblem(f"{where}.equipment_number", "Required."))
        elif found is None:
            problems.append(FieldProblem(f"{where}.equipment_number", f"No equipment {number}."))
        elif found[1] == "retired":
            problems.append(FieldProblem(f"{where}.equipment_number", f"{number} is retired."))
        prompt_zh = (p.prompt_zh or "").strip()
        if not prompt_zh:
            problems.append(FieldProblem(f"{where}.prompt_zh", "Required."))
        elif len(prompt_zh) > 300:
            problems.append(FieldProblem(f"{where}.prompt_zh", "At most 300 characters."))
        if len((p.prompt_en or "").strip()) > 300:
            problems.append(FieldProblem(f"{where}.prompt_en", "At most 300 characters."))
        if p.kind not in POINT_KINDS:
            problems.append(FieldProblem(f"{where}.kind", f"Kind must be one of: {', '.join(POINT_KINDS)}."))
        if len((p.unit or "").strip()) > 20:
            problems.append(FieldProblem(f"{where}.unit", "At most 20 characters."))
        lower = _limit(p.lower_limit, f"{where}.lower_limit", problems)
        upper = _limit(p.upper_limit, f"{where}.upper_limit", problems)
        if p.kind == "numeric":
            if p.lower_limit in (None, "") and p.upper_limit in (None, ""):
                problems.append(FieldProblem(f"{where}.lower_limit", "A numeric check needs at least one limit."))
            if lower is not None and upper is not None and lower > upper:
                problems.append(FieldProblem(f"{where}.upper_limit", "The upper limit is below the lower limit."))
        elif p.kind in POINT_KINDS and (lower is not None or upper is not None):
            problems.append(FieldProblem(f"{where}.lower_limit", "Only numeric checks have limits."))
        rows.append({"equipment_id": found[0] if found else None, "position": i + 1, "prompt_zh": prompt_zh,
                     "prompt_en": (p.prompt_en or "").strip(), "kind": p.kind, "unit": (p.unit or "").strip(),
                     "lower_limit": lower, "upper_limit": upper, "expected_yes": bool(p.expected_yes)})
    return rows


def _checked_schedule(frequency: str, shift_starts: Sequence[str], window_hours: int,
                      problems: list[FieldProblem]) -> str:
    if frequency not in ROUTE_FREQUENCIES:
        problems.append(FieldProblem("frequency", f"Frequency must be one of: {', '.join(ROUTE_FREQUENCIES)}."))
    starts = [str(s).strip() for s in shift_starts if str(s).strip()]
    if not starts:
        problems.append(FieldProblem("shift_starts", "Give at least one start time (HH:MM, site time)."))
    for s in starts:
        if not _SHIFT_START.match(s):
            problems.append(FieldProblem("shift_starts", f"{s!r} is not a time such as 08:00."))
    if len(set(starts)) != len(starts):
        problems.append(FieldProblem("shift_starts", "A start time is listed twice."))
    if isinstance(window_hours, bool) or not isinstance(window_hours, int) or not 1 <= window_hours <= 24:
        problems.append(FieldProblem("window_hours", "Between 1 and 24 hours."))
    return ",".join(starts)


def create_inspection_route(*, actor: Actor, code: str, name_zh: str, name_en: str = "", frequency: str,
                            shift_starts: Sequence[str] = ("08:00",), window_hours: int = 8,
                            points: Sequence[InspectionPointInput]) -> InspectionRouteView:
    """A route of checks at equipment, walked once per shift start (``shift``) or once a day (``daily``)."""
    actor.require("rounds.manage")
    code = (code or "").strip()
    name_zh = (name_zh or "").strip()
    problems: list[FieldProblem] = []
    if not _CODE.match(code):
        problems.append(FieldProblem("code", "Letters, digits, '.', '_' or '-', at most 40 characters."))
    if not name_zh:
        problems.append(FieldProblem("name_zh", "Required."))
    elif len(name_zh) > 200:
        problems.append(FieldProblem("name_zh", "At most 200 characters."))
    starts = _checked_schedule(frequency, shift_starts, window_hours, problems)
    with transaction(actor=actor, reason=f"Inspection route {code} created") as session:
        if code and session.scalar(select(InspectionRoute.id).where(InspectionRoute.code == code)) is not None:
            problems.append(FieldProblem("code", f"A route {code} already exists."))
        rows = _checked_points(session, points, problems)
        if problems:
            raise ValidationFailed("The route was not created.", problems)
        route = InspectionRoute(code=code, name_zh=name_zh, name_en=(name_en or "").strip(), frequency=frequency,
                                shift_starts=starts, window_hours=window_hours, active=True)
        session.add(route)
        session.flush()
        session.add_all([InspectionPoint(route_id=route.id, **row) for row in rows])
        session.flush()
        return _route_view(route, _point_views(session, [route.id]).get(route.id, ()))


def update_inspection_route(*, actor: Actor, route_id: int, reason: str, name_zh: str | None = None,
                            name_en: str | None = None, frequency: str | None = None,
                            shift_starts: Sequence[str] | None = None, window_hours: int | None = None,
                            points: Sequence[InspectionPointInput] | None = None,
                            active: bool | None = None) -> InspectionRouteView:
    """Change a route; its checks can be replaced only while no result was recorded against them."""
    actor.require("rounds.manage")
    reason = required_reason(reason)
    with transaction(actor=actor, reason=reason) as session:
        route = session.get(InspectionRoute, route_id)
        if route is None:
            raise NotFound(f"No inspection route with id {route_id}.")
        problems: list[FieldProblem] = []
        if name_zh is not None:
            name_zh = name_zh.strip()
            if not name_zh or len(name_zh) > 200:
                problems.append(FieldProblem("name_zh", "Required, at most 200 characters."))
        starts = _checked_schedule(
            frequency if frequency is not None else route.frequency,
            shift_starts if shift_starts is not None else route.shift_starts.split(","),
            window_hours if window_hours is not None else route.window_hours, problems)
        rows: list[dict[str, Any]] = []
        old_points: list[InspectionPoint] = []
        if points is not None:
            old_points = list(session.scalars(select(InspectionPoint).where(InspectionPoint.route_id == route.id)))
            used = session.scalar(select(func.count(InspectionResult.id)).where(
                InspectionResult.point_id.in_([p.id for p in old_points]))) if old_points else 0
            if used:
                # ALCOA+ 'original': recorded results keep the check they answered; a new route replaces it.
                problems.append(FieldProblem("points", "Results were recorded against these checks; create a new "
                                                       "route and deactivate this one."))
            else:
                rows = _checked_points(session, points, problems)
        if problems:
            raise ValidationFailed("The route was not changed.", problems)
        if name_zh is not None:
            route.name_zh = name_zh
        if name_en is not None:
            route.name_en = name_en.strip()
        if frequency is not None:
            route.frequency = frequency
        route.shift_starts = starts
        if window_hours is not None:
            route.window_hours = window_hours
        if active is not None:
            route.active = bool(active)
        if points is not None:
            for old in old_points:
                session.delete(old)
            session.flush()
            session.add_all([InspectionPoint(route_id=route.id, **row) for row in rows])
        session.flush()
        return _route_view(route, _point_views(session, [route.id]).get(route.id, ()))


def get_inspection_route(*, actor: Actor, route_id: int) -> InspectionRouteView:
    actor.require("equipment.view")
    with read_session() as session:
        route = session.get(InspectionRoute, route_id)
        if route is None:
            raise NotFound(f"No inspection route with id {route_id}.")
        return _route_view(route, _point_views(session, [route.id]).get(route.id, ()))


def list_inspection_routes(*, actor: Actor, active: bool | None = None) -> list[InspectionRouteView]:
    actor.require("equipment.view")
    with read_session() as session:
        stmt = select(InspectionRoute).order_by(InspectionRoute.code)
        if active is not None:
            stmt = stmt.where(InspectionRoute.active.is_(active))
        routes = list(session.scalars(stmt))
        points = _point_views(session, [r.id for r in routes])
        return [_route_view(r, points.get(r.id, ())) for r in routes]


# ---------------------------------------------------------------- scheduling


def _slots(route: InspectionRoute, on: date, zone: ZoneInfo) -> list[datetime]:
    starts = [s for s in route.shift_starts.split(",") if s]
    if route.frequency == "daily":
        starts = starts[:1]
    slots = []
    for s in starts:
        hour, minute = (int(x) for x in s.split(":"))
        slots.append(datetime.combine(on, time(hour, minute), tzinfo=zone).astimezone(ZoneInfo("UTC")))
    return slots


def _schedule(session: Session, on: date) -> int:
    zone = _site_zone()
    routes = list(session.scalars(select(InspectionRoute).where(InspectionRoute.active.is_(True))
                                  .order_by(InspectionRoute.code)))
    wanted = [(route, slot) for route in routes for slot in _slots(route, on, zone)]
    if not wanted:
        return 0
    slots = {slot for _, slot in wanted}
    # One query for the day's existing rounds (unique route + slot makes scheduling idempotent).
    existing = {(route_id, as_utc(at)) for route_id, at in session.execute(
        select(InspectionRound.route_id, InspectionRound.scheduled_at).where(
            InspectionRound.scheduled_at >= min(slots), InspectionRound.scheduled_at <= max(slots)))}
    missing = [(route, slot) for route, slot in wanted if (route.id, slot) not in existing]
    if not missing:
        return 0
    # One locked step for the day's numbers, however many routes the site walks.
    numbers = next_numbers(session, prefix="RND", pattern=ROUND_NUMBER_PATTERN,
                           at=datetime.combine(on, time(12), tzinfo=zone), count=len(missing))
    session.add_all([InspectionRound(number=number, route_id=route.id, scheduled_at=slot,
                                     due_by=slot + timedelta(hours=route.window_hours),
                                     state=ROUND_LIFECYCLE.initial)
                     for number, (route, slot) in zip(numbers, missing, strict=True)])
    session.flush()
    return len(missing)


def schedule_rounds(*, actor: Actor, on: date) -> int:
    """One round per active route and shift start (site time) on ``on``; returns how many were new.

    Idempotent: a slot already scheduled is skipped (unique route + start).
    """
    actor.require("rounds.manage")
    if not isinstance(on, date):
        raise ValidationFailed.on("on", "A date is required.")
    for attempt in (1, 2):
        try:
            with transaction(actor=actor, reason=f"Inspection rounds scheduled for {on.isoformat()}") as session:
                return _schedule(session, on)
        except IntegrityError:
            # Another process scheduled the same slots meanwhile; the second pass skips them.
            if attempt == 2:
                raise
    return 0


# ---------------------------------------------------------------- results


def _parse_value(point: InspectionPoint, value: Any) -> tuple[Decimal | None, bool | None, str]:
    """(numeric, yes/no, text) of the answer by the check's kind; ValidationFailed on ``value``."""
    if point.kind == "numeric":
        number = _number(value) if value is not None else None
        if number is None:
            shown = "nothing" if value is None or value == "" else repr(value)
            raise ValidationFailed.on("value", f"Enter a number{f' in {point.unit}' if point.unit else ''}; "
                                               f"got {shown}.")
        return number, None, ""
    if point.kind == "yes_no":
        if isinstance(value, bool):
            return None, value, ""
        text = str(value).strip().lower() if isinstance(value, str) else ""
        if text in _YES:
            return None, True, ""
        if text in _NO:
            return None, False, ""
        raise ValidationFailed.on("value", "Answer yes or no (是/否).")
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationFailed.on("value", "Enter the observation.")
    if len(text) > 2000:
        raise ValidationFailed.on("value", "At most 2000 characters.")
    return None, None, text


def _within(point: InspectionPoint, numeric: Decimal | None, yes_no: bool | None) -> bool:
    if point.kind == "numeric":
        assert numeric is not None
        if point.lower_limit is not None and numeric < Decimal(point.lower_limit):
            return False
        return not (point.upper_limit is not None and numeric > Decimal(point.upper_limit))
    if point.kind == "yes_no":
        return yes_no == point.expected_yes
    return True


def _answer_text(point: InspectionPoint, numeric: Decimal | None, yes_no: bool | None, text: str) -> str:
    if point.kind == "numeric":
        assert numeric is not None
        limits = []
        if point.lower_limit is not None:
            limits.append(f"≥ {format(Decimal(point.lower_limit).normalize(), 'f')}")
        if point.upper_limit is not None:
            limits.append(f"≤ {format(Decimal(point.upper_limit).normalize(), 'f')}")
        unit = f" {point.unit}" if point.unit else ""
        return f"{format(numeric.normalize(), 'f')}{unit} (limits {' and '.join(limits)}{unit})"
    if point.kind == "yes_no":
        return "yes" if yes_no else "no"
    return text


def _open_round(session: Session, round_id: int, actor: Actor) -> InspectionRound:
    record = session.get(InspectionRound, round_id, with_for_update=True)
    if record is None:
        raise NotFound(f"No inspection round with id {round_id}.")
    if record.state != "in_progress":
        raise Conflict(f"Round {record.number} is {record.state}; results are recorded while it is in progress.",
                       [FieldProblem("round_id", "Start the round first." if record.state == "scheduled"
                                     else f"The round is {record.state}.")])
    if record.technician_id is None or record.technician_id != actor.user_id:
        # ALCOA+ 'attributable': the technician who started the round is the one who walks it.
        raise Conflict(f"Round {record.number} was started by {record.technician or 'someone else'}; only they "
                       "record its results.", [FieldProblem("round_id", "Started by someone else.")])
    return record


def _route_point(session: Session, record: InspectionRound, point_id: int) -> InspectionPoint:
    point = session.get(InspectionPoint, point_id)
    if point is None or point.route_id != record.route_id:
        raise ValidationFailed.on("point_id", f"No check {point_id} on the route of round {record.number}.")
    return point


def record_round_result(*, actor: Actor, round_id: int, point_id: int, scanned: str, value: Any = None,
                        comment: str = "") -> InspectionRoundView:
    """Record one check of a round in progress, after scanning the equipment's label.

    An answer outside the check's limits needs a comment and opens a fault report linked to the result.
    """
    actor.require("rounds.perform")
    scanned = (scanned or "").strip()
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ValidationFailed.on("comment", "At most 2000 characters.")
    with transaction(actor=actor, reason="Inspection round check recorded") as session:
        record = _open_round(session, round_id, actor)
        point = _route_point(session, record, point_id)
        equipment = session.get(Equipment, point.equipment_id)
        assert equipment is not None
        if session.scalar(select(InspectionResult.id).where(InspectionResult.round_id == record.id,
                                                            InspectionResult.point_id == point.id)) is not None:
            raise Conflict("This check is already recorded; correct it with a reason instead.",
                           [FieldProblem("point_id", "Already recorded.")])
        # Proof of presence: the label scanned at the equipment must be this check's equipment.
        if not scanned:
            raise ValidationFailed.on("scanned", f"Scan the label of {equipment.number}.")
        if scanned.upper() != equipment.number.upper():
            raise ValidationFailed.on("scanned", f"Scanned {scanned}, this check is at {equipment.number}.")
        numeric, yes_no, text = _parse_value(point, value)
        within = _within(point, numeric, yes_no)
        if not within and not comment:
            raise ValidationFailed.on("comment", "Out of limits: describe what you found and did.")
        result = InspectionResult(
            round_id=record.id, point_id=point.id, equipment_id=equipment.id, scanned=scanned[:60],
            numeric_value=numeric, yes_no_value=yes_no, text_value=text, within_limits=within, comment=comment,
            recorded_at=utcnow(), recorded_by=actor.username)
        session.add(result)
        answer = _answer_text(point, numeric, yes_no, text)
        outcome = "" if within else " — OUT OF LIMITS"
        write_entry(session, equipment=equipment, kind="inspection", actor=actor, reference=record.number,
                    source_number=record.number,
                    description=f"{point.prompt_zh}: {answer}{outcome}" + (f"; {comment}" if comment else ""))
        if not within:
            fault = open_fault(session, equipment=equipment, actor=actor, source=record.number, severity="minor",
                               description=f"Round {record.number}: {point.prompt_zh} = {answer}. {comment}")
            result.fault_id = fault.id
        session.flush()
        return _round_views(session, [record], with_details=True)[0]


def correct_round_result(*, actor: Actor, round_id: int, point_id: int, value: Any, comment: str,
                         reason: str) -> InspectionRoundView:
    """Correct a recorded check while the round is in progress; the audit trail keeps the old value."""
    actor.require("rounds.perform")
    reason = required_reason(reason)
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ValidationFailed.on("comment", "At most 2000 characters.")
    with transaction(actor=actor, reason=reason) as session:
        record = _open_round(session, round_id, actor)
        point = _route_point(session, record, point_id)
        result = session.scalar(select(InspectionResult).where(InspectionResult.round_id == record.id,
                                                               InspectionResult.point_id == point.id))
        if result is None:
            raise ValidationFailed.on("point_id", "This check is not recorded yet; record it first.")
        numeric, yes_no, text = _parse_value(point, value)
        within = _within(point, numeric, yes_no)
        if not within and not comment:
            raise ValidationFailed.on("comment", "Out of limits: describe what you found and did.")
        equipment = session.get(Equipment, point.equipment_id)
        assert equipment is not None
        result.numeric_value, result.yes_no_value, result.text_value = numeric, yes_no, text
        result.within_limits, result.comment = within, comment
        answer = _answer_text(point, numeric, yes_no, text)
        write_entry(session, equipment=equipment, kind="inspection", actor=actor, reference=record.number,
                    source_number=record.number,
                    description=f"Corrected: {point.prompt_zh}: {answer}" + ("" if within else " — OUT OF LIMITS")
                    + f" (reason: {reason})")
        if not within and result.fault_id is None:
            fault = open_fault(session, equipment=equipment, actor=actor, source=record.number, severity="minor",
                               description=f"Round {record.number}: {point.prompt_zh} = {answer}. {comment}")
            result.fault_id = fault.id
        session.flush()
        return _round_views(session, [record], with_details=True)[0]


# ---------------------------------------------------------------- reading rounds


def get_inspection_round(*, actor: Actor, round_id: int) -> InspectionRoundView:
    """The round with its checks in route order and the results so far (the tablet shows the next open one)."""
    actor.require("equipment.view")
    with read_session() as session:
        record = session.get(InspectionRound, round_id)
        if record is None:
            raise NotFound(f"No inspection round with id {round_id}.")
        return _round_views(session, [record], with_details=True)[0]


def _day_bounds(on: date) -> tuple[datetime, datetime]:
    zone = _site_zone()
    start = datetime.combine(on, time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(on + timedelta(days=1), time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))
    return start, end


def list_inspection_rounds(*, actor: Actor, state: str | None = None, route_id: int | None = None,
                           on: date | None = None, technician: str | None = None, after_id: int | None = None,
                           limit: int = 50) -> list[InspectionRoundView]:
    actor.require("equipment.view")
    if state is not None and state not in ROUND_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Unknown round state {state!r}.")
    with read_session() as session:
        stmt = select(InspectionRound).order_by(InspectionRound.id).limit(max(1, min(limit, 500)))
        if state is not None:
            stmt = stmt.where(InspectionRound.state == state)
        if route_id is not None:
            stmt = stmt.where(InspectionRound.route_id == route_id)
        if on is not None:
            start, end = _day_bounds(on)
            stmt = stmt.where(InspectionRound.scheduled_at >= start, InspectionRound.scheduled_at < end)
        if technician:
            stmt = stmt.where(InspectionRound.technician == technician.strip())
        if after_id is not None:
            stmt = stmt.where(InspectionRound.id > after_id)
        return _round_views(session, list(session.scalars(stmt)))


def my_rounds(*, actor: Actor, on: date | None = None) -> list[InspectionRoundView]:
    """The tablet's list: the day's rounds still to walk, and rounds this technician has under way."""
    actor.require("equipment.view")
    start, end = _day_bounds(on or site_today())
    with read_session() as session:
        todays = (InspectionRound.scheduled_at >= start) & (InspectionRound.scheduled_at < end) \
            & InspectionRound.state.in_(OPEN_ROUND_STATES)
        mine = (InspectionRound.state == "in_progress") & (InspectionRound.technician_id == actor.user_id) \
            if actor.user_id is not None else None
        stmt = select(InspectionRound).where(todays | mine if mine is not None else todays)
        rounds = list(session.scalars(stmt.order_by(InspectionRound.scheduled_at, InspectionRound.id)))
        # Another technician's round under way is theirs to finish; it is not offered here.
        rounds = [r for r in rounds if r.state == "scheduled" or r.technician_id == actor.user_id]
        return _round_views(session, rounds, with_details=True)


# ---------------------------------------------------------------- missed rounds


def flag_missed_rounds(*, actor: Actor, now: datetime | None = None) -> list[str]:
    """Move every scheduled or in-progress round past its window to ``missed``; returns their numbers.

    One transaction for all of them (hundreds after a long outage), each change audited with
    its old and new state like the lifecycle's ``mark_missed`` transition, whose rule (past
    ``due_by``) it applies. A run "as of" a later instant cannot flag a round early.
    """
    actor.require(ROUND_LIFECYCLE.transition("mark_missed").permission)
    cutoff = min(as_utc(now), utcnow()) if now is not None else utcnow()
    sources = ROUND_LIFECYCLE.transition("mark_missed").source
    target = ROUND_LIFECYCLE.transition("mark_missed").target
    with transaction(actor=actor, reason="Inspection round not completed within its window") as session:
        stmt = (select(InspectionRound).where(InspectionRound.state.in_(sources), InspectionRound.due_by <= cutoff)
                .order_by(InspectionRound.due_by, InspectionRound.number))
        if session.get_bind().dialect.name == "postgresql":
            # A technician recording a check right now keeps the round; the next run sees it again.
            stmt = stmt.with_for_update(skip_locked=True)
        overdue = list(session.scalars(stmt))
        for record in overdue:
            record.state = target
        session.flush()
        return [r.number for r in overdue]

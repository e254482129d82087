"""Inspection rounds: scheduled per shift, each check proved by a scan, out-of-limit findings become faults."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today
from pharmos.core.config import get_settings
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.models import Fault, InspectionResult, InspectionRound, LogbookEntry
from pharmos.equipment.rounds import InspectionPointInput
from pharmos.equipment.views import EquipmentView, InspectionRoundView, InspectionRouteView
from tests.equipment.factories import engineer, new_equipment, sign, technician

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


def _route(code: str = "R-UP-01", *, shift_starts: tuple[str, ...] = ("08:00", "16:00"), frequency: str = "shift",
           window_hours: int = 8) -> tuple[InspectionRouteView, EquipmentView, EquipmentView]:
    """A route with a numeric check (36.5-37.5 °C), a yes/no check and a remark, on two bioreactors."""
    first = new_equipment("bioreactor", serial_number=f"{code}-1")
    second = new_equipment("bioreactor", serial_number=f"{code}-2")
    route = equipment.create_inspection_route(
        actor=engineer(), code=code, name_zh="上游车间巡检", name_en="Upstream round", frequency=frequency,
        shift_starts=shift_starts, window_hours=window_hours, points=[
            InspectionPointInput(first.number, "罐温", "Vessel temperature", kind="numeric", unit="°C",
                                 lower_limit=Decimal("36.5"), upper_limit=Decimal("37.5")),
            InspectionPointInput(first.number, "无泄漏", "No leaks", kind="yes_no", expected_yes=True),
            InspectionPointInput(second.number, "备注", "Remarks", kind="text"),
        ])
    return route, first, second


def _started_round(tech: Actor, *, on: date | None = None) -> InspectionRoundView:
    route, _first, _second = _route()
    equipment.schedule_rounds(actor=engineer(), on=on or site_today())
    found = equipment.list_inspection_rounds(actor=tech, route_id=route.id)
    apply_transition(actor=tech, collection="inspection-rounds", record_id=found[0].id, name="start")
    return equipment.get_inspection_round(actor=tech, round_id=found[0].id)


def _results() -> int:
    with read_session() as session:
        return session.scalar(select(func.count(InspectionResult.id))) or 0


def _faults() -> int:
    with read_session() as session:
        return session.scalar(select(func.count(Fault.id))) or 0


def test_rounds_are_scheduled_per_shift_in_site_time_and_only_once(site: dict[str, Actor]) -> None:
    # given
    route, _first, _second = _route(shift_starts=("08:00", "20:00"), window_hours=6)
    on = site_today() + timedelta(days=1)

    # when
    first_run = equipment.schedule_rounds(actor=engineer(), on=on)
    second_run = equipment.schedule_rounds(actor=engineer(), on=on)

    # then
    assert (first_run, second_run) == (2, 0)
    rounds = equipment.list_inspection_rounds(actor=site["viewer.chen"], route_id=route.id)
    zone = ZoneInfo(get_settings().site_timezone)
    expected = [datetime.combine(on, time(8), tzinfo=zone), datetime.combine(on, time(20), tzinfo=zone)]
    assert sorted(as_utc(r.scheduled_at) for r in rounds) == expected
    assert all(r.due_by - r.scheduled_at == timedelta(hours=6) for r in rounds)
    assert all(r.state == "scheduled" and r.number.startswith(f"RND-{on:%y%m%d}-") for r in rounds)


def test_a_daily_route_gets_one_round_at_its_first_start(site: dict[str, Actor]) -> None:
    # given
    route, _first, _second = _route(frequency="daily", shift_starts=("07:30", "19:30"))

    # when
    created = equipment.schedule_rounds(actor=engineer(), on=site_today())

    # then
    assert created == 1
    (only,) = equipment.list_inspection_rounds(actor=engineer(), route_id=route.id)
    zone = ZoneInfo(get_settings().site_timezone)
    assert as_utc(only.scheduled_at) == datetime.combine(site_today(), time(7, 30), tzinfo=zone)


def test_a_numeric_check_needs_a_limit_and_the_route_names_the_bad_point(site: dict[str, Actor]) -> None:
    # given
    item = new_equipment("bioreactor")

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.create_inspection_route(
            actor=engineer(), code="R-BAD", name_zh="坏路线", frequency="shift", points=[
                InspectionPointInput(item.number, "罐温", kind="numeric"),
                InspectionPointInput("EQ-NOPE-001", "压力", kind="numeric", lower_limit="2", upper_limit="1")])

    # then
    fields = {p.field for p in refused.value.fields}
    assert {"points[0].lower_limit", "points[1].equipment_number", "points[1].upper_limit"} <= fields
    assert equipment.list_inspection_routes(actor=engineer()) == []


def test_the_round_shows_its_checks_in_route_order_with_the_results_so_far(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    first = started.points[0]

    # when
    after = equipment.record_round_result(actor=tech, round_id=started.id, point_id=first.id,
                                          scanned=f"  {first.equipment_number.lower()} ", value="37.0")

    # then
    assert [p.position for p in after.points] == [1, 2, 3]
    assert [r.point_id for r in after.results] == [first.id]
    (result,) = after.results
    assert result.numeric_value == Decimal("37.0") and result.within_limits and result.fault_number is None
    assert result.recorded_by == tech.username and after.technician == tech.username


def test_scanning_other_equipment_is_refused_on_scanned_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    at_first = started.points[0]
    other = started.points[2].equipment_number

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.record_round_result(actor=tech, round_id=started.id, point_id=at_first.id, scanned=other,
                                      value="37.0")

    # then
    assert [p.field for p in refused.value.fields] == ["scanned"]
    assert other in refused.value.fields[0].message and at_first.equipment_number in refused.value.fields[0].message
    assert _results() == 0


def test_out_of_limits_without_a_comment_is_refused_on_comment(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    point = started.points[0]

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                      scanned=point.equipment_number, value="38.2")

    # then
    assert [p.field for p in refused.value.fields] == ["comment"]
    assert _results() == 0 and _faults() == 0


@pytest.mark.parametrize(("index", "value"), [(0, "warm"), (0, True), (0, None), (1, "maybe"), (2, "  ")])
def test_a_value_of_the_wrong_type_is_refused_on_value(site: dict[str, Actor], index: int, value: object) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    point = started.points[index]

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                      scanned=point.equipment_number, value=value)

    # then
    assert [p.field for p in refused.value.fields] == ["value"]
    assert _results() == 0


def test_yes_no_answers_accept_chinese_and_a_wrong_answer_counts_as_out_of_limits(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    point = started.points[1]

    # when
    after = equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                          scanned=point.equipment_number, value="否", comment="法兰处滴漏")

    # then
    (result,) = after.results
    assert result.yes_no_value is False and not result.within_limits and result.fault_number


def test_out_of_limits_with_a_comment_opens_a_fault_linked_to_the_result(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    point = started.points[0]

    # when
    after = equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                          scanned=point.equipment_number, value=Decimal("38.2"),
                                          comment="温控报警，已通知主管")

    # then
    (result,) = after.results
    assert result.within_limits is False and result.fault_number is not None
    faults = equipment.list_faults(actor=tech, equipment_id=point.equipment_id)
    assert [f.number for f in faults] == [result.fault_number]
    assert faults[0].source == started.number and faults[0].severity == "minor" and faults[0].state == "reported"
    with read_session() as session:
        kinds = list(session.scalars(select(LogbookEntry.kind).where(
            LogbookEntry.equipment_id == point.equipment_id, LogbookEntry.source_number == started.number)))
    assert kinds == ["inspection"]


def test_a_second_answer_to_the_same_check_is_refused(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    point = started.points[0]
    equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                  scanned=point.equipment_number, value="37")

    # when
    with pytest.raises(Conflict):
        equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                      scanned=point.equipment_number, value="37.1")

    # then
    assert _results() == 1


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_a_correction_needs_a_reason_and_keeps_the_old_value_in_the_audit_trail(site: dict[str, Actor]) -> None:
    # given
    from pharmos.compliance.audit import AuditEntry

    tech = technician()
    started = _started_round(tech)
    point = started.points[0]
    equipment.record_round_result(actor=tech, round_id=started.id, point_id=point.id,
                                  scanned=point.equipment_number, value="37")

    # when
    with pytest.raises(ValidationFailed):
        equipment.correct_round_result(actor=tech, round_id=started.id, point_id=point.id, value="37.2",
                                       comment="", reason=" ")
    after = equipment.correct_round_result(actor=tech, round_id=started.id, point_id=point.id, value="37.2",
                                           comment="", reason="读数抄错")

    # then
    assert after.results[0].numeric_value == Decimal("37.2")
    with read_session() as session:
        reason, changes = session.execute(select(AuditEntry.reason, AuditEntry.changes).where(
            AuditEntry.record_type == "inspection_result", AuditEntry.action == "update")).one()
    assert reason == "读数抄错" and "numeric_value" in changes and "37" in changes


def test_only_the_technician_who_started_the_round_records_its_results(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    point = started.points[0]
    colleague = site["op.liu"]

    # when
    with pytest.raises(Conflict):
        equipment.record_round_result(actor=colleague, round_id=started.id, point_id=point.id,
                                      scanned=point.equipment_number, value="37")

    # then
    assert _results() == 0


def test_a_round_not_started_takes_no_results_and_a_viewer_may_not_record(site: dict[str, Actor]) -> None:
    # given
    route, first, _second = _route()
    equipment.schedule_rounds(actor=engineer(), on=site_today())
    waiting = equipment.list_inspection_rounds(actor=engineer(), route_id=route.id)[0]
    point = equipment.get_inspection_round(actor=engineer(), round_id=waiting.id).points[0]

    # when / then
    with pytest.raises(Conflict):
        equipment.record_round_result(actor=technician(), round_id=waiting.id, point_id=point.id,
                                      scanned=first.number, value="37")
    with pytest.raises(PermissionDenied):
        equipment.record_round_result(actor=site["viewer.chen"], round_id=waiting.id, point_id=point.id,
                                      scanned=first.number, value="37")
    assert _results() == 0


def test_completing_with_unanswered_checks_is_refused_then_allowed_once_all_are_recorded(
        site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    started = _started_round(tech)
    first, second, third = started.points
    equipment.record_round_result(actor=tech, round_id=started.id, point_id=first.id,
                                  scanned=first.equipment_number, value="37")

    # when
    with pytest.raises(TransitionRefused) as refused:
        sign(tech, "inspection-rounds", started.id, "complete")

    # then
    assert "2 check(s)" in refused.value.message
    equipment.record_round_result(actor=tech, round_id=started.id, point_id=second.id,
                                  scanned=second.equipment_number, value=True)
    equipment.record_round_result(actor=tech, round_id=started.id, point_id=third.id,
                                  scanned=third.equipment_number, value="一切正常")
    assert sign(tech, "inspection-rounds", started.id, "complete") == "completed"
    assert equipment.get_inspection_round(actor=tech, round_id=started.id).completed_at is not None


def test_overdue_rounds_are_flagged_missed_with_an_audit_entry_each(site: dict[str, Actor]) -> None:
    # given
    from pharmos.compliance.audit import AuditEntry

    tech = technician()
    route, _first, _second = _route(shift_starts=("08:00", "16:00"), window_hours=4)
    equipment.schedule_rounds(actor=engineer(), on=site_today() - timedelta(days=2))
    equipment.schedule_rounds(actor=engineer(), on=site_today() + timedelta(days=1))
    past = equipment.list_inspection_rounds(actor=tech, route_id=route.id,
                                            on=site_today() - timedelta(days=2))
    apply_transition(actor=tech, collection="inspection-rounds", record_id=past[0].id, name="start")

    # when
    missed = equipment.flag_missed_rounds(actor=engineer())
    again = equipment.flag_missed_rounds(actor=engineer())

    # then
    assert sorted(missed) == sorted(r.number for r in past) and again == []
    states = {r.number: r.state for r in equipment.list_inspection_rounds(actor=tech)}
    assert [states[n] for n in missed] == ["missed", "missed"]
    assert sorted(states.values()).count("scheduled") == 2
    with read_session() as session:
        ids = {str(i) for i in session.scalars(select(InspectionRound.id).where(InspectionRound.state == "missed"))}
        audited = {e.record_id for e in session.scalars(select(AuditEntry).where(
            AuditEntry.record_type == "inspection_round", AuditEntry.action == "update"))
            if '"missed"' in e.changes}
    assert ids == audited


def test_flagging_missed_rounds_needs_rounds_manage(site: dict[str, Actor]) -> None:
    # when / then
    with pytest.raises(PermissionDenied):
        equipment.flag_missed_rounds(actor=site["op.liu"])


def test_my_rounds_lists_todays_open_rounds_and_my_round_under_way(site: dict[str, Actor]) -> None:
    # given
    tech = technician()
    colleague = technician("tech.wu")
    route, _first, _second = _route(shift_starts=("08:00", "16:00"))
    equipment.schedule_rounds(actor=engineer(), on=site_today())
    equipment.schedule_rounds(actor=engineer(), on=site_today() + timedelta(days=1))
    morning, afternoon = equipment.list_inspection_rounds(actor=tech, route_id=route.id,
                                                          on=site_today())
    apply_transition(actor=colleague, collection="inspection-rounds", record_id=afternoon.id, name="start")

    # when
    mine = equipment.my_rounds(actor=tech)
    theirs = equipment.my_rounds(actor=colleague)

    # then
    assert [r.number for r in mine] == [morning.number]
    assert [r.number for r in theirs] == [morning.number, afternoon.number]
    assert len(mine[0].points) == 3

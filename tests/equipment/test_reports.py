"""Maintenance KPIs (PM compliance, MTTR, MTBF, downtime), the downtime report and reminders.

Fault timestamps are server-generated (21 CFR 11.10(e)) and cannot be set by a test, so the
expected figures are computed from the timestamps read back through ``get_fault`` and, where
the figure runs on with the clock, bracketed by the instants before and after the call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today, utcnow
from pharmos.core.errors import PermissionDenied, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.maintenance import PlanTaskInput
from pharmos.equipment.rounds import InspectionPointInput
from pharmos.equipment.views import FaultView, WorkOrderView
from tests.equipment import factories as f
from tests.materials.factories import site_people

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture(autouse=True)
def _roles(request: pytest.FixtureRequest) -> None:
    """Built-in roles exist on the SQLite-only tests too (the ``site`` fixture makes them otherwise)."""
    if "sqlite_url" in request.fixturenames:
        request.getfixturevalue("sqlite_url")
        site_people()


def _hours(later: datetime, earlier: datetime) -> float:
    return (as_utc(later) - as_utc(earlier)).total_seconds() / 3600


def _repaired_fault(equipment_id: int, *, stops: bool) -> FaultView:
    """A fault reported, triaged, assigned and repaired through the services and the fault lifecycle."""
    planner, tech = f.engineer(), f.technician()
    fault = equipment.report_fault(actor=f.person("op.zhao", "operator"), equipment_id=equipment_id,
                                   description="故障 / fault", stops_equipment=stops)
    equipment.triage_fault(actor=planner, fault_id=fault.id, severity="major", stops_equipment=stops)
    f.sign(planner, "faults", fault.id, "triage")
    equipment.assign_fault(actor=planner, fault_id=fault.id, username=tech.username)
    f.sign(planner, "faults", fault.id, "assign")
    equipment.describe_repair(actor=tech, fault_id=fault.id, repair_description="已修复 / fixed")
    f.sign(tech, "faults", fault.id, "mark_repaired")
    return equipment.get_fault(actor=planner, fault_id=fault.id)


def _complete(order: WorkOrderView) -> None:
    tech = f.technician()
    f.sign(tech, "work-orders", order.id, "start")
    for task in equipment.get_work_order(actor=tech, work_order_id=order.id).tasks:
        equipment.record_task_result(actor=tech, work_order_id=order.id, task_id=task.id, done=True)
    equipment.record_findings(actor=tech, work_order_id=order.id, findings="正常 / normal")
    f.sign(tech, "work-orders", order.id, "complete")


# ---------------------------------------------------------------- PM compliance


def test_pm_compliance_counts_preventive_orders_due_in_the_period_done_by_their_due_date(
        site: dict[str, Actor]) -> None:
    # given: four plans falling due; one done late, one on time, one open, one cancelled
    orders = {}
    for name, due in (("late", YESTERDAY), ("on_time", TODAY + timedelta(days=3)),
                      ("open", TODAY + timedelta(days=5)), ("cancelled", TODAY + timedelta(days=2))):
        unit = f.new_equipment("freezer")
        equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title=name, basis="calendar",
                                          interval_days=90, first_due_on=due, tasks=[PlanTaskInput("Check")])
    for number in equipment.generate_due_work_orders(actor=f.engineer()):
        order = equipment.get_work_order(actor=f.engineer(), number=number)
        orders[order.title] = order
    _complete(orders["late"])
    _complete(orders["on_time"])
    f.sign(f.engineer(), "work-orders", orders["cancelled"].id, "cancel", reason="Equipment sent to vendor")

    # when
    whole = equipment.equipment_kpis(actor=site["viewer.chen"], start=YESTERDAY, end=TODAY + timedelta(days=10))
    from_today = equipment.equipment_kpis(actor=site["viewer.chen"], start=TODAY, end=TODAY + timedelta(days=10))

    # then
    assert (whole.pm_due, whole.pm_on_time) == (3, 1)
    assert whole.pm_compliance_pct == pytest.approx(100 / 3)
    assert (from_today.pm_due, from_today.pm_on_time, from_today.pm_compliance_pct) == (2, 1, 50.0)
    assert (whole.period_start, whole.period_end) == (YESTERDAY, TODAY + timedelta(days=10))


def test_no_preventive_orders_due_gives_no_compliance_figure(sqlite_url: str) -> None:
    # when
    kpis = equipment.equipment_kpis(actor=f.engineer())

    # then: the default period is the last 90 days up to today
    assert (kpis.period_start, kpis.period_end) == (TODAY - timedelta(days=89), TODAY)
    assert (kpis.pm_due, kpis.pm_compliance_pct) == (0, None)
    assert (kpis.mttr_hours, kpis.mtbf_hours, kpis.downtime_hours, kpis.faults_repaired) == (None, None, 0.0, 0)


# ---------------------------------------------------------------- MTTR, MTBF, downtime


def test_mttr_mtbf_and_downtime_follow_the_fault_timestamps(site: dict[str, Actor]) -> None:
    # given: a stopping fault and a minor one repaired on one unit, an open stopping fault and a
    # rejected report on another
    one = f.usable_equipment(site, "freezer")
    two = f.usable_equipment(site, "freezer")
    stopped = _repaired_fault(one.id, stops=True)
    minor = _repaired_fault(one.id, stops=False)
    still_down = equipment.report_fault(actor=site["op.liu"], equipment_id=two.id, description="停机",
                                        stops_equipment=True)
    rejected = equipment.report_fault(actor=site["op.liu"], equipment_id=two.id, description="误报",
                                      stops_equipment=True)
    f.sign(f.engineer(), "faults", rejected.id, "reject", reason="误报 / false alarm")
    created_one = equipment.get_equipment(actor=site["op.liu"], equipment_id=one.id).created_at
    created_two = equipment.get_equipment(actor=site["op.liu"], equipment_id=two.id).created_at
    assert stopped.repaired_at is not None and minor.repaired_at is not None

    # when
    before = utcnow()
    kpis = equipment.equipment_kpis(actor=site["viewer.chen"])
    rows = equipment.downtime_report(actor=site["viewer.chen"])
    after = utcnow()

    # then
    repair_one = _hours(stopped.repaired_at, stopped.reported_at)
    repair_two = _hours(minor.repaired_at, minor.reported_at)
    assert kpis.faults_repaired == 2
    assert kpis.mttr_hours == pytest.approx((repair_one + repair_two) / 2)
    # downtime: the repaired stop, plus the open one up to now
    assert repair_one + _hours(before, still_down.reported_at) - 1e-9 <= kpis.downtime_hours
    assert kpis.downtime_hours <= repair_one + _hours(after, still_down.reported_at) + 1e-9
    # MTBF: in-service hours of both units since registration, less their downtime, over two stops
    # (unit two's operating time ends when it went down: registration → report)
    operating_two = _hours(still_down.reported_at, created_two)
    assert kpis.mtbf_hours is not None
    assert (_hours(before, created_one) - repair_one + operating_two) / 2 - 1e-9 <= kpis.mtbf_hours
    assert kpis.mtbf_hours <= (_hours(after, created_one) - repair_one + operating_two) / 2 + 1e-9

    by_number = {r.equipment_number: r for r in rows}
    assert set(by_number) == {one.number, two.number}
    first, second = by_number[one.number], by_number[two.number]
    assert (first.faults, first.stopping_faults) == (2, 1)
    assert first.downtime_hours == pytest.approx(repair_one)
    assert first.mttr_hours == pytest.approx((repair_one + repair_two) / 2)
    assert (second.faults, second.stopping_faults, second.mttr_hours) == (1, 1, None)
    assert second.mtbf_hours == pytest.approx(operating_two)
    assert [r.downtime_hours for r in rows] == sorted((r.downtime_hours for r in rows), reverse=True)


def test_a_period_before_the_faults_shows_none_of_them(sqlite_url: str) -> None:
    # given
    site = site_people()
    unit = f.usable_equipment(site, "freezer")
    _repaired_fault(unit.id, stops=True)
    equipment.report_fault(actor=site["op.liu"], equipment_id=unit.id, description="again", stops_equipment=True)

    # when
    kpis = equipment.equipment_kpis(actor=site["viewer.chen"], start=TODAY - timedelta(days=30), end=YESTERDAY)
    rows = equipment.downtime_report(actor=site["viewer.chen"], start=TODAY - timedelta(days=30), end=YESTERDAY)

    # then
    assert (kpis.faults_repaired, kpis.mttr_hours, kpis.mtbf_hours, kpis.downtime_hours) == (0, None, None, 0.0)
    assert rows == []


@pytest.mark.parametrize(("period", "field"), [
    ({"start": TODAY, "end": YESTERDAY}, "start"),
    ({"start": TODAY - timedelta(days=4000)}, "start"),
    ({"end": "2026-01-01"}, "end"),
])
def test_bad_periods_are_refused_naming_the_field(site: dict[str, Actor], period: dict[str, Any], field: str) -> None:
    # when
    with pytest.raises(ValidationFailed) as kpis:
        equipment.equipment_kpis(actor=site["viewer.chen"], **period)
    with pytest.raises(ValidationFailed) as report:
        equipment.downtime_report(actor=site["viewer.chen"], **period)

    # then
    assert field in {p.field for p in kpis.value.fields}
    assert field in {p.field for p in report.value.fields}


def test_reports_need_equipment_view(sqlite_url: str) -> None:
    # given
    outsider = f.person("clerk.qian", "warehouse")
    nobody = Actor(username="x", full_name="x", user_id=999, permissions=frozenset())

    # when / then
    assert equipment.equipment_kpis(actor=outsider).pm_due == 0
    with pytest.raises(PermissionDenied):
        equipment.equipment_kpis(actor=nobody)
    with pytest.raises(PermissionDenied):
        equipment.downtime_report(actor=nobody)
    with pytest.raises(PermissionDenied):
        equipment.list_reminders(actor=nobody)


# ---------------------------------------------------------------- calibration, work orders, parts, rounds


def test_calibration_figures_count_instruments_not_retired(sqlite_url: str) -> None:
    # given
    in_date = f.new_equipment("balance")
    f.calibrate(in_date.id, on=YESTERDAY)  # due in 179 days
    overdue = f.new_equipment("balance")
    f.calibrate(overdue.id, on=TODAY - timedelta(days=200))  # due 20 days ago
    due_soon = f.new_equipment("ph_meter")
    f.calibrate(due_soon.id, on=TODAY - timedelta(days=80))  # due in 10 days
    f.new_equipment("balance")  # never calibrated
    f.new_equipment("freezer")  # not an instrument

    # when
    kpis = equipment.equipment_kpis(actor=f.engineer())

    # then
    assert (kpis.calibrations_overdue, kpis.calibrations_due_30d) == (1, 1)
    assert kpis.calibration_compliance_pct == 50.0


def test_work_order_spare_part_and_round_counts_are_as_of_now(sqlite_url: str) -> None:
    # given
    site = site_people()
    unit = f.new_equipment("freezer")
    planner = f.engineer()
    equipment.create_work_order(actor=planner, equipment_id=unit.id, title="Late", due_on=YESTERDAY)
    equipment.create_work_order(actor=planner, equipment_id=unit.id, title="Not yet due", due_on=TODAY)
    cancelled = equipment.create_work_order(actor=planner, equipment_id=unit.id, title="Dropped", due_on=YESTERDAY)
    f.sign(planner, "work-orders", cancelled.id, "cancel", reason="Duplicate")
    equipment.create_spare_part(actor=planner, code="SP-SEAL-001", name_zh="门封", reorder_point=5)
    stocked = equipment.create_spare_part(actor=planner, code="SP-FUSE-002", name_zh="保险丝", reorder_point=1)
    equipment.receive_spare_parts(actor=planner, part_id=stocked.id, quantity=10)
    equipment.create_inspection_route(
        actor=planner, code="R-FRZ", name_zh="冷柜巡检", frequency="daily", shift_starts=("08:00",), window_hours=8,
        points=[InspectionPointInput(unit.number, "温度", kind="numeric", unit="°C", upper_limit="-15")])
    equipment.schedule_rounds(actor=planner, on=TODAY - timedelta(days=2))
    equipment.flag_missed_rounds(actor=planner)

    # when
    kpis = equipment.equipment_kpis(actor=site["viewer.chen"])

    # then
    assert (kpis.open_work_orders, kpis.overdue_work_orders) == (2, 1)
    assert kpis.low_stock_parts == 1
    assert kpis.missed_rounds == 1


# ---------------------------------------------------------------- reminders


def test_reminders_raised_by_the_daily_scan_are_listed_newest_first(site: dict[str, Actor]) -> None:
    # given
    overdue = f.new_equipment("balance")
    f.calibrate(overdue.id, on=TODAY - timedelta(days=200))
    due_soon = f.new_equipment("ph_meter")
    f.calibrate(due_soon.id, on=TODAY - timedelta(days=80))
    equipment.run_daily_equipment_scan(actor=f.engineer(), today=YESTERDAY)
    equipment.run_daily_equipment_scan(actor=f.engineer())

    # when
    every = equipment.list_reminders(actor=site["viewer.chen"])
    overdue_only = equipment.list_reminders(actor=site["viewer.chen"], kind="calibration_overdue")
    today_only = equipment.list_reminders(actor=site["viewer.chen"], since=TODAY)

    # then: once per (equipment, kind, due date), however often the scan runs
    assert sorted((r.equipment_number, r.kind) for r in every) == sorted([
        (overdue.number, "calibration_overdue"), (due_soon.number, "calibration_due")])
    assert [(r.equipment_number, r.due_on) for r in overdue_only] == [
        (overdue.number, TODAY - timedelta(days=200) + timedelta(days=180))]
    assert today_only == []
    assert [r.raised_on for r in every] == sorted((r.raised_on for r in every), reverse=True)
    with pytest.raises(ValidationFailed) as bad_kind:
        equipment.list_reminders(actor=site["viewer.chen"], kind="birthday")
    assert "kind" in {p.field for p in bad_kind.value.fields}

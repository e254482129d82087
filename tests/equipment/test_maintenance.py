"""Preventive maintenance plans and work orders: generation, checklist, labour, completion and closing."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.maintenance import PlanTaskInput
from pharmos.equipment.models import MaintenancePlan, WorkOrder, WorkOrderLabour, WorkOrderTask
from pharmos.equipment.views import EquipmentView, WorkOrderView
from tests.equipment import factories as f
from tests.materials.factories import site_people

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
TASKS = [PlanTaskInput("检查密封圈 / Check the seals"), PlanTaskInput("更换滤芯 / Replace the filter"),
         PlanTaskInput("清洁外表面 / Wipe the housing", mandatory=False)]


@pytest.fixture(autouse=True)
def _roles(request: pytest.FixtureRequest) -> None:
    """Built-in roles exist on the SQLite-only tests too (the ``site`` fixture makes them otherwise)."""
    for only in ("sqlite_url", "pg_url"):
        if only in request.fixturenames:
            request.getfixturevalue(only)
            site_people()


def _counts() -> dict[str, int]:
    with read_session() as session:
        return {"plans": session.scalar(select(func.count(MaintenancePlan.id))) or 0,
                "orders": session.scalar(select(func.count(WorkOrder.id))) or 0,
                "tasks": session.scalar(select(func.count(WorkOrderTask.id))) or 0,
                "labour": session.scalar(select(func.count(WorkOrderLabour.id))) or 0,
                "audit": count_entries(session)}


def _fields(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


def _freezer(site: dict[str, Actor], owner: str | None = None) -> EquipmentView:
    """In-service equipment without calibration or cleaning (a freezer), optionally owned by ``owner``."""
    fields: dict[str, object] = {"owner_username": owner} if owner else {}
    return f.usable_equipment(site, "freezer", **fields)


def _due_order(site: dict[str, Actor], *, owner: str | None = None, tasks: list[PlanTaskInput] | None = None
               ) -> WorkOrderView:
    """A preventive work order generated from a calendar plan due tomorrow."""
    unit = _freezer(site, owner)
    equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="季度保养 Quarterly PM",
                                      basis="calendar", interval_days=90, first_due_on=TODAY + timedelta(days=1),
                                      tasks=tasks or TASKS)
    numbers = equipment.generate_due_work_orders(actor=f.engineer())
    assert len(numbers) == 1
    return equipment.get_work_order(actor=f.engineer(), number=numbers[0])


def _started(site: dict[str, Actor], **kw: Any) -> tuple[WorkOrderView, Actor]:
    order = _due_order(site, **kw)
    tech = f.technician()
    f.sign(tech, "work-orders", order.id, "start")
    return equipment.get_work_order(actor=tech, work_order_id=order.id), tech


def _all_done(order: WorkOrderView, tech: Actor) -> WorkOrderView:
    for task in order.tasks:
        equipment.record_task_result(actor=tech, work_order_id=order.id, task_id=task.id, done=True, result="OK")
    return equipment.record_findings(actor=tech, work_order_id=order.id, findings="密封圈完好，滤芯已更换。")


# ---------------------------------------------------------------- plans


def test_a_calendar_plan_is_first_due_one_interval_from_today(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")

    # when
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="Quarterly PM",
                                             basis="calendar", interval_days=90, tasks=TASKS)

    # then
    assert re.fullmatch(r"PM-\d{4}", plan.number)
    assert plan.next_due_on == TODAY + timedelta(days=90)
    assert plan.next_due_counter is None
    assert [(t.position, t.mandatory) for t in plan.tasks] == [(1, True), (2, True), (3, False)]
    assert equipment.list_maintenance_plans(actor=f.engineer(), equipment_id=unit.id)[0].id == plan.id


def test_a_usage_plan_is_due_one_interval_above_the_current_counter(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")

    # when
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="500 h service",
                                             basis="usage", interval_usage="500", tasks=TASKS[:1])

    # then
    assert plan.next_due_counter == Decimal(500)
    assert plan.next_due_on is None


@pytest.mark.parametrize(("fields", "field"), [
    ({"basis": "calendar", "interval_days": 0}, "interval_days"),
    ({"basis": "calendar", "interval_days": -30}, "interval_days"),
    ({"basis": "calendar"}, "interval_days"),
    ({"basis": "usage"}, "interval_usage"),
    ({"basis": "usage", "interval_usage": "0"}, "interval_usage"),
    ({"basis": "usage", "interval_usage": "-100"}, "interval_usage"),
    ({"basis": "usage", "interval_usage": "NaN"}, "interval_usage"),
    ({"basis": "weekly", "interval_days": 7}, "basis"),
    ({"basis": "calendar", "interval_days": 30, "lead_days": -1}, "lead_days"),
    ({"basis": "calendar", "interval_days": 30, "tasks": []}, "tasks"),
    ({"basis": "calendar", "interval_days": 30, "tasks": [PlanTaskInput("  ")]}, "tasks[0].text"),
])
def test_bad_plans_are_refused_naming_the_field_and_write_nothing(site: dict[str, Actor], fields: dict[str, Any],
                                                                   field: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    planner = f.engineer()
    before = _counts()
    values: dict[str, Any] = {"title": "PM", "tasks": TASKS} | fields

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.create_maintenance_plan(actor=planner, equipment_id=unit.id, **values)

    # then
    assert field in _fields(refused)
    assert _counts() == before


def test_only_maintenance_planners_create_plans(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    operator = f.person("op.wu", "operator")

    # when / then
    with pytest.raises(PermissionDenied):
        equipment.create_maintenance_plan(actor=operator, equipment_id=unit.id, title="PM", basis="calendar",
                                          interval_days=30, tasks=TASKS)


def test_updating_a_plan_needs_a_reason_and_keeps_the_basis(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="PM",
                                             basis="calendar", interval_days=30, tasks=TASKS)

    # when
    with pytest.raises(ValidationFailed) as no_reason:
        equipment.update_maintenance_plan(actor=f.engineer(), plan_id=plan.id, reason=" ", interval_days=60)
    with pytest.raises(ValidationFailed) as wrong_basis:
        equipment.update_maintenance_plan(actor=f.engineer(), plan_id=plan.id, reason="OEM manual",
                                          interval_usage="100")
    changed = equipment.update_maintenance_plan(actor=f.engineer(), plan_id=plan.id, reason="OEM manual rev. 3",
                                                interval_days=60, tasks=[PlanTaskInput("新检查项")])

    # then
    assert "reason" in _fields(no_reason)
    assert "interval_usage" in _fields(wrong_basis)
    assert changed.interval_days == 60
    assert [t.text for t in changed.tasks] == ["新检查项"]


# ---------------------------------------------------------------- generation


def test_a_plan_due_within_its_lead_days_generates_one_work_order_with_the_checklist(site: dict[str, Actor]) -> None:
    # given
    unit = _freezer(site)
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="Quarterly PM",
                                             basis="calendar", interval_days=90, lead_days=7,
                                             first_due_on=TODAY + timedelta(days=5), tasks=TASKS)

    # when
    numbers = equipment.generate_due_work_orders(actor=f.engineer())
    again = equipment.generate_due_work_orders(actor=f.engineer())

    # then
    assert len(numbers) == 1
    assert re.fullmatch(rf"WO-{TODAY:%y%m}-\d{{4}}", numbers[0])
    assert again == []  # idempotent: the plan has an open work order
    order = equipment.get_work_order(actor=f.engineer(), number=numbers[0])
    assert (order.kind, order.state, order.plan_number, order.due_on) == (
        "preventive", "planned", plan.number, TODAY + timedelta(days=5))
    assert [(t.text, t.mandatory, t.done) for t in order.tasks] == [(t.text, t.mandatory, False) for t in TASKS]


def test_a_plan_due_after_its_lead_days_generates_nothing_yet(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="PM", basis="calendar",
                                      interval_days=90, lead_days=7, first_due_on=TODAY + timedelta(days=8),
                                      tasks=TASKS)

    # when
    now = equipment.generate_due_work_orders(actor=f.engineer())
    a_day_later = equipment.generate_due_work_orders(actor=f.engineer(), today=TODAY + timedelta(days=1))

    # then
    assert now == []
    assert len(a_day_later) == 1


def test_inactive_plans_and_retired_equipment_generate_nothing(site: dict[str, Actor]) -> None:
    # given
    unit = f.new_equipment("freezer")
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="PM", basis="calendar",
                                             interval_days=30, first_due_on=TODAY, tasks=TASKS)
    equipment.update_maintenance_plan(actor=f.engineer(), plan_id=plan.id, reason="Moved to vendor contract",
                                      active=False)
    other = f.new_equipment("freezer")
    equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=other.id, title="PM", basis="calendar",
                                      interval_days=30, first_due_on=TODAY, tasks=TASKS)
    f.sign(site["qa.li"], "equipment", other.id, "retire", reason="Replaced")

    # when
    numbers = equipment.generate_due_work_orders(actor=f.engineer())

    # then
    assert numbers == []


def test_a_usage_plan_generates_a_work_order_when_the_counter_reaches_its_due_reading(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="500 h service",
                                             basis="usage", interval_usage="500", tasks=TASKS[:1])
    equipment.record_counter(actor=f.engineer(), equipment_id=unit.id, value="499.5")
    before = equipment.generate_due_work_orders(actor=f.engineer())

    # when
    equipment.record_counter(actor=f.engineer(), equipment_id=unit.id, value="500")
    numbers = equipment.generate_due_work_orders(actor=f.engineer())

    # then
    assert before == []
    order = equipment.get_work_order(actor=f.engineer(), number=numbers[0])
    assert (order.plan_number, order.due_counter, order.due_on) == (plan.number, Decimal(500), TODAY)


@pytest.mark.postgres
def test_two_scans_at_once_generate_one_work_order_per_plan(pg_url: str) -> None:
    # given
    for _ in range(5):
        unit = f.new_equipment("freezer")
        equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="PM", basis="calendar",
                                          interval_days=30, first_due_on=TODAY, tasks=TASKS[:1])
    planner = f.engineer()
    gate = threading.Barrier(2)
    generated: list[list[str]] = []

    def scan() -> None:
        gate.wait()
        generated.append(equipment.generate_due_work_orders(actor=planner))

    # when
    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then
    assert sorted(len(numbers) for numbers in generated) == [0, 5]
    assert _counts()["orders"] == 5


# ---------------------------------------------------------------- carrying out a work order


@pytest.mark.requirement("EU GMP Part I 3.34")
def test_a_work_order_is_done_completed_by_the_technician_and_closed_by_the_owner(site: dict[str, Actor]) -> None:
    # given
    owner = f.owner()
    order, tech = _started(site, owner=owner.username)
    _all_done(order, tech)
    equipment.log_labour(actor=tech, work_order_id=order.id, technician="周师傅", hours="1.5", worked_on=TODAY)

    # when
    f.sign(tech, "work-orders", order.id, "complete")
    f.sign(owner, "work-orders", order.id, "close")

    # then
    done = equipment.get_work_order(actor=owner, work_order_id=order.id)
    assert (done.state, done.performed_by, done.assigned_to) == ("closed", tech.username, tech.username)
    assert done.completed_at is not None and done.closed_at is not None
    assert [(s.username, s.meaning, s.valid) for s in done.signatures] == [
        (tech.username, "performed", True), (owner.username, "approved", True)]
    assert [(lab.technician, lab.hours) for lab in done.labour] == [("周师傅", Decimal("1.5"))]
    assert all(t.done and t.done_by == tech.username for t in done.tasks)
    # the plan's next due date runs from the completed maintenance
    plan = equipment.list_maintenance_plans(actor=owner, equipment_id=done.equipment_id)[0]
    assert plan.next_due_on == TODAY + timedelta(days=90)
    entries = equipment.list_logbook(actor=owner, equipment_id=done.equipment_id, kind="maintenance")
    assert [e.source_number for e in entries] == [done.number]


def test_completing_advances_a_usage_plan_from_the_counter_at_completion(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=unit.id, title="500 h service",
                                      basis="usage", interval_usage="500", tasks=TASKS[:1])
    equipment.record_counter(actor=f.engineer(), equipment_id=unit.id, value="512")
    number = equipment.generate_due_work_orders(actor=f.engineer())[0]
    order = equipment.get_work_order(actor=f.engineer(), number=number)
    tech = f.technician()
    f.sign(tech, "work-orders", order.id, "start")
    _all_done(equipment.get_work_order(actor=tech, work_order_id=order.id), tech)

    # when
    f.sign(tech, "work-orders", order.id, "complete")

    # then
    plan = equipment.list_maintenance_plans(actor=tech, equipment_id=unit.id)[0]
    assert plan.next_due_counter == Decimal(1012)


@pytest.mark.requirement("EU GMP Part I 3.34")
def test_a_work_order_with_unchecked_mandatory_items_is_not_completed(site: dict[str, Actor]) -> None:
    # given
    order, tech = _started(site)
    first = order.tasks[0]
    equipment.record_task_result(actor=tech, work_order_id=order.id, task_id=first.id, done=True)
    equipment.record_findings(actor=tech, work_order_id=order.id, findings="部分完成")
    before = _counts()

    # when
    with pytest.raises(TransitionRefused) as refused:
        f.sign(tech, "work-orders", order.id, "complete")

    # then
    assert "1 mandatory checklist item(s) not done" in refused.value.message
    assert TASKS[1].text in refused.value.message
    assert TASKS[0].text not in refused.value.message  # done
    assert TASKS[2].text not in refused.value.message  # optional
    assert _counts() == before
    after = equipment.get_work_order(actor=tech, work_order_id=order.id)
    assert (after.state, after.signatures, after.completed_at) == ("in_progress", (), None)


def test_a_work_order_without_findings_is_not_completed(sqlite_url: str) -> None:
    # given
    site = site_people()
    order, tech = _started(site)
    for task in order.tasks:
        equipment.record_task_result(actor=tech, work_order_id=order.id, task_id=task.id, done=True)

    # when / then
    with pytest.raises(TransitionRefused, match="findings"):
        f.sign(tech, "work-orders", order.id, "complete")


@pytest.mark.requirement("21 CFR 11.10(g)")
def test_the_technician_who_completed_a_work_order_cannot_close_it_even_as_owner(site: dict[str, Actor]) -> None:
    # given: the technician owns the equipment, so only signature separation stands in the way
    tech = f.technician()
    order, _ = _started(site, owner=tech.username)
    _all_done(order, tech)
    f.sign(tech, "work-orders", order.id, "complete")
    before = _counts()

    # when
    with pytest.raises(TransitionRefused) as refused:
        f.sign(tech, "work-orders", order.id, "close")

    # then
    assert "author" in refused.value.message
    assert _counts() == before
    assert equipment.get_work_order(actor=tech, work_order_id=order.id).state == "completed"


@pytest.mark.requirement("EU GMP Part I 3.34")
def test_only_the_equipment_owner_closes_its_work_orders(site: dict[str, Actor]) -> None:
    # given
    owner = f.owner()
    order, tech = _started(site, owner=owner.username)
    _all_done(order, tech)
    f.sign(tech, "work-orders", order.id, "complete")
    other_closer = f.engineer()  # holds workorders.close, but does not own the equipment
    before = _counts()

    # when
    with pytest.raises(TransitionRefused) as refused:
        f.sign(other_closer, "work-orders", order.id, "close")

    # then
    assert "owner" in refused.value.message
    assert _counts() == before


def test_the_owner_sends_a_completed_work_order_back_with_a_reason(sqlite_url: str) -> None:
    # given
    site = site_people()
    owner = f.owner()
    order, tech = _started(site, owner=owner.username)
    _all_done(order, tech)
    f.sign(tech, "work-orders", order.id, "complete")

    # when
    with pytest.raises(ValidationFailed) as no_reason:
        f.sign(owner, "work-orders", order.id, "reopen")
    f.sign(owner, "work-orders", order.id, "reopen", reason="滤芯型号不对 / wrong filter fitted")

    # then
    assert "reason" in _fields(no_reason)
    assert equipment.get_work_order(actor=owner, work_order_id=order.id).state == "in_progress"


# ---------------------------------------------------------------- bad inputs while carrying out


@pytest.mark.parametrize(("hours", "days_ago", "field"), [
    ("0", 0, "hours"),
    ("-2", 0, "hours"),
    ("24.5", 0, "hours"),
    ("abc", 0, "hours"),
    ("2", -1, "worked_on"),
])
def test_bad_labour_is_refused_naming_the_field_and_writes_nothing(site: dict[str, Actor], hours: str,
                                                                    days_ago: int, field: str) -> None:
    # given
    order, tech = _started(site)
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.log_labour(actor=tech, work_order_id=order.id, technician="周师傅", hours=hours,
                             worked_on=TODAY - timedelta(days=days_ago))

    # then
    assert field in _fields(refused)
    assert _counts() == before


def test_a_full_day_of_labour_is_accepted(sqlite_url: str) -> None:
    # given
    order, tech = _started(site_people())

    # when
    view = equipment.log_labour(actor=tech, work_order_id=order.id, technician="周师傅", hours=24,
                                worked_on=TODAY - timedelta(days=1))

    # then
    assert [lab.hours for lab in view.labour] == [Decimal(24)]


def test_task_results_on_a_work_order_not_in_progress_are_refused(site: dict[str, Actor]) -> None:
    # given
    order = _due_order(site)  # planned, not started
    tech = f.technician()
    before = _counts()

    # when
    with pytest.raises(Conflict) as refused:
        equipment.record_task_result(actor=tech, work_order_id=order.id, task_id=order.tasks[0].id, done=True)
    with pytest.raises(Conflict) as findings:
        equipment.record_findings(actor=tech, work_order_id=order.id, findings="too early")

    # then
    assert "work_order_id" in _fields(refused)
    assert "in_progress" in refused.value.message
    assert "work_order_id" in _fields(findings)
    assert _counts() == before


def test_a_task_of_another_work_order_is_refused(sqlite_url: str) -> None:
    # given
    site = site_people()
    order, tech = _started(site)
    other = _due_order(site)

    # when / then
    with pytest.raises(ValidationFailed) as refused:
        equipment.record_task_result(actor=tech, work_order_id=order.id, task_id=other.tasks[0].id, done=True)
    assert "task_id" in _fields(refused)


def test_assigning_to_a_user_without_workorders_perform_is_refused(site: dict[str, Actor]) -> None:
    # given
    order = _due_order(site)
    planner = f.engineer()
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.assign_work_order(actor=planner, work_order_id=order.id, username="op.liu")
    with pytest.raises(ValidationFailed) as unknown:
        equipment.assign_work_order(actor=planner, work_order_id=order.id, username="nobody.here")

    # then
    assert "username" in _fields(refused)
    assert "workorders.perform" in refused.value.message
    assert "username" in _fields(unknown)
    assert _counts() == before


def test_assigning_to_a_technician_sets_who_does_the_work(sqlite_url: str) -> None:
    # given
    order = _due_order(site_people())
    tech = f.technician("tech.wu")

    # when
    view = equipment.assign_work_order(actor=f.engineer(), work_order_id=order.id, username=tech.username)

    # then
    assert view.assigned_to == "tech.wu"
    assert [o.number for o in equipment.list_work_orders(actor=tech, assigned_to="tech.wu")] == [order.number]


# ---------------------------------------------------------------- manual work orders and lists


def test_a_manual_work_order_carries_its_own_checklist(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    tech = f.technician()

    # when
    order = equipment.create_work_order(actor=f.engineer(), equipment_id=unit.id, title="更换门封 Replace door seal",
                                        due_on=TODAY - timedelta(days=1), assigned_to_username=tech.username,
                                        tasks=[PlanTaskInput("拆除旧门封"), PlanTaskInput("安装新门封")])

    # then
    assert (order.kind, order.state, order.assigned_to, order.overdue) == ("corrective", "planned", tech.username,
                                                                            True)
    assert [t.position for t in order.tasks] == [1, 2]
    assert [o.number for o in equipment.list_work_orders(actor=tech, overdue=True)] == [order.number]
    assert equipment.list_work_orders(actor=tech, overdue=False) == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": ""}, "title"),
    ({"kind": "urgent"}, "kind"),
    ({"assigned_to_username": "op.liu"}, "assigned_to_username"),
    ({"tasks": [PlanTaskInput("")]}, "tasks[0].text"),
])
def test_bad_work_orders_are_refused_naming_the_field_and_write_nothing(site: dict[str, Actor], fields: dict[str, Any],
                                                                         field: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    planner = f.engineer()
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.create_work_order(actor=planner, equipment_id=unit.id, **({"title": "Fix"} | fields))

    # then
    assert field in _fields(refused)
    assert _counts() == before


def test_open_only_lists_planned_in_progress_and_completed_orders(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    kept = equipment.create_work_order(actor=f.engineer(), equipment_id=unit.id, title="A")
    dropped = equipment.create_work_order(actor=f.engineer(), equipment_id=unit.id, title="B")
    f.sign(f.engineer(), "work-orders", dropped.id, "cancel", reason="Duplicate")

    # when
    listed = equipment.list_work_orders(actor=f.engineer(), open_only=True)
    cancelled = equipment.list_work_orders(actor=f.engineer(), state="cancelled")

    # then
    assert [o.number for o in listed] == [kept.number]
    assert [o.number for o in cancelled] == [dropped.number]
    with pytest.raises(ValidationFailed) as bad_state:
        equipment.list_work_orders(actor=f.engineer(), state="done")
    assert "state" in _fields(bad_state)

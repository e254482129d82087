"""The daily equipment scan: due-date reminders once, PM work orders, rounds scheduled and missed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import PermissionDenied
from pharmos.equipment import service as equipment
from pharmos.equipment.maintenance import PlanTaskInput
from pharmos.equipment.models import EquipmentReminder
from pharmos.equipment.rounds import InspectionPointInput
from tests.equipment.factories import calibrate, engineer, new_equipment, qualify

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

SYSTEM = Actor.system("job:daily-equipment-scan")


def _reminders() -> list[tuple[str, str, str]]:
    """(equipment number, kind, due date) of every reminder raised, sorted."""
    from pharmos.equipment.models import Equipment

    with read_session() as session:
        rows = session.execute(select(Equipment.number, EquipmentReminder.kind, EquipmentReminder.due_on)
                               .join(Equipment, Equipment.id == EquipmentReminder.equipment_id))
        return sorted((number, kind, due.isoformat()) for number, kind, due in rows)


def _due_site() -> dict[str, str]:
    """An instrument due in 5 days, one overdue by 10, one far from due, a bioreactor requalifying in 35 days."""
    today = site_today()
    due_soon = new_equipment("ph_meter", serial_number="PH-1")
    calibrate(due_soon.id, on=today - timedelta(days=85))
    overdue = new_equipment("ph_meter", serial_number="PH-2")
    calibrate(overdue.id, on=today - timedelta(days=100))
    fresh = new_equipment("ph_meter", serial_number="PH-3")
    calibrate(fresh.id, on=today - timedelta(days=1))
    reactor = new_equipment("bioreactor", serial_number="BR-1")
    qualify(reactor.id, on=today - timedelta(days=330))
    return {"due_soon": due_soon.number, "overdue": overdue.number, "fresh": fresh.number,
            "reactor": reactor.number}


def test_the_scan_raises_each_due_date_reminder_once(site: dict[str, Actor]) -> None:
    # given
    today = site_today()
    numbers = _due_site()

    # when
    first = equipment.run_daily_equipment_scan(actor=SYSTEM)
    second = equipment.run_daily_equipment_scan(actor=SYSTEM)

    # then
    assert _reminders() == sorted([
        (numbers["due_soon"], "calibration_due", (today + timedelta(days=5)).isoformat()),
        (numbers["overdue"], "calibration_overdue", (today - timedelta(days=10)).isoformat()),
        (numbers["reactor"], "requalification_due", (today + timedelta(days=35)).isoformat()),
    ])
    assert (first.reminders_raised, second.reminders_raised) == (3, 0)
    assert first.calibrations_overdue == 1 and first.requalifications_overdue == 0
    assert first.run_on == today and first.seconds > 0


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_reminders_written_set_based_are_still_in_the_audit_trail(site: dict[str, Actor]) -> None:
    # given
    _due_site()

    # when
    equipment.run_daily_equipment_scan(actor=SYSTEM)

    # then
    with read_session() as session:
        ids = {str(i) for i in session.scalars(select(EquipmentReminder.id))}
        audited = dict(session.execute(select(AuditEntry.record_id, AuditEntry.actor).where(
            AuditEntry.record_type == "equipment_reminder", AuditEntry.action == "create")).all())
    assert set(audited) == ids and set(audited.values()) == {SYSTEM.username}


def test_a_later_run_date_raises_the_reminders_then_due(site: dict[str, Actor]) -> None:
    # given
    numbers = _due_site()
    equipment.run_daily_equipment_scan(actor=SYSTEM)

    # when: 6 days later the instrument due in 5 days is overdue — a new reminder for the same date
    later = equipment.run_daily_equipment_scan(actor=SYSTEM, today=site_today() + timedelta(days=6))

    # then
    kinds = [(n, k) for n, k, _ in _reminders() if n == numbers["due_soon"]]
    assert kinds == [(numbers["due_soon"], "calibration_due"), (numbers["due_soon"], "calibration_overdue")]
    assert later.reminders_raised == 1 and later.calibrations_overdue == 2


def test_the_scan_generates_due_work_orders_and_schedules_rounds_once(site: dict[str, Actor]) -> None:
    # given
    reactor = new_equipment("bioreactor", serial_number="BR-9")
    equipment.create_maintenance_plan(
        actor=engineer(), equipment_id=reactor.id, title="月度保养", basis="calendar", interval_days=30,
        lead_days=7, first_due_on=site_today() + timedelta(days=3), tasks=[PlanTaskInput("检查搅拌轴密封")])
    equipment.create_inspection_route(
        actor=engineer(), code="R-1", name_zh="巡检", frequency="shift", shift_starts=("08:00", "20:00"),
        points=[InspectionPointInput(reactor.number, "无泄漏", kind="yes_no")])

    # when
    first = equipment.run_daily_equipment_scan(actor=SYSTEM)
    second = equipment.run_daily_equipment_scan(actor=SYSTEM)

    # then
    assert len(first.work_orders_generated) == 1 and second.work_orders_generated == ()
    assert (first.rounds_scheduled, second.rounds_scheduled) == (4, 0)
    days = {r.scheduled_at for r in equipment.list_inspection_rounds(actor=SYSTEM)}
    assert len(days) == 4


def test_the_scan_flags_rounds_past_their_window_as_missed(site: dict[str, Actor]) -> None:
    # given
    reactor = new_equipment("bioreactor", serial_number="BR-8")
    equipment.create_inspection_route(
        actor=engineer(), code="R-2", name_zh="巡检", frequency="daily", shift_starts=("08:00",), window_hours=24,
        points=[InspectionPointInput(reactor.number, "无泄漏", kind="yes_no")])
    equipment.schedule_rounds(actor=engineer(), on=site_today() - timedelta(days=3))
    (old,) = equipment.list_inspection_rounds(actor=SYSTEM)

    # when
    result = equipment.run_daily_equipment_scan(actor=SYSTEM)

    # then
    assert result.rounds_missed == (old.number,)
    assert equipment.get_inspection_round(actor=SYSTEM, round_id=old.id).state == "missed"


def test_the_scan_is_refused_without_workorders_manage(site: dict[str, Actor]) -> None:
    # when / then
    with pytest.raises(PermissionDenied):
        equipment.run_daily_equipment_scan(actor=site["viewer.chen"])
    assert _reminders() == []


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PHARMOS_DATABASE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    get_database().dispose()


def test_cli_daily_scan_reports_what_it_did_and_refuses_a_bad_date(db_file: Path) -> None:
    # given
    from pharmos.auth import service as auth
    from pharmos.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    auth.ensure_builtin_roles(actor=Actor.system("test-setup"))
    numbers = _due_site()

    # when
    done = runner.invoke(app, ["equipment", "daily-scan"])
    bad = runner.invoke(app, ["equipment", "daily-scan", "--today", "tomorrow"])

    # then
    assert done.exit_code == 0, done.output
    assert "3 reminder(s) raised" in done.output and "1 calibration(s)" in done.output
    assert bad.exit_code == 2 and "today" in bad.output
    assert {n for n, _, _ in _reminders()} == {numbers["due_soon"], numbers["overdue"], numbers["reactor"]}

"""Fault reports: reporting (with a photo, stopping the equipment), triage, repair, verification, closing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, site_today, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.maintenance import open_fault
from pharmos.equipment.models import Attachment, Fault, LogbookEntry, WorkOrder
from pharmos.equipment.register import load_equipment
from pharmos.equipment.views import EquipmentView, FaultView
from tests.equipment import factories as f
from tests.materials.factories import site_people

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _roles(request: pytest.FixtureRequest) -> None:
    """Built-in roles exist on the SQLite-only tests too (the ``site`` fixture makes them otherwise)."""
    if "sqlite_url" in request.fixturenames:
        request.getfixturevalue("sqlite_url")
        site_people()


def _counts() -> dict[str, int]:
    with read_session() as session:
        return {"faults": session.scalar(select(func.count(Fault.id))) or 0,
                "orders": session.scalar(select(func.count(WorkOrder.id))) or 0,
                "attachments": session.scalar(select(func.count(Attachment.id))) or 0,
                "logbook": session.scalar(select(func.count(LogbookEntry.id))) or 0,
                "audit": count_entries(session)}


def _fields(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


def _in_service(site: dict[str, Actor]) -> EquipmentView:
    return f.usable_equipment(site, "freezer")


def _reporter() -> Actor:
    return f.person("op.zhao", "operator", "赵操作工")


def _triaged(site: dict[str, Actor], **kw: Any) -> FaultView:
    unit = _in_service(site)
    fault = equipment.report_fault(actor=_reporter(), equipment_id=unit.id, description="压缩机异响 / compressor noise",
                                   **kw)
    equipment.triage_fault(actor=f.engineer(), fault_id=fault.id, severity="major", stops_equipment=False)
    f.sign(f.engineer(), "faults", fault.id, "triage")
    return equipment.get_fault(actor=f.engineer(), fault_id=fault.id)


def _assigned(site: dict[str, Actor]) -> tuple[FaultView, Actor]:
    fault = _triaged(site)
    tech = f.technician()
    equipment.assign_fault(actor=f.engineer(), fault_id=fault.id, username=tech.username)
    f.sign(f.engineer(), "faults", fault.id, "assign")
    return equipment.get_fault(actor=tech, fault_id=fault.id), tech


def _repaired(site: dict[str, Actor]) -> tuple[FaultView, Actor]:
    fault, tech = _assigned(site)
    equipment.describe_repair(actor=tech, fault_id=fault.id, repair_description="更换压缩机支架减震垫")
    f.sign(tech, "faults", fault.id, "mark_repaired")
    return equipment.get_fault(actor=tech, fault_id=fault.id), tech


# ---------------------------------------------------------------- reporting


def test_anyone_on_the_floor_reports_a_fault_with_a_photo(site: dict[str, Actor]) -> None:
    # given
    unit = _in_service(site)

    # when
    fault = equipment.report_fault(actor=site["op.liu"], number=unit.number.lower(), description="门封漏冷",
                                   photo=("door.png", PNG, "image/png"))

    # then
    assert re.fullmatch(rf"FLT-{site_today():%y%m}-\d{{4}}", fault.number)
    assert (fault.state, fault.severity, fault.stops_equipment, fault.reported_by) == (
        "reported", "minor", False, "op.liu")
    assert [(p.kind, p.owner_type, p.filename, p.size) for p in fault.photos] == [
        ("photo", "fault", "door.png", len(PNG))]
    assert equipment.get_equipment(actor=site["op.liu"], equipment_id=unit.id).state == "in_service"
    entries = equipment.list_logbook(actor=site["op.liu"], equipment_id=unit.id, kind="fault")
    assert [e.source_number for e in entries] == [fault.number]


@pytest.mark.requirement("EU GMP Part I 3.44")
def test_a_fault_that_stops_the_equipment_takes_it_out_of_service_at_once(site: dict[str, Actor]) -> None:
    # given
    unit = _in_service(site)
    before = as_utc(unit.state_changed_at)

    # when
    fault = equipment.report_fault(actor=site["op.liu"], equipment_id=unit.id, description="温度报警，停机",
                                   severity="critical", stops_equipment=True)

    # then
    after = equipment.get_equipment(actor=site["op.liu"], equipment_id=unit.id)
    assert after.state == "out_of_service"
    assert as_utc(after.state_changed_at) > before
    assert not equipment.usability(equipment_id=unit.id).usable
    status = equipment.list_logbook(actor=site["op.liu"], equipment_id=unit.id, kind="status")
    assert status[-1].source_number == fault.number
    assert "out of service" in status[-1].description


def test_a_stopping_fault_on_equipment_not_in_service_leaves_its_state(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")  # commissioning

    # when
    equipment.report_fault(actor=_reporter(), equipment_id=unit.id, description="Display dead",
                           stops_equipment=True)

    # then
    assert equipment.get_equipment(actor=f.engineer(), equipment_id=unit.id).state == "commissioning"
    assert equipment.list_logbook(actor=f.engineer(), equipment_id=unit.id, kind="status") == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"description": "  "}, "description"),
    ({"severity": "urgent"}, "severity"),
    ({"stops_equipment": "yes"}, "stops_equipment"),
    ({"photo": ("door.exe", b"MZ", "application/x-msdownload")}, "photo"),
    ({"photo": ("door.png", b"", "image/png")}, "photo"),
])
def test_bad_fault_reports_are_refused_naming_the_field_and_write_nothing(site: dict[str, Actor],
                                                                          fields: dict[str, Any],
                                                                          field: str) -> None:
    # given
    unit = _in_service(site)
    reporter = _reporter()
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.report_fault(actor=reporter, equipment_id=unit.id,
                               **({"description": "Noise", "stops_equipment": True} | fields))

    # then
    assert field in _fields(refused)
    assert _counts() == before
    assert equipment.get_equipment(actor=reporter, equipment_id=unit.id).state == "in_service"


def test_viewers_cannot_report_faults(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")

    # when / then
    with pytest.raises(PermissionDenied):
        equipment.report_fault(actor=f.person("viewer.he", "viewer"), equipment_id=unit.id, description="x")


def test_an_inspection_round_opens_a_fault_inside_its_own_transaction(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    tech = f.technician()

    # when
    with transaction(actor=tech, reason="Inspection result out of limits") as session:
        row = load_equipment(session, equipment_id=unit.id)
        number = open_fault(session, equipment=row, description="Temperature -12 °C (limit ≤ -15 °C)", actor=tech,
                            source="RND-260301-001").number

    # then
    fault = equipment.get_fault(actor=tech, number=number)
    assert (fault.source, fault.reported_by, fault.state) == ("RND-260301-001", tech.username, "reported")


# ---------------------------------------------------------------- triage and assignment


def test_triage_sets_severity_and_a_stop_takes_the_equipment_out_of_service(sqlite_url: str) -> None:
    # given
    site = site_people()
    unit = _in_service(site)
    fault = equipment.report_fault(actor=_reporter(), equipment_id=unit.id, description="Noise")

    # when
    triaged = equipment.triage_fault(actor=f.engineer(), fault_id=fault.id, severity="major", stops_equipment=True)

    # then
    assert (triaged.severity, triaged.stops_equipment, triaged.state) == ("major", True, "reported")
    assert equipment.get_equipment(actor=f.engineer(), equipment_id=unit.id).state == "out_of_service"


def test_assigning_a_fault_creates_a_corrective_work_order_linked_both_ways(site: dict[str, Actor]) -> None:
    # given
    fault = _triaged(site)
    tech = f.technician()

    # when
    assigned = equipment.assign_fault(actor=f.engineer(), fault_id=fault.id, username=tech.username)

    # then
    assert assigned.assigned_to == tech.username
    assert assigned.work_order_number is not None
    order = equipment.get_work_order(actor=tech, number=assigned.work_order_number)
    assert (order.kind, order.fault_number, order.assigned_to, order.equipment_id) == (
        "corrective", fault.number, tech.username, fault.equipment_id)
    # reassigning moves the same work order to the new technician
    other = f.technician("tech.wu")
    again = equipment.assign_fault(actor=f.engineer(), fault_id=fault.id, username=other.username)
    assert again.work_order_number == order.number
    assert equipment.get_work_order(actor=tech, number=order.number).assigned_to == "tech.wu"


def test_assigning_a_fault_to_a_user_without_workorders_perform_is_refused(site: dict[str, Actor]) -> None:
    # given
    fault = _triaged(site)
    planner = f.engineer()
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as refused:
        equipment.assign_fault(actor=planner, fault_id=fault.id, username="op.liu")

    # then
    assert "username" in _fields(refused)
    assert _counts() == before


def test_a_fault_is_not_assigned_before_triage(sqlite_url: str) -> None:
    # given
    unit = f.new_equipment("freezer")
    fault = equipment.report_fault(actor=_reporter(), equipment_id=unit.id, description="Noise")
    tech = f.technician()
    planner = f.engineer()
    before = _counts()

    # when
    with pytest.raises(Conflict) as refused:
        equipment.assign_fault(actor=planner, fault_id=fault.id, username=tech.username)

    # then
    assert "fault_id" in _fields(refused)
    assert _counts() == before


def test_the_assign_transition_needs_someone_assigned(sqlite_url: str) -> None:
    # given
    fault = _triaged(site_people())

    # when / then
    with pytest.raises(TransitionRefused, match="Choose who repairs it"):
        f.sign(f.engineer(), "faults", fault.id, "assign")


# ---------------------------------------------------------------- repair, verification, closing


@pytest.mark.requirement("EU GMP Part I 3.34")
def test_a_fault_goes_from_report_to_closed(site: dict[str, Actor]) -> None:
    # given
    fault, _tech = _repaired(site)
    verifier = site["qa.zhang"]

    # when
    f.sign(verifier, "faults", fault.id, "verify")
    f.sign(f.engineer(), "faults", fault.id, "close")

    # then
    closed = equipment.get_fault(actor=verifier, fault_id=fault.id)
    assert closed.state == "closed"
    assert closed.repair_description == "更换压缩机支架减震垫"
    assert closed.reported_at <= closed.repaired_at <= closed.verified_at <= closed.closed_at  # type: ignore[operator]
    assert [(s.username, s.meaning) for s in closed.signatures] == [("qa.zhang", "verified")]
    repaired = equipment.list_logbook(actor=verifier, equipment_id=fault.equipment_id, kind="fault")
    assert [e.description.startswith("Repaired:") for e in repaired] == [False, True]


@pytest.mark.requirement("21 CFR 11.10(g)")
def test_the_repairer_cannot_verify_their_own_repair(site: dict[str, Actor]) -> None:
    # given: the technician holds faults.verify too (maintenance role)
    fault, tech = _repaired(site)
    before = _counts()

    # when
    with pytest.raises(TransitionRefused) as refused:
        f.sign(tech, "faults", fault.id, "verify")

    # then
    assert "cannot verify" in refused.value.message
    assert _counts() == before
    assert equipment.get_fault(actor=tech, fault_id=fault.id).state == "repaired"


def test_a_repair_is_not_marked_done_before_it_is_described(sqlite_url: str) -> None:
    # given
    fault, tech = _assigned(site_people())

    # when / then
    with pytest.raises(TransitionRefused, match="Describe the repair"):
        f.sign(tech, "faults", fault.id, "mark_repaired")


def test_a_repair_described_outside_assignment_is_refused(sqlite_url: str) -> None:
    # given
    fault = _triaged(site_people())
    tech = f.technician()

    # when / then
    with pytest.raises(Conflict) as refused:
        equipment.describe_repair(actor=tech, fault_id=fault.id, repair_description="Fixed")
    assert "fault_id" in _fields(refused)
    with pytest.raises(ValidationFailed) as empty:
        equipment.describe_repair(actor=tech, fault_id=fault.id, repair_description=" ")
    assert "repair_description" in _fields(empty)


def test_an_ineffective_repair_goes_back_to_the_technician_with_a_reason(sqlite_url: str) -> None:
    # given
    site = site_people()
    fault, _tech = _repaired(site)

    # when
    f.sign(site["qa.zhang"], "faults", fault.id, "reopen", reason="仍有异响 / still noisy")

    # then
    assert equipment.get_fault(actor=site["qa.zhang"], fault_id=fault.id).state == "assigned"


def test_a_fault_report_is_rejected_only_with_a_reason(site: dict[str, Actor]) -> None:
    # given
    unit = _in_service(site)
    fault = equipment.report_fault(actor=_reporter(), equipment_id=unit.id, description="Duplicate of the last one")
    planner = f.engineer()
    before = _counts()

    # when
    with pytest.raises(ValidationFailed) as no_reason:
        f.sign(planner, "faults", fault.id, "reject")
    unchanged = _counts()
    f.sign(planner, "faults", fault.id, "reject", reason="重复报告 / duplicate report")

    # then
    assert "reason" in _fields(no_reason)
    assert unchanged == before
    rejected = equipment.get_fault(actor=planner, fault_id=fault.id)
    assert rejected.state == "rejected"
    assert equipment.list_faults(actor=planner, open_only=True) == []
    assert [x.number for x in equipment.list_faults(actor=planner, state="rejected")] == [fault.number]


def test_faults_are_listed_per_equipment_in_order(sqlite_url: str) -> None:
    # given
    one, two = f.new_equipment("freezer"), f.new_equipment("freezer")
    first = equipment.report_fault(actor=_reporter(), equipment_id=one.id, description="A")
    equipment.report_fault(actor=_reporter(), equipment_id=two.id, description="B")
    third = equipment.report_fault(actor=_reporter(), equipment_id=one.id, description="C")

    # when
    listed = equipment.list_faults(actor=f.engineer(), equipment_id=one.id)
    paged = equipment.list_faults(actor=f.engineer(), equipment_id=one.id, after_id=first.id)

    # then
    assert [x.number for x in listed] == [first.number, third.number]
    assert [x.number for x in paged] == [third.number]
    assert all(x.reported_at <= utcnow() for x in listed)

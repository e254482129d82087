"""Equipment classes, the equipment ledger, qualification records and documents (register.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import NotFound, PermissionDenied, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment.models import Attachment, Equipment, EquipmentClass, LogbookEntry, Qualification
from tests.equipment import factories as f
from tests.materials.factories import site_people

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def lite(sqlite_url: str) -> dict[str, Actor]:
    """The site's people on SQLite only, for the many rule tests."""
    return site_people()


def footprint() -> dict[str, Any]:
    """Everything a refused register call must leave untouched."""
    with read_session() as session:
        return {"equipment": sorted(session.execute(select(
                    Equipment.number, Equipment.name_zh, Equipment.serial_number, Equipment.owner_id,
                    Equipment.calibration_interval_days, Equipment.calibration_due_on, Equipment.iq_on,
                    Equipment.oq_on, Equipment.pq_on, Equipment.requalification_due_on)).all()),
                "classes": sorted(session.execute(select(EquipmentClass.code, EquipmentClass.name_zh,
                                                         EquipmentClass.calibration_interval_days)).all()),
                "logbook": session.scalar(select(func.count(LogbookEntry.id))),
                "qualifications": session.scalar(select(func.count(Qualification.id))),
                "attachments": session.scalar(select(func.count(Attachment.id))),
                "audit": count_entries(session)}


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


def logbook(equipment_id: int) -> list[tuple[str, str]]:
    return [(e.kind, e.description) for e in equipment.list_logbook(actor=f.SETUP, equipment_id=equipment_id)]


# ---------------------------------------------------------------- classes


def test_a_class_is_created_listed_and_changed_with_a_reason(site: dict[str, Actor]) -> None:
    # given an engineer
    eng = f.engineer()
    # when they create a class and change its calibration interval
    created = equipment.create_equipment_class(actor=eng, code="hplc", name_zh="高效液相色谱", name_en="HPLC",
                                               number_prefix="LC", is_instrument=True, calibration_interval_days=180)
    changed = equipment.update_equipment_class(actor=eng, class_id=created.id, reason="SOP-MET-002 rev 3",
                                               calibration_interval_days=90)
    # then the class carries the change and the list shows it
    assert (changed.code, changed.number_prefix, changed.is_instrument) == ("hplc", "LC", True)
    assert changed.calibration_interval_days == 90
    assert [c.code for c in equipment.list_equipment_classes(actor=site["viewer.chen"])] == ["hplc"]
    assert equipment.list_equipment_classes(actor=site["viewer.chen"], active=False) == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"code": "Bioreactor"}, "code"),
    ({"code": "x"}, "code"),
    ({"number_prefix": "br"}, "number_prefix"),
    ({"number_prefix": "BIOREACT"}, "number_prefix"),
    ({"calibration_interval_days": 0}, "calibration_interval_days"),
    ({"requalification_interval_days": -1}, "requalification_interval_days"),
    ({"clean_hold_hours": 0}, "clean_hold_hours"),
    ({"name_zh": " "}, "name_zh"),
])
def test_a_bad_class_is_refused_naming_the_field(lite: dict[str, Actor], fields: dict[str, Any], field: str) -> None:
    # given nothing but people
    eng = f.engineer()
    before = footprint()
    values = {"code": "bioreactor", "name_zh": "生物反应器", "number_prefix": "BR"} | fields
    # when a class with one bad field is created
    with pytest.raises(ValidationFailed) as refused:
        equipment.create_equipment_class(actor=eng, **values)
    # then that field is named and nothing was written
    assert field in fields_of(refused)
    assert footprint() == before


def test_a_class_code_is_taken_once_and_a_class_change_needs_a_reason(lite: dict[str, Actor]) -> None:
    # given a class
    f.ensure_class("bioreactor")
    class_id = equipment.list_equipment_classes(actor=f.SETUP)[0].id
    eng = f.engineer()
    before = footprint()
    # when the code is reused, or the class is changed without a reason
    with pytest.raises(ValidationFailed) as taken:
        equipment.create_equipment_class(actor=eng, code="bioreactor", name_zh="另一个", number_prefix="BX")
    with pytest.raises(ValidationFailed) as no_reason:
        equipment.update_equipment_class(actor=eng, class_id=class_id, reason=" ", name_zh="改名")
    # then both are refused naming the field, and nothing changed
    assert fields_of(taken) == {"code"}
    assert fields_of(no_reason) == {"reason"}
    assert footprint() == before


def test_tracking_cleaning_for_a_class_makes_its_members_dirty_in_the_logbook(lite: dict[str, Actor]) -> None:
    # given a freezer (cleaning not tracked)
    freezer = f.new_equipment("freezer")
    assert freezer.clean_status == "not_tracked"
    class_id = next(c.id for c in equipment.list_equipment_classes(actor=f.SETUP) if c.code == "freezer")
    # when the class starts tracking cleaning
    equipment.update_equipment_class(actor=f.engineer(), class_id=class_id, reason="Change CC-2026-014",
                                     clean_hold_hours=168)
    # then the freezer is dirty until cleaned, and its logbook says why
    after = equipment.get_equipment(actor=f.SETUP, equipment_id=freezer.id)
    assert after.clean_status == "dirty" and after.dirty_since is not None
    assert logbook(freezer.id)[-1][0] == "marked_dirty"


# ---------------------------------------------------------------- registering


def test_registered_equipment_starts_commissioning_with_its_status_from_the_class(site: dict[str, Actor]) -> None:
    # given the standard classes
    # when a bioreactor and a balance are registered without numbers
    reactor = f.new_equipment("bioreactor", serial_number="SN-1001")
    second = f.new_equipment("bioreactor", serial_number="SN-1002")
    balance = f.new_equipment("balance")
    # then numbers come per class, state is commissioning, status follows the class
    assert (reactor.number, second.number, balance.number) == ("EQ-BR-001", "EQ-BR-002", "EQ-BAL-001")
    assert reactor.state == "commissioning" and reactor.class_code == "bioreactor"
    assert (reactor.calibration_required, reactor.calibration_status) == (False, "not_required")
    assert (reactor.clean_status, reactor.in_use_by) == ("dirty", None)
    assert (balance.calibration_required, balance.calibration_status) == (True, "never_calibrated")
    assert balance.clean_status == "not_tracked"
    assert balance.range_high == Decimal(220) and balance.tolerance == Decimal("0.001")
    assert reactor.usability is not None and not reactor.usability.usable
    # and the logbook begins with the registration
    assert logbook(reactor.id) == [("note", "Registered")]


def test_a_given_number_is_kept_and_generated_numbers_skip_it(lite: dict[str, Actor]) -> None:
    # given a bioreactor registered by hand as EQ-BR-002 (typed in lower case with spaces)
    by_hand = f.new_equipment("bioreactor", number=" eq-br-002 ")
    # when two more are registered without numbers
    first = f.new_equipment("bioreactor", serial_number="A")
    third = f.new_equipment("bioreactor", serial_number="B")
    # then the generated numbers never reuse the hand-entered one
    assert by_hand.number == "EQ-BR-002"
    assert (first.number, third.number) == ("EQ-BR-001", "EQ-BR-003")


def test_calibration_required_can_be_set_against_the_class(lite: dict[str, Actor]) -> None:
    # given / when a freezer whose temperature probe is calibrated, and a balance used only for rough weighing
    freezer = f.new_equipment("freezer", calibration_required=True, calibration_interval_days=365)
    rough = f.new_equipment("balance", calibration_required=False, gmp_critical=False)
    # then each follows what was given, not the class default
    assert (freezer.calibration_required, freezer.calibration_status) == (True, "never_calibrated")
    assert freezer.effective_calibration_interval_days == 365
    assert (rough.calibration_required, rough.calibration_status) == (False, "not_required")
    assert rough.effective_calibration_interval_days == 180


def test_the_owner_is_a_user_given_by_username(site: dict[str, Actor]) -> None:
    # given a production supervisor
    boss = f.owner()
    # when they are made the owner of a bioreactor
    view = f.new_equipment("bioreactor", owner_username="sup.ma", owner_department="原液车间")
    # then the equipment shows them by username
    assert (view.owner_id, view.owner, view.owner_department) == (boss.user_id, "sup.ma", "原液车间")
    assert equipment.get_equipment(actor=site["viewer.chen"], equipment_id=view.id).owner == "sup.ma"


@pytest.mark.parametrize(("fields", "field"), [
    ({"class_code": "centrifuge"}, "class_code"),
    ({"number": "BR-001"}, "number"),
    ({"number": "EQ-BR-"}, "number"),
    ({"number": "EQ_BR_001"}, "number"),
    ({"range_low": "10", "range_high": "10"}, "range_high"),
    ({"range_low": "20", "range_high": "10"}, "range_high"),
    ({"tolerance": "0"}, "tolerance"),
    ({"tolerance": "-0.1"}, "tolerance"),
    ({"tolerance": "NaN"}, "tolerance"),
    ({"range_high": "lots"}, "range_high"),
    ({"range_low": float("inf")}, "range_low"),
    ({"calibration_interval_days": 0}, "calibration_interval_days"),
    ({"requalification_interval_days": -30}, "requalification_interval_days"),
    ({"owner_username": "nobody.here"}, "owner_username"),
    ({"name_zh": ""}, "name_zh"),
    ({"install_date": TODAY + timedelta(days=1)}, "install_date"),
])
def test_a_bad_registration_is_refused_naming_the_field(lite: dict[str, Actor], fields: dict[str, Any],
                                                        field: str) -> None:
    # given the bioreactor class and one registered bioreactor
    f.new_equipment("bioreactor", serial_number="SN-1")
    eng = f.engineer()
    before = footprint()
    # when equipment with one bad field is registered
    values: dict[str, Any] = {"class_code": "bioreactor", "name_zh": "反应器", "serial_number": "SN-2"} | fields
    with pytest.raises(ValidationFailed) as refused:
        equipment.register_equipment(actor=eng, **values)
    # then the field is named and nothing was written (no row, no logbook entry, no audit entry)
    assert field in fields_of(refused)
    assert footprint() == before


def test_a_taken_number_is_refused(lite: dict[str, Actor]) -> None:
    # given EQ-BR-001
    f.new_equipment("bioreactor")
    eng = f.engineer()
    before = footprint()
    # when another is registered as EQ-BR-001
    with pytest.raises(ValidationFailed) as refused:
        equipment.register_equipment(actor=eng, class_code="bioreactor", name_zh="反应器", number="EQ-BR-001")
    # then the number is named and nothing was written
    assert fields_of(refused) == {"number"}
    assert footprint() == before


def test_a_serial_number_is_unique_per_manufacturer_and_model(lite: dict[str, Actor]) -> None:
    # given a Sartorius Biostat STR with serial 8812
    f.new_equipment("bioreactor", serial_number="8812")
    eng = f.engineer()
    before = footprint()
    # when a second Biostat STR with serial 8812 is registered
    with pytest.raises(ValidationFailed) as refused:
        equipment.register_equipment(actor=eng, class_code="bioreactor", name_zh="反应器", manufacturer="Sartorius",
                                     model="Biostat STR", serial_number="8812")
    # then it is refused on the serial number and nothing was written
    assert fields_of(refused) == {"serial_number"}
    assert footprint() == before
    # and the same serial on another model is a different machine
    assert f.new_equipment("bioreactor", serial_number="8812", model="Biostat B").serial_number == "8812"


def test_registering_needs_the_edit_right(site: dict[str, Actor]) -> None:
    # given an operator
    f.ensure_class("bioreactor")
    before = footprint()
    # when they try to register equipment
    with pytest.raises(PermissionDenied):
        equipment.register_equipment(actor=site["op.liu"], class_code="bioreactor", name_zh="反应器")
    # then nothing was written
    assert footprint() == before


# ---------------------------------------------------------------- updating


def test_an_update_needs_a_reason_and_keeps_the_number(lite: dict[str, Actor]) -> None:
    # given a bioreactor
    view = f.new_equipment("bioreactor", serial_number="S1")
    eng = f.engineer()
    before = footprint()
    # when it is changed without a reason, or its number or class are changed
    with pytest.raises(ValidationFailed) as no_reason:
        equipment.update_equipment(actor=eng, equipment_id=view.id, reason="", location="B3-101")
    with pytest.raises(ValidationFailed) as number:
        equipment.update_equipment(actor=eng, equipment_id=view.id, reason="typo", number="EQ-BR-009")
    with pytest.raises(ValidationFailed) as cls:
        equipment.update_equipment(actor=eng, equipment_id=view.id, reason="typo", class_code="balance")
    # then each is refused naming the field, and nothing changed
    assert (fields_of(no_reason), fields_of(number), fields_of(cls)) == ({"reason"}, {"number"}, {"class_code"})
    assert footprint() == before


def test_an_update_applies_the_registration_rules(lite: dict[str, Actor]) -> None:
    # given two bioreactors of the same model
    f.new_equipment("bioreactor", serial_number="S1")
    second = f.new_equipment("bioreactor", serial_number="S2")
    eng = f.engineer()
    before = footprint()
    # when the second is given the first one's serial, an inverted range or an unknown owner
    for changes, field in (({"serial_number": "S1"}, "serial_number"),
                           ({"range_low": "5", "range_high": "1"}, "range_high"),
                           ({"owner_username": "ghost"}, "owner_username"),
                           ({"tolerance": "0"}, "tolerance")):
        with pytest.raises(ValidationFailed) as refused:
            equipment.update_equipment(actor=eng, equipment_id=second.id, reason="correction", **changes)
        # then each is refused naming the field
        assert field in fields_of(refused)
    # and nothing changed
    assert footprint() == before


def test_an_update_changes_fields_and_the_owner(lite: dict[str, Actor]) -> None:
    # given a bioreactor and its future owner
    view = f.new_equipment("bioreactor", serial_number="S1")
    f.owner()
    # when it moves and gets an owner
    changed = equipment.update_equipment(actor=f.engineer(), equipment_id=view.id, reason="Moved to suite 3",
                                         location="B3-101", owner_username="sup.ma")
    # then the change is stored
    assert (changed.location, changed.owner, changed.serial_number) == ("B3-101", "sup.ma", "S1")


def test_changing_the_calibration_interval_recomputes_the_due_date(lite: dict[str, Actor]) -> None:
    # given a balance calibrated 10 days ago (class interval 180 days)
    view = f.new_equipment("balance")
    f.calibrate(view.id, on=TODAY - timedelta(days=10))
    assert equipment.get_equipment(actor=f.SETUP, equipment_id=view.id).calibration_due_on == \
        TODAY + timedelta(days=170)
    # when its own interval is set to 90 days
    changed = equipment.update_equipment(actor=f.engineer(), equipment_id=view.id, reason="Drift trend, SOP-MET-4",
                                         calibration_interval_days=90)
    # then the due date follows from the last calibration, and the logbook explains the move
    assert changed.calibration_due_on == TODAY + timedelta(days=80)
    assert changed.effective_calibration_interval_days == 90
    assert "calibration due" in logbook(view.id)[-1][1]


# ---------------------------------------------------------------- finding


def test_equipment_is_found_by_id_number_and_scan(site: dict[str, Actor]) -> None:
    # given EQ-BR-001
    view = f.new_equipment("bioreactor")
    viewer = site["viewer.chen"]
    # when it is read by id, by number and by a scanned label with stray case and spaces
    by_id = equipment.get_equipment(actor=viewer, equipment_id=view.id)
    by_number = equipment.get_equipment(actor=viewer, number="EQ-BR-001")
    scanned = equipment.find_equipment_by_scan(actor=viewer, code="  eq-br-001\n")
    # then it is the same equipment each time, with its usability at now
    assert by_id.id == by_number.id == scanned.id == view.id
    assert by_id.usability is not None and by_id.usability.number == "EQ-BR-001"
    # and unknown numbers are not found
    with pytest.raises(NotFound):
        equipment.find_equipment_by_scan(actor=viewer, code="EQ-BR-999")
    with pytest.raises(NotFound):
        equipment.get_equipment(actor=viewer, equipment_id=view.id + 1000)


def test_the_list_filters_searches_and_pages(lite: dict[str, Actor]) -> None:
    # given two bioreactors, a balance overdue by the plan date and a freezer
    reactor = f.new_equipment("bioreactor", serial_number="R-1", location="B2-301")
    f.new_equipment("bioreactor", serial_number="R-2", location="B2-302")
    balance = f.new_equipment("balance", serial_number="BAL-77")
    f.calibrate(balance.id, on=TODAY - timedelta(days=200))
    freezer = f.new_equipment("freezer", location="QC-冷库")
    viewer = lite["viewer.chen"]
    # when the list is filtered, searched and paged
    by_class = equipment.list_equipment(actor=viewer, class_code="bioreactor")
    searched = equipment.list_equipment(actor=viewer, query="冷库")
    by_serial = equipment.list_equipment(actor=viewer, query="bal-77")
    overdue = equipment.list_equipment(actor=viewer, calibration="overdue")
    page = equipment.list_equipment(actor=viewer, after_id=reactor.id, limit=2)
    # then each returns what it should, every row with its usability
    assert [v.serial_number for v in by_class] == ["R-1", "R-2"]
    assert [v.id for v in searched] == [freezer.id]
    assert [v.id for v in by_serial] == [balance.id]
    assert [v.id for v in overdue] == [balance.id]
    assert equipment.list_equipment(actor=viewer, calibration="due_soon") == []
    assert len(page) == 2 and page[0].id > reactor.id
    assert all(v.usability is not None for v in by_class + page)
    with pytest.raises(ValidationFailed) as refused:
        equipment.list_equipment(actor=viewer, calibration="soon")
    assert fields_of(refused) == {"calibration"}


# ---------------------------------------------------------------- qualification


@pytest.mark.requirement("EU GMP Annex 15 §3.1")
def test_qualification_runs_iq_oq_pq_in_order_and_pq_sets_the_requalification_date(site: dict[str, Actor]) -> None:
    # given a new bioreactor (class requalification every 365 days)
    view = f.new_equipment("bioreactor")
    eng = f.engineer()
    on = TODAY - timedelta(days=5)
    before = footprint()
    # when PQ is recorded before OQ
    with pytest.raises(ValidationFailed) as out_of_order:
        equipment.record_qualification(actor=eng, equipment_id=view.id, phase="PQ", protocol_number="PQ-1",
                                       completed_on=on, passed=True, performed_by="王工")
    # then it is refused on the phase and nothing was written
    assert fields_of(out_of_order) == {"phase"}
    assert footprint() == before
    # when IQ, OQ and PQ pass in order
    qualified = f.qualify(view.id, on=on)
    # then the dates are set, requalification falls due a year later, each phase is in the logbook
    assert (qualified.iq_on, qualified.oq_on, qualified.pq_on) == (on, on, on)
    assert qualified.requalification_due_on == on + timedelta(days=365)
    assert [q.phase for q in qualified.qualifications] == ["IQ", "OQ", "PQ"]
    assert [k for k, _ in logbook(view.id)].count("qualification") == 3


def test_a_failed_requalification_changes_no_date(lite: dict[str, Actor]) -> None:
    # given a qualified bioreactor
    view = f.new_equipment("bioreactor")
    qualified = f.qualify(view.id, on=TODAY - timedelta(days=30))
    # when a requalification fails
    after = equipment.record_qualification(actor=f.engineer(), equipment_id=view.id, phase="RQ",
                                           protocol_number="RQ-2026-1", completed_on=TODAY, passed=False,
                                           performed_by="验证部", note="DO probe drift")
    # then it is recorded but no date moves
    assert (after.pq_on, after.requalification_due_on) == (qualified.pq_on, qualified.requalification_due_on)
    assert [(q.phase, q.passed) for q in after.qualifications][-1] == ("RQ", False)
    # when it then passes
    passed = equipment.record_qualification(actor=f.engineer(), equipment_id=view.id, phase="RQ",
                                            protocol_number="RQ-2026-2", completed_on=TODAY, passed=True,
                                            performed_by="验证部")
    # then requalification is due a year from now
    assert passed.requalification_due_on == TODAY + timedelta(days=365)


@pytest.mark.parametrize(("fields", "field"), [
    ({"phase": "DQ"}, "phase"),
    ({"completed_on": TODAY + timedelta(days=1)}, "completed_on"),
    ({"protocol_number": " "}, "protocol_number"),
    ({"performed_by": ""}, "performed_by"),
])
def test_a_bad_qualification_is_refused_naming_the_field(lite: dict[str, Actor], fields: dict[str, Any],
                                                         field: str) -> None:
    # given a bioreactor
    view = f.new_equipment("bioreactor")
    eng = f.engineer()
    before = footprint()
    values: dict[str, Any] = {"phase": "IQ", "protocol_number": "IQ-1", "completed_on": TODAY, "passed": True,
                              "performed_by": "王工"} | fields
    # when a qualification with one bad field is recorded
    with pytest.raises(ValidationFailed) as refused:
        equipment.record_qualification(actor=eng, equipment_id=view.id, **values)
    # then the field is named and nothing was written
    assert fields_of(refused) == {field}
    assert footprint() == before


# ---------------------------------------------------------------- documents


@pytest.mark.requirement("EU GMP Annex 11 §7.1")
def test_a_document_is_kept_with_its_sha256_and_read_back_unchanged(site: dict[str, Actor]) -> None:
    # given a bioreactor
    view = f.new_equipment("bioreactor")
    # when its manual is attached
    doc = equipment.attach_document(actor=f.engineer(), owner_type="equipment", owner_id=view.id, kind="manual",
                                    title="操作手册", filename="C:\\docs\\manual.pdf", content=PDF,
                                    media_type="application/pdf")
    # then it is stored with its hash and size, listed, shown on the equipment and read back byte for byte
    assert (doc.filename, doc.size, doc.sha256) == ("manual.pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    assert doc.uploaded_by == "eng.sun"
    assert [a.id for a in equipment.list_attachments(actor=site["viewer.chen"], owner_type="equipment",
                                                     owner_id=view.id)] == [doc.id]
    assert [d.id for d in equipment.get_equipment(actor=site["viewer.chen"], equipment_id=view.id).documents] \
        == [doc.id]
    meta, content = equipment.get_attachment(actor=site["viewer.chen"], attachment_id=doc.id)
    assert (meta, content) == (doc, PDF)


@pytest.mark.parametrize(("fields", "field"), [
    ({"content": b""}, "file"),
    ({"content": b"x" * (10 * 1024 * 1024 + 1)}, "file"),
    ({"media_type": "application/x-msdownload", "filename": "setup.exe"}, "file"),
    ({"kind": "invoice"}, "kind"),
    ({"filename": ""}, "filename"),
])
def test_a_bad_document_is_refused_naming_the_field(lite: dict[str, Actor], fields: dict[str, Any],
                                                    field: str) -> None:
    # given a bioreactor
    view = f.new_equipment("bioreactor")
    eng = f.engineer()
    before = footprint()
    values: dict[str, Any] = {"owner_type": "equipment", "owner_id": view.id, "kind": "manual", "title": "手册",
                              "filename": "m.pdf", "content": PDF, "media_type": "application/pdf"} | fields
    # when the file is attached
    with pytest.raises(ValidationFailed) as refused:
        equipment.attach_document(actor=eng, **values)
    # then the field is named and nothing was written
    assert field in fields_of(refused)
    assert footprint() == before


def test_attaching_needs_the_right_of_the_record_it_belongs_to(lite: dict[str, Actor]) -> None:
    # given a bioreactor
    view = f.new_equipment("bioreactor")
    eng = f.engineer()
    before = footprint()
    # when an operator attaches a manual, or anyone attaches to equipment that does not exist
    with pytest.raises(PermissionDenied):
        equipment.attach_document(actor=lite["op.liu"], owner_type="equipment", owner_id=view.id, kind="manual",
                                  title="手册", filename="m.pdf", content=PDF, media_type="application/pdf")
    with pytest.raises(NotFound):
        equipment.attach_document(actor=eng, owner_type="equipment", owner_id=view.id + 99, kind="manual",
                                  title="手册", filename="m.pdf", content=PDF, media_type="application/pdf")
    with pytest.raises(ValidationFailed) as bad_owner:
        equipment.attach_document(actor=eng, owner_type="batch", owner_id=1, kind="manual",
                                  title="手册", filename="m.pdf", content=PDF, media_type="application/pdf")
    # then nothing was written
    assert fields_of(bad_owner) == {"owner_type"}
    assert footprint() == before

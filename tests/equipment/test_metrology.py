"""Calibrations, the impact assessment an out-of-tolerance instrument opens, and the due-date calendar."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, NotFound, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.equipment import service as equipment
from pharmos.equipment import status
from pharmos.equipment.maintenance import PlanTaskInput
from pharmos.equipment.metrology import CalibrationPointInput
from pharmos.equipment.models import (
    Attachment,
    Calibration,
    CalibrationPoint,
    Equipment,
    ImpactAssessment,
    ImpactItem,
    LogbookEntry,
)
from pharmos.equipment.views import CalibrationView, EquipmentView
from pharmos.quality import service as quality
from pharmos.quality.models import Deviation
from tests.equipment import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
PDF = b"%PDF-1.4\n% calibration certificate\n"


def footprint() -> dict[str, Any]:
    """Everything a refused metrology call must leave untouched."""
    with read_session() as session:
        return {
            "calibrations": session.scalar(select(func.count(Calibration.id))),
            "points": session.scalar(select(func.count(CalibrationPoint.id))),
            "assessments": session.scalar(select(func.count(ImpactAssessment.id))),
            "items": sorted(session.execute(select(ImpactItem.id, ImpactItem.verdict, ImpactItem.comment)).all()),
            "conclusions": sorted(session.execute(select(ImpactAssessment.id, ImpactAssessment.conclusion,
                                                         ImpactAssessment.state)).all()),
            "logbook": session.scalar(select(func.count(LogbookEntry.id))),
            "attachments": session.scalar(select(func.count(Attachment.id))),
            "deviations": session.scalar(select(func.count(Deviation.id))),
            "equipment": sorted(session.execute(select(
                Equipment.id, Equipment.calibration_status, Equipment.last_calibrated_on,
                Equipment.calibration_due_on, Equipment.state)).all()),
            "audit": count_entries(session),
        }


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


def point(nominal: str = "100", as_left: str = "100.0004", as_found: str | None = None,
          tolerance: str | None = None) -> CalibrationPointInput:
    return CalibrationPointInput(nominal=Decimal(nominal), as_left=Decimal(as_left),
                                 as_found=None if as_found is None else Decimal(as_found),
                                 tolerance=None if tolerance is None else Decimal(tolerance))


def record(equipment_id: int, *, actor: Actor | None = None, **overrides: Any) -> CalibrationView:
    """A calibration of ``equipment_id`` by the metrology engineer; ``overrides`` replace the defaults."""
    fields: dict[str, Any] = {"performed_on": TODAY, "kind": "internal", "performed_by": "计量室 孙工",
                              "points": [point()], "result": "pass", "reference_standard": "E2 砝码 100 g"}
    return equipment.record_calibration(actor=actor or f.engineer(), equipment_id=equipment_id,
                                        **(fields | overrides))


def site_midnight(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(get_settings().site_timezone)).astimezone(UTC)


@contextmanager
def clock_moved_back(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> Iterator[None]:
    """Use recorded as if ``by`` ago: the server clock is the one outside dependency moved here."""
    with monkeypatch.context() as patch:
        patch.setattr(status, "utcnow", lambda: utcnow() - by)
        yield


def use(site: dict[str, Actor], equipment_id: int, reference: str) -> None:
    operator = site["op.liu"]
    equipment.start_use(actor=operator, equipment_id=equipment_id, reference=reference)
    equipment.end_use(actor=operator, equipment_id=equipment_id, reference=reference)


def balance(site: dict[str, Actor], **fields: Any) -> EquipmentView:
    """A balance in service: qualified, calibrated (pass) yesterday, tolerance ± 0.001 g over 0–220 g."""
    return f.usable_equipment(site, "balance", **fields)


# ---------------------------------------------------------------- passing calibrations


@pytest.mark.requirement("药品GMP 第九十二条")
def test_a_passing_calibration_puts_the_instrument_in_tolerance_until_its_next_due_date(
        site: dict[str, Actor]) -> None:
    # given a new balance (class interval 180 days) and one with its own 90-day interval
    new = f.new_equipment("balance")
    own = f.new_equipment("balance", calibration_interval_days=90, serial_number="B-90")
    assert new.calibration_status == "never_calibrated"
    # when each passes a calibration performed three days ago
    done = record(new.id, performed_on=TODAY - timedelta(days=3),
                  points=[point("50", "50.0002", as_found="50.0003"), point("200", "199.9995")])
    record(own.id, performed_on=TODAY - timedelta(days=3))
    # then the calibration is numbered, its points judged, and it is due after the interval in force
    assert re.fullmatch(r"CAL-\d{4}-\d{4}", done.number)
    assert (done.result, done.state, done.as_found_out_of_tolerance) == ("pass", "recorded", False)
    assert done.next_due_on == TODAY + timedelta(days=177)
    assert [(p.nominal, p.as_left_within, p.as_found_within, p.tolerance, p.unit) for p in done.points] == [
        (Decimal(50), True, True, Decimal("0.001"), "g"), (Decimal(200), True, None, Decimal("0.001"), "g")]
    assert done.impact_assessment_id is None
    assert quality.list_deviations(actor=f.SETUP) == []
    after = equipment.get_equipment(actor=f.SETUP, equipment_id=new.id)
    assert (after.calibration_status, after.last_calibrated_on, after.calibration_due_on) == (
        "in_tolerance", TODAY - timedelta(days=3), TODAY + timedelta(days=177))
    assert equipment.get_equipment(actor=f.SETUP, equipment_id=own.id).calibration_due_on == \
        TODAY + timedelta(days=87)
    # and the logbook explains the change, pointing to the calibration
    entries = equipment.list_logbook(actor=f.SETUP, equipment_id=new.id, kind="calibration")
    assert [e.source_number for e in entries] == [done.number]
    # and nothing was opened for assessment
    assert equipment.list_impact_assessments(actor=f.SETUP) == []


def test_an_external_calibration_keeps_its_certificate(site: dict[str, Actor]) -> None:
    # given a balance in service
    scale = balance(site)
    # when the vendor's calibration is recorded with its certificate file
    done = record(scale.id, kind="external", performed_by="北京市计量检测科学研究院", certificate_number="JJ-2026-0815",
                  certificate=("JJ-2026-0815.pdf", PDF, "application/pdf"))
    # then the certificate is kept with the calibration, hashed, and can be read back unchanged
    assert [(c.kind, c.title, c.filename, c.owner_type) for c in done.certificates] == [
        ("certificate", "JJ-2026-0815", "JJ-2026-0815.pdf", "calibration")]
    kept, content = equipment.get_attachment(actor=f.SETUP, attachment_id=done.certificates[0].id)
    assert content == PDF and kept.size == len(PDF)
    assert equipment.get_calibration(actor=f.SETUP, calibration_id=done.id).certificates == done.certificates


def test_calibrations_are_listed_and_filtered(site: dict[str, Actor]) -> None:
    # given a balance calibrated yesterday (pass) and failed today
    scale = balance(site)
    failed = record(scale.id, result="fail", points=[point(as_left="100.01")])
    # when the calibrations are listed
    everything = equipment.list_calibrations(actor=site["viewer.chen"], equipment_id=scale.id)
    fails = equipment.list_calibrations(actor=site["viewer.chen"], result="fail")
    # then both are there in order, and the filter keeps the failed one with its assessment
    assert [c.result for c in everything] == ["pass", "fail"]
    assert [c.number for c in fails] == [failed.number]
    assert fails[0].impact_assessment_number == failed.impact_assessment_number is not None
    assert equipment.list_calibrations(actor=site["viewer.chen"], after_id=everything[0].id) == everything[1:]
    with pytest.raises(NotFound):
        equipment.get_calibration(actor=site["viewer.chen"], calibration_id=9999)


# ---------------------------------------------------------------- refused calibrations


BAD_CALIBRATIONS = [
    pytest.param({"performed_on": TODAY + timedelta(days=1)}, "performed_on", id="performed in the future"),
    pytest.param({"performed_on": TODAY - timedelta(days=2)}, "performed_on", id="before the last calibration"),
    pytest.param({"kind": "vendor"}, "kind", id="kind neither internal nor external"),
    pytest.param({"result": "maybe"}, "result", id="result neither pass nor fail"),
    pytest.param({"performed_by": "  "}, "performed_by", id="nobody performed it"),
    pytest.param({"points": []}, "points", id="no points"),
    pytest.param({"kind": "external"}, "certificate_number", id="external without certificate number"),
    pytest.param({"points": [point(), point("200", "200.002")]}, "points[1].as_left",
                 id="pass with an as-left reading outside tolerance"),
    pytest.param({"result": "fail"}, "comment", id="fail with every point inside and no comment"),
    pytest.param({"points": [point("500", "500")]}, "points[0].nominal", id="nominal outside the range"),
    pytest.param({"points": [CalibrationPointInput(nominal="100", as_left="abc")]}, "points[0].as_left",
                 id="as-left not a number"),
    pytest.param({"points": [CalibrationPointInput(nominal="100", as_left="NaN")]}, "points[0].as_left",
                 id="as-left not finite"),
    pytest.param({"points": [point(tolerance="0")]}, "points[0].tolerance", id="tolerance zero"),
    pytest.param({"certificate": ("cert.exe", b"MZ", "application/x-msdownload")}, "certificate",
                 id="certificate of a refused file type"),
]


@pytest.mark.requirement("药品GMP 第九十二条")
@pytest.mark.parametrize(("overrides", "field"), BAD_CALIBRATIONS)
def test_a_bad_calibration_is_refused_naming_the_field_and_writes_nothing(
        site: dict[str, Actor], overrides: dict[str, Any], field: str) -> None:
    # given a balance in service, calibrated yesterday
    scale = balance(site)
    metrology = f.engineer()
    before = footprint()
    # when a calibration with one bad input is recorded
    with pytest.raises(ValidationFailed) as refused:
        record(scale.id, actor=metrology, **overrides)
    # then it is refused naming that field, and nothing at all is written
    assert field in fields_of(refused), refused.value.fields
    assert footprint() == before


def test_an_instrument_that_needs_no_calibration_cannot_be_calibrated(site: dict[str, Actor]) -> None:
    # given a bioreactor (not an instrument)
    reactor = f.new_equipment("bioreactor")
    metrology = f.engineer()
    before = footprint()
    # when a calibration is recorded for it
    with pytest.raises(ValidationFailed) as refused:
        record(reactor.id, actor=metrology)
    # then it is refused on the equipment, and nothing is written
    assert fields_of(refused) == {"equipment_id"}
    assert footprint() == before


def test_only_metrology_records_calibrations(site: dict[str, Actor]) -> None:
    # given a balance in service
    scale = balance(site)
    before = footprint()
    # when an operator tries to record a calibration
    with pytest.raises(PermissionDenied):
        equipment.record_calibration(actor=site["op.liu"], equipment_id=scale.id, performed_on=TODAY,
                                     kind="internal", performed_by="刘洋", points=[point()], result="pass")
    # then nothing is written
    assert footprint() == before


# ---------------------------------------------------------------- out of tolerance → impact assessment


@pytest.mark.requirement("药品GMP 第九十二条")
@pytest.mark.requirement("EU GMP Part I 3.41")
def test_a_failed_calibration_blocks_the_instrument_and_lists_every_use_since_the_last_pass(
        site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given a balance that passed calibration yesterday, used three days ago (before that pass) and twice since
    scale = balance(site)
    other = balance(site, serial_number="B-OTHER")
    with clock_moved_back(monkeypatch, timedelta(days=3)):
        use(site, scale.id, "BO-2026-0001")
    use(site, scale.id, "BO-2026-0002")
    use(site, other.id, "BO-2026-0003")  # another balance: not in doubt
    use(site, scale.id, "BO-2026-0004")
    last_pass = equipment.list_calibrations(actor=f.SETUP, equipment_id=scale.id)[-1]
    # when today's calibration finds it out of tolerance
    failed = record(scale.id, result="fail", points=[point(as_found="100.004", as_left="100.004")])
    # then the balance is out of tolerance and may not be used, though its state is unchanged
    after = equipment.get_equipment(actor=f.SETUP, equipment_id=scale.id)
    assert (after.state, after.calibration_status) == ("in_service", "out_of_tolerance")
    assert after.calibration_due_on == last_pass.next_due_on and after.last_calibrated_on == last_pass.performed_on
    assert "calibration_failed" in {r.code for r in equipment.usability(equipment_id=scale.id).reasons}
    with pytest.raises(TransitionRefused):
        equipment.start_use(actor=site["op.liu"], equipment_id=scale.id, reference="BO-2026-0005")
    assert (failed.result, failed.next_due_on, failed.as_found_out_of_tolerance) == ("fail", None, True)
    # and an impact assessment lists exactly the uses since the day of the last pass, none of the other balance
    assessment = equipment.get_impact_assessment(actor=f.SETUP, assessment_id=failed.impact_assessment_id or 0)
    assert re.fullmatch(r"IA-\d{4}-\d{3}", assessment.number)
    assert assessment.number == failed.impact_assessment_number
    assert (assessment.state, assessment.calibration_number, assessment.equipment_number) == (
        "open", failed.number, scale.number)
    assert assessment.since == site_midnight(last_pass.performed_on)
    assert [(i.reference, i.verdict) for i in assessment.items] == [("BO-2026-0002", "pending"),
                                                                     ("BO-2026-0004", "pending")]
    # and a deviation is raised with it, linked to the balance, in the same transaction
    assert re.fullmatch(r"DEV-\d{4}-\d{4}", assessment.deviation_number)
    deviation = quality.get_deviation(actor=site["qa.li"], deviation_id=quality.list_deviations(
        actor=site["qa.li"], linked=f"equipment:{scale.number}")[0].id)
    assert (deviation.number, deviation.state, deviation.title, deviation.source, deviation.reported_by) == (
        assessment.deviation_number, "reported", f"Instrument out of tolerance: {scale.number}",
        f"calibration {failed.number}", f.engineer().username)
    assert [(link.record_type, link.reference) for link in deviation.links] == [("equipment", scale.number)]
    assert assessment.number in deviation.description and "2 listed" in deviation.description
    # and each item points at the logbook entry of the use
    with read_session() as session:
        kinds = set(session.scalars(select(LogbookEntry.kind).where(
            LogbookEntry.id.in_([i.logbook_entry_id for i in assessment.items]))))
    assert kinds == {"use_started"}


def test_a_point_found_out_of_tolerance_but_adjusted_still_opens_an_assessment(site: dict[str, Actor]) -> None:
    # given a balance that passed yesterday and was used today
    scale = balance(site)
    use(site, scale.id, "BO-2026-0010")
    # when today's calibration finds it out, adjusts it back within tolerance and passes it
    done = record(scale.id, points=[point(as_found="100.0030", as_left="100.0001")])
    # then the balance is in tolerance with a new due date …
    after = equipment.get_equipment(actor=f.SETUP, equipment_id=scale.id)
    assert (after.calibration_status, after.calibration_due_on) == ("in_tolerance", TODAY + timedelta(days=180))
    # … and the use since the previous pass is still assessed
    assert done.as_found_out_of_tolerance and done.points[0].as_found_within is False
    assessment = equipment.get_impact_assessment(actor=f.SETUP, assessment_id=done.impact_assessment_id or 0)
    assert assessment.since == site_midnight(TODAY - timedelta(days=1))
    assert [i.reference for i in assessment.items] == ["BO-2026-0010"]
    # … under a deviation of its own
    deviation = quality.list_deviations(actor=site["qa.li"], linked=f"equipment:{scale.number}")
    assert [d.number for d in deviation] == [assessment.deviation_number]
    assert "found out of tolerance before adjustment" in deviation[0].description


def test_without_any_passing_calibration_every_use_since_registration_is_in_doubt(site: dict[str, Actor]) -> None:
    # given a balance that was never calibrated
    scale = f.new_equipment("balance")
    # when its first calibration fails
    failed = record(scale.id, result="fail", points=[point(as_left="101")])
    # then the assessment covers the time since the balance was registered
    assessment = equipment.get_impact_assessment(actor=f.SETUP, assessment_id=failed.impact_assessment_id or 0)
    assert assessment.since == scale.created_at
    assert assessment.items == ()
    assert equipment.get_equipment(actor=f.SETUP, equipment_id=scale.id).calibration_status == "out_of_tolerance"


# ---------------------------------------------------------------- judging and approving the assessment


def failed_with_uses(site: dict[str, Actor], *references: str) -> int:
    """A balance used for ``references`` whose calibration then failed: its assessment's id."""
    scale = balance(site)
    for reference in references:
        use(site, scale.id, reference)
    failed = record(scale.id, result="fail", points=[point(as_left="100.01")])
    assert failed.impact_assessment_id is not None
    return failed.impact_assessment_id


@pytest.mark.requirement("21 CFR 211.68(a)")
def test_the_assessment_is_judged_concluded_submitted_and_approved_by_someone_else(site: dict[str, Actor]) -> None:
    # given an open assessment with two uses
    assessment_id = failed_with_uses(site, "BO-2026-0021", "BO-2026-0022")
    assessor, approver = site["qa.li"], f.person("qa.wu", "qa_manager", "吴敏")
    items = equipment.get_impact_assessment(actor=assessor, assessment_id=assessment_id).items
    # when the assessor judges only one use, submitting is refused
    equipment.judge_impact_item(actor=assessor, assessment_id=assessment_id, item_id=items[0].id,
                                verdict="no_impact", comment="称量余量充足")
    with pytest.raises(TransitionRefused, match="verdict on every use"):
        f.sign(assessor, "impact-assessments", assessment_id, "submit")
    # and with every use judged but no conclusion, still refused
    equipment.judge_impact_item(actor=assessor, assessment_id=assessment_id, item_id=items[1].id,
                                verdict="impact", comment="偏差 0.01 g 超出称量允差")
    with pytest.raises(TransitionRefused, match="conclusion"):
        f.sign(assessor, "impact-assessments", assessment_id, "submit")
    # when the assessor concludes and submits
    concluded = equipment.conclude_impact_assessment(actor=assessor, assessment_id=assessment_id,
                                                     conclusion="BO-2026-0022 受影响，转偏差处理。",
                                                     deviation_number="DEV-2026-0042")
    assert [(i.verdict, i.comment) for i in concluded.items] == [("no_impact", "称量余量充足"),
                                                                  ("impact", "偏差 0.01 g 超出称量允差")]
    assert f.sign(assessor, "impact-assessments", assessment_id, "submit") == "assessed"
    # then the assessor cannot approve their own assessment
    with pytest.raises(TransitionRefused, match="author"):
        f.sign(assessor, "impact-assessments", assessment_id, "approve")
    # and another QA manager approves it
    assert f.sign(approver, "impact-assessments", assessment_id, "approve") == "closed"
    closed = equipment.get_impact_assessment(actor=site["viewer.chen"], assessment_id=assessment_id)
    assert (closed.state, closed.deviation_number, closed.author) == ("closed", "DEV-2026-0042", "qa.li")
    assert [s.meaning for s in closed.signatures] == ["performed", "approved"]
    assert all(s.valid for s in closed.signatures)
    assert [a.number for a in equipment.list_impact_assessments(actor=f.SETUP, state="closed")] == [closed.number]
    # and a closed assessment can no longer be changed
    before = footprint()
    with pytest.raises(Conflict):
        equipment.judge_impact_item(actor=assessor, assessment_id=assessment_id, item_id=items[0].id,
                                    verdict="impact", comment="改判")
    with pytest.raises(Conflict):
        equipment.conclude_impact_assessment(actor=assessor, assessment_id=assessment_id, conclusion="改写")
    assert footprint() == before


@pytest.mark.parametrize(("verdict", "comment", "field"), [
    pytest.param("maybe", "", "verdict", id="unknown verdict"),
    pytest.param("impact", "  ", "comment", id="impact without a comment"),
])
def test_a_bad_verdict_is_refused_naming_the_field(site: dict[str, Actor], verdict: str, comment: str,
                                                   field: str) -> None:
    # given an open assessment with one use
    assessment_id = failed_with_uses(site, "BO-2026-0031")
    item = equipment.get_impact_assessment(actor=f.SETUP, assessment_id=assessment_id).items[0]
    before = footprint()
    # when a bad verdict is given
    with pytest.raises(ValidationFailed) as refused:
        equipment.judge_impact_item(actor=site["qa.zhang"], assessment_id=assessment_id, item_id=item.id,
                                    verdict=verdict, comment=comment)
    # then it names the field, and nothing is written
    assert fields_of(refused) == {field}
    assert footprint() == before


def test_concluding_without_a_deviation_number_keeps_the_deviation_raised_with_the_calibration(
        site: dict[str, Actor]) -> None:
    # given an assessment opened by a failed calibration, with its deviation
    assessment_id = failed_with_uses(site, "BO-2026-0031")
    raised = equipment.get_impact_assessment(actor=f.SETUP, assessment_id=assessment_id).deviation_number
    # when the assessor concludes leaving the deviation number blank
    concluded = equipment.conclude_impact_assessment(actor=site["qa.li"], assessment_id=assessment_id,
                                                     conclusion="No impact on BO-2026-0031.")
    # then the raised deviation stays on the assessment
    assert raised and concluded.deviation_number == raised


def test_a_blank_conclusion_or_someone_elses_item_is_refused(site: dict[str, Actor]) -> None:
    # given two open assessments
    first = failed_with_uses(site, "BO-2026-0041")
    second = failed_with_uses(site, "BO-2026-0042")
    foreign = equipment.get_impact_assessment(actor=f.SETUP, assessment_id=second).items[0]
    before = footprint()
    # when the conclusion is blank, or an item of the other assessment is judged through this one
    with pytest.raises(ValidationFailed) as refused:
        equipment.conclude_impact_assessment(actor=site["qa.zhang"], assessment_id=first, conclusion=" ")
    assert fields_of(refused) == {"conclusion"}
    with pytest.raises(NotFound):
        equipment.judge_impact_item(actor=site["qa.zhang"], assessment_id=first, item_id=foreign.id,
                                    verdict="no_impact", comment="")
    # and an operator may not judge at all
    with pytest.raises(PermissionDenied):
        equipment.judge_impact_item(actor=site["op.liu"], assessment_id=second, item_id=foreign.id,
                                    verdict="no_impact", comment="")
    # then nothing is written
    assert footprint() == before


# ---------------------------------------------------------------- calendar and due list


def calibrated_on(days_ago: int, serial: str) -> EquipmentView:
    scale = f.new_equipment("balance", serial_number=serial)
    record(scale.id, performed_on=TODAY - timedelta(days=days_ago))
    return equipment.get_equipment(actor=f.SETUP, equipment_id=scale.id)


def test_the_calendar_shows_calibration_requalification_and_maintenance_dates_overdue_first(
        site: dict[str, Actor]) -> None:
    # given a balance overdue by 20 days, one due in 10 days, a reactor due for requalification in 5 days
    # and a preventive maintenance plan due in 3 days
    overdue = calibrated_on(200, "B-OVERDUE")
    soon = calibrated_on(170, "B-SOON")
    reactor = f.new_equipment("bioreactor", requalification_interval_days=30)
    f.qualify(reactor.id, on=TODAY - timedelta(days=25))
    plan = equipment.create_maintenance_plan(actor=f.engineer(), equipment_id=reactor.id, title="更换机械密封",
                                             basis="calendar", interval_days=90, first_due_on=TODAY + timedelta(3),
                                             tasks=[PlanTaskInput("检查密封")])
    # when the calendar of the coming month (from 30 days back) is read
    entries = equipment.calibration_calendar(actor=site["viewer.chen"], start=TODAY - timedelta(days=30),
                                             end=TODAY + timedelta(days=30))
    # then the overdue calibration comes first, then the rest by date
    assert [(e.kind, e.equipment_number, e.on, e.overdue, e.reference) for e in entries] == [
        ("calibration", overdue.number, TODAY - timedelta(days=20), True, ""),
        ("maintenance", reactor.number, TODAY + timedelta(days=3), False, plan.number),
        ("requalification", reactor.number, TODAY + timedelta(days=5), False, ""),
        ("calibration", soon.number, TODAY + timedelta(days=10), False, ""),
    ]
    assert entries[1].title == "更换机械密封"
    # and a window that excludes them shows nothing
    assert equipment.calibration_calendar(actor=site["viewer.chen"], start=TODAY + timedelta(days=11),
                                          end=TODAY + timedelta(days=20)) == []


@pytest.mark.parametrize(("start", "end"), [
    pytest.param(TODAY, TODAY - timedelta(days=1), id="end before start"),
    pytest.param(TODAY, TODAY + timedelta(days=401), id="more than 400 days"),
])
def test_a_bad_calendar_window_is_refused_on_end(site: dict[str, Actor], start: Any, end: Any) -> None:
    # when the calendar is asked for a bad window
    with pytest.raises(ValidationFailed) as refused:
        equipment.calibration_calendar(actor=site["viewer.chen"], start=start, end=end)
    # then the end date is named
    assert fields_of(refused) == {"end"}


def test_calibrations_due_lists_instruments_due_soon_or_overdue(site: dict[str, Actor]) -> None:
    # given balances overdue, due in 10 days and due in 100 days, and an overdue one that was retired
    overdue = calibrated_on(200, "B-OVERDUE")
    soon = calibrated_on(170, "B-SOON")
    calibrated_on(80, "B-LATER")
    retired = calibrated_on(210, "B-RETIRED")
    f.sign(site["qa.li"], "equipment", retired.id, "retire", reason="Replaced")
    # when the instruments due within 30 days are listed
    due = equipment.calibrations_due(actor=site["viewer.chen"], within_days=30)
    # then the overdue one comes first and the later and retired ones are left out
    assert [e.number for e in due] == [overdue.number, soon.number]
    assert due[0].usability is not None and "calibration_overdue" in {r.code for r in due[0].usability.reasons}
    # and a negative window is refused
    with pytest.raises(ValidationFailed) as refused:
        equipment.calibrations_due(actor=site["viewer.chen"], within_days=-1)
    assert fields_of(refused) == {"within_days"}

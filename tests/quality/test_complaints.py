"""Complaint services: intake, classification with due dates by class, investigation, links, response, closure,
list, trend, export and the inbox; every bad input refused naming its field with nothing written.

21 CFR 211.198 / 药品GMP 第二百六十六条至第二百七十二条. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.lifecycle import apply_transition
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, DomainError, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.quality import service as quality
from pharmos.quality.deviations import add_working_days
from pharmos.quality.models import Complaint
from tests.conftest import password_of
from tests.materials import factories as mf
from tests.quality import complaint_factories as cf
from tests.quality import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()


def written() -> dict[str, int]:
    """Complaint rows, their audit entries and every electronic signature."""
    with read_session() as session:
        return {
            "complaints": session.scalar(select(func.count(Complaint.id))) or 0,
            "audit": session.scalar(select(func.count(AuditEntry.id)).where(
                AuditEntry.record_type == "complaint")) or 0,
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0,
        }


def refused(call: Any, field: str, error: type[DomainError] = ValidationFailed) -> DomainError:
    """Run ``call``; it must raise ``error`` naming ``field`` and write nothing."""
    before = written()
    with pytest.raises(error) as caught:
        call()
    assert field in [p.field for p in caught.value.fields], caught.value
    assert written() == before
    return caught.value


# ---------------------------------------------------------------- the whole journey


def test_a_complaint_goes_from_intake_to_closure_with_signatures_and_a_timeline(site: dict[str, Actor]) -> None:
    # given
    who = f.investigator()
    complaint = cf.receive(site, sample_received=True, sample_received_on=TODAY, received_on=TODAY)
    # when
    quality.classify_complaint(actor=f.classifier(site), complaint_id=complaint.id, classification="major",
                               category="quality_defect", adverse_event=True, investigator_username=who.username)
    f.sign(f.classifier(site), complaint.id, "classify", collection="complaints")
    quality.record_complaint_investigation(actor=who, complaint_id=complaint.id, investigation="Samples checked.",
                                           root_cause="Damaged stopper.", justified=True)
    f.sign(who, complaint.id, "submit", collection="complaints")
    f.sign(f.qa_approver(site), complaint.id, "approve", collection="complaints")
    quality.record_response(actor=f.classifier(site), complaint_id=complaint.id, response="Replaced.",
                            responded_on=TODAY)
    f.sign(f.qa_approver(site), complaint.id, "close", collection="complaints")
    done = quality.get_complaint(actor=site["viewer.chen"], complaint_id=complaint.id)
    # then
    assert complaint.number.startswith(f"CMP-{TODAY:%Y}-") and complaint.state == "received"
    assert done.state == "closed" and done.closed_at is not None and done.approved_at is not None
    assert done.adverse_event and done.justified is True and done.investigator == who.username
    assert done.due_on == add_working_days(TODAY, 20)
    assert [(s.username, s.meaning) for s in done.signatures] == [
        (who.username, "performed"), ("qa.li", "approved"), ("qa.li", "verified")]
    assert done.signatures[0].valid and done.signatures[-1].valid
    moves = [(e.old, e.new) for e in done.timeline if e.action == "moved"]
    assert moves == [("received", "investigating"), ("investigating", "pending_approval"),
                     ("pending_approval", "approved"), ("approved", "closed")]
    assert not done.overdue


def test_recording_the_response_keeps_the_approval_signature_valid(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.approved_complaint(site)
    # when
    answered = quality.record_response(actor=f.classifier(site), complaint_id=complaint.id, response="Replaced.",
                                       responded_on=TODAY)
    # then
    assert [s.valid for s in answered.signatures] == [True, True]


@pytest.mark.parametrize(("classification", "days"), [("minor", 30), ("major", 20), ("critical", 10)])
def test_the_due_date_defaults_to_working_days_by_class(site: dict[str, Actor], classification: str,
                                                        days: int) -> None:
    # when
    complaint = cf.classified_complaint(site, classification=classification)
    # then
    assert complaint.due_on == add_working_days(TODAY, days)
    assert complaint.state == "received"  # the classify transition moves the state


def test_the_due_date_setting_changes_the_default(site: dict[str, Actor]) -> None:
    # given
    mf.effective_setting(site, "quality.complaint_due_days.critical", "3")
    # when
    complaint = cf.classified_complaint(site, classification="critical")
    # then
    assert complaint.due_on == add_working_days(TODAY, 3)


def test_classify_transition_needs_the_classification_first(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.receive(site)
    before = written()
    # when
    with pytest.raises(TransitionRefused) as caught:
        f.sign(f.classifier(site), complaint.id, "classify", collection="complaints")
    # then
    assert "classification" in caught.value.message and "investigator" in caught.value.message
    assert written() == before


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(("change", "field"), [
    ({"received_on": TODAY + timedelta(days=1)}, "received_on"),
    ({"received_on": TODAY - timedelta(days=400)}, "received_on"),
    ({"sample_received": True, "sample_received_on": None}, "sample_received_on"),
    ({"sample_received": True, "sample_received_on": TODAY - timedelta(days=3),
      "received_on": TODAY - timedelta(days=1)}, "sample_received_on"),
    ({"sample_received": True, "sample_received_on": TODAY + timedelta(days=1)}, "sample_received_on"),
    ({"channel": "fax"}, "channel"),
    ({"lot_number": "lot 12!"}, "lot_number"),
    ({"lot_number": "X"}, "lot_number"),
    ({"customer": " "}, "customer"),
    ({"product": ""}, "product"),
    ({"description": ""}, "description"),
])
def test_a_bad_intake_is_refused_naming_the_field_and_writes_nothing(site: dict[str, Actor], change: dict[str, Any],
                                                                     field: str) -> None:
    # given
    cf.receiver()
    # when / then
    refused(lambda: cf.receive(site, **change), field)


def test_the_lot_number_is_kept_in_capitals(site: dict[str, Actor]) -> None:
    # when
    complaint = cf.receive(site, lot_number=" ins-2611-004 ")
    # then
    assert complaint.lot_number == "INS-2611-004"


@pytest.mark.parametrize(("change", "field"), [
    ({"classification": "huge"}, "classification"),
    ({"category": "taste"}, "category"),
    ({"investigator_username": "op.liu"}, "investigator_username"),
    ({"investigator_username": "nobody"}, "investigator_username"),
    ({"due_on": TODAY - timedelta(days=1)}, "due_on"),
])
def test_a_bad_classification_is_refused_naming_the_field(site: dict[str, Actor], change: dict[str, Any],
                                                          field: str) -> None:
    # given
    complaint = cf.receive(site)
    values: dict[str, Any] = {"classification": "minor", "category": "packaging", "adverse_event": False,
                              "investigator_username": f.investigator().username, **change}
    # when / then
    refused(lambda: quality.classify_complaint(actor=f.classifier(site), complaint_id=complaint.id, **values), field)


def test_only_the_investigator_records_the_investigation(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.investigating_complaint(site)
    other = f.person("qc.sun", "qc_analyst", "孙化验")
    before = written()
    # when
    with pytest.raises(PermissionDenied):
        quality.record_complaint_investigation(actor=other, complaint_id=complaint.id, investigation="Mine now.")
    # then
    assert written() == before


def test_submit_needs_every_finding(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.investigating_complaint(site)
    quality.record_complaint_investigation(actor=f.investigator(), complaint_id=complaint.id, investigation="Done.")
    # when
    with pytest.raises(TransitionRefused) as caught:
        f.sign(f.investigator(), complaint.id, "submit", collection="complaints")
    # then
    assert "root cause" in caught.value.message and "justified" in caught.value.message


def test_a_response_before_approval_is_refused_naming_the_response(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.pending_complaint(site)
    # when / then
    refused(lambda: quality.record_response(actor=f.classifier(site), complaint_id=complaint.id,
                                            response="Replaced.", responded_on=TODAY), "response", Conflict)


@pytest.mark.parametrize(("change", "field"), [
    ({"response": ""}, "response"),
    ({"responded_on": TODAY + timedelta(days=1)}, "responded_on"),
    ({"responded_on": TODAY - timedelta(days=5)}, "responded_on"),
])
def test_a_bad_response_is_refused_naming_the_field(site: dict[str, Actor], change: dict[str, Any],
                                                    field: str) -> None:
    # given
    complaint = cf.approved_complaint(site, received_on=TODAY - timedelta(days=2))
    values = {"response": "Replaced.", "responded_on": TODAY, **change}
    # when / then
    refused(lambda: quality.record_response(actor=f.classifier(site), complaint_id=complaint.id, **values), field)


def test_closing_without_a_response_is_refused_and_writes_nothing(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.approved_complaint(site)
    before = written()
    # when
    with pytest.raises(TransitionRefused) as caught:
        f.sign(f.qa_approver(site), complaint.id, "close", collection="complaints")
    # then
    assert "response" in caught.value.message
    assert written() == before


def test_the_investigator_cannot_approve_their_own_investigation(site: dict[str, Actor]) -> None:
    # given: a QA manager investigates
    qa = f.qa_approver(site)
    received = cf.receive(site)
    quality.classify_complaint(actor=f.classifier(site), complaint_id=received.id, classification="minor",
                               category="packaging", adverse_event=False, investigator_username=qa.username)
    f.sign(f.classifier(site), received.id, "classify", collection="complaints")
    quality.record_complaint_investigation(actor=qa, complaint_id=received.id, investigation="Checked.",
                                           root_cause="Transport.", justified=False)
    f.sign(qa, received.id, "submit", collection="complaints")
    before = written()
    # when
    with pytest.raises(DomainError):
        apply_transition(actor=qa, collection="complaints", record_id=received.id, name="approve",
                         password=password_of(qa.username))
    # then
    assert written() == before
    assert quality.get_complaint(actor=qa, complaint_id=received.id).state == "pending_approval"


def test_cancel_needs_a_reason(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.receive(site)
    # when / then
    refused(lambda: apply_transition(actor=f.classifier(site), collection="complaints", record_id=complaint.id,
                                     name="cancel", password=password_of("qa.zhang")), "reason")
    # when
    f.sign(f.classifier(site), complaint.id, "cancel", reason="Duplicate of an earlier call.",
           collection="complaints")
    # then
    assert quality.get_complaint(actor=f.classifier(site), complaint_id=complaint.id).state == "cancelled"


# ---------------------------------------------------------------- links


def test_links_to_an_existing_deviation_and_capa_are_kept_and_can_be_removed(site: dict[str, Actor]) -> None:
    # given
    deviation = f.approved_deviation(site)
    capa = quality.create_capa(actor=site["qa.li"], kind="corrective", title="Change stopper supplier",
                               source_type="deviation", deviation_id=deviation.id, owner_username="op.liu",
                               due_on=TODAY + timedelta(days=30), effectiveness_criteria="No particles in 3 months")
    complaint = cf.investigating_complaint(site)
    # when
    quality.link_complaint(actor=f.investigator(), complaint_id=complaint.id, record=f"deviation:{deviation.number}")
    linked = quality.link_complaint(actor=f.classifier(site), complaint_id=complaint.id,
                                    record=f"CAPA:{capa.number.lower()}")
    unlinked = quality.unlink_complaint(actor=f.classifier(site), complaint_id=complaint.id,
                                        record=f"deviation:{deviation.number}", reason="Different lot.")
    # then
    assert linked.linked_records == (f"deviation:{deviation.number}", f"capa:{capa.number}")
    assert unlinked.linked_records == (f"capa:{capa.number}",)
    assert any(e.reason == "Different lot." for e in unlinked.timeline)


@pytest.mark.parametrize("record", ["deviation:DEV-2020-9999", "capa:CAPA-2020-9999", "lot:LOT-1", "DEV-2020-0001",
                                    ""])
def test_a_link_to_a_record_that_does_not_exist_is_refused(site: dict[str, Actor], record: str) -> None:
    # given
    complaint = cf.investigating_complaint(site)
    # when / then
    refused(lambda: quality.link_complaint(actor=f.classifier(site), complaint_id=complaint.id, record=record),
            "record")


def test_a_duplicate_link_and_a_link_on_a_closed_complaint_are_refused(site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    complaint = cf.investigating_complaint(site)
    quality.link_complaint(actor=f.classifier(site), complaint_id=complaint.id, record=f"deviation:{deviation.number}")
    closed = cf.closed_complaint(site)
    # when / then
    refused(lambda: quality.link_complaint(actor=f.classifier(site), complaint_id=complaint.id,
                                           record=f"deviation:{deviation.number}"), "record")
    refused(lambda: quality.link_complaint(actor=f.classifier(site), complaint_id=closed.id,
                                           record=f"deviation:{deviation.number}"), "record", Conflict)
    refused(lambda: quality.unlink_complaint(actor=f.classifier(site), complaint_id=complaint.id,
                                             record=f"deviation:{deviation.number}", reason=""), "reason")


def test_someone_else_s_investigator_cannot_link(site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    complaint = cf.investigating_complaint(site)
    other = f.person("qc.sun", "qc_analyst", "孙化验")
    before = written()
    # when
    with pytest.raises(PermissionDenied):
        quality.link_complaint(actor=other, complaint_id=complaint.id, record=f"deviation:{deviation.number}")
    # then
    assert written() == before


# ---------------------------------------------------------------- permissions


def test_a_viewer_cannot_log_or_classify(site: dict[str, Actor]) -> None:
    # given
    complaint = cf.receive(site)
    before = written()
    # when / then
    with pytest.raises(PermissionDenied):
        cf.receive(site, by=site["viewer.chen"])
    with pytest.raises(PermissionDenied):
        quality.classify_complaint(actor=site["viewer.chen"], complaint_id=complaint.id, classification="minor",
                                   category="other", adverse_event=False, investigator_username="sup.wu")
    assert written() == before


# ---------------------------------------------------------------- lists, trend, export, inbox


def test_the_list_filters_and_pages_by_ascending_id(site: dict[str, Actor]) -> None:
    # given
    first = cf.receive(site, product="胰岛素 A")
    second = cf.classified_complaint(site, classification="critical", category="packaging", product="胰岛素 B",
                                     customer="北京某医院")
    third = cf.closed_complaint(site, product="胰岛素 A")
    viewer = site["viewer.chen"]
    # when
    everything = quality.list_complaints(actor=viewer)
    page_one = quality.list_complaints(actor=viewer, limit=2)
    page_two = quality.list_complaints(actor=viewer, after_id=page_one[-1].id, limit=2)
    # then
    assert [c.id for c in everything] == [first.id, second.id, third.id]
    assert [c.id for c in page_one + page_two] == [first.id, second.id, third.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, product="胰岛素 A")] == [first.id, third.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, category="packaging")] == [second.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, classification="critical")] == [second.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, state="closed")] == [third.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, open_only=True)] == [first.id, second.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, query="北京")] == [second.id]
    assert [c.id for c in quality.list_complaints(actor=viewer, query=second.number)] == [second.id]
    assert quality.list_complaints(actor=viewer, overdue=True) == []
    with pytest.raises(ValidationFailed) as caught:
        quality.list_complaints(actor=viewer, category="taste")
    assert caught.value.fields[0].field == "category"


def test_an_open_complaint_past_its_due_date_is_overdue(site: dict[str, Actor]) -> None:
    # given: due today, and tomorrow comes — simulated with a due date given as today and a list asked overdue=False
    complaint = cf.classified_complaint(site, due_on=TODAY)
    # when
    on_time = quality.list_complaints(actor=site["viewer.chen"], overdue=False)
    # then
    assert [c.id for c in on_time] == [complaint.id] and not on_time[0].overdue


def test_the_trend_counts_complaints_by_month_and_group_with_zeros(site: dict[str, Actor]) -> None:
    # given
    cf.classified_complaint(site, category="packaging", product="胰岛素 A")
    cf.classified_complaint(site, category="packaging", classification="minor", product="胰岛素 B")
    cf.receive(site, product="胰岛素 A")
    viewer = site["viewer.chen"]
    month = TODAY.strftime("%Y-%m")
    # when
    by_category = quality.complaint_trend(actor=viewer, months=3)
    by_product = quality.complaint_trend(actor=viewer, months=1, by="product")
    by_class = quality.complaint_trend(actor=viewer, months=1, by="classification")
    # then
    assert len(by_category) == 3 * 8 and sum(p.count for p in by_category) == 3
    assert {(p.category, p.count) for p in by_category if p.month == month and p.count} == {
        ("packaging", 2), ("unclassified", 1)}
    assert {(p.category, p.count) for p in by_product} == {("胰岛素 A", 2), ("胰岛素 B", 1)}
    assert {p.category: p.count for p in by_class} == {"minor": 1, "major": 1, "critical": 0, "unclassified": 1}
    for bad, field in (({"months": 0}, "months"), ({"by": "colour"}, "by")):
        with pytest.raises(ValidationFailed) as caught:
            quality.complaint_trend(actor=viewer, **bad)
        assert caught.value.fields[0].field == field


def test_the_export_has_every_matching_complaint(site: dict[str, Actor]) -> None:
    # given
    one = cf.receive(site, customer="=HYPERLINK(1)")
    two = cf.closed_complaint(site)
    # when
    content, media_type, filename = quality.export_complaints(actor=site["viewer.chen"], fmt="csv")
    xlsx, xlsx_type, xlsx_name = quality.export_complaints(actor=site["viewer.chen"], fmt="xlsx", state="closed")
    # then
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r["number"] for r in rows] == [one.number, two.number]
    assert rows[0]["customer"].startswith("'=")  # not a live formula
    assert media_type.startswith("text/csv") and filename.endswith(".csv")
    assert xlsx[:2] == b"PK" and xlsx_name.endswith(".xlsx") and "spreadsheet" in xlsx_type


def test_the_inbox_says_who_does_what_next(site: dict[str, Actor]) -> None:
    # given
    received = cf.receive(site)
    investigating = cf.investigating_complaint(site)
    pending = cf.pending_complaint(site)
    approved = cf.approved_complaint(site)
    # when
    spec = {(t.number, t.action) for t in quality.my_complaint_tasks(actor=f.classifier(site))}
    manager = {(t.number, t.action) for t in quality.my_complaint_tasks(actor=f.qa_approver(site))}
    mine = {(t.number, t.action) for t in quality.my_complaint_tasks(actor=f.investigator())}
    viewer = quality.my_complaint_tasks(actor=site["viewer.chen"])
    # then
    assert (received.number, "classify") in spec and (approved.number, "respond") in spec
    assert (pending.number, "approve") not in spec
    assert (pending.number, "approve") in manager
    assert mine == {(investigating.number, "investigate")}
    assert viewer == []
    quality.record_response(actor=f.classifier(site), complaint_id=approved.id, response="Sent.", responded_on=TODAY)
    assert (approved.number, "close") in {(t.number, t.action)
                                          for t in quality.my_complaint_tasks(actor=f.qa_approver(site))}

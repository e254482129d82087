"""Deviations: reporting, classification, investigation, approval with signatures, extensions, escalation, lists."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry, count_entries
from pharmos.compliance.lifecycle import apply_transition, lifecycle_for
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.db import read_session
from pharmos.core.errors import (
    Conflict,
    DomainError,
    PermissionDenied,
    SignatureRefused,
    TransitionRefused,
    ValidationFailed,
)
from pharmos.quality import service as quality
from pharmos.quality.deviations import LinkInput, add_working_days
from pharmos.quality.models import Deviation, DeviationLink, DueDateExtension
from tests.conftest import password_of
from tests.equipment.factories import new_equipment
from tests.materials import factories as mf
from tests.quality import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()


def footprint() -> dict[str, int]:
    """Everything a refused deviation call must leave untouched."""
    with read_session() as session:
        return {"deviations": int(session.scalar(select(func.count(Deviation.id))) or 0),
                "links": int(session.scalar(select(func.count(DeviationLink.id))) or 0),
                "extensions": int(session.scalar(select(func.count(DueDateExtension.id))) or 0),
                "audit": count_entries(session)}


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


# ---------------------------------------------------------------- reporting


def test_a_report_is_numbered_reported_and_names_its_linked_records(site: dict[str, Actor]) -> None:
    # given
    equipment = new_equipment("bioreactor")
    # when
    deviation = f.report(site, links=[("equipment", equipment.number.lower()), ("batch", "BO-2026-017")])
    # then
    assert deviation.number == f"DEV-{utcnow():%Y}-0001"
    assert deviation.state == "reported"
    assert deviation.reported_by == "op.liu"
    assert {(link.record_type, link.reference) for link in deviation.links} == {
        ("equipment", equipment.number), ("batch", "BO-2026-017")}
    assert [e.summary for e in deviation.timeline] == ["Created (reported)"]
    assert deviation.due_on is None and not deviation.overdue


def test_links_to_lots_and_materials_are_checked_against_the_materials_module(site: dict[str, Actor]) -> None:
    # given
    clerk = mf.warehouse_user(site)
    mf.location_tree(clerk)
    material = mf.approved_material(clerk, site["qa.li"], "RM-0100")
    supplier = mf.approved_supplier(clerk, site["qa.li"], ["RM-0100"])
    lot = mf.received_lot(site, material_code="RM-0100", supplier_id=supplier.id, receiver=clerk)
    # when: the lot is scanned by one of its containers
    deviation = f.report(site, links=[("lot", lot.containers[0].number), ("material", material.code)])
    # then: the link names the lot itself
    assert {(link.record_type, link.reference) for link in deviation.links} == {
        ("lot", lot.number), ("material", "RM-0100")}


def _future() -> Any:
    return utcnow() + timedelta(hours=1)


@pytest.mark.parametrize(("change", "field"), [
    ({"title": "  "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"description": ""}, "description"),
    ({"immediate_action": " "}, "immediate_action"),
    ({"area": "a" * 121}, "area"),
    ({"discovered_at": "yesterday"}, "discovered_at"),
    ({"discovered_at": "future"}, "discovered_at"),
    ({"occurred_at": "after discovery"}, "occurred_at"),
    ({"links": [LinkInput("invoice", "INV-1")]}, "links[0].record_type"),
    ({"links": [LinkInput("lot", "LOT-NOPE-001")]}, "links[0].reference"),
    ({"links": [LinkInput("equipment", "EQ-NOPE-001")]}, "links[0].reference"),
    ({"links": [LinkInput("material", "RM-9999")]}, "links[0].reference"),
    ({"links": [LinkInput("batch", "bo 2026/1")]}, "links[0].reference"),
    ({"links": [LinkInput("batch", "BO-1"), LinkInput("batch", "bo-1")]}, "links[1]"),
])
def test_a_bad_report_is_refused_naming_the_field_and_writes_nothing(site: dict[str, Actor], change: dict[str, Any],
                                                                      field: str) -> None:
    # given
    now = utcnow()
    values: dict[str, Any] = {"title": "Filter integrity test failed", "description": "Bubble point 2.9 bar.",
                              "immediate_action": "Filter replaced.", "discovered_at": now - timedelta(minutes=5)}
    values.update(change)
    if values["discovered_at"] == "future":
        values["discovered_at"] = now + timedelta(minutes=30)
    if values.get("occurred_at") == "after discovery":
        values["occurred_at"] = values["discovered_at"] + timedelta(minutes=1)
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.report_deviation(actor=f.reporter(site), **values)
    # then
    assert field in fields_of(refused)
    assert footprint() == before


def test_only_people_with_the_right_report_deviations(site: dict[str, Actor]) -> None:
    # given
    before = footprint()
    # when / then
    with pytest.raises(PermissionDenied):
        f.report(site, by=site["viewer.chen"])
    assert footprint() == before


def test_another_module_raises_a_deviation_discovered_now_with_its_source(site: dict[str, Actor]) -> None:
    # given
    equipment = new_equipment("balance")
    # when
    deviation = quality.raise_deviation(
        actor=Actor.system("equipment"), title=f"Calibration of {equipment.number} failed",
        description="As-found reading outside tolerance.", source="calibration CAL-2611-0006",
        links=[LinkInput("equipment", equipment.number)])
    # then
    assert deviation.state == "reported"
    assert deviation.source == "calibration CAL-2611-0006"
    assert deviation.reported_by == "equipment"
    assert deviation.immediate_action == ""
    assert abs((deviation.discovered_at - utcnow()).total_seconds()) < 60


def test_links_are_added_with_a_reason_and_removed_by_qa_until_the_deviation_is_closed(
        site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    # when
    added = quality.add_deviation_link(actor=f.reporter(site), deviation_id=deviation.id, record_type="batch",
                                       reference="BO-2026-020", reason="The batch was in the reactor")
    removed = quality.remove_deviation_link(actor=f.classifier(site), deviation_id=deviation.id,
                                            record_type="batch", reference="BO-2026-020", reason="Wrong batch")
    # then
    assert [(link.record_type, link.reference) for link in added.links] == [("batch", "BO-2026-020")]
    assert removed.links == ()
    assert [e.summary for e in removed.timeline][-2:] == ["Linked batch BO-2026-020 — The batch was in the reactor",
                                                          "Unlinked batch BO-2026-020 — Wrong batch"]
    # and: a link needs a reason, and the links of a cancelled deviation are final
    before = footprint()
    with pytest.raises(ValidationFailed) as refused:
        quality.add_deviation_link(actor=f.reporter(site), deviation_id=deviation.id, record_type="batch",
                                   reference="BO-2026-021", reason=" ")
    assert fields_of(refused) == {"reason"}
    assert footprint() == before
    cancelled = f.cancelled_deviation(site)
    with pytest.raises(Conflict):
        quality.add_deviation_link(actor=f.reporter(site), deviation_id=cancelled.id, record_type="batch",
                                   reference="BO-2026-021", reason="Late find")


# ---------------------------------------------------------------- classification


def test_working_days_skip_weekends() -> None:
    # given
    friday, saturday = date(2026, 3, 6), date(2026, 3, 7)
    # when / then
    assert add_working_days(friday, 1) == date(2026, 3, 9)
    assert add_working_days(saturday, 1) == date(2026, 3, 9)
    assert add_working_days(friday, 15) == date(2026, 3, 27)
    assert add_working_days(friday, 0) == friday


@pytest.mark.parametrize(("classification", "working_days"), [("minor", 15), ("major", 20), ("critical", 30)])
def test_classification_scores_the_risk_and_sets_the_due_date_by_class(site: dict[str, Actor], classification: str,
                                                                       working_days: int) -> None:
    # given
    deviation = f.report(site)
    # when
    classified = quality.classify_deviation(
        actor=f.classifier(site), deviation_id=deviation.id, classification=classification, severity=4,
        occurrence=3, detectability=2, rationale="Sterile boundary breached.")
    # then
    assert classified.risk_priority == 24
    assert classified.classification == classification
    assert classified.due_on == add_working_days(TODAY, working_days)
    assert classified.due_on is not None and classified.due_on.weekday() < 5
    days = (classified.due_on - TODAY).days
    assert working_days <= days <= working_days + working_days // 5 * 2 + 2
    assert classified.state == "reported"  # the classify transition moves the state


def test_the_due_date_setting_changes_the_default(site: dict[str, Actor]) -> None:
    # given
    mf.effective_setting(site, "quality.deviation_due_days.minor", "5")
    deviation = f.report(site)
    # when
    classified = quality.classify_deviation(actor=f.classifier(site), deviation_id=deviation.id,
                                            classification="minor", severity=1, occurrence=1, detectability=1,
                                            rationale="Cosmetic.")
    # then
    assert classified.due_on == add_working_days(TODAY, 5)


@pytest.mark.parametrize(("change", "field"), [
    ({"due_on": TODAY - timedelta(days=1)}, "due_on"),
    ({"classification": "huge"}, "classification"),
    ({"severity": 6}, "severity"),
    ({"occurrence": 0}, "occurrence"),
    ({"detectability": None}, "detectability"),
    ({"rationale": ""}, "rationale"),
])
def test_a_bad_classification_is_refused_naming_the_field_and_writes_nothing(
        site: dict[str, Actor], change: dict[str, Any], field: str) -> None:
    # given
    deviation = f.report(site)
    values: dict[str, Any] = {"classification": "major", "severity": 3, "occurrence": 3, "detectability": 3,
                              "rationale": "Risk assessed."}
    values.update(change)
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.classify_deviation(actor=f.classifier(site), deviation_id=deviation.id, **values)
    # then
    assert field in fields_of(refused)
    if field == "due_on":
        assert "past" in refused.value.fields[0].message
    assert footprint() == before


def test_a_given_due_date_today_or_later_is_kept(site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    # when
    classified = quality.classify_deviation(actor=f.classifier(site), deviation_id=deviation.id,
                                            classification="critical", severity=5, occurrence=2, detectability=4,
                                            rationale="Sterility at risk.", due_on=TODAY)
    # then
    assert classified.due_on == TODAY


def test_the_classify_transition_needs_a_classification_first(site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    # when / then
    with pytest.raises(TransitionRefused, match="Classify"):
        f.sign(f.classifier(site), deviation.id, "classify")


def test_classification_is_final_once_the_investigation_starts(site: dict[str, Actor]) -> None:
    # given
    deviation = f.investigating(site)
    # when / then
    with pytest.raises(Conflict):
        quality.classify_deviation(actor=f.classifier(site), deviation_id=deviation.id, classification="minor",
                                   severity=1, occurrence=1, detectability=1, rationale="Downgrade.")


# ---------------------------------------------------------------- investigation


def test_only_a_holder_of_the_investigate_right_can_be_assigned(site: dict[str, Actor]) -> None:
    # given
    deviation = f.classified(site)
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.assign_investigator(actor=f.classifier(site), deviation_id=deviation.id, username="op.liu")
    # then
    assert fields_of(refused) == {"username"}
    assert footprint() == before


def test_only_the_investigator_records_the_investigation(site: dict[str, Actor]) -> None:
    # given
    deviation = f.investigating(site)
    before = footprint()
    # when / then: QA holds deviations.investigate but is not the investigator
    with pytest.raises(PermissionDenied, match=r"sup\.wu"):
        quality.record_investigation(actor=site["qa.zhang"], deviation_id=deviation.id, root_cause="Guess.")
    assert footprint() == before
    recorded = f.record_full_investigation(f.investigator(), deviation.id)
    assert recorded.root_cause_category == "machine"
    assert len(recorded.five_whys) == 3
    assert recorded.product_impact is False


@pytest.mark.parametrize(("change", "field"), [
    ({"five_whys": ["why"] * 6}, "five_whys"),
    ({"five_whys": ["because", " "]}, "five_whys[1]"),
    ({"root_cause_category": "luck"}, "root_cause_category"),
    ({"conclusion": "c" * 10_001}, "conclusion"),
])
def test_bad_findings_are_refused_naming_the_field_and_write_nothing(site: dict[str, Actor], change: dict[str, Any],
                                                                     field: str) -> None:
    # given
    deviation = f.investigating(site)
    who = f.investigator()
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.record_investigation(actor=who, deviation_id=deviation.id, **change)
    # then
    assert field in fields_of(refused)
    assert footprint() == before


def test_submitting_without_an_impact_assessment_is_refused(site: dict[str, Actor]) -> None:
    # given: everything but the impact assessment
    deviation = f.investigating(site)
    who = f.investigator()
    quality.record_investigation(actor=who, deviation_id=deviation.id, root_cause_category="method",
                                 root_cause="SOP step 4 ambiguous.", conclusion="Revise SOP.")
    before = footprint()
    # when / then: skipping a required impact assessment is not possible
    with pytest.raises(TransitionRefused, match="impact assessment"):
        f.sign(who, deviation.id, "submit")
    assert footprint() == before
    assert quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id).state == "investigating"


# ---------------------------------------------------------------- approval with signatures


def test_the_reporter_cannot_approve_the_deviation(site: dict[str, Actor]) -> None:
    # given: qa.li reported it herself
    deviation = f.pending_approval(site)
    own = f.report(site, by=site["qa.li"], title="Reported by QA")
    quality.classify_deviation(actor=f.classifier(site), deviation_id=own.id, classification="minor", severity=1,
                               occurrence=1, detectability=1, rationale="Low risk.")
    f.sign(f.classifier(site), own.id, "classify")
    quality.assign_investigator(actor=f.classifier(site), deviation_id=own.id, username=f.investigator().username)
    f.sign(f.investigator(), own.id, "start_investigation")
    f.record_full_investigation(f.investigator(), own.id)
    f.sign(f.investigator(), own.id, "submit")
    before = footprint()
    # when / then
    with pytest.raises(TransitionRefused, match="reported"):
        f.sign(site["qa.li"], own.id, "approve")
    assert footprint() == before
    assert f.sign(site["qa.li"], deviation.id, "approve") == "approved"


def test_the_investigator_cannot_approve_their_own_investigation(site: dict[str, Actor]) -> None:
    # given: qa.li (who may approve) investigated it
    deviation = f.pending_approval(site, by=site["qa.li"])
    before = footprint()
    # when / then: signature separation (21 CFR 11.10, the author cannot approve)
    with pytest.raises(TransitionRefused, match="author"):
        f.sign(site["qa.li"], deviation.id, "approve")
    assert quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id).state == "pending_approval"
    assert footprint() == before


def test_a_wrong_password_is_refused_and_only_the_failed_signature_is_recorded(site: dict[str, Actor]) -> None:
    # given
    deviation = f.pending_approval(site)
    before = footprint()
    # when
    with pytest.raises(SignatureRefused):
        apply_transition(actor=site["qa.li"], collection="deviations", record_id=deviation.id, name="approve",
                         password="not-her-password")
    # then: only the failed attempt (and its count toward lockout) on the signer's account
    after = footprint()
    assert after | {"audit": 0} == before | {"audit": 0}
    with read_session() as session:
        written = list(session.execute(select(AuditEntry.record_type, AuditEntry.action)
                                       .where(AuditEntry.id > before["audit"]).order_by(AuditEntry.id)))
    assert {record_type for record_type, _ in written} == {"user"}
    assert ("user", "signature_failed") in written
    current = quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id)
    assert current.state == "pending_approval"
    assert [s.meaning for s in current.signatures] == ["performed"]


def test_approval_and_close_are_signed_and_on_the_timeline(site: dict[str, Actor]) -> None:
    # when
    deviation = f.closed_deviation(site)
    # then
    assert deviation.state == "closed"
    assert deviation.approved_at is not None and deviation.closed_at is not None
    assert [(s.meaning, s.username, s.valid) for s in deviation.signatures] == [
        ("performed", "sup.wu", True), ("approved", "qa.li", True), ("approved", "qa.li", True)]
    states = [e.summary for e in deviation.timeline if e.kind == "state"]
    assert states == ["Created (reported)", "reported → classified", "classified → investigating",
                      "investigating → pending_approval", "pending_approval → approved", "approved → closed"]
    assert sum(e.kind == "signature" for e in deviation.timeline) == 3


def test_returned_investigation_goes_back_to_the_investigator_with_a_reason(site: dict[str, Actor]) -> None:
    # given
    deviation = f.pending_approval(site)
    # when
    state = f.sign(site["qa.li"], deviation.id, "return", reason="Assess the other batches too.")
    # then
    assert state == "investigating"
    timeline = quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id).timeline
    assert timeline[-1].summary == "pending_approval → investigating — Assess the other batches too."


def test_closing_is_refused_while_a_capa_is_open(site: dict[str, Actor]) -> None:
    # given
    deviation = f.approved_deviation(site)
    capa = quality.create_capa(actor=site["qa.zhang"], kind="corrective", title="Add valve CV-12 to the PM plan",
                               source_type="deviation", source_reference=deviation.number,
                               deviation_id=deviation.id, owner_username=f.investigator().username,
                               due_on=TODAY + timedelta(days=30), effectiveness_criteria="No recurrence in 90 days.")
    before = footprint()
    # when / then
    with pytest.raises(TransitionRefused, match=capa.number):
        f.sign(site["qa.li"], deviation.id, "close")
    assert footprint() == before
    assert [c.number for c in quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id).capas] == [
        capa.number]


# ---------------------------------------------------------------- extensions


def test_an_approved_extension_moves_the_due_date_later(site: dict[str, Actor]) -> None:
    # given
    deviation = f.investigating(site)
    assert deviation.due_on is not None
    later = deviation.due_on + timedelta(days=10)
    # when
    requested = quality.request_extension(actor=f.investigator(), deviation_id=deviation.id,
                                          requested_due_on=later, justification="Supplier data awaited.")
    decided = quality.decide_extension(actor=f.classifier(site), deviation_id=deviation.id,
                                       extension_id=requested.extensions[0].id, approve=True, comment="")
    # then
    assert decided.due_on == later
    assert decided.extensions_granted == 1
    assert decided.extensions[0].decision == "approved"
    assert decided.extensions[0].decided_by == "qa.zhang"


def test_an_extension_must_move_the_date_later_and_be_justified(site: dict[str, Actor]) -> None:
    # given
    deviation = f.investigating(site)
    assert deviation.due_on is not None
    who = f.investigator()
    before = footprint()
    # when / then
    for requested_due_on, justification, field in [(deviation.due_on, "More time.", "requested_due_on"),
                                                   (deviation.due_on - timedelta(days=1), "More.", "requested_due_on"),
                                                   (deviation.due_on + timedelta(days=5), " ", "justification")]:
        with pytest.raises(ValidationFailed) as refused:
            quality.request_extension(actor=who, deviation_id=deviation.id,
                                      requested_due_on=requested_due_on, justification=justification)
        assert fields_of(refused) == {field}
    assert footprint() == before


def test_the_requester_cannot_decide_their_own_extension(site: dict[str, Actor]) -> None:
    # given: qa.zhang may both investigate and decide
    deviation = f.investigating(site)
    assert deviation.due_on is not None
    requested = quality.request_extension(actor=site["qa.zhang"], deviation_id=deviation.id,
                                          requested_due_on=deviation.due_on + timedelta(days=3),
                                          justification="Lab results pending.")
    before = footprint()
    # when / then
    with pytest.raises(PermissionDenied):
        quality.decide_extension(actor=site["qa.zhang"], deviation_id=deviation.id,
                                 extension_id=requested.extensions[0].id, approve=True, comment="")
    assert footprint() == before
    # and: a rejection needs a comment
    with pytest.raises(ValidationFailed) as refused:
        quality.decide_extension(actor=site["qa.li"], deviation_id=deviation.id,
                                 extension_id=requested.extensions[0].id, approve=False, comment="")
    assert fields_of(refused) == {"comment"}
    rejected = quality.decide_extension(actor=site["qa.li"], deviation_id=deviation.id,
                                        extension_id=requested.extensions[0].id, approve=False,
                                        comment="Not justified.")
    assert rejected.due_on == deviation.due_on
    assert rejected.extensions_granted == 0


def test_extensions_are_limited_and_one_at_a_time(site: dict[str, Actor]) -> None:
    # given
    deviation = f.investigating(site)
    assert deviation.due_on is not None
    due = deviation.due_on
    for _ in range(2):
        due += timedelta(days=7)
        view = quality.request_extension(actor=f.investigator(), deviation_id=deviation.id, requested_due_on=due,
                                         justification="Waiting for the supplier.")
        with pytest.raises(Conflict, match="already waiting"):
            quality.request_extension(actor=f.investigator(), deviation_id=deviation.id,
                                      requested_due_on=due + timedelta(days=1), justification="Again.")
        quality.decide_extension(actor=f.classifier(site), deviation_id=deviation.id,
                                 extension_id=view.extensions[-1].id, approve=True, comment="OK")
    who = f.investigator()
    before = footprint()
    # when / then: the default limit is 2
    with pytest.raises(Conflict, match="at most 2"):
        quality.request_extension(actor=who, deviation_id=deviation.id,
                                  requested_due_on=due + timedelta(days=7), justification="A third time.")
    assert footprint() == before


# ---------------------------------------------------------------- escalation


def test_escalation_stamps_overdue_deviations_once(site: dict[str, Actor]) -> None:
    # given: one open deviation due today, one closed one, and one without a due date
    open_one = f.investigating(site, due_on=TODAY)
    f.closed_deviation(site, due_on=TODAY)
    f.report(site)
    job = Actor.system("quality-job")
    # when
    first = quality.escalate_overdue(actor=job, today=TODAY + timedelta(days=1))
    second = quality.escalate_overdue(actor=job, today=TODAY + timedelta(days=2))
    # then
    assert first.deviations_escalated == (open_one.number,)
    assert second.deviations_escalated == ()
    view = quality.get_deviation(actor=site["qa.li"], deviation_id=open_one.id)
    assert view.escalated_at is not None
    assert any(e.summary.startswith("Escalated as overdue") for e in view.timeline)
    # and: nothing is overdue on its due date
    assert quality.escalate_overdue(actor=job, today=TODAY).deviations_escalated == ()


def test_only_the_escalation_right_runs_escalation(site: dict[str, Actor]) -> None:
    with pytest.raises(PermissionDenied):
        quality.escalate_overdue(actor=site["qa.zhang"])


# ---------------------------------------------------------------- lists


def test_list_filters(site: dict[str, Actor]) -> None:
    # given
    reported = f.report(site, title="Label misprint on drum", links=[("batch", "BO-2026-001")])
    minor = f.classified(site, classification="minor", title="Gowning room pressure alarm")
    critical = f.investigating(site, classification="critical", links=[("batch", "BO-2026-002")])
    closed = f.closed_deviation(site, title="Closed one")
    viewer = site["viewer.chen"]

    def numbers(**filters: Any) -> list[str]:
        return [d.number for d in quality.list_deviations(actor=viewer, **filters)]

    # when / then
    assert numbers() == [reported.number, minor.number, critical.number, closed.number]
    assert numbers(state="classified") == [minor.number]
    assert numbers(classification="critical") == [critical.number]
    assert numbers(open_only=True) == [reported.number, minor.number, critical.number]
    assert numbers(query="pressure") == [minor.number]
    assert numbers(query=closed.number) == [closed.number]
    assert numbers(investigator="sup.wu") == [critical.number, closed.number]
    assert numbers(investigator="nobody") == []
    assert numbers(linked="batch:bo-2026-002") == [critical.number]
    assert numbers(overdue=True) == []
    assert numbers(overdue=False) == numbers()
    assert numbers(after_id=minor.id, limit=1) == [critical.number]
    listed = quality.list_deviations(actor=viewer, linked="batch:BO-2026-001")
    assert listed[0].links == () and listed[0].timeline == ()
    for bad, field in [({"linked": "BO-2026-001"}, "linked"), ({"linked": "recipe:X"}, "linked"),
                       ({"state": "open"}, "state"), ({"classification": "bad"}, "classification")]:
        with pytest.raises(ValidationFailed) as refused:
            quality.list_deviations(actor=viewer, **bad)
        assert fields_of(refused) == {field}


def test_viewing_needs_the_view_right(site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    nobody = Actor(username="guest", full_name="Guest", user_id=999)
    # when / then
    with pytest.raises(PermissionDenied):
        quality.get_deviation(actor=nobody, deviation_id=deviation.id)
    with pytest.raises(PermissionDenied):
        quality.list_deviations(actor=nobody)


# ---------------------------------------------------------------- the lifecycle as a state machine

_HOLD = "BO-SM-001"


def test_the_deviation_lifecycle_changes_state_only_through_declared_transitions(sqlite_url: str) -> None:
    people = mf.site_people()
    lifecycle = lifecycle_for("deviations")
    declared = {(source, t.target) for t in lifecycle.transitions for source in t.source}
    actors = {"qa.zhang": people["qa.zhang"], "qa.li": people["qa.li"], "sup.wu": f.investigator(),
              "op.liu": people["op.liu"]}

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.deviation = f.report(people, links=[("batch", _HOLD)])
            self.state = "reported"

        @rule(name=st.sampled_from([t.name for t in lifecycle.transitions]),
              who=st.sampled_from(sorted(actors)))
        def transition(self, name: str, who: str) -> None:
            actor = actors[who]
            if name == "start_investigation" and self.state == "classified":
                quality.assign_investigator(actor=people["qa.zhang"], deviation_id=self.deviation.id,
                                            username="sup.wu")
            try:
                new = apply_transition(actor=actor, collection="deviations", record_id=self.deviation.id, name=name,
                                       password=password_of(actor.username), reason="state machine")
            except DomainError:
                new = self.state
            assert new == self.state or (self.state, new) in declared
            self.state = new

        @rule()
        def classify(self) -> None:
            try:
                quality.classify_deviation(actor=people["qa.zhang"], deviation_id=self.deviation.id,
                                           classification="major", severity=2, occurrence=2, detectability=2,
                                           rationale="State machine.")
            except Conflict:
                assert self.state not in ("reported", "classified")

        @rule()
        def investigate(self) -> None:
            try:
                f.record_full_investigation(actors["sup.wu"], self.deviation.id)
            except (Conflict, PermissionDenied):
                assert self.state != "investigating"

        @invariant()
        def held_exactly_while_open(self) -> None:
            stored = quality.get_deviation(actor=people["qa.li"], deviation_id=self.deviation.id)
            assert stored.state == self.state
            holds = [h.deviation_id for h in quality.open_quality_holds(record_type="batch", reference=_HOLD)]
            assert (self.deviation.id in holds) == (self.state not in ("closed", "cancelled"))

    run = Lifecycle.TestCase
    run.settings = settings(max_examples=6, stateful_step_count=12, deadline=None,
                            suppress_health_check=list(HealthCheck))
    run().runTest()

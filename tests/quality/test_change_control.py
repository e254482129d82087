"""Change control: proposed with a justification, classified by QA naming the assessing functions, assessed and
signed by each named assessor, approved by QA, implemented through owned tasks, reviewed for effectiveness, closed.

Every refusal names its field and writes nothing (rows, audit entries, signatures compared before and after).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry, count_entries
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import (
    Conflict,
    PermissionDenied,
    SignatureRefused,
    TransitionRefused,
    ValidationFailed,
)
from pharmos.quality import service as quality
from pharmos.quality.models import ChangeAssessment, ChangeControl, ChangeTask
from tests.conftest import password_of
from tests.quality import change_factories as cf

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()
CHANGE_RECORDS = ("change_control", "change_assessment", "change_task")


def footprint() -> dict[str, Any]:
    """Everything a refused change-control call must leave untouched."""
    with read_session() as session:
        return {
            "changes": sorted(session.execute(select(
                ChangeControl.id, ChangeControl.number, ChangeControl.title, ChangeControl.state,
                ChangeControl.classification, ChangeControl.affected_records, ChangeControl.effectiveness_review,
                ChangeControl.effective)).all()),
            "assessments": sorted(session.execute(select(
                ChangeAssessment.id, ChangeAssessment.function, ChangeAssessment.assessor, ChangeAssessment.decision,
                ChangeAssessment.impact)).all()),
            "tasks": sorted(session.execute(select(
                ChangeTask.id, ChangeTask.title, ChangeTask.owner, ChangeTask.state, ChangeTask.evidence)).all()),
            "change_audit": session.scalar(select(func.count(AuditEntry.id)).where(
                AuditEntry.record_type.in_(CHANGE_RECORDS))),
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))),
        }


def all_audit() -> int:
    with read_session() as session:
        return count_entries(session)


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


# ---------------------------------------------------------------- proposal


@pytest.mark.requirement("EU GMP Annex 15 §11")
def test_a_change_is_proposed_with_its_justification_and_affected_records(site: dict[str, Actor]) -> None:
    # when
    change = cf.proposed_change(site, affected_records=["Equipment: EQ-BR-002", "document:SOP-PR-0012"])

    # then
    assert change.number.startswith(f"CC-{TODAY.year}-") and len(change.number) == len("CC-2026-0001")
    assert (change.state, change.proposed_by, change.change_type) == ("proposed", "op.liu", "equipment")
    assert change.affected_records == ("equipment:EQ-BR-002", "document:SOP-PR-0012")
    assert change.assessments == () and change.tasks == () and change.pending_functions == ()
    assert [e.action for e in change.timeline] == ["created"]
    assert quality.get_change(actor=site["viewer.chen"], change_id=change.id) == change


@pytest.mark.parametrize(("overrides", "field"), [
    ({"title": " "}, "title"),
    ({"description": ""}, "description"),
    ({"justification": "  "}, "justification"),
    ({"change_type": "upgrade"}, "change_type"),
    ({"affected_records": ["equipment:EQ-BR-002", "gadget:X-1"]}, "affected_records[1]"),
    ({"affected_records": ["equipment:EQ-BR-002", "document:"]}, "affected_records[1]"),
    ({"affected_records": ["EQ-BR-002"]}, "affected_records[0]"),
    ({"affected_records": ["lot:L-1", "lot:L-1"]}, "affected_records[1]"),
    ({"target_date": TODAY - timedelta(days=1)}, "target_date"),
])
def test_a_bad_proposal_is_refused_on_its_field_and_writes_nothing(
        site: dict[str, Actor], overrides: dict[str, Any], field: str) -> None:
    # given
    cf.proposed_change(site)
    before, audit = footprint(), all_audit()

    # when
    with pytest.raises(ValidationFailed) as refused:
        cf.proposed_change(site, **overrides)

    # then
    assert field in fields_of(refused)
    assert (footprint(), all_audit()) == (before, audit)


def test_only_people_who_may_propose_propose(site: dict[str, Actor]) -> None:
    # given
    before = footprint()
    # when
    with pytest.raises(PermissionDenied):
        cf.proposed_change(site, by=site["viewer.chen"])
    # then
    assert footprint() == before


def test_the_proposer_revises_the_proposal_with_a_reason_until_qa_classifies_it(site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)

    # when
    revised = quality.revise_change(actor=site["op.liu"], change_id=change.id, reason="Supplier confirmed model",
                                    title="Replace the pH probe of BR-002", affected_records=["equipment:EQ-BR-002"])

    # then
    assert (revised.title, revised.affected_records) == ("Replace the pH probe of BR-002", ("equipment:EQ-BR-002",))
    assert revised.timeline[-1].action == "changed" and revised.timeline[-1].reason == "Supplier confirmed model"


def test_a_revision_without_reason_by_someone_else_or_after_classification_is_refused(
        site: dict[str, Actor]) -> None:
    # given
    proposed = cf.proposed_change(site)
    assessed = cf.under_assessment_change(site)
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as no_reason:
        quality.revise_change(actor=site["op.liu"], change_id=proposed.id, reason=" ", title="New title")
    with pytest.raises(PermissionDenied):
        quality.revise_change(actor=cf.assessors(site)["production"], change_id=proposed.id, reason="mine now",
                              title="New title")
    with pytest.raises(Conflict):
        quality.revise_change(actor=site["op.liu"], change_id=assessed.id, reason="late", title="New title")
    with pytest.raises(ValidationFailed) as past:
        quality.revise_change(actor=site["op.liu"], change_id=proposed.id, reason="earlier",
                              target_date=TODAY - timedelta(days=3))

    # then
    assert fields_of(no_reason) == {"reason"} and fields_of(past) == {"target_date"}
    assert footprint() == before


# ---------------------------------------------------------------- classification


@pytest.mark.requirement("EU GMP Annex 15 §11.4")
def test_qa_classifies_naming_functions_and_assessors_then_sends_it_for_assessment(site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)
    people = cf.assessors(site)

    # when
    classified = quality.classify_change(
        actor=cf.qa(site), change_id=change.id, classification="major", rationale="New probe model: revalidation.",
        regulatory_filing=True, functions={**cf.major_functions(site), "production": people["production"].username})
    cf.step(cf.qa(site), change.id, "classify")
    sent = quality.get_change(actor=cf.qa(site), change_id=change.id)

    # then
    assert (classified.classification, classified.regulatory_filing, classified.state) == ("major", True, "proposed")
    assert {a.function: a.assessor for a in sent.assessments} == {
        "regulatory": "reg.he", "qa": "qa.zhang", "validation": "val.ma", "production": "sup.wu"}
    assert sent.state == "under_assessment"
    assert set(sent.pending_functions) == {"regulatory", "qa", "validation", "production"}


def test_classifying_again_replaces_the_named_functions(site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)
    people = cf.assessors(site)
    quality.classify_change(actor=cf.qa(site), change_id=change.id, classification="minor", rationale="Small.",
                            regulatory_filing=False, functions={"production": "sup.wu", "qc": "qc.sun"})

    # when
    again = quality.classify_change(actor=cf.qa(site), change_id=change.id, classification="moderate",
                                    rationale="Affects the SOP too.", regulatory_filing=False,
                                    functions={"production": people["qa"].username, "qa": "qa.zhang"})

    # then
    assert {a.function: a.assessor for a in again.assessments} == {"production": "qa.zhang", "qa": "qa.zhang"}
    assert again.classification == "moderate"


def test_the_change_is_not_sent_for_assessment_before_qa_classified_it(site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        cf.step(cf.qa(site), change.id, "classify")

    # then
    assert "Classify the change" in refused.value.message
    assert footprint() == before


@pytest.mark.parametrize(("functions", "classification", "field"), [
    ({}, "minor", "functions"),
    ({"production": "sup.wu", "qa": "qa.zhang"}, "major", "functions"),
    ({"marketing": "sup.wu"}, "minor", "functions.marketing"),
    ({"qc": "viewer.chen"}, "minor", "functions.qc"),
    ({"qc": "nobody.here"}, "minor", "functions.qc"),
    ({"qc": " "}, "minor", "functions.qc"),
    ({"production": "op.liu"}, "minor", "functions.production"),
    ({"production": "sup.wu"}, "drastic", "classification"),
])
def test_a_bad_classification_is_refused_on_its_field_and_writes_nothing(
        site: dict[str, Actor], functions: dict[str, str], classification: str, field: str) -> None:
    # given
    change = cf.proposed_change(site)
    cf.assessors(site)
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.classify_change(actor=cf.qa(site), change_id=change.id, classification=classification,
                                rationale="Because.", regulatory_filing=False, functions=functions)

    # then
    assert field in fields_of(refused)
    assert footprint() == before


def test_the_proposer_cannot_be_named_as_an_assessor(site: dict[str, Actor]) -> None:
    # given: a production supervisor (who holds change_controls.assess) proposes the change
    people = cf.assessors(site)
    change = cf.proposed_change(site, by=people["production"])
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.classify_change(actor=cf.qa(site), change_id=change.id, classification="minor", rationale="Small.",
                                regulatory_filing=False, functions={"production": "sup.wu", "qc": "qc.sun"})

    # then
    assert fields_of(refused) == {"functions.production"}
    assert "proposed the change" in refused.value.fields[0].message
    assert footprint() == before


def test_only_qa_classifies(site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)
    # when / then: a QA specialist holds change_controls.assess but not change_controls.manage
    with pytest.raises(PermissionDenied):
        quality.classify_change(actor=site["qa.zhang"], change_id=change.id, classification="minor",
                                rationale="Small.", regulatory_filing=False, functions={"qa": "qa.zhang"})


# ---------------------------------------------------------------- assessment


@pytest.mark.requirement("21 CFR 11.50")
def test_each_named_assessor_signs_the_assessment_of_their_function(site: dict[str, Actor]) -> None:
    # given
    change = cf.under_assessment_change(site)
    sup = cf.assessors(site)["production"]

    # when
    assessed = quality.assess_change(actor=sup, change_id=change.id, function="production",
                                     impact="Probe swap during the planned shutdown.", impact_level="low",
                                     required_actions="Calibrate before use.", decision="approved",
                                     password=password_of(sup.username))

    # then
    production = next(a for a in assessed.assessments if a.function == "production")
    assert (production.decision, production.impact_level, production.assessor) == ("approved", "low", "sup.wu")
    assert [(s.meaning, s.username, s.valid) for s in production.signatures] == [("approved", "sup.wu", True)]
    assert production.signatures[0].printed_name == "吴主管"
    assert assessed.pending_functions == ("qc", "qa")
    assert any(e.action == "signed" and "production" in e.summary for e in assessed.timeline)


def test_a_function_may_assess_again_while_under_assessment_and_the_first_signature_stays(
        site: dict[str, Actor]) -> None:
    # given
    change = cf.under_assessment_change(site)
    qc = cf.assessors(site)["qc"]
    quality.assess_change(actor=qc, change_id=change.id, function="qc", impact="Method unaffected.",
                          impact_level="none", required_actions="", decision="rejected",
                          password=password_of(qc.username))

    # when
    again = quality.assess_change(actor=qc, change_id=change.id, function="qc", impact="Recheck pH method.",
                                  impact_level="low", required_actions="Verify with buffers.", decision="approved",
                                  password=password_of(qc.username))

    # then
    signatures = next(a for a in again.assessments if a.function == "qc").signatures
    assert [s.meaning for s in signatures] == ["rejected", "approved"]
    assert (signatures[0].valid, signatures[1].valid) == (False, True)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"impact": " "}, "impact"),
    ({"impact_level": "huge"}, "impact_level"),
    ({"decision": "maybe"}, "decision"),
    ({"function": "marketing"}, "function"),
    ({"function": "regulatory"}, "function"),
    ({"password": ""}, "password"),
])
def test_a_bad_assessment_is_refused_on_its_field_and_writes_nothing(
        site: dict[str, Actor], overrides: dict[str, Any], field: str) -> None:
    # given
    change = cf.under_assessment_change(site)
    sup = cf.assessors(site)["production"]
    before, audit = footprint(), all_audit()
    values = {"function": "production", "impact": "Small.", "impact_level": "low", "required_actions": "",
              "decision": "approved", "password": password_of(sup.username)} | overrides

    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.assess_change(actor=sup, change_id=change.id, **values)

    # then
    assert field in fields_of(refused)
    assert (footprint(), all_audit()) == (before, audit)


def test_only_the_named_assessor_assesses_and_never_the_proposer(site: dict[str, Actor]) -> None:
    # given
    change = cf.under_assessment_change(site)
    people = cf.assessors(site)
    before = footprint()

    # when / then: the QC analyst is named for qc, not for production
    for who in (people["qc"], site["qa.li"]):
        with pytest.raises(PermissionDenied):
            quality.assess_change(actor=who, change_id=change.id, function="production", impact="Fine.",
                                  impact_level="low", required_actions="", decision="approved",
                                  password=password_of(who.username))
    with pytest.raises(PermissionDenied):  # the operator who proposed it does not even hold the right
        quality.assess_change(actor=site["op.liu"], change_id=change.id, function="production", impact="Fine.",
                              impact_level="low", required_actions="", decision="approved",
                              password=password_of("op.liu"))
    assert footprint() == before


@pytest.mark.requirement("21 CFR 11.300(d)")
def test_a_wrong_password_signs_nothing_and_only_the_failed_attempt_is_recorded(site: dict[str, Actor]) -> None:
    # given
    change = cf.under_assessment_change(site)
    sup = cf.assessors(site)["production"]
    before, audit = footprint(), all_audit()

    # when
    with pytest.raises(SignatureRefused) as refused:
        quality.assess_change(actor=sup, change_id=change.id, function="production", impact="Fine.",
                              impact_level="low", required_actions="", decision="approved", password="wrong-pass")

    # then
    assert fields_of(refused) == {"password"}
    assert footprint() == before
    assert all_audit() > audit  # the platform's failed-signature event, nothing about the change


def test_nobody_assesses_before_qa_sent_the_change_for_assessment(site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)
    sup = cf.assessors(site)["production"]
    quality.classify_change(actor=cf.qa(site), change_id=change.id, classification="minor", rationale="Small.",
                            regulatory_filing=False, functions={"production": "sup.wu"})
    before = footprint()

    # when / then
    with pytest.raises(Conflict):
        quality.assess_change(actor=sup, change_id=change.id, function="production", impact="Fine.",
                              impact_level="low", required_actions="", decision="approved",
                              password=password_of(sup.username))
    assert footprint() == before


# ---------------------------------------------------------------- approval


@pytest.mark.requirement("药品GMP 第二百四十三条")
def test_qa_approves_only_once_every_function_approved(site: dict[str, Actor]) -> None:
    # given
    change = cf.under_assessment_change(site)
    sup = cf.assessors(site)["production"]
    quality.assess_change(actor=sup, change_id=change.id, function="production", impact="Fine.", impact_level="low",
                          required_actions="", decision="approved", password=password_of(sup.username))
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as pending:
        cf.step(cf.qa(site), change.id, "approve")
    why_not = {t.name: t.why_not for t in available_transitions(actor=cf.qa(site), collection="change-controls",
                                                                record_id=change.id)}

    # then
    assert pending.value.message == "Waiting for the assessment of: qc, qa."
    assert why_not["approve"] == "Waiting for the assessment of: qc, qa."
    assert footprint() == before


def test_a_rejecting_function_blocks_the_approval(site: dict[str, Actor]) -> None:
    # given
    change = cf.assess_all(site, cf.under_assessment_change(site), decision="rejected")
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        cf.step(cf.qa(site), change.id, "approve")

    # then
    assert refused.value.message.startswith("Rejected by: production, qc, qa")
    assert footprint() == before


def test_qa_approves_with_a_signature_and_the_proposer_never_approves(site: dict[str, Actor]) -> None:
    # given: qa.li proposes one change herself
    theirs = cf.approved_change(site)
    mine = cf.proposed_change(site, by=cf.qa(site))
    quality.classify_change(actor=cf.qa(site), change_id=mine.id, classification="minor", rationale="Small.",
                            regulatory_filing=False, functions={"qa": "qa.zhang"})
    cf.step(cf.qa(site), mine.id, "classify")
    cf.assess_all(site, quality.get_change(actor=cf.qa(site), change_id=mine.id))
    before = footprint()

    # when
    with pytest.raises(TransitionRefused) as refused:
        cf.step(cf.qa(site), mine.id, "approve")

    # then
    assert theirs.state == "approved" and theirs.approved_at is not None
    assert [(s.meaning, s.username, s.valid) for s in theirs.signatures] == [("approved", "qa.li", True)]
    assert "author" in refused.value.message
    assert footprint() == before


def test_qa_rejects_or_cancels_with_a_reason(site: dict[str, Actor]) -> None:
    # given
    to_reject = cf.under_assessment_change(site)
    to_cancel = cf.proposed_change(site)
    before = footprint()
    with pytest.raises(ValidationFailed) as no_reason:
        cf.step(cf.qa(site), to_reject.id, "reject")
    assert fields_of(no_reason) == {"reason"} and footprint() == before

    # when
    cf.step(cf.qa(site), to_reject.id, "reject", reason="Validation effort out of proportion.")
    cf.step(cf.qa(site), to_cancel.id, "cancel", reason="Duplicate of an earlier proposal.")

    # then
    rejected = quality.get_change(actor=cf.qa(site), change_id=to_reject.id)
    cancelled = quality.get_change(actor=cf.qa(site), change_id=to_cancel.id)
    assert (rejected.state, cancelled.state) == ("rejected", "cancelled")
    assert [s.meaning for s in rejected.signatures] == ["rejected"]
    assert rejected.closed_at is not None and cancelled.timeline[-1].reason == "Duplicate of an earlier proposal."


# ---------------------------------------------------------------- implementation


def test_tasks_are_planned_with_owner_and_due_date_and_completed_by_their_owner_with_a_signature(
        site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site)
    task = change.tasks[0]

    # when
    done = quality.complete_change_task(actor=site["op.liu"], change_id=change.id, task_id=task.id,
                                        evidence="Installed; calibration CAL-2611-0042.",
                                        password=password_of("op.liu"))

    # then
    completed = done.tasks[0]
    assert (completed.state, completed.evidence, completed.owner) == ("done", "Installed; calibration CAL-2611-0042.",
                                                                      "op.liu")
    assert [(s.meaning, s.username, s.valid) for s in completed.signatures] == [("performed", "op.liu", True)]
    assert completed.completed_at is not None and not completed.overdue


@pytest.mark.parametrize(("overrides", "field"), [
    ({"due_on": TODAY - timedelta(days=1)}, "due_on"),
    ({"owner_username": "viewer.chen"}, "owner_username"),
    ({"owner_username": "nobody.here"}, "owner_username"),
    ({"owner_username": ""}, "owner_username"),
    ({"title": ""}, "title"),
    ({"function": "marketing"}, "function"),
])
def test_a_bad_task_is_refused_on_its_field_and_writes_nothing(
        site: dict[str, Actor], overrides: dict[str, Any], field: str) -> None:
    # given
    change = cf.under_assessment_change(site)
    before = footprint()
    values = {"title": "Update SOP-PR-0012", "owner_username": "op.liu", "due_on": TODAY + timedelta(days=7),
              "function": "qa"} | overrides

    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.add_change_task(actor=cf.qa(site), change_id=change.id, **values)

    # then
    assert field in fields_of(refused)
    assert footprint() == before


def test_tasks_are_not_planned_on_a_proposal_and_not_completed_before_approval(site: dict[str, Actor]) -> None:
    # given
    proposed = cf.proposed_change(site)
    assessed = cf.under_assessment_change(site)
    quality.add_change_task(actor=cf.qa(site), change_id=assessed.id, title="Update the SOP", owner_username="op.liu",
                            due_on=TODAY + timedelta(days=7))
    task = quality.get_change(actor=cf.qa(site), change_id=assessed.id).tasks[0]
    before = footprint()

    # when / then
    with pytest.raises(Conflict):
        quality.add_change_task(actor=cf.qa(site), change_id=proposed.id, title="Too early", owner_username="op.liu",
                                due_on=TODAY + timedelta(days=7))
    with pytest.raises(Conflict):
        quality.complete_change_task(actor=site["op.liu"], change_id=assessed.id, task_id=task.id, evidence="Done.",
                                     password=password_of("op.liu"))
    assert footprint() == before


def test_only_the_owner_completes_a_task_with_evidence(site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site)
    task = change.tasks[0]
    before = footprint()

    # when / then
    with pytest.raises(PermissionDenied):
        quality.complete_change_task(actor=site["qa.zhang"], change_id=change.id, task_id=task.id, evidence="Done.",
                                     password=password_of("qa.zhang"))
    with pytest.raises(ValidationFailed) as no_evidence:
        quality.complete_change_task(actor=site["op.liu"], change_id=change.id, task_id=task.id, evidence=" ",
                                     password=password_of("op.liu"))
    with pytest.raises(SignatureRefused) as wrong_password:
        quality.complete_change_task(actor=site["op.liu"], change_id=change.id, task_id=task.id, evidence="Done.",
                                     password="not-my-password")
    assert fields_of(no_evidence) == {"evidence"} and fields_of(wrong_password) == {"password"}
    assert footprint() == before


def test_implementation_is_complete_only_when_no_task_is_open(site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site, tasks=2)
    quality.complete_change_task(actor=site["op.liu"], change_id=change.id, task_id=change.tasks[0].id,
                                 evidence="Done.", password=password_of("op.liu"))
    before = footprint()
    with pytest.raises(TransitionRefused) as refused:
        cf.step(cf.qa(site), change.id, "complete_implementation")
    assert refused.value.message == "1 implementation task(s) still open." and footprint() == before

    # when
    quality.cancel_change_task(actor=cf.qa(site), change_id=change.id, task_id=change.tasks[1].id,
                               reason="Covered by the first task.")
    cf.step(cf.qa(site), change.id, "complete_implementation")

    # then
    after = quality.get_change(actor=cf.qa(site), change_id=change.id)
    assert after.state == "effectiveness_review" and after.implemented_at is not None
    assert [t.state for t in after.tasks] == ["done", "cancelled"]


def test_a_task_cancellation_needs_a_reason(site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site)
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        quality.cancel_change_task(actor=cf.qa(site), change_id=change.id, task_id=change.tasks[0].id, reason="")
    # then
    assert fields_of(refused) == {"reason"} and footprint() == before


def test_an_overdue_task_is_flagged(site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    change = cf.approved_change(site)
    from pharmos.quality import change_control

    # when: the site calendar three weeks later (the clock is the one outside dependency moved)
    monkeypatch.setattr(change_control, "site_today", lambda: TODAY + timedelta(days=21))
    later = quality.get_change(actor=cf.qa(site), change_id=change.id)
    listed = quality.list_changes(actor=cf.qa(site))
    inbox = quality.my_change_tasks(actor=site["op.liu"])

    # then
    assert later.tasks[0].overdue and later.overdue_tasks == 1
    assert listed[0].overdue_tasks == 1
    assert [(t.action, t.overdue) for t in inbox] == [("implement_change_task", True)]


# ---------------------------------------------------------------- effectiveness and closure


@pytest.mark.requirement("ICH Q10 3.2.3")
def test_qa_reviews_effectiveness_then_closes_with_a_signature(site: dict[str, Actor]) -> None:
    # when
    closed = cf.closed_change(site)

    # then
    assert (closed.state, closed.effective) == ("closed", True) and closed.closed_at is not None
    assert [(s.meaning, s.username) for s in closed.signatures] == [("approved", "qa.li"), ("verified", "qa.li")]
    assert closed.signatures[-1].valid
    states = [e.new for e in closed.timeline if e.action == "moved"]
    assert states == ["under_assessment", "approved", "effectiveness_review", "closed"]


def test_the_qa_approval_signature_stays_valid_after_the_effectiveness_review(site: dict[str, Actor]) -> None:
    # when
    closed = cf.closed_change(site)
    # then
    assert all(s.valid for s in closed.signatures)


def test_a_change_without_effectiveness_review_or_judged_not_effective_is_not_closed(site: dict[str, Actor]) -> None:
    # given
    change = cf.in_effectiveness_review(site)
    with pytest.raises(TransitionRefused) as unreviewed:
        cf.step(cf.qa(site), change.id, "close")
    quality.record_change_effectiveness(actor=cf.qa(site), change_id=change.id, review="pH drifts.", effective=False)

    # when
    with pytest.raises(TransitionRefused) as not_effective:
        cf.step(cf.qa(site), change.id, "close")
    cf.step(cf.qa(site), change.id, "reopen", reason="Probe needs a new holder.")

    # then
    assert unreviewed.value.message == "Record the effectiveness review first."
    assert "not effective" in not_effective.value.message
    assert quality.get_change(actor=cf.qa(site), change_id=change.id).state == "approved"


def test_the_effectiveness_review_is_refused_to_the_proposer_and_on_bad_input(site: dict[str, Actor]) -> None:
    # given: qa.li proposed this change herself
    change = cf.proposed_change(site, by=cf.qa(site))
    quality.classify_change(actor=cf.qa(site), change_id=change.id, classification="minor", rationale="Small.",
                            regulatory_filing=False, functions={"qa": "qa.zhang"})
    cf.step(cf.qa(site), change.id, "classify")
    other = cf.in_effectiveness_review(site)
    before = footprint()

    # when / then
    with pytest.raises(Conflict):  # still under assessment
        quality.record_change_effectiveness(actor=cf.qa(site), change_id=change.id, review="Fine.", effective=True)
    with pytest.raises(ValidationFailed) as refused:
        quality.record_change_effectiveness(actor=cf.qa(site), change_id=other.id, review=" ", effective=True)
    assert fields_of(refused) == {"review"}
    assert footprint() == before


def test_the_proposer_does_not_review_the_effectiveness_of_their_change(site: dict[str, Actor]) -> None:
    # given: a second QA manager proposes; qa.li takes it through to the effectiveness review
    proposer = cf.person("qa.wen", "qa_manager", "文经理")
    change = cf.in_effectiveness_review(site, by=proposer)
    before = footprint()
    # when
    with pytest.raises(PermissionDenied):
        quality.record_change_effectiveness(actor=proposer, change_id=change.id, review="Fine.", effective=True)
    # then
    assert footprint() == before


# ---------------------------------------------------------------- CAPA from a change


def test_a_capa_raised_from_a_change_shows_on_the_change(site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site)

    # when
    capa = quality.raise_capa_from_change(
        actor=site["qa.zhang"], change_id=change.id, kind="preventive", title="Add probe type to the spare list",
        owner_username="op.liu", due_on=TODAY + timedelta(days=30),
        effectiveness_criteria="No unplanned probe outage in six months.")

    # then
    assert (capa.source_type, capa.source_reference) == ("change_control", change.number)
    assert [c.number for c in quality.get_change(actor=site["viewer.chen"], change_id=change.id).capas] == [
        capa.number]


# ---------------------------------------------------------------- lists, exports, inbox, printing


def test_the_list_filters_and_pages_by_cursor(site: dict[str, Actor]) -> None:
    # given
    proposed = cf.proposed_change(site, title="洁净区空调机组更换", change_type="facility")
    assessed = cf.under_assessment_change(site)
    closed = cf.closed_change(site)
    viewer = site["viewer.chen"]

    # when
    everything = quality.list_changes(actor=viewer)
    open_only = quality.list_changes(actor=viewer, open_only=True)
    first = quality.list_changes(actor=viewer, limit=1)
    rest = quality.list_changes(actor=viewer, after_id=first[0].id)

    # then
    assert [c.number for c in everything] == [proposed.number, assessed.number, closed.number]
    assert [c.number for c in open_only] == [proposed.number, assessed.number]
    assert [c.id for c in first + rest] == [c.id for c in everything]
    assert [c.number for c in quality.list_changes(actor=viewer, change_type="facility")] == [proposed.number]
    assert [c.number for c in quality.list_changes(actor=viewer, query="空调")] == [proposed.number]
    assert [c.number for c in quality.list_changes(actor=viewer, assessor="qc.sun", open_only=True)] == [
        assessed.number]
    assert [c.number for c in quality.list_changes(actor=viewer, state="closed")] == [closed.number]
    assert [c.number for c in quality.list_changes(actor=viewer, classification="moderate")] == [
        assessed.number, closed.number]
    assert everything[1].pending_functions == ("production", "qc", "qa") and everything[1].assessments == ()
    with pytest.raises(ValidationFailed) as bad:
        quality.list_changes(actor=viewer, state="done")
    assert fields_of(bad) == {"state"}


def test_the_export_matches_the_list(site: dict[str, Actor]) -> None:
    # given
    cf.proposed_change(site, title="更换pH电极")
    cf.closed_change(site)

    # when
    content, media_type, filename = quality.export_changes(actor=site["viewer.chen"], fmt="csv", open_only=True)
    xlsx, xlsx_type, xlsx_name = quality.export_changes(actor=site["viewer.chen"], fmt="xlsx")

    # then
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == list(quality.CHANGE_EXPORT_COLUMNS)
    assert [r[1] for r in rows[1:]] == ["更换pH电极"]
    assert media_type.startswith("text/csv") and filename.endswith(".csv")
    assert xlsx[:2] == b"PK" and xlsx_name.endswith(".xlsx") and "spreadsheet" in xlsx_type


def test_my_change_tasks_say_what_each_person_should_do(site: dict[str, Actor]) -> None:
    # given
    assessed = cf.under_assessment_change(site, title="To assess")
    ready = cf.assess_all(site, cf.under_assessment_change(site, title="To approve"))
    approved = cf.approved_change(site, title="To implement")
    review = cf.in_effectiveness_review(site, title="To review")
    sup = cf.assessors(site)["production"]

    # when
    qa_tasks = {(t.number, t.action) for t in quality.my_change_tasks(actor=cf.qa(site))}
    sup_tasks = {(t.number, t.action) for t in quality.my_change_tasks(actor=sup)}
    op_tasks = {(t.number, t.action) for t in quality.my_change_tasks(actor=site["op.liu"])}
    viewer_tasks = quality.my_change_tasks(actor=site["viewer.chen"])

    # then
    assert qa_tasks == {(ready.number, "approve_change"), (review.number, "review_change_effectiveness")}
    assert sup_tasks == {(assessed.number, "assess_change")}
    assert op_tasks == {(approved.number, "implement_change_task")}
    assert viewer_tasks == []


def test_the_printout_carries_assessments_tasks_and_is_audited(site: dict[str, Actor]) -> None:
    # given
    change = cf.closed_change(site)
    before = footprint()["change_audit"]

    # when
    content, media_type, filename = quality.print_change_control(actor=site["viewer.chen"], change_id=change.id)

    # then
    assert content.startswith(b"%PDF-") and media_type == "application/pdf" and filename == f"{change.number}.pdf"
    assert footprint()["change_audit"] == before + 1
    with read_session() as session:
        last = session.execute(select(AuditEntry.action, AuditEntry.actor).where(
            AuditEntry.record_type == "change_control").order_by(AuditEntry.id.desc()).limit(1)).one()
    assert tuple(last) == ("print", "viewer.chen")


# ---------------------------------------------------------------- property: the approval gate


@pytest.mark.requirement("EU GMP Annex 15 §11.5")
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(decisions=st.lists(st.tuples(st.sampled_from(("production", "qc", "qa")),
                                    st.sampled_from(("approved", "rejected"))), min_size=0, max_size=5))
def test_qa_may_approve_exactly_when_every_function_last_decided_approved(
        site: dict[str, Actor], decisions: list[tuple[str, str]]) -> None:
    # given: a fresh change under assessment and any sequence of (re-)assessments
    change = cf.under_assessment_change(site)
    people = cf.assessors(site)
    last: dict[str, str] = {}
    for function, decision in decisions:
        who = people[function]
        quality.assess_change(actor=who, change_id=change.id, function=function, impact="Assessed.",
                              impact_level="low", required_actions="", decision=decision,
                              password=password_of(who.username))
        last[function] = decision

    # when
    options = {t.name: t for t in available_transitions(actor=cf.qa(site), collection="change-controls",
                                                        record_id=change.id)}
    view = quality.get_change(actor=cf.qa(site), change_id=change.id)

    # then
    expected = all(last.get(f) == "approved" for f in ("production", "qc", "qa"))
    assert options["approve"].allowed is expected
    assert set(view.pending_functions) == {f for f in ("production", "qc", "qa") if f not in last}
    assert {a.function: len(a.signatures) for a in view.assessments} == {
        f: sum(1 for g, _ in decisions if g == f) for f in ("production", "qc", "qa")}

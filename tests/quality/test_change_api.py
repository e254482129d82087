"""The change-control REST API: a change end to end, and bad inputs refused as problem+json naming the field
with nothing written (change rows, their audit entries and every electronic signature counted)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.quality.models import ChangeAssessment, ChangeControl, ChangeTask
from tests.api_client import Api
from tests.conftest import password_of
from tests.quality import change_factories as cf

PROBLEM = "application/problem+json"
TODAY = site_today()
OP, QA, SUP, QC, QA_SPEC = "op.liu", "qa.li", "sup.wu", "qc.sun", "qa.zhang"


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    cf.assessors(site)
    return Api(TestClient(create_app()))


def written() -> dict[str, int]:
    with read_session() as session:
        return {
            "changes": session.scalar(select(func.count(ChangeControl.id))) or 0,
            "assessments": session.scalar(select(func.count(ChangeAssessment.id))) or 0,
            "tasks": session.scalar(select(func.count(ChangeTask.id))) or 0,
            "audit": session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.record_type.in_(
                ("change_control", "change_assessment", "change_task")))) or 0,
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0,
        }


def assert_problem(response: Any, status: int | tuple[int, ...], field: str | None = None) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def proposal(**overrides: Any) -> dict[str, Any]:
    return {"title": "Replace the pH probe of BR-002", "description": "Hamilton → Mettler InPro 3253.",
            "justification": "Model discontinued.", "change_type": "equipment",
            "affected_records": ["equipment:EQ-BR-002"], "target_date": (TODAY + timedelta(days=30)).isoformat()
            } | overrides


@pytest.mark.requirement("EU GMP Annex 15 §11")
def test_a_change_goes_through_its_whole_lifecycle_over_the_api(api: Api) -> None:
    # given
    created = api.ok(api.post(OP, "/change-controls", proposal()), 201)
    cid = created["id"]

    # when
    api.ok(api.patch(OP, f"/change-controls/{cid}", {"reason": "Typo", "title": "Replace the BR-002 pH probe"}))
    api.ok(api.post(QA, f"/change-controls/{cid}/classification", {
        "classification": "moderate", "rationale": "Like for like.", "regulatory_filing": False,
        "functions": {"production": SUP, "qa": QA_SPEC}}))
    api.ok(api.transition(QA, "change-controls", cid, "classify"))
    for function, who in (("production", SUP), ("qa", QA_SPEC)):
        api.ok(api.post(who, f"/change-controls/{cid}/assessments/{function}", {
            "impact": "Calibrate before use.", "impact_level": "low", "required_actions": "Calibrate.",
            "decision": "approved", "password": password_of(who)}))
    task = api.ok(api.post(QA, f"/change-controls/{cid}/tasks", {
        "title": "Install and calibrate", "owner_username": OP, "due_on": (TODAY + timedelta(days=7)).isoformat()}),
        201)["tasks"][0]
    api.ok(api.transition(QA, "change-controls", cid, "approve", sign=True))
    api.ok(api.post(OP, f"/change-controls/{cid}/tasks/{task['id']}/completion",
                    {"evidence": "CAL-2611-0042", "password": password_of(OP)}))
    api.ok(api.transition(QA, "change-controls", cid, "complete_implementation"))
    api.ok(api.post(QA, f"/change-controls/{cid}/effectiveness", {"review": "pH in control.", "effective": True}))
    api.ok(api.transition(QA, "change-controls", cid, "close", sign=True))
    change = api.ok(api.get("viewer.chen", f"/change-controls/{cid}"))
    listed = api.ok(api.get("viewer.chen", "/change-controls", state="closed"))
    pdf = api.get("viewer.chen", f"/change-controls/{cid}/pdf")
    export = api.get("viewer.chen", "/change-controls/export", format="csv")

    # then
    assert change["state"] == "closed" and change["title"] == "Replace the BR-002 pH probe"
    assert [(a["function"], a["decision"], a["signatures"][0]["meaning"]) for a in change["assessments"]] == [
        ("production", "approved", "approved"), ("qa", "approved", "approved")]
    assert change["tasks"][0]["state"] == "done" and change["tasks"][0]["signatures"][0]["meaning"] == "performed"
    assert [c["number"] for c in listed["items"]] == [created["number"]]
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert export.status_code == 200 and created["number"] in export.content.decode("utf-8-sig")


@pytest.mark.parametrize(("body", "field"), [
    (proposal(title=""), "title"),
    (proposal(description=" "), "description"),
    (proposal(justification=""), "justification"),
    (proposal(change_type="upgrade"), "change_type"),
    (proposal(affected_records=["equipment:EQ-BR-002", "widget:1"]), "affected_records[1]"),
    (proposal(target_date=(TODAY - timedelta(days=1)).isoformat()), "target_date"),
])
def test_a_bad_proposal_is_a_problem_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    # given
    before = written()
    # when
    response = api.post(OP, "/change-controls", body)
    # then
    assert_problem(response, 422, field)
    assert written() == before


def test_classification_and_assessment_refusals_name_the_field_and_write_nothing(
        api: Api, site: dict[str, Actor]) -> None:
    # given
    proposed = cf.proposed_change(site)
    assessed = cf.under_assessment_change(site)
    before = written()

    # when
    major = api.post(QA, f"/change-controls/{proposed.id}/classification", {
        "classification": "major", "rationale": "Big.", "regulatory_filing": True, "functions": {"production": SUP}})
    no_right = api.post(QA, f"/change-controls/{proposed.id}/classification", {
        "classification": "minor", "rationale": "Small.", "regulatory_filing": False,
        "functions": {"qc": "viewer.chen"}})
    proposer = api.post(QA, f"/change-controls/{proposed.id}/classification", {
        "classification": "minor", "rationale": "Small.", "regulatory_filing": False, "functions": {"qc": OP}})
    someone_else = api.post(QC, f"/change-controls/{assessed.id}/assessments/production", {
        "impact": "Fine.", "impact_level": "low", "decision": "approved", "password": password_of(QC)})
    no_impact = api.post(SUP, f"/change-controls/{assessed.id}/assessments/production", {
        "impact": "", "impact_level": "low", "decision": "approved", "password": password_of(SUP)})

    # then
    assert_problem(major, 422, "functions")
    assert_problem(no_right, 422, "functions.qc")
    assert_problem(proposer, 422, "functions.qc")
    assert_problem(someone_else, 403)
    assert_problem(no_impact, 422, "impact")
    assert written() == before


@pytest.mark.requirement("21 CFR 11.300(d)")
def test_a_wrong_password_on_an_assessment_is_refused_and_signs_nothing(api: Api, site: dict[str, Actor]) -> None:
    # given
    change = cf.under_assessment_change(site)
    before = written()
    # when
    response = api.post(SUP, f"/change-controls/{change.id}/assessments/production", {
        "impact": "Fine.", "impact_level": "low", "decision": "approved", "password": "wrong"})
    # then
    assert_problem(response, 401, "password")
    assert written() == before


def test_task_and_lifecycle_refusals_over_the_api(api: Api, site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site)
    pending = cf.under_assessment_change(site)
    before = written()

    # when
    past = api.post(QA, f"/change-controls/{change.id}/tasks", {
        "title": "Late", "owner_username": OP, "due_on": (TODAY - timedelta(days=1)).isoformat()})
    close_open = api.transition(QA, "change-controls", change.id, "complete_implementation")
    approve_pending = api.transition(QA, "change-controls", pending.id, "approve", sign=True)
    not_owner = api.post(QA_SPEC, f"/change-controls/{change.id}/tasks/{change.tasks[0].id}/completion", {
        "evidence": "Done.", "password": password_of(QA_SPEC)})
    no_reason = api.post(QA, f"/change-controls/{change.id}/tasks/{change.tasks[0].id}/cancellation",
                         {"reason": ""})

    # then
    assert_problem(past, 422, "due_on")
    assert "still open" in assert_problem(close_open, 409)["detail"]
    assert "Waiting for the assessment of" in assert_problem(approve_pending, 409)["detail"]
    assert_problem(not_owner, 403)
    assert_problem(no_reason, 422, "reason")
    assert written() == before


def test_people_without_the_right_are_refused(api: Api, site: dict[str, Actor]) -> None:
    # given
    change = cf.proposed_change(site)
    before = written()
    # when
    propose = api.post("viewer.chen", "/change-controls", proposal())
    classify = api.post(QA_SPEC, f"/change-controls/{change.id}/classification", {
        "classification": "minor", "rationale": "x", "regulatory_filing": False, "functions": {"qa": QA_SPEC}})
    # then
    assert_problem(propose, 403)
    assert_problem(classify, 403)
    assert written() == before


def test_a_capa_is_raised_from_a_change_and_the_inbox_lists_change_tasks(api: Api, site: dict[str, Actor]) -> None:
    # given
    change = cf.approved_change(site)
    # when
    capa = api.ok(api.post(QA_SPEC, f"/change-controls/{change.id}/capas", {
        "kind": "preventive", "title": "Spare probes", "owner_username": OP,
        "due_on": (TODAY + timedelta(days=20)).isoformat(), "effectiveness_criteria": "No outage."}), 201)
    tasks = api.ok(api.get(OP, "/change-controls/tasks"))
    # then
    assert (capa["source_type"], capa["source_reference"]) == ("change_control", change.number)
    assert [(t["number"], t["action"]) for t in tasks] == [(change.number, "implement_change_task")]
    assert api.ok(api.get(OP, f"/change-controls/{change.id}"))["capas"][0]["number"] == capa["number"]

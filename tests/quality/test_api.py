"""The quality REST API: a deviation and its CAPA end to end, and every bad input of issue #5 refused as problem+json.

The behaviour under test is driven through the API (as an integration or another site system
would); background states the test does not examine are reached through the services via
tests/quality/factories.py. "Nothing written" is checked by counting the quality module's rows,
their audit entries and the electronic signatures. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.db import read_session
from pharmos.quality.models import Capa, Deviation, DeviationLink, DueDateExtension
from tests.api_client import API, Api
from tests.equipment.factories import new_equipment
from tests.quality.factories import approved_deviation, investigating, investigator, pending_approval

PROBLEM = "application/problem+json"
OP = "op.liu"  # operator: reports deviations, owns and implements CAPA
QA_SPEC = "qa.zhang"  # qa_specialist: classifies, assigns investigators, plans CAPA, decides extensions
QA = "qa.li"  # qa_manager: approves and closes deviations, judges CAPA effectiveness
INVESTIGATOR = "sup.wu"  # production supervisor: investigates
VIEWER = "viewer.chen"
ADMIN = "admin.wang"  # administers users; may only look at quality records
BATCH = "BO-2026-0001"
TODAY = site_today()
QUALITY_RECORDS = ("deviation", "deviation_link", "deviation_extension", "capa")


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    investigator(INVESTIGATOR)
    return Api(TestClient(create_app()))


def assert_problem(response: Any, status: int | tuple[int, ...], field: str | None = None) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    if field is not None:
        named = [e["field"] for e in body.get("errors", [])]
        assert field in named, body
    return body


def written() -> dict[str, int]:
    """Rows of the quality module, their audit entries and every electronic signature."""
    with read_session() as session:
        return {
            "deviations": session.scalar(select(func.count(Deviation.id))) or 0,
            "links": session.scalar(select(func.count(DeviationLink.id))) or 0,
            "extensions": session.scalar(select(func.count(DueDateExtension.id))) or 0,
            "capas": session.scalar(select(func.count(Capa.id))) or 0,
            "audit": session.scalar(select(func.count(AuditEntry.id)).where(
                AuditEntry.record_type.in_(QUALITY_RECORDS))) or 0,
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0,
        }


def delete(api: Api, username: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
    return api.client.request("DELETE", API + path, headers=api.headers(username), json=body, params=params)


# ---------------------------------------------------------------- set-up through the API


def report(api: Api, username: str = OP, **fields: Any) -> Any:
    body = {"title": "BR-002 jacket temperature excursion",
            "description": "Jacket temperature rose to 39.5 °C for 12 minutes during the growth phase.",
            "discovered_at": (utcnow() - timedelta(minutes=30)).isoformat(), "area": "B2-301",
            "immediate_action": "Batch placed on hold; supervisor and QA informed.", "links": [], **fields}
    return api.post(username, "/deviations", body)


def classification(**fields: Any) -> dict[str, Any]:
    return {"classification": "major", "severity": 3, "occurrence": 2, "detectability": 2,
            "rationale": "Product contact; limited duration.", **fields}


def full_investigation(**fields: Any) -> dict[str, Any]:
    return {"five_whys": ["Temperature rose", "Cooling valve stuck", "Valve not in the PM plan"],
            "root_cause_category": "machine", "root_cause": "Cooling valve CV-12 stuck half open.",
            "impact_assessment": "Cells within viability limits; in-process controls met.", "product_impact": False,
            "conclusion": "No impact on product quality; add valve CV-12 to the PM plan.", **fields}


def capa(deviation: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"kind": "corrective", "title": "Add cooling valve CV-12 to the preventive maintenance plan",
            "source_type": "deviation", "source_reference": deviation["number"], "deviation_id": deviation["id"],
            "owner_username": OP, "due_on": (TODAY + timedelta(days=30)).isoformat(),
            "effectiveness_criteria": "No jacket temperature excursion in the next 10 batches.",
            "effectiveness_check_days": 0, **fields}


def to_pending_approval(api: Api, deviation_id: int) -> None:
    """Classified by qa.zhang, investigated completely and submitted (signed) by sup.wu, all through the API."""
    record = f"/deviations/{deviation_id}"
    api.ok(api.put(QA_SPEC, f"{record}/classification", classification()))
    api.ok(api.transition(QA_SPEC, "deviations", deviation_id, "classify"))
    api.ok(api.put(QA_SPEC, f"{record}/investigator", {"username": INVESTIGATOR}))
    api.ok(api.transition(INVESTIGATOR, "deviations", deviation_id, "start_investigation"))
    api.ok(api.put(INVESTIGATOR, f"{record}/investigation", full_investigation()))
    api.ok(api.transition(INVESTIGATOR, "deviations", deviation_id, "submit", sign=True, meaning="performed"))


# ---------------------------------------------------------------- the whole journey


@pytest.mark.requirement("药品GMP 第二百五十条")
@pytest.mark.requirement("ICH Q10 3.2.2")
def test_a_deviation_goes_from_report_to_closure_with_its_capa_through_the_api(api: Api) -> None:
    # given: a bioreactor in the ledger
    reactor = new_equipment()
    # when: op.liu reports it with the batch and the bioreactor linked
    reported = api.ok(report(api, links=[{"record_type": "batch", "reference": BATCH},
                                         {"record_type": "equipment", "reference": reactor.number}]), 201)
    record = f"/deviations/{reported['id']}"
    held = api.ok(api.get(VIEWER, "/quality-holds", record_type="batch", reference=BATCH))
    # and: QA classifies it, assigns sup.wu, who investigates and submits with his signature
    classified = api.ok(api.put(QA_SPEC, f"{record}/classification", classification()))
    api.ok(api.transition(QA_SPEC, "deviations", reported["id"], "classify"))
    assigned = api.ok(api.put(QA_SPEC, f"{record}/investigator", {"username": INVESTIGATOR}))
    api.ok(api.transition(INVESTIGATOR, "deviations", reported["id"], "start_investigation"))
    investigated = api.ok(api.put(INVESTIGATOR, f"{record}/investigation", full_investigation()))
    submitted = api.transition(INVESTIGATOR, "deviations", reported["id"], "submit", sign=True, meaning="performed")
    offered = {t["name"]: t for t in api.ok(api.get(QA, f"/deviations/{reported['id']}/transitions"))}
    approved = api.transition(QA, "deviations", reported["id"], "approve", sign=True, meaning="approved")
    # and: a CAPA is planned, implemented by its owner, judged effective and closed; then the deviation closes
    planned = api.ok(api.post(QA_SPEC, "/capas", capa(reported)), 201)
    action = f"/capas/{planned['id']}"
    implemented = api.ok(api.put(OP, f"{action}/implementation", {"summary": "CV-12 added to PM plan PM-BR-002."}))
    signed_implementation = api.transition(OP, "capas", planned["id"], "implement", sign=True, meaning="performed")
    judged = api.ok(api.put(QA, f"{action}/effectiveness", {"result": "No excursion in 10 batches.",
                                                             "effective": True}))
    capa_closed = api.transition(QA, "capas", planned["id"], "close", sign=True, meaning="approved")
    closed = api.transition(QA, "deviations", reported["id"], "close", sign=True, meaning="approved")
    # then
    assert reported["number"].startswith(f"DEV-{TODAY:%Y}-") and reported["state"] == "reported"
    assert reported["reported_by"] == OP
    assert {(link["record_type"], link["reference"]) for link in reported["links"]} == {
        ("batch", BATCH), ("equipment", reactor.number)}
    assert [h["deviation_number"] for h in held] == [reported["number"]]
    assert classified["classification"] == "major" and classified["risk_priority"] == 12
    assert classified["due_on"] is not None and classified["due_on"] >= TODAY.isoformat()
    assert assigned["investigator"] == INVESTIGATOR
    assert investigated["root_cause_category"] == "machine" and len(investigated["five_whys"]) == 3
    assert api.ok(submitted) == {"state": "pending_approval"}
    assert offered["approve"]["allowed"] is True and offered["approve"]["signature"] == "approved"
    assert api.ok(approved) == {"state": "approved"}
    assert planned["number"].startswith(f"CAPA-{TODAY:%Y}-") and planned["state"] == "open"
    assert planned["owner"] == OP and planned["deviation_id"] == reported["id"]
    assert implemented["implementation_summary"].startswith("CV-12")
    assert api.ok(signed_implementation) == {"state": "implemented"}
    assert judged["effective"] is True
    assert api.ok(capa_closed) == {"state": "closed"}
    assert api.ok(closed) == {"state": "closed"}
    detail = api.ok(api.get(VIEWER, record))
    assert detail["state"] == "closed" and detail["closed_at"] is not None and detail["approved_at"] is not None
    assert [(c["number"], c["state"]) for c in detail["capas"]] == [(planned["number"], "closed")]
    assert [s["meaning"] for s in detail["signatures"]] == ["performed", "approved", "approved"]
    assert all(s["valid"] for s in detail["signatures"])
    assert detail["timeline"] and {e["kind"] for e in detail["timeline"]} >= {"state", "signature"}
    final_capa = api.ok(api.get(VIEWER, action))
    assert final_capa["state"] == "closed" and [s["meaning"] for s in final_capa["signatures"]] == [
        "performed", "approved"]
    assert api.ok(api.get(VIEWER, "/quality-holds", record_type="batch", reference=BATCH)) == []


# ---------------------------------------------------------------- lists, exports, inbox, counts, trend


def test_deviation_lists_filter_walk_in_pages_and_export(api: Api) -> None:
    # given: three reported deviations, one classified critical and linked to a batch
    first = api.ok(report(api, title="Label mix-up at line 2"), 201)
    second = api.ok(report(api, title="Torn glove in grade B", links=[{"record_type": "batch",
                                                                       "reference": BATCH}]), 201)
    third = api.ok(report(api, title="Missing signature on BPR page 4"), 201)
    api.ok(api.put(QA_SPEC, f"/deviations/{second['id']}/classification", classification(classification="critical")))
    # when
    page_one = api.ok(api.get(VIEWER, "/deviations", limit=2))
    page_two = api.ok(api.get(VIEWER, "/deviations", limit=2, cursor=page_one["next_cursor"]))
    critical = api.ok(api.get(VIEWER, "/deviations", classification="critical"))
    by_text = api.ok(api.get(VIEWER, "/deviations", q="glove"))
    by_link = api.ok(api.get(VIEWER, "/deviations", linked=f"batch:{BATCH}"))
    open_ones = api.ok(api.get(VIEWER, "/deviations", open_only=True, state="reported"))
    csv = api.get(VIEWER, "/deviations/export", format="csv")
    xlsx = api.get(VIEWER, "/deviations/export", format="xlsx", classification="critical")
    bad_cursor = api.get(VIEWER, "/deviations", cursor="not-a-cursor")
    bad_format = api.get(VIEWER, "/deviations/export", format="pdf")
    # then
    walked = [d["number"] for d in page_one["items"] + page_two["items"]]
    assert walked == [first["number"], second["number"], third["number"]] and page_two["next_cursor"] is None
    assert [d["number"] for d in critical["items"]] == [second["number"]]
    assert [d["number"] for d in by_text["items"]] == [second["number"]]
    assert [d["number"] for d in by_link["items"]] == [second["number"]]
    assert {d["number"] for d in open_ones["items"]} == {first["number"], second["number"], third["number"]}
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert all(d["number"] in csv.text for d in (first, second, third))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert "attachment" in xlsx.headers["content-disposition"]
    assert_problem(bad_cursor, 422, "cursor")
    assert_problem(bad_format, 422, "format")


def test_capa_lists_filter_export_and_change_only_with_a_reason(api: Api, site: dict[str, Actor]) -> None:
    # given: an approved deviation with two CAPA, one preventive from an audit
    deviation = approved_deviation(site)
    source = {"id": deviation.id, "number": deviation.number}
    corrective = api.ok(api.post(QA_SPEC, "/capas", capa(source)), 201)
    preventive = api.ok(api.post(QA_SPEC, "/capas", capa(source, kind="preventive", source_type="audit",
                                                          source_reference="AUD-2026-03", deviation_id=None)), 201)
    # when
    of_deviation = api.ok(api.get(VIEWER, "/capas", deviation_id=deviation.id))
    from_audits = api.ok(api.get(VIEWER, "/capas", source_type="audit"))
    mine = api.ok(api.get(VIEWER, "/capas", owner=OP, open_only=True, limit=1))
    exported = api.get(VIEWER, "/capas/export", format="csv")
    unexplained = api.patch(QA_SPEC, f"/capas/{corrective['id']}", {"title": "Revised"})
    revised = api.ok(api.patch(QA_SPEC, f"/capas/{corrective['id']}", {
        "title": "Add CV-12 and CV-13 to the PM plan", "reason": "CV-13 has the same design"}))
    # then
    assert [c["number"] for c in of_deviation["items"]] == [corrective["number"]]
    assert [c["number"] for c in from_audits["items"]] == [preventive["number"]]
    assert [c["number"] for c in mine["items"]] == [corrective["number"]] and mine["next_cursor"] is not None
    assert exported.status_code == 200 and corrective["number"] in exported.text
    assert_problem(unexplained, 422, "reason")
    assert revised["title"] == "Add CV-12 and CV-13 to the PM plan" and revised["due_on"] == corrective["due_on"]
    assert [e["kind"] for e in api.ok(api.get(VIEWER, f"/capas/{corrective['id']}"))["timeline"]]


def test_the_inbox_counts_and_trend_answer_each_person(api: Api) -> None:
    # given: one reported deviation and one classified, investigated by sup.wu
    waiting = api.ok(report(api, title="Door interlock bypassed"), 201)
    assigned = api.ok(report(api, title="Wrong buffer lot used"), 201)
    record = f"/deviations/{assigned['id']}"
    api.ok(api.put(QA_SPEC, f"{record}/classification", classification(classification="minor")))
    api.ok(api.transition(QA_SPEC, "deviations", assigned["id"], "classify"))
    api.ok(api.put(QA_SPEC, f"{record}/investigator", {"username": INVESTIGATOR}))
    # when
    qa_tasks = api.ok(api.get(QA_SPEC, "/quality/tasks"))
    investigator_tasks = api.ok(api.get(INVESTIGATOR, "/quality/tasks"))
    viewer_tasks = api.ok(api.get(VIEWER, "/quality/tasks"))
    counts = api.ok(api.get(VIEWER, "/quality/counts"))
    trend = api.ok(api.get(VIEWER, "/quality/trend", months=3, by="classification"))
    bad_trend = api.get(VIEWER, "/quality/trend", by="colour")
    # then
    assert ("deviation", waiting["id"], "classify") in {(t["record_type"], t["record_id"], t["action"])
                                                         for t in qa_tasks}
    assert [(t["record_id"], t["action"]) for t in investigator_tasks] == [(assigned["id"], "investigate")]
    assert viewer_tasks == []
    assert counts["open_deviations"] == 2 and counts["overdue_deviations"] == 0
    assert counts["by_classification"].get("minor") == 1
    assert sum(p["count"] for p in trend if p["month"] == f"{TODAY:%Y-%m}") == 2
    assert_problem(bad_trend, 422, "by")


def test_quality_holds_need_the_record_named(api: Api) -> None:
    # when
    unnamed = api.get(VIEWER, "/quality-holds", record_type="lot")
    free = api.ok(api.get(VIEWER, "/quality-holds", record_type="lot", reference="LOT-240311-007"))
    # then
    assert_problem(unnamed, 422, "reference")
    assert free == []


# ---------------------------------------------------------------- links and extensions


def test_links_are_added_and_removed_only_with_a_reason(api: Api) -> None:
    # given: a reported deviation without links
    deviation = api.ok(report(api), 201)
    links = f"/deviations/{deviation['id']}/links"
    # when
    unexplained_add = api.post(OP, links, {"record_type": "batch", "reference": BATCH})
    added = api.ok(api.post(OP, links, {"record_type": "batch", "reference": BATCH,
                                        "reason": "The batch was in the bioreactor at the time"}), 201)
    duplicate = api.post(OP, links, {"record_type": "batch", "reference": BATCH, "reason": "Again"})
    before = written()
    unexplained_removal = delete(api, QA_SPEC, f"{links}/batch/{BATCH}")
    after_refusal = written()
    removed = api.ok(delete(api, QA_SPEC, f"{links}/batch/{BATCH}", {"reason": "Batch was already harvested"}))
    api.ok(api.post(OP, links, {"record_type": "batch", "reference": "BO-2026-0002", "reason": "Next batch"}), 201)
    removed_by_query = api.ok(delete(api, QA_SPEC, f"{links}/batch/BO-2026-0002", reason="Not yet inoculated"))
    # then
    assert_problem(unexplained_add, 422, "reason")
    assert [(link["record_type"], link["reference"]) for link in added["links"]] == [("batch", BATCH)]
    assert_problem(duplicate, (409, 422))
    assert_problem(unexplained_removal, 422, "reason")
    assert after_refusal == before
    assert removed["links"] == [] and removed_by_query["links"] == []
    assert api.ok(api.get(VIEWER, "/quality-holds", record_type="batch", reference=BATCH)) == []


def test_a_due_date_extension_is_requested_by_the_investigator_and_decided_by_qa(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a deviation being investigated by sup.wu, due in ten days
    deviation = investigating(site, due_on=TODAY + timedelta(days=10))
    record = f"/deviations/{deviation.id}"
    # when
    requested = api.ok(api.post(INVESTIGATOR, f"{record}/extensions", {
        "requested_due_on": (TODAY + timedelta(days=25)).isoformat(),
        "justification": "Supplier's valve analysis report expected in 3 weeks."}), 201)
    extension = requested["extensions"][0]
    unexplained_rejection = api.put(QA_SPEC, f"{record}/extensions/{extension['id']}", {"approve": False})
    granted = api.ok(api.put(QA_SPEC, f"{record}/extensions/{extension['id']}", {"approve": True,
                                                                                 "comment": "Justified"}))
    # then
    assert extension["decision"] == "pending" and extension["requested_by"] == INVESTIGATOR
    assert_problem(unexplained_rejection, 422, "comment")
    assert granted["due_on"] == (TODAY + timedelta(days=25)).isoformat() and granted["extensions_granted"] == 1
    assert granted["extensions"][0]["decision"] == "approved" and granted["extensions"][0]["decided_by"] == QA_SPEC


# ---------------------------------------------------------------- bad inputs of issue #5


@pytest.mark.requirement("ICH Q10 3.2.2")
def test_closing_a_deviation_with_an_open_capa_is_refused_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: an approved deviation with one CAPA still open
    deviation = approved_deviation(site)
    planned = api.ok(api.post(QA_SPEC, "/capas", capa({"id": deviation.id, "number": deviation.number})), 201)
    before = written()
    # when
    offered = {t["name"]: t for t in api.ok(api.get(QA, f"/deviations/{deviation.id}/transitions"))}
    response = api.transition(QA, "deviations", deviation.id, "close", sign=True, meaning="approved")
    # then
    body = assert_problem(response, 409)
    assert planned["number"] in body["detail"]
    assert offered["close"]["allowed"] is False and planned["number"] in (offered["close"]["why_not"] or "")
    assert api.ok(api.get(VIEWER, f"/deviations/{deviation.id}"))["state"] == "approved"
    assert written() == before


@pytest.mark.requirement("21 CFR 11.10(g)")
def test_the_reporter_cannot_approve_the_deviation_they_reported_and_nothing_is_written(api: Api) -> None:
    # given: qa.li reported a deviation that sup.wu investigated and submitted
    deviation = api.ok(report(api, username=QA), 201)
    to_pending_approval(api, deviation["id"])
    before = written()
    # when
    response = api.transition(QA, "deviations", deviation["id"], "approve", sign=True, meaning="approved")
    # then
    body = assert_problem(response, 409)
    assert "reported" in body["detail"]
    assert api.ok(api.get(VIEWER, f"/deviations/{deviation['id']}"))["state"] == "pending_approval"
    assert written() == before


@pytest.mark.requirement("21 CFR 11.10(g)")
def test_the_investigator_cannot_approve_their_own_investigation_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: qa.li investigated and submitted the deviation herself
    deviation = pending_approval(site, by=site[QA])
    before = written()
    # when
    response = api.transition(QA, "deviations", deviation.id, "approve", sign=True, meaning="approved")
    # then
    assert_problem(response, (403, 409))
    assert api.ok(api.get(VIEWER, f"/deviations/{deviation.id}"))["state"] == "pending_approval"
    assert written() == before


@pytest.mark.requirement("21 CFR 11.200(a)")
def test_signing_with_a_wrong_password_is_refused_naming_the_password_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a deviation awaiting QA approval
    deviation = pending_approval(site)
    before = written()
    # when
    wrong = api.post(QA, f"/deviations/{deviation.id}/transitions/approve",
                     {"password": "not-her-password", "meaning": "approved"})
    missing = api.post(QA, f"/deviations/{deviation.id}/transitions/approve", {"meaning": "approved"})
    # then
    assert_problem(wrong, 401, "password")
    assert_problem(missing, 422, "password")
    detail = api.ok(api.get(VIEWER, f"/deviations/{deviation.id}"))
    assert detail["state"] == "pending_approval" and [s["meaning"] for s in detail["signatures"]] == ["performed"]
    assert written() == before


@pytest.mark.requirement("EU GMP Part I 1.4(xiv)")
def test_submitting_an_investigation_without_its_impact_assessment_is_refused_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: sup.wu recorded the root cause and conclusion but no impact assessment
    deviation = investigating(site)
    record = f"/deviations/{deviation.id}"
    api.ok(api.put(INVESTIGATOR, f"{record}/investigation",
                   full_investigation(impact_assessment="", product_impact=None)))
    before = written()
    # when
    offered = {t["name"]: t for t in api.ok(api.get(INVESTIGATOR, f"{record}/transitions"))}
    response = api.transition(INVESTIGATOR, "deviations", deviation.id, "submit", sign=True, meaning="performed")
    # then
    body = assert_problem(response, 409)
    assert "impact assessment" in body["detail"]
    assert offered["submit"]["allowed"] is False and "impact assessment" in (offered["submit"]["why_not"] or "")
    assert api.ok(api.get(VIEWER, record))["state"] == "investigating"
    assert written() == before


def test_a_due_date_in_the_past_is_refused_naming_due_on_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a reported deviation and an approved one
    reported = api.ok(report(api), 201)
    approved = approved_deviation(site)
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    before = written()
    # when
    classified = api.put(QA_SPEC, f"/deviations/{reported['id']}/classification", classification(due_on=yesterday))
    planned = api.post(QA_SPEC, "/capas", capa({"id": approved.id, "number": approved.number}, due_on=yesterday))
    # then
    assert_problem(classified, 422, "due_on")
    assert_problem(planned, 422, "due_on")
    assert api.ok(api.get(VIEWER, f"/deviations/{reported['id']}"))["classification"] == ""
    assert api.ok(api.get(VIEWER, "/capas"))["items"] == []
    assert written() == before


def test_bad_report_fields_are_named_and_nothing_is_written(api: Api) -> None:
    # given
    before = written()
    now = utcnow()
    # when
    responses = {
        "title": report(api, title="x" * 201),
        "immediate_action": report(api, immediate_action="  "),
        "discovered_at": report(api, discovered_at=(now + timedelta(hours=2)).isoformat()),
        "occurred_at": report(api, occurred_at=(now - timedelta(minutes=5)).isoformat(),
                              discovered_at=(now - timedelta(hours=1)).isoformat()),
    }
    # then
    for field, response in responses.items():
        assert_problem(response, 422, field)
    assert written() == before


def test_bad_classification_and_investigation_inputs_are_named_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a reported deviation and one under investigation by sup.wu
    reported = api.ok(report(api), 201)
    deviation = investigating(site)
    before = written()
    # when
    responses = {
        "classification": api.put(QA_SPEC, f"/deviations/{reported['id']}/classification",
                                  classification(classification="grave")),
        "severity": api.put(QA_SPEC, f"/deviations/{reported['id']}/classification", classification(severity=6)),
        "rationale": api.put(QA_SPEC, f"/deviations/{reported['id']}/classification", classification(rationale="")),
        "username": api.put(QA_SPEC, f"/deviations/{reported['id']}/investigator", {"username": VIEWER}),
        "root_cause_category": api.put(INVESTIGATOR, f"/deviations/{deviation.id}/investigation",
                                       {"root_cause_category": "luck"}),
    }
    # then
    for field, response in responses.items():
        assert_problem(response, 422, field)
    assert written() == before


# ---------------------------------------------------------------- access


@pytest.mark.requirement("21 CFR 11.10(d)")
def test_roles_without_the_permission_are_refused_and_nothing_is_written(api: Api, site: dict[str, Actor]) -> None:
    # given: a reported deviation, one under investigation and one awaiting approval
    reported = api.ok(report(api), 201)
    investigated = investigating(site)
    pending = pending_approval(site)
    source = {"id": pending.id, "number": pending.number}
    before = written()
    # when
    refused = {
        "viewer reports": report(api, username=VIEWER),
        "admin reports": report(api, username=ADMIN),
        "operator classifies": api.put(OP, f"/deviations/{reported['id']}/classification", classification()),
        "operator assigns": api.put(OP, f"/deviations/{reported['id']}/investigator", {"username": INVESTIGATOR}),
        "operator removes a link": delete(api, OP, f"/deviations/{reported['id']}/links/batch/{BATCH}",
                                          {"reason": "x"}),
        "viewer adds a link": api.post(VIEWER, f"/deviations/{reported['id']}/links", {
            "record_type": "batch", "reference": BATCH, "reason": "x"}),
        "operator investigates": api.put(OP, f"/deviations/{investigated.id}/investigation", full_investigation()),
        "operator asks for more time": api.post(OP, f"/deviations/{investigated.id}/extensions", {
            "requested_due_on": (TODAY + timedelta(days=60)).isoformat(), "justification": "x"}),
        "investigator decides an extension": api.put(INVESTIGATOR, f"/deviations/{investigated.id}/extensions/1",
                                                     {"approve": True}),
        "operator classifies by transition": api.transition(OP, "deviations", reported["id"], "classify"),
        "qa specialist approves": api.transition(QA_SPEC, "deviations", pending.id, "approve", sign=True,
                                                 meaning="approved"),
        "operator plans a CAPA": api.post(OP, "/capas", capa(source)),
        "viewer plans a CAPA": api.post(VIEWER, "/capas", capa(source)),
        "viewer implements": api.put(VIEWER, "/capas/1/implementation", {"summary": "x"}),
        "operator judges effectiveness": api.put(OP, "/capas/1/effectiveness", {"result": "x", "effective": True}),
        "operator revises a CAPA": api.patch(OP, "/capas/1", {"title": "x", "reason": "x"}),
    }
    # then
    for what, response in refused.items():
        assert response.status_code == 403, f"{what}: {response.status_code} {response.text}"
        assert_problem(response, 403)
    assert api.ok(api.get(VIEWER, f"/deviations/{reported['id']}"))["state"] == "reported"
    assert api.ok(api.get(VIEWER, f"/deviations/{pending.id}"))["state"] == "pending_approval"
    assert written() == before

"""The complaints REST API end to end, and its bad inputs refused as problem+json naming the field, nothing written.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from tests.api_client import Api
from tests.quality import complaint_factories as cf
from tests.quality import factories as f
from tests.quality.test_api import assert_problem
from tests.quality.test_complaints import written

TODAY = site_today()
CS = "cs.zhao"  # customer service: logs complaints
QA_SPEC = "qa.zhang"
QA = "qa.li"
INVESTIGATOR = "sup.wu"
VIEWER = "viewer.chen"
INTAKE = {"received_on": TODAY.isoformat(), "channel": "email", "customer": "华东医药配送中心",
          "product": "重组人胰岛素注射液 3 mL", "description": "Visible particles in two cartridges.",
          "lot_number": "INS-2611-004", "sample_received": True, "sample_received_on": TODAY.isoformat()}


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    cf.receiver()
    f.investigator(INVESTIGATOR)
    return Api(TestClient(create_app()))


def test_a_complaint_is_handled_end_to_end_through_the_api(api: Api, site: dict[str, Actor]) -> None:
    # given
    deviation = f.report(site)
    # when
    created = api.ok(api.post(CS, "/complaints", INTAKE), 201)
    path = f"/complaints/{created['id']}"
    api.ok(api.post(QA_SPEC, f"{path}/classification", {
        "classification": "critical", "category": "quality_defect", "adverse_event": False,
        "investigator_username": INVESTIGATOR}))
    api.ok(api.transition(QA_SPEC, "complaints", created["id"], "classify"))
    api.ok(api.post(INVESTIGATOR, f"{path}/investigation", {"investigation": "Retained samples clear.",
                                                            "root_cause": "Transport damage.", "justified": True}))
    linked = api.ok(api.post(INVESTIGATOR, f"{path}/links", {"record": f"deviation:{deviation.number}"}), 201)
    api.ok(api.transition(INVESTIGATOR, "complaints", created["id"], "submit", sign=True))
    api.ok(api.transition(QA, "complaints", created["id"], "approve", sign=True))
    api.ok(api.post(QA_SPEC, f"{path}/response", {"response": "Replacement sent.",
                                                  "responded_on": TODAY.isoformat()}))
    api.ok(api.transition(QA, "complaints", created["id"], "close", sign=True))
    final = api.ok(api.get(VIEWER, path))
    listed = api.ok(api.get(VIEWER, "/complaints", state="closed"))
    trend = api.ok(api.get(VIEWER, "/complaints/trend", months=1, by="classification"))
    exported = api.get(VIEWER, "/complaints/export", format="csv")
    # then
    assert created["number"].startswith("CMP-") and created["state"] == "received"
    assert linked["linked_records"] == [f"deviation:{deviation.number}"]
    assert final["state"] == "closed" and final["response"] == "Replacement sent."
    assert [s["meaning"] for s in final["signatures"]] == ["performed", "approved", "verified"]
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert {p["category"]: p["count"] for p in trend}["critical"] == 1
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert [r["number"] for r in csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))] == [
        created["number"]]


def test_the_list_pages_with_a_cursor(api: Api, site: dict[str, Actor]) -> None:
    # given
    ids = [cf.receive(site).id for _ in range(3)]
    # when
    first = api.ok(api.get(VIEWER, "/complaints", limit=2))
    second = api.ok(api.get(VIEWER, "/complaints", limit=2, cursor=first["next_cursor"]))
    # then
    assert [c["id"] for c in first["items"] + second["items"]] == ids and second["next_cursor"] is None


@pytest.mark.parametrize(("change", "field"), [
    ({"received_on": (TODAY + timedelta(days=1)).isoformat()}, "received_on"),
    ({"sample_received_on": None}, "sample_received_on"),
    ({"channel": "pigeon"}, "channel"),
    ({"lot_number": "ins 2611/004"}, "lot_number"),
])
def test_a_bad_intake_is_refused_naming_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    # given
    before = written()
    # when
    response = api.post(CS, "/complaints", {**INTAKE, **change})
    # then
    assert_problem(response, 422, field)
    assert written() == before


def test_bad_steps_are_refused_naming_the_field(api: Api, site: dict[str, Actor]) -> None:
    # given
    investigating = cf.investigating_complaint(site)
    approved = cf.approved_complaint(site)
    before = written()
    # when
    missing_link = api.post(QA_SPEC, f"/complaints/{investigating.id}/links", {"record": "deviation:DEV-2020-0999"})
    early_response = api.post(QA_SPEC, f"/complaints/{investigating.id}/response",
                              {"response": "Sorry.", "responded_on": TODAY.isoformat()})
    unanswered_close = api.transition(QA, "complaints", approved.id, "close", sign=True)
    no_reason_unlink = api.post(QA_SPEC, f"/complaints/{investigating.id}/links/removal",
                                {"record": "deviation:DEV-2020-0999", "reason": ""})
    viewer_intake = api.post(VIEWER, "/complaints", INTAKE)
    # then
    assert_problem(missing_link, 422, "record")
    assert_problem(early_response, 409, "response")
    assert "response" in assert_problem(unanswered_close, 409)["detail"]
    assert_problem(no_reason_unlink, 422, "reason")
    assert_problem(viewer_intake, 403)
    assert written() == before


def test_saved_filters_through_the_api(api: Api) -> None:
    # given
    body = {"list_name": "complaints", "name": "Critical open", "query": "classification=critical&state=received"}
    # when
    saved = api.ok(api.post(VIEWER, "/quality/saved-filters", body), 201)
    duplicate = api.post(VIEWER, "/quality/saved-filters", body)
    unknown = api.post(VIEWER, "/quality/saved-filters", {**body, "name": "Other", "query": "colour=red"})
    shared_by_viewer = api.post(VIEWER, "/quality/saved-filters", {**body, "name": "Team", "shared": True})
    shared = api.ok(api.post(QA_SPEC, "/quality/saved-filters", {**body, "name": "QA desk", "shared": True}), 201)
    mine = api.ok(api.get(VIEWER, "/quality/saved-filters", list_name="complaints"))
    not_hers = api.client.delete(f"/api/v1/quality/saved-filters/{shared['id']}", headers=api.headers(VIEWER))
    deleted = api.client.delete(f"/api/v1/quality/saved-filters/{saved['id']}", headers=api.headers(VIEWER))
    after = api.ok(api.get(VIEWER, "/quality/saved-filters", list_name="complaints"))
    # then
    assert saved["query"] == "classification=critical&state=received" and saved["mine"]
    assert_problem(duplicate, 422, "name")
    assert_problem(unknown, 422, "query")
    assert_problem(shared_by_viewer, 403)
    assert [(s["name"], s["mine"]) for s in mine] == [("Critical open", True), ("QA desk", False)]
    assert_problem(not_hers, 403)
    assert deleted.status_code == 204
    assert [s["name"] for s in after] == ["QA desk"]

"""The training REST API: read-and-understood and assessments end to end, matrix, qualification, bad inputs.

The behaviour under test is driven through the API; background states (effective documents)
are reached through the services via tests/quality/document_factories.py. Bad inputs come back
as problem+json naming the field, and nothing is written (training rows, their audit entries,
every signature). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from tests.api_client import API, Api
from tests.quality.document_factories import draft_document, effective_document
from tests.quality.test_api import assert_problem
from tests.quality.test_training import written
from tests.quality.training_factories import operator

OP = "op.liu"
MANAGER = "qa.zhang"  # training.manage
TRAINER = "qa.li"  # training.record
VIEWER = "viewer.chen"
SOP = "SOP-QA-0201"


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    operator()
    effective_document(site, number=SOP)
    return Api(TestClient(create_app()))


def query(api: Api, who: str, path: str, **params: Any) -> Any:
    """A GET whose query may itself carry ``username`` (Api.get takes the caller's name positionally)."""
    return api.client.get(API + path, headers=api.headers(who), params=params)


def delete(api: Api, username: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return api.client.request("DELETE", API + path, headers=api.headers(username), json=body)


def test_read_and_understood_end_to_end(api: Api) -> None:
    # given: operators must read the SOP
    requirement = api.ok(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}),
                         201)
    assert requirement["document_number"] == SOP and requirement["active"]

    # when: op.liu reads it and signs
    mine = api.ok(api.get(OP, "/training/mine"))
    [record] = mine["open"]
    assert record["document_number"] == SOP and record["version"] == 1
    api.ok(api.transition(OP, "training-records", record["id"], "acknowledge", sign=True, meaning="acknowledged"))

    # then
    done = api.ok(api.get(OP, f"/training/records/{record['id']}"))
    assert done["state"] == "completed" and [s["meaning"] for s in done["signatures"]] == ["acknowledged"]
    assert api.ok(query(api, VIEWER, "/training/qualification", username=OP, document=SOP)) == {
        "qualified": True, "reasons": []}
    earlier = (utcnow() - timedelta(days=1)).isoformat()
    assert not api.ok(query(api, VIEWER, "/training/qualification", username=OP, document=SOP, at=earlier))["qualified"]
    pdf = api.get(OP, f"/training/records/{record['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_an_assessment_with_result_then_verified_by_the_trainer(api: Api) -> None:
    # given
    api.ok(api.post(MANAGER, "/training/skills", {"code": "GOWN-A", "name_zh": "A级更衣", "validity_months": 6}), 201)
    [record] = api.ok(api.post(MANAGER, "/training/records", {
        "usernames": [OP], "skill_code": "GOWN-A", "kind": "assessment", "due_on": site_today().isoformat()}), 201)

    # when
    api.ok(api.post(TRAINER, f"/training/records/{record['id']}/result", {"result": "pass", "trainer_notes": "ok"}))
    api.ok(api.transition(TRAINER, "training-records", record["id"], "complete", sign=True))

    # then
    done = api.ok(api.get(TRAINER, f"/training/records/{record['id']}"))
    assert done["state"] == "completed" and done["trainer"] == TRAINER and done["valid_until"]
    assert api.ok(query(api, OP, "/training/qualification", username=OP, skill="GOWN-A"))["qualified"]
    skills = api.ok(api.get(VIEWER, "/training/skills"))
    assert [s["code"] for s in skills] == ["GOWN-A"]


def test_the_list_pages_by_cursor_and_filters_overdue(api: Api) -> None:
    api.ok(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}), 201)
    first = api.ok(api.get(MANAGER, "/training/records", limit=1, state="assigned"))
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = api.ok(api.get(MANAGER, "/training/records", cursor=first["next_cursor"], state="assigned"))
    assert {r["username"] for r in first["items"] + rest["items"]} == {"op.liu", "op.zhao"}
    assert api.ok(api.get(MANAGER, "/training/records", overdue=True))["items"] == []
    assert {r["username"] for r in api.ok(api.get(OP, "/training/records"))["items"]} == {OP}
    assert_problem(query(api, OP, "/training/records", username="op.zhao"), 403)


def test_the_matrix_as_json_and_as_downloads(api: Api) -> None:
    api.ok(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}), 201)
    matrix = api.ok(api.get(VIEWER, "/training/matrix", role="operator"))
    assert [c["label"] for c in matrix["columns"]] == [SOP]
    assert {r["username"]: r["cells"][0]["status"] for r in matrix["rows"]} == {"op.liu": "assigned",
                                                                                 "op.zhao": "assigned"}
    csv = api.get(VIEWER, "/training/matrix", format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv") and b"op.zhao" in csv.content
    xlsx = api.get(VIEWER, "/training/matrix", format="xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert_problem(api.get(VIEWER, "/training/matrix", format="pdf"), 422)


def test_removing_a_requirement_records_the_reason(api: Api) -> None:
    requirement = api.ok(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}),
                         201)
    before = written()
    assert_problem(delete(api, MANAGER, f"/training/requirements/{requirement['id']}", {"reason": ""}), 422, "reason")
    assert written() == before
    removed = api.ok(delete(api, MANAGER, f"/training/requirements/{requirement['id']}", {"reason": "Task moved"}))
    assert not removed["active"]
    assert api.ok(api.get(VIEWER, "/training/requirements")) == []
    assert api.ok(api.get(OP, "/training/mine"))["open"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"role": "operator", "document_number": SOP, "skill_code": "GOWN-A"}, "document_number"),
    ({"role": "operator"}, "document_number"),
    ({"role": "astronaut", "document_number": SOP}, "role"),
])
def test_bad_requirements_are_problems_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    before = written()
    assert_problem(api.post(MANAGER, "/training/requirements", body), 422, field)
    assert written() == before


def test_a_duplicate_requirement_is_a_problem(api: Api) -> None:
    api.ok(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}), 201)
    before = written()
    assert_problem(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}), 422,
                   "document_number")
    assert written() == before


def test_bad_assignments_are_problems_naming_the_field(api: Api, site: dict[str, Actor]) -> None:
    draft = draft_document(site, number="SOP-QA-0202")
    before = written()
    past = (site_today() - timedelta(days=1)).isoformat()
    assert_problem(api.post(MANAGER, "/training/records", {
        "usernames": [OP], "document_number": SOP, "due_on": past}), 422, "due_on")
    assert_problem(api.post(MANAGER, "/training/records", {
        "usernames": [OP], "document_number": draft.number, "due_on": site_today().isoformat()}), 422,
        "document_number")
    assert written() == before


def test_acknowledging_someone_elses_record_and_completing_without_result_are_refused(api: Api) -> None:
    # given
    api.ok(api.post(MANAGER, "/training/requirements", {"role": "operator", "document_number": SOP}), 201)
    [record] = api.ok(api.get(OP, "/training/mine"))["open"]
    api.ok(api.post(MANAGER, "/training/skills", {"code": "GOWN-A", "name_zh": "A级更衣"}), 201)
    [assessment] = api.ok(api.post(MANAGER, "/training/records", {
        "usernames": [OP], "skill_code": "GOWN-A", "kind": "assessment", "due_on": site_today().isoformat()}), 201)
    [own] = api.ok(api.post(MANAGER, "/training/records", {
        "usernames": [TRAINER], "skill_code": "GOWN-A", "kind": "assessment", "due_on": site_today().isoformat()}),
        201)
    before = written()

    # when / then
    assert_problem(api.transition("op.zhao", "training-records", record["id"], "acknowledge", sign=True), 409)
    assert_problem(api.transition(TRAINER, "training-records", assessment["id"], "complete", sign=True), 409)
    assert_problem(api.post(TRAINER, f"/training/records/{own['id']}/result", {"result": "pass"}), 409, "trainer")
    assert_problem(api.post(TRAINER, f"/training/records/{assessment['id']}/result", {"result": "maybe"}), 422,
                   "result")
    assert_problem(api.post(OP, "/training/skills", {"code": "X1", "name_zh": "x"}), 403)
    assert written() == before

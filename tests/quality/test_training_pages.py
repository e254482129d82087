"""Training web pages: they render for a viewer, the trainee signs read and understood from "my training",
and bad input is refused next to the field while nothing is written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import training
from tests.conftest import password_of
from tests.quality.document_factories import effective_document
from tests.quality.test_training import written
from tests.quality.training_factories import assessed, open_record, operator, require, skill
from tests.test_web_pages import HTML, csrf_of, sign_in

SOP = "SOP-QA-0301"


@pytest.fixture
def desk(site: dict[str, Actor]) -> dict[str, Any]:
    """Operators must read an effective SOP and hold GOWN-A; op.liu passed GOWN-A."""
    operator()
    effective_document(site, number=SOP)
    require(site, document_number=SOP)
    skill(site, "GOWN-A")
    require(site, skill_code="GOWN-A")
    passed = assessed(site, site["op.liu"], "GOWN-A")
    return {"record": open_record(site["op.liu"], document_number=SOP), "passed": passed}


@pytest.fixture
def client(desk: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def test_training_pages_render_for_a_viewer(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    paths = ["/quality/training", "/quality/training/matrix", "/quality/training/matrix?role=operator",
             "/quality/training/requirements"]
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    matrix = pages["/quality/training/matrix"].text
    assert 'data-status="qualified"' in matrix and 'data-status="assigned"' in matrix
    assert 'data-status="missing"' in matrix and SOP in matrix
    # the people's roles show by their names, not their codes (viewer.chen reads the site in Chinese)
    assert '<span title="operator">生产操作员</span>' in pages["/quality/training/matrix?role=operator"].text
    assert 'action="/quality/training/requirements"' not in pages["/quality/training/requirements"].text
    # a viewer sees only their own records
    assert client.get(f"/quality/training/records/{desk['record'].id}", headers=HTML).status_code == 403


def test_a_manager_sees_the_list_the_record_and_its_print(client: TestClient, desk: dict[str, Any]) -> None:
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    listing = client.get("/quality/training/records?state=assigned", headers=HTML)
    assert listing.status_code == 200 and f'data-record="{desk["record"].id}"' in listing.text
    assert 'data-record=' not in client.get("/quality/training/records?overdue=1", headers=HTML).text
    page = client.get(f"/quality/training/records/{desk['passed'].id}", headers=HTML)
    assert page.status_code == 200 and 'class="sig sig--valid"' in page.text
    printed = client.get(f"/quality/training/records/{desk['passed'].id}/print", headers=HTML)
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
    export = client.get("/quality/training/matrix/export?format=csv&role=operator", headers=HTML)
    assert export.status_code == 200 and b"op.zhao" in export.content


def test_the_trainee_signs_read_and_understood_from_my_training(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    page = client.get("/quality/training", headers=HTML)
    record_id = desk["record"].id
    assert f'/api/v1/documents/{desk["record"].document_id}/versions/1/file' in page.text
    before = written()
    # when: a wrong password first
    refused = client.post(f"/quality/training/{record_id}/acknowledge", headers=HTML, follow_redirects=False,
                          data={"csrf_token": csrf_of(page.text), "record_id": str(record_id), "password": "nope"})
    # then
    assert refused.status_code in (401, 403, 422) and written()["signatures"] == before["signatures"]
    assert written()["states"] == before["states"]
    # when: the right one
    signed = client.post(f"/quality/training/{record_id}/acknowledge", headers=HTML, follow_redirects=False,
                         data={"csrf_token": csrf_of(page.text), "record_id": str(record_id),
                               "password": password_of("op.liu")})
    # then
    assert signed.status_code == 303 and signed.headers["location"] == "/quality/training"
    assert training.is_qualified(username="op.liu", document_number=SOP).qualified


def test_a_bad_requirement_is_refused_beside_the_field_and_nothing_is_written(client: TestClient) -> None:
    # given
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = client.get("/quality/training/requirements", headers=HTML)
    before = written()
    # when
    response = client.post("/quality/training/requirements", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "role": "astronaut", "document_number": SOP})
    both = client.post("/quality/training/requirements", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "role": "operator", "document_number": SOP, "skill_code": "GOWN-A"})
    past = client.post("/quality/training/assignments", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "usernames": "op.liu", "document_number": SOP, "due_on": "2020-01-01",
        "kind": "read_and_understood"})
    # then
    assert response.status_code == 422 and re.search(r'id="e-role"[^>]*>[^<]+', response.text)
    assert 'value="astronaut"' in response.text
    assert both.status_code == 422 and re.search(r'id="e-document_number"[^>]*>[^<]+', both.text)
    assert past.status_code == 422 and re.search(r'id="e-due_on"[^>]*>[^<]+', past.text)
    assert written() == before


def test_a_trainer_records_a_result_then_signs_it_verified(client: TestClient, site: dict[str, Actor]) -> None:
    # given
    [record] = training.assign_training(actor=site["qa.zhang"], usernames=["op.zhao"], skill_code="GOWN-A",
                                        kind="assessment", due_on=site_today())
    sign_in(client, "qa.li", password_of("qa.li"))
    page = client.get(f"/quality/training/records/{record.id}", headers=HTML)
    assert 'id="result-form"' in page.text
    # when
    saved = client.post(f"/quality/training/records/{record.id}/result", headers=HTML, follow_redirects=False,
                        data={"csrf_token": csrf_of(page.text), "result": "pass", "trainer_notes": "良好"})
    completed = client.post(f"/quality/training/records/{record.id}/transitions/complete", headers=HTML,
                            follow_redirects=False,
                            data={"csrf_token": csrf_of(page.text), "password": password_of("qa.li")})
    # then
    assert saved.status_code == 303 and completed.status_code == 303
    assert training.is_qualified(username="op.zhao", skill_code="GOWN-A").qualified

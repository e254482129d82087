"""Complaint pages, the print links of deviations and CAPA, and the saved-filter UI of the quality lists: they
render, refuse bad input next to the field writing nothing, and say why a transition cannot be taken."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import service as quality
from tests.conftest import password_of
from tests.quality import complaint_factories as cf
from tests.quality import factories as f
from tests.quality.test_complaints import written
from tests.quality.test_saved_filters import saved
from tests.test_web_pages import HTML, csrf_of, sign_in

TODAY = site_today()


@pytest.fixture
def desk(site: dict[str, Actor]) -> dict[str, Any]:
    """A complaint in each of received, investigating (sup.wu), approved and closed; a closed deviation."""
    return {"received": cf.receive(site, customer="北京协和医院药剂科"),
            "investigating": cf.investigating_complaint(site), "approved": cf.approved_complaint(site),
            "closed": cf.closed_complaint(site, product="胰岛素 B"), "deviation": f.closed_deviation(site)}


@pytest.fixture
def client(desk: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    cf.receiver()
    return TestClient(create_app())


def test_complaint_pages_render_for_a_viewer(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    paths = ["/quality/complaints", "/quality/complaints?all=1", "/quality/complaints?state=closed",
             "/quality/complaints?category=quality_defect&classification=major&q=CMP&overdue=1",
             "/quality/complaints?product=胰岛素 B&all=1", "/quality/complaints/trend",
             "/quality/complaints/trend?by=product&months=3", "/quality/complaints/trend?by=classification",
             *(f"/quality/complaints/{desk[k].id}" for k in ("received", "investigating", "approved", "closed"))]
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    listing = pages["/quality/complaints"].text
    assert desk["received"].number in listing and desk["closed"].number not in listing
    assert desk["closed"].number in pages["/quality/complaints?product=胰岛素 B&all=1"].text
    assert desk["received"].number not in pages["/quality/complaints?product=胰岛素 B&all=1"].text
    assert 'id="saved-filters"' in listing and 'id="save-filter-form"' in listing
    closed = pages[f"/quality/complaints/{desk['closed'].id}"].text
    assert 'id="timeline"' in closed and 'class="sig sig--valid"' in closed
    assert f'href="/quality/complaints/{desk["closed"].id}/print"' in closed
    assert 'id="trend"' in pages["/quality/complaints/trend"].text
    # a viewer sees no forms that would change anything
    received = pages[f"/quality/complaints/{desk['received'].id}"].text
    assert not re.search(r'action="/quality/complaints/\d+/(?!transitions/)', received)


def test_a_transition_that_cannot_be_taken_says_why(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    # when
    page = client.get(f"/quality/complaints/{desk['received'].id}", headers=HTML).text
    # then: not classified yet, so "classify" is offered disabled with the reason
    assert 'id="classification"' in page
    assert re.search(r'id="why-classify"[^>]*>[^<]+', page)


def test_intake_form_with_bad_input_names_each_field_and_writes_nothing(client: TestClient) -> None:
    # given
    sign_in(client, "cs.zhao", password_of("cs.zhao"))
    form = client.get("/quality/complaints/new", headers=HTML)
    assert form.status_code == 200
    before = written()
    # when
    response = client.post("/quality/complaints/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "received_on": (TODAY + timedelta(days=2)).isoformat(), "channel": "fax",
        "customer": "某药房", "product": "胰岛素", "description": "包装破损", "lot_number": "批号 12",
        "sample_received": "on", "sample_received_on": ""})
    # then
    assert response.status_code == 422
    for field in ("received_on", "channel", "lot_number", "sample_received_on"):
        assert re.search(rf'id="e-{field}"[^>]*>[^<]+', response.text), field
    assert "包装破损" in response.text and 'value="某药房"' in response.text
    assert written() == before


def test_intake_form_logs_the_complaint_and_opens_it(client: TestClient) -> None:
    # given
    sign_in(client, "cs.zhao", password_of("cs.zhao"))
    form = client.get("/quality/complaints/new", headers=HTML)
    # when
    response = client.post("/quality/complaints/new", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form.text), "received_on": TODAY.isoformat(), "channel": "email",
        "customer": "某药房", "product": "胰岛素", "description": "包装破损", "lot_number": "ins-2611-004"})
    # then
    assert response.status_code == 303
    page = client.get(response.headers["location"], headers=HTML).text
    assert "INS-2611-004" in page and "包装破损" in page


def test_record_forms_move_a_complaint_through_classification_and_response(
        client: TestClient, desk: dict[str, Any], site: dict[str, Actor]) -> None:
    # given
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    received = f"/quality/complaints/{desk['received'].id}"
    token = csrf_of(client.get(received, headers=HTML).text)
    before = written()
    # when: a bad investigator first, then a good classification, then the classify step
    bad = client.post(f"{received}/classification", headers=HTML, data={
        "csrf_token": token, "classification": "major", "category": "packaging", "investigator_username": "op.liu"})
    good = client.post(f"{received}/classification", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "classification": "major", "category": "packaging", "investigator_username": "sup.wu",
        "adverse_event": "on"})
    moved = client.post(f"{received}/transitions/classify", headers=HTML, follow_redirects=False,
                        data={"csrf_token": token})
    early = client.post(f"{received}/response", headers=HTML, data={
        "csrf_token": token, "response": "已答复", "responded_on": TODAY.isoformat()})
    # then
    assert bad.status_code == 422 and re.search(r'id="e-investigator_username"[^>]*>[^<]+', bad.text)
    assert good.status_code == 303 and moved.status_code == 303
    after = quality.get_complaint(actor=site["qa.zhang"], complaint_id=desk["received"].id)
    assert after.state == "investigating" and after.adverse_event and written()["audit"] > before["audit"]
    assert early.status_code == 409 and re.search(r'banner--error" role="alert">[^<]*approved', early.text)


def test_print_links_download_pdfs_and_are_audited(client: TestClient, desk: dict[str, Any],
                                                   site: dict[str, Actor]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    capa = quality.create_capa(actor=site["qa.li"], kind="preventive", title="Audit the courier",
                               source_type="complaint", source_reference=desk["approved"].number,
                               owner_username="op.liu", due_on=TODAY + timedelta(days=10),
                               effectiveness_criteria="No transport damage for 6 months")
    paths = [f"/quality/complaints/{desk['closed'].id}/print", f"/quality/deviations/{desk['deviation'].id}/print",
             f"/quality/capas/{capa.id}/print"]
    # when
    responses = [client.get(path) for path in paths]
    deviation_page = client.get(f"/quality/deviations/{desk['deviation'].id}", headers=HTML).text
    capa_page = client.get(f"/quality/capas/{capa.id}", headers=HTML).text
    # then
    for response in responses:
        assert response.status_code == 200 and response.content.startswith(b"%PDF-")
        assert "attachment" in response.headers["content-disposition"]
    assert f'href="/quality/deviations/{desk["deviation"].id}/print"' in deviation_page
    assert f'href="/quality/capas/{capa.id}/print"' in capa_page
    timeline = quality.get_complaint(actor=site["viewer.chen"], complaint_id=desk["closed"].id).timeline
    assert any(e.text == "print" for e in timeline)


@pytest.mark.parametrize("path", ["/quality/deviations", "/quality/capas", "/quality/complaints"])
def test_saving_and_deleting_a_filter_from_a_list(client: TestClient, path: str) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    list_name = path.rsplit("/", 1)[1]
    page = client.get(f"{path}?overdue=1", headers=HTML)
    token = csrf_of(page.text)
    assert 'name="query" value="overdue=1"' in page.text
    # when
    created = client.post("/quality/saved-filters", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "list_name": list_name, "name": "逾期", "query": "overdue=1", "back": path})
    listed = client.get(path, headers=HTML).text
    before = saved()
    duplicate = client.post("/quality/saved-filters", headers=HTML, data={
        "csrf_token": token, "list_name": list_name, "name": "逾期", "query": "overdue=1", "back": path})
    unknown = client.post("/quality/saved-filters", headers=HTML, data={
        "csrf_token": token, "list_name": list_name, "name": "Other", "query": "colour=red", "back": path})
    after_refusals = saved()
    filter_id = re.search(r'data-saved-filter="(\d+)"', listed).group(1)
    deleted = client.post(f"/quality/saved-filters/{filter_id}/delete", headers=HTML, follow_redirects=False,
                          data={"csrf_token": token, "back": path})
    # then
    assert created.status_code == 303 and created.headers["location"] == f"{path}?overdue=1"
    assert f'href="{path}?overdue=1">逾期</a>' in listed
    assert duplicate.status_code == 422 and re.search(r'id="e-name"[^>]*>[^<]+', duplicate.text)
    assert 'value="逾期"' in duplicate.text
    assert unknown.status_code == 422 and re.search(r'id="e-query"[^>]*>[^<]+', unknown.text)
    assert after_refusals == before == 1
    assert deleted.status_code == 303 and deleted.headers["location"] == path
    assert 'data-saved-filter="' not in client.get(path, headers=HTML).text


def test_the_saved_filter_form_does_not_redirect_off_site(client: TestClient) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    token = csrf_of(client.get("/quality/complaints", headers=HTML).text)
    # when
    response = client.post("/quality/saved-filters", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "list_name": "complaints", "name": "x", "query": "", "back": "//evil.example/"})
    # then
    assert response.status_code == 303 and response.headers["location"] == "/quality/tasks"

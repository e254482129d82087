"""Quality web pages: they render for a viewer, are refused to the anonymous, and refuse bad input next to the
field while writing nothing; a transition that cannot be taken says why."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from pharmos.compliance import service as compliance
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.config import get_settings
from pharmos.quality import service as quality
from tests.conftest import password_of
from tests.quality.factories import (
    SETUP,
    approved_deviation,
    classified,
    investigating,
    investigator,
    report,
)
from tests.test_web_pages import HTML, csrf_of, sign_in


@pytest.fixture
def desk(site: dict[str, Actor]) -> dict[str, Any]:
    """A freshly reported deviation with a batch linked, one under investigation by sup.wu, and an approved one
    with a CAPA owned by op.liu."""
    reported = report(site, title="洁净区压差报警", links=[("batch", "B2611-001")])
    under_way = investigating(site, title="培养基配制称量偏差")
    approved = approved_deviation(site, title="BR-002 温度偏离")
    capa = quality.create_capa(actor=site["qa.li"], kind="corrective", title="将冷却阀纳入预防性维护计划",
                               source_type="deviation", deviation_id=approved.id, owner_username="op.liu",
                               due_on=site_today() + timedelta(days=30),
                               effectiveness_criteria="三个月内无同类温度偏离")
    return {"reported": reported, "investigating": under_way, "approved": approved, "capa": capa}


@pytest.fixture
def client(desk: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def _paths(desk: dict[str, Any]) -> list[str]:
    return ["/quality/tasks", "/quality/deviations", "/quality/deviations?state=reported",
            "/quality/deviations?overdue=1", "/quality/deviations?mine=1", "/quality/deviations?all=1",
            "/quality/deviations?classification=major&q=BR-002", "/quality/deviations?linked=batch:B2611-001",
            f"/quality/deviations/{desk['reported'].id}", f"/quality/deviations/{desk['investigating'].id}",
            f"/quality/deviations/{desk['approved'].id}", "/quality/capas", "/quality/capas?awaiting=1",
            "/quality/capas?all=1", f"/quality/capas/{desk['capa'].id}", "/"]


def _typed(offset: timedelta) -> str:
    """Now plus ``offset`` as a person types it into a datetime field: the site's wall-clock time."""
    return (utcnow() + offset).astimezone(ZoneInfo(get_settings().site_timezone)).strftime("%Y-%m-%dT%H:%M")


def _deviation_count() -> int:
    return len(quality.list_deviations(actor=SETUP, limit=500))


def _audit_count() -> int:
    return compliance.count_audit_entries(actor=SETUP, since=datetime(2000, 1, 1, tzinfo=UTC))


def test_quality_pages_render_for_a_viewer(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    paths = _paths(desk)
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    listing = pages["/quality/deviations"].text
    assert desk["reported"].number in listing and desk["approved"].number in listing
    assert desk["reported"].number in pages["/quality/deviations?linked=batch:B2611-001"].text
    assert desk["reported"].number not in pages["/quality/deviations?classification=major&q=BR-002"].text
    reported = pages[f"/quality/deviations/{desk['reported'].id}"].text
    assert 'data-link="batch:B2611-001"' in reported and 'id="timeline"' in reported
    approved = pages[f"/quality/deviations/{desk['approved'].id}"].text
    assert desk["capa"].number in approved and 'class="sig sig--valid"' in approved
    assert desk["capa"].number in pages["/quality/capas"].text
    for figure in ("deviations_open", "deviations_overdue", "capas_open", "capas_overdue",
                   "capas_awaiting_effectiveness"):
        assert f'data-figure="{figure}"' in pages["/"].text
    # a viewer sees no forms that would change anything
    assert not re.search(r'action="/quality/deviations/\d+/(?!transitions/)', reported)
    assert 'id="no-tasks"' in pages["/quality/tasks"].text


def test_quality_pages_are_refused_to_the_anonymous(client: TestClient, desk: dict[str, Any]) -> None:
    # given: nobody signed in
    paths = [p for p in _paths(desk) if p != "/"] + ["/quality/deviations/new"]
    # when
    pages = {path: client.get(path, headers=HTML, follow_redirects=False) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 303)
    assert all(r.headers["location"].startswith("/login?next=") for r in pages.values())


def test_viewer_may_not_open_the_report_form(client: TestClient) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    # when
    response = client.get("/quality/deviations/new", headers=HTML)
    # then
    assert response.status_code == 403


def test_report_form_with_bad_input_names_each_field_and_writes_nothing(client: TestClient) -> None:
    # given: the operator opens the form from a batch
    sign_in(client, "op.liu", password_of("op.liu"))
    form = client.get("/quality/deviations/new?batch=B2611-002", headers=HTML)
    assert form.status_code == 200 and 'value="B2611-002"' in form.text
    deviations_before, audit_before = _deviation_count(), _audit_count()
    future = _typed(timedelta(days=2))
    # when: no title, discovered in the future, an unknown lot scanned in the second row
    response = client.post("/quality/deviations/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "title": "", "description": "过滤器完整性测试失败",
        "immediate_action": "隔离过滤器", "discovered_at": future,
        "links[0].record_type": "batch", "links[0].reference": "B2611-002",
        "links[1].record_type": "lot", "links[1].reference": "LOT-NOPE-404"})
    # then: each problem beside its field, what was typed kept, nothing written
    assert response.status_code == 422
    for field in ("title", "discovered_at", r"links\[1\]\.reference"):
        assert re.search(rf'id="e-{field}"[^>]*>[^<]+', response.text), field
    assert "LOT-NOPE-404" in re.search(r'id="e-links\[1\]\.reference"[^>]*>([^<]+)', response.text).group(1)
    assert "过滤器完整性测试失败" in response.text and 'value="LOT-NOPE-404"' in response.text
    assert (_deviation_count(), _audit_count()) == (deviations_before, audit_before)


def test_report_form_reports_and_opens_the_deviation(client: TestClient) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    form = client.get("/quality/deviations/new", headers=HTML)
    discovered = _typed(-timedelta(hours=1))
    # when
    response = client.post("/quality/deviations/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "title": "过滤器完整性测试失败", "description": "除菌过滤器起泡点低于标准",
        "immediate_action": "隔离过滤器，通知 QA", "discovered_at": discovered, "area": "制剂车间",
        "links[0].record_type": "batch", "links[0].reference": "b2611-003"}, follow_redirects=True)
    # then: the new deviation's page, reported, with the batch on hold
    assert response.status_code == 200
    assert 'data-state="reported"' in response.text and 'data-link="batch:B2611-003"' in response.text
    assert [h.deviation_number for h in quality.open_quality_holds(record_type="batch", reference="B2611-003")]


def test_classification_with_a_past_due_date_is_refused_at_the_due_date(client: TestClient,
                                                                        desk: dict[str, Any]) -> None:
    # given: QA opens the reported deviation
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    deviation = desk["reported"]
    page = client.get(f"/quality/deviations/{deviation.id}", headers=HTML)
    assert f'action="/quality/deviations/{deviation.id}/classification"' in page.text
    audit_before = _audit_count()
    # when: classified with yesterday as the due date
    response = client.post(f"/quality/deviations/{deviation.id}/classification", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "classification": "major", "severity": "4", "occurrence": "2",
        "detectability": "3", "rationale": "影响无菌保证", "due_on": (site_today() - timedelta(days=1)).isoformat()})
    # then: the due-date field says why, the scores typed are kept, nothing written
    assert response.status_code == 422
    assert re.search(r'id="e-due_on"[^>]*>[^<]+', response.text)
    assert "影响无菌保证" in response.text
    after = quality.get_deviation(actor=SETUP, deviation_id=deviation.id)
    assert (after.classification, after.due_on, after.state) == ("", None, "reported")
    assert _audit_count() == audit_before


def test_classification_through_the_page_sets_the_risk_priority(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    deviation = desk["reported"]
    page = client.get(f"/quality/deviations/{deviation.id}", headers=HTML)
    # when
    response = client.post(f"/quality/deviations/{deviation.id}/classification", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "classification": "major", "severity": "4", "occurrence": "2",
        "detectability": "3", "rationale": "影响无菌保证", "due_on": ""}, follow_redirects=True)
    # then: S × O × D shown, the default due date by class set, the classify step now live
    assert response.status_code == 200
    assert re.search(r'id="risk-priority">24<', response.text)
    assert quality.get_deviation(actor=SETUP, deviation_id=deviation.id).due_on is not None
    step = response.text.split('id="transition-classify"', 1)[1].split("</form>", 1)[0]
    assert 'type="submit"' in step


def test_submit_without_impact_assessment_shows_why_the_button_is_disabled(client: TestClient,
                                                                           site: dict[str, Actor]) -> None:
    # given: the investigator recorded a root cause but no impact assessment
    who = investigator()
    deviation = investigating(site, by=who)
    quality.record_investigation(actor=who, deviation_id=deviation.id, root_cause_category="machine",
                                 root_cause="冷却阀 CV-12 卡滞", conclusion="需纳入预防性维护")
    sign_in(client, who.username, password_of(who.username))
    # when
    page = client.get(f"/quality/deviations/{deviation.id}", headers=HTML)
    # then: the submit step is a disabled button with the reason beside it, in the reader's language
    assert page.status_code == 200
    step = page.text.split('id="transition-submit"', 1)[1].split("</form>", 1)[0]
    assert re.search(r'<button[^>]*disabled', step) and 'type="submit"' not in step
    why = re.search(r'id="why-submit"[^>]*>([^<]+)', step)
    assert why and "影响评估" in why.group(1)
    assert f'action="/quality/deviations/{deviation.id}/investigation"' in page.text


def test_capa_form_with_a_past_due_date_is_refused_at_the_due_date(client: TestClient, desk: dict[str, Any]) -> None:
    # given: QA plans a CAPA on the approved deviation
    sign_in(client, "qa.li", password_of("qa.li"))
    deviation = desk["approved"]
    page = client.get(f"/quality/deviations/{deviation.id}", headers=HTML)
    assert f'action="/quality/deviations/{deviation.id}/capas"' in page.text
    before = len(quality.list_capas(actor=SETUP, limit=500))
    # when
    response = client.post(f"/quality/deviations/{deviation.id}/capas", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "kind": "preventive", "title": "培训操作人员", "owner_username": "op.liu",
        "due_on": (site_today() - timedelta(days=3)).isoformat(), "effectiveness_criteria": "无同类偏差"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-due_on"[^>]*>[^<]+', response.text)
    assert 'value="培训操作人员"' in response.text
    assert len(quality.list_capas(actor=SETUP, limit=500)) == before


def test_capa_owner_sees_the_implementation_form_and_the_inbox_task(client: TestClient,
                                                                   desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    capa = desk["capa"]
    # when
    tasks = client.get("/quality/tasks", headers=HTML)
    page = client.get(f"/quality/capas/{capa.id}", headers=HTML)
    # then
    assert capa.number in tasks.text and 'data-action="implement"' in tasks.text
    assert f'action="/quality/capas/{capa.id}/implementation"' in page.text
    step = page.text.split('id="transition-implement"', 1)[1].split("</form>", 1)[0]
    assert "disabled" in step  # nothing implemented yet: the signature step waits for the summary


def test_an_unknown_deviation_is_not_found(client: TestClient) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    # when
    response = client.get("/quality/deviations/999999", headers=HTML)
    # then
    assert response.status_code == 404


def test_classified_deviation_offers_the_investigator_assignment(client: TestClient, site: dict[str, Actor]) -> None:
    # given
    deviation = classified(site)
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = client.get(f"/quality/deviations/{deviation.id}", headers=HTML)
    # when: someone without deviations.investigate is named
    response = client.post(f"/quality/deviations/{deviation.id}/investigator", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "username": "viewer.chen"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-username"[^>]*>[^<]+', response.text)
    assert quality.get_deviation(actor=SETUP, deviation_id=deviation.id).investigator == ""

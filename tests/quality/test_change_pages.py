"""Change-control web pages: they render for a viewer and the anonymous are sent to sign in; forms refuse bad input
next to the field, keep what was typed and write nothing; each person sees the form that is theirs."""

from __future__ import annotations

import re
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
from pharmos.quality import service as quality
from pharmos.quality.models import ChangeAssessment, ChangeControl, ChangeTask
from tests.conftest import password_of
from tests.quality import change_factories as cf
from tests.test_web_pages import HTML, csrf_of, sign_in

TODAY = site_today()


@pytest.fixture
def desk(site: dict[str, Actor]) -> dict[str, Any]:
    """A proposal, one change under assessment (production → sup.wu, qc → qc.sun, qa → qa.zhang), an approved one
    with a task for op.liu, and a closed one."""
    return {"proposed": cf.proposed_change(site, title="洁净区空调机组更换", change_type="facility"),
            "assessing": cf.under_assessment_change(site, title="更换 BR-002 pH 电极"),
            "approved": cf.approved_change(site, title="更新 SOP-PR-0012"),
            "closed": cf.closed_change(site, title="称量间天平更换")}


@pytest.fixture
def client(desk: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


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


def error_of(html: str, field: str) -> str:
    found = re.search(rf'id="e-{re.escape(field)}"[^>]*>([^<]+)', html)
    assert found, f"no error shown for {field}"
    return found.group(1)


def _paths(desk: dict[str, Any]) -> list[str]:
    return ["/quality/change-controls", "/quality/change-controls?state=under_assessment",
            "/quality/change-controls?mine=1", "/quality/change-controls?all=1",
            "/quality/change-controls?change_type=facility&q=空调"] + [
        f"/quality/change-controls/{c.id}" for c in desk.values()]


def test_change_pages_render_for_a_viewer_without_forms(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    paths = _paths(desk)
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    listing = pages["/quality/change-controls"].text
    assert desk["proposed"].number in listing and desk["closed"].number not in listing
    assert desk["closed"].number in pages["/quality/change-controls?all=1"].text
    filtered = pages["/quality/change-controls?change_type=facility&q=空调"].text
    assert desk["proposed"].number in filtered and desk["assessing"].number not in filtered
    closed = pages[f"/quality/change-controls/{desk['closed'].id}"].text
    assert 'id="timeline"' in closed and 'data-function="production"' in closed and "sig sig--valid" in closed
    assert f'href="/quality/change-controls/{desk["closed"].id}/print"' in closed
    for page in pages.values():
        assert not re.search(r'action="/quality/change-controls/\d+/(?!transitions/)', page.text)


def test_change_pages_send_the_anonymous_to_sign_in(client: TestClient, desk: dict[str, Any]) -> None:
    # given: nobody signed in
    paths = [*_paths(desk), "/quality/change-controls/new"]
    # when
    pages = {path: client.get(path, headers=HTML, follow_redirects=False) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 303)


def test_the_proposal_form_names_each_bad_field_keeps_the_input_and_writes_nothing(client: TestClient) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    form = client.get("/quality/change-controls/new?equipment=EQ-BR-002", headers=HTML)
    assert form.status_code == 200 and 'value="equipment:EQ-BR-002"' in form.text
    before = written()
    # when: no justification, an unknown change type, a malformed record in the third row, a past target date
    response = client.post("/quality/change-controls/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "title": "更换电极", "description": "型号停产", "justification": "",
        "change_type": "upgrade", "target_date": (TODAY - timedelta(days=1)).isoformat(),
        "affected_records[0]": "equipment:EQ-BR-002", "affected_records[2]": "EQ-BR-003"})
    # then
    assert response.status_code == 422
    for field in ("justification", "change_type", "target_date", "affected_records[2]"):
        assert error_of(response.text, field)
    assert 'value="EQ-BR-003"' in response.text and "型号停产" in response.text
    assert written() == before


def test_the_proposal_form_proposes_and_opens_the_change(client: TestClient) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    form = client.get("/quality/change-controls/new", headers=HTML)
    # when
    response = client.post("/quality/change-controls/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "title": "更换纯化水取样阀", "description": "隔膜阀 → 无菌取样阀",
        "justification": "减少微生物污染风险", "change_type": "facility",
        "affected_records[1]": "system:PW-01"}, follow_redirects=True)
    # then
    assert response.status_code == 200
    assert 'data-state="proposed"' in response.text and 'data-affected="system:PW-01"' in response.text


def test_qa_classifies_on_the_page_and_a_major_change_without_its_functions_is_refused(
        client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "qa.li", password_of("qa.li"))
    change = desk["proposed"]
    page = client.get(f"/quality/change-controls/{change.id}", headers=HTML)
    assert f'action="/quality/change-controls/{change.id}/classification"' in page.text
    before = written()

    # when
    refused = client.post(f"/quality/change-controls/{change.id}/classification", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "classification": "major", "rationale": "影响洁净级别",
        "regulatory_filing": "yes", "functions.production": "sup.wu", "functions.qc": "viewer.chen"})
    assert refused.status_code == 422 and written() == before
    accepted = client.post(f"/quality/change-controls/{change.id}/classification", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "classification": "minor", "rationale": "同型号替换",
        "regulatory_filing": "no", "functions.production": "sup.wu"}, follow_redirects=True)

    # then
    assert "regulatory" in error_of(refused.text, "functions")
    assert 'value="viewer.chen"' in refused.text and "影响洁净级别" in refused.text
    assert accepted.status_code == 200 and 'data-function="production"' in accepted.text
    step = accepted.text.split('id="transition-classify"', 1)[1].split("</form>", 1)[0]
    assert 'type="submit"' in step


def test_the_named_assessor_signs_on_the_page_and_a_wrong_password_is_shown_at_the_field(
        client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "sup.wu", password_of("sup.wu"))
    change = desk["assessing"]
    page = client.get(f"/quality/change-controls/{change.id}", headers=HTML)
    assert f'action="/quality/change-controls/{change.id}/assessments/production"' in page.text
    assert f'action="/quality/change-controls/{change.id}/assessments/qc"' not in page.text
    before = written()
    data = {"csrf_token": csrf_of(page.text), "impact": "停机期间更换", "impact_level": "low",
            "required_actions": "校准", "decision": "approved"}

    # when
    wrong = client.post(f"/quality/change-controls/{change.id}/assessments/production", headers=HTML,
                        data={**data, "password": "wrong"})
    after_wrong = written()
    signed = client.post(f"/quality/change-controls/{change.id}/assessments/production", headers=HTML,
                         data={**data, "password": password_of("sup.wu")}, follow_redirects=True)

    # then
    assert wrong.status_code == 401 and error_of(wrong.text, "password") and "停机期间更换" in wrong.text
    assert after_wrong == before
    assert signed.status_code == 200
    card = signed.text.split('id="assessment-production"', 1)[1].split("</article>", 1)[0]
    assert 'data-decision="approved"' in card and "sig sig--valid" in card


def test_the_task_owner_completes_a_task_on_the_page(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "op.liu", password_of("op.liu"))
    change = desk["approved"]
    task = change.tasks[0]
    page = client.get(f"/quality/change-controls/{change.id}", headers=HTML)
    before = written()
    # when
    refused = client.post(f"/quality/change-controls/{change.id}/tasks/{task.id}/completion", headers=HTML,
                          data={"csrf_token": csrf_of(page.text), "evidence": "", "password": password_of("op.liu")})
    done = client.post(f"/quality/change-controls/{change.id}/tasks/{task.id}/completion", headers=HTML,
                       data={"csrf_token": csrf_of(page.text), "evidence": "安装记录 IR-0042",
                             "password": password_of("op.liu")}, follow_redirects=True)
    # then
    assert refused.status_code == 422 and error_of(refused.text, "evidence")
    assert done.status_code == 200 and "安装记录 IR-0042" in done.text
    assert quality.get_change(actor=cf.SETUP, change_id=change.id).tasks[0].state == "done"
    assert written()["signatures"] == before["signatures"] + 1


def test_approval_with_pending_functions_is_disabled_with_the_reason(client: TestClient,
                                                                     desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "qa.li", password_of("qa.li"))
    # when
    page = client.get(f"/quality/change-controls/{desk['assessing'].id}", headers=HTML)
    # then
    step = page.text.split('id="transition-approve"', 1)[1].split("</form>", 1)[0]
    assert "disabled" in step and "production, qc, qa" in step


def test_the_print_link_downloads_the_pdf(client: TestClient, desk: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    # when
    response = client.get(f"/quality/change-controls/{desk['closed'].id}/print")
    # then
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")

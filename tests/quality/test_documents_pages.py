"""Controlled-document web pages: they render for readers and writers, keep drafts from other eyes, and refuse
bad input next to the field with the input kept and nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import documents
from tests.conftest import password_of
from tests.quality import document_factories as f
from tests.quality.test_documents import footprint
from tests.test_web_pages import HTML, csrf_of, sign_in


@pytest.fixture
def library(site: dict[str, Actor]) -> dict[str, Any]:
    """An effective SOP with a draft version 2, and a freshly registered specification."""
    sop = f.effective_document(site)
    draft = documents.start_revision(actor=site["qa.zhang"], document_id=sop.id, change_summary="Step 3 clarified")
    spec = f.draft_document(site, doc_type="specification", department="QC", title_zh="纯化水质量标准")
    return {"sop": sop, "draft": draft, "spec": spec}


@pytest.fixture
def client(library: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def test_document_pages_render(client: TestClient, library: dict[str, Any]) -> None:
    # given
    sop, spec = library["sop"], library["spec"]
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    paths = ["/quality/documents", "/quality/documents?all=1&state=draft", "/quality/documents?due=1&q=SOP",
             "/quality/documents?doc_type=specification&department=QC", "/quality/documents/new",
             f"/quality/documents/{sop.id}", f"/quality/documents/{sop.id}/versions/1",
             f"/quality/documents/{sop.id}/versions/2", f"/quality/documents/{spec.id}/versions/1"]
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    detail = pages[f"/quality/documents/{sop.id}"].text
    assert 'id="current-version"' in detail and f"/quality/documents/{sop.id}/versions/1/file" in detail
    assert 'id="review-form"' in detail  # qa.zhang holds documents.manage
    assert 'id="draft-form"' in pages[f"/quality/documents/{sop.id}/versions/2"].text
    assert 'id="transition-submit"' in pages[f"/quality/documents/{sop.id}/versions/2"].text


def test_an_operator_sees_the_effective_version_only(client: TestClient, library: dict[str, Any]) -> None:
    # given
    sop = library["sop"]
    sign_in(client, "op.liu", password_of("op.liu"))
    # when
    detail = client.get(f"/quality/documents/{sop.id}", headers=HTML)
    draft = client.get(f"/quality/documents/{sop.id}/versions/2", headers=HTML)
    listed = client.get("/quality/documents", headers=HTML)
    served = client.get(f"/quality/documents/{sop.id}/versions/1/file")
    exported = client.get("/quality/documents/export?format=csv")
    # then
    assert detail.status_code == 200 and f"/quality/documents/{sop.id}/versions/2" not in detail.text
    assert 'id="review-form"' not in detail.text
    assert draft.status_code == 404
    assert sop.number in listed.text and library["spec"].number not in listed.text
    assert 'id="export-csv"' in listed.text and 'id="export-xlsx"' in listed.text
    assert exported.status_code == 200 and sop.number in exported.content.decode("utf-8-sig")
    assert library["spec"].number not in exported.content.decode("utf-8-sig")
    assert served.status_code == 200 and served.content == f.PDF_BYTES
    assert served.headers["x-content-sha256"] and served.headers["cache-control"] == "no-store"


def test_a_refused_registration_keeps_the_input_and_names_the_field(client: TestClient) -> None:
    # given
    sign_in(client, "qa.li", password_of("qa.li"))
    form = client.get("/quality/documents/new", headers=HTML)
    before = footprint()
    # when
    response = client.post("/quality/documents/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "doc_type": "sop", "title_zh": "无菌灌装操作规程", "title_en": "",
        "department": "qa1", "owner_username": "qa.zhang", "number": "", "review_interval_months": "24",
        "training_due_days": "14"})
    # then
    assert response.status_code == 422
    assert 'data-field="department"' in response.text
    assert 'value="无菌灌装操作规程"' in response.text and 'value="qa1"' in response.text
    assert footprint() == before


def test_a_registration_through_the_page(client: TestClient) -> None:
    # given
    sign_in(client, "qa.li", password_of("qa.li"))
    form = client.get("/quality/documents/new", headers=HTML)
    # when
    response = client.post("/quality/documents/new", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form.text), "doc_type": "sop", "title_zh": "无菌灌装操作规程",
        "department": "PROD", "owner_username": "qa.zhang", "review_interval_months": "12",
        "training_due_days": "7"})
    # then
    assert response.status_code == 303
    page = client.get(response.headers["location"], headers=HTML)
    assert "SOP-PROD-0001" in page.text


def test_an_unsupported_upload_is_refused_on_the_file_field(client: TestClient, library: dict[str, Any]) -> None:
    # given
    sop, draft = library["sop"], library["draft"]
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = client.get(f"/quality/documents/{sop.id}/versions/2", headers=HTML)
    before = footprint()
    # when
    response = client.post(f"/quality/document-versions/{draft.id}/file", headers=HTML,
                           data={"csrf_token": csrf_of(page.text)},
                           files={"file": ("setup.exe", b"MZ\x90\x00" + b"\x00" * 100, "application/pdf")})
    # then
    assert response.status_code == 422
    assert 'data-field="file"' in response.text
    assert footprint() == before


def test_an_upload_through_the_page(client: TestClient, library: dict[str, Any]) -> None:
    # given
    sop, draft = library["sop"], library["draft"]
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = client.get(f"/quality/documents/{sop.id}/versions/2", headers=HTML)
    # when
    response = client.post(f"/quality/document-versions/{draft.id}/file", headers=HTML,
                           data={"csrf_token": csrf_of(page.text)}, files={"file": ("v2.md", f.MD_BYTES, "")})
    # then
    assert response.status_code == 200  # followed back to the version page
    assert "v2.md" in response.text


def test_a_draft_with_a_past_effective_date_is_refused_with_input_kept(client: TestClient,
                                                                       library: dict[str, Any]) -> None:
    # given
    sop, draft = library["sop"], library["draft"]
    f.reviewer()
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = client.get(f"/quality/documents/{sop.id}/versions/2", headers=HTML)
    yesterday = (site_today() - timedelta(days=1)).isoformat()
    before = footprint()
    # when
    response = client.post(f"/quality/document-versions/{draft.id}/draft", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "change_summary": "Step 3 clarified again", "reviewers[0]": "sup.wu",
        "approver": "qa.li", "effective_on": yesterday})
    # then
    assert response.status_code == 422
    assert 'data-field="effective_on"' in response.text
    assert f'value="{yesterday}"' in response.text and "Step 3 clarified again" in response.text
    assert footprint() == before


def test_a_transition_that_cannot_be_taken_says_why(client: TestClient, library: dict[str, Any]) -> None:
    # given: the draft has no file, reviewer, approver or date
    sop = library["sop"]
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    # when
    page = client.get(f"/quality/documents/{sop.id}/versions/2", headers=HTML)
    # then
    assert 'id="why-submit"' in page.text

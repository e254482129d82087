"""The controlled-document REST API: a document from registration to effective, files served with their hash,
drafts hidden from others, and bad inputs refused as problem+json naming the field with nothing written.

Background states the test does not examine are reached through tests/quality/document_factories.py.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
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
from pharmos.quality.documents import MAX_DOCUMENT_BYTES
from pharmos.quality.models import ControlledDocument, DocumentFile, DocumentReview, DocumentVersion
from tests.api_client import API, Api
from tests.quality import document_factories as f
from tests.quality.test_api import assert_problem

AUTHOR, REVIEWER, APPROVER, OP = "qa.zhang", "sup.wu", "qa.li", "op.liu"
TODAY = site_today()
DOCUMENT_RECORDS = ("controlled_document", "document_version", "document_review")


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    f.reviewer(REVIEWER)
    return Api(TestClient(create_app()))


def written() -> dict[str, int]:
    """Document rows, their audit entries and every electronic signature."""
    with read_session() as session:
        return {
            "documents": session.scalar(select(func.count(ControlledDocument.id))) or 0,
            "versions": session.scalar(select(func.count(DocumentVersion.id))) or 0,
            "files": session.scalar(select(func.count(DocumentFile.id))) or 0,
            "reviews": session.scalar(select(func.count(DocumentReview.id))) or 0,
            "audit": session.scalar(select(func.count(AuditEntry.id)).where(
                AuditEntry.record_type.in_(DOCUMENT_RECORDS))) or 0,
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0,
        }


def put_file(api: Api, username: str, document_id: int, version: int, filename: str, content: bytes,
             media_type: str = "application/octet-stream") -> Any:
    return api.client.put(f"{API}/documents/{document_id}/versions/{version}/file", headers=api.headers(username),
                          files={"file": (filename, content, media_type)})


def registered(api: Api) -> dict[str, Any]:
    return api.ok(api.post(APPROVER, "/documents", {"doc_type": "sop", "title_zh": "洁净区更衣规程",
                                                    "title_en": "Cleanroom gowning", "department": "QA",
                                                    "owner_username": AUTHOR}), 201)


# ---------------------------------------------------------------- the journey


def test_a_document_goes_from_registration_to_effective_through_the_api(api: Api) -> None:
    # given: registered by QA with qa.zhang as owner
    document = registered(api)
    doc = f"/documents/{document['id']}"
    version_id = document["versions"][0]["id"]
    # when: the author uploads the file, names reviewer, approver and date, and submits with a signature
    uploaded = api.ok(put_file(api, AUTHOR, document["id"], 1, "更衣规程.pdf", f.PDF_BYTES, "application/pdf"))
    drafted = api.ok(api.patch(AUTHOR, f"{doc}/versions/1", {"reviewers": [REVIEWER], "approver": APPROVER,
                                                             "effective_on": TODAY.isoformat()}))
    api.ok(api.transition(AUTHOR, "document-versions", version_id, "submit", sign=True, meaning="authored"))
    # and: the reviewer signs it reviewed, the named approver approves, QA makes it effective
    reviewed = api.ok(api.post(REVIEWER, f"{doc}/versions/1/review", {"password": f"{REVIEWER}-pass1",
                                                                        "comment": "Matches practice."}))
    api.ok(api.transition(APPROVER, "document-versions", version_id, "approve", sign=True, meaning="approved"))
    api.ok(api.transition(APPROVER, "document-versions", version_id, "make_effective"))
    # then
    assert document["number"] == "SOP-QA-0001"
    assert uploaded["sha256"] == hashlib.sha256(f.PDF_BYTES).hexdigest()
    assert (drafted["reviewers"], drafted["approver"]) == ([REVIEWER], APPROVER)
    assert reviewed["reviews_missing"] == []
    seen = api.ok(api.get(OP, doc))
    assert (seen["effective_version"], [v["state"] for v in seen["versions"]]) == (1, ["effective"])
    served = api.get(OP, f"{doc}/versions/1/file")
    assert served.status_code == 200 and served.content == f.PDF_BYTES
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["x-content-sha256"] == uploaded["sha256"]
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''%E6%9B%B4%E8%A1%A3%E8%A7%84%E7%A8%8B.pdf" in served.headers["content-disposition"]
    version = api.ok(api.get(OP, f"{doc}/versions/1"))
    assert [s["meaning"] for s in version["signatures"]] == ["authored", "reviewed", "approved"]
    printed = api.get(OP, f"{doc}/versions/1/pdf")
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF-")


def test_list_filters_and_cursor_paging(api: Api, site: dict[str, Actor]) -> None:
    # given
    first = f.effective_document(site)
    second = f.effective_document(site, doc_type="form", department="PROD", title_zh="清场记录")
    f.draft_document(site, title_zh="草稿")
    # when
    page1 = api.ok(api.get(OP, "/documents", limit=1))
    page2 = api.ok(api.get(OP, "/documents", limit=1, cursor=page1["next_cursor"]))
    forms = api.ok(api.get(OP, "/documents", doc_type="form"))
    everything = api.ok(api.get(APPROVER, "/documents", include_all="true"))
    # then
    assert [d["number"] for d in page1["items"] + page2["items"]] == [first.number, second.number]
    assert page2["next_cursor"] is None
    assert [d["number"] for d in forms["items"]] == ["FORM-PROD-0001"]
    assert len(everything["items"]) == 3
    assert_problem(api.get(OP, "/documents", doc_type="memo"), 422, "doc_type")


def test_periodic_review_through_the_api(api: Api, site: dict[str, Actor]) -> None:
    # given
    document = f.effective_document(site)
    # when
    reviewed = api.post(AUTHOR, f"/documents/{document.id}/reviews", {
        "outcome": "no_change", "comment": "Still fit for use.", "password": f"{AUTHOR}-pass1"})
    # then
    body = api.ok(reviewed, 201)
    assert body["reviews"][0]["outcome"] == "no_change"
    assert body["reviews"][0]["signatures"][0]["meaning"] == "reviewed"


def test_a_revision_through_the_api(api: Api, site: dict[str, Actor]) -> None:
    # given
    document = f.effective_document(site)
    # when
    started = api.ok(api.post(AUTHOR, f"/documents/{document.id}/versions", {"change_summary": "Step 3"}), 201)
    # then
    assert (started["version"], started["state"], started["author"]) == (2, "draft", AUTHOR)
    assert [v["version"] for v in api.ok(api.get(OP, f"/documents/{document.id}"))["versions"]] == [1]


# ---------------------------------------------------------------- refusals


def test_drafts_are_not_served_to_others(api: Api, site: dict[str, Actor]) -> None:
    # given: a draft with a file
    document = f.draft_document(site)
    f.ready_draft(site, document.versions[0].id)
    # when / then
    assert_problem(api.get(OP, f"/documents/{document.id}/versions/1/file"), 404)
    assert_problem(api.get(OP, f"/documents/{document.id}/versions/1"), 404)
    assert api.get(REVIEWER, f"/documents/{document.id}/versions/1/file").status_code == 200


@pytest.mark.parametrize(("filename", "content"), [
    ("setup.exe", b"MZ\x90\x00" + b"\x00" * 200),
    ("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200),
])
def test_unsupported_files_are_refused_on_field_file(api: Api, site: dict[str, Actor], filename: str,
                                                     content: bytes) -> None:
    # given
    document = f.draft_document(site)
    before = written()
    # when
    refused = put_file(api, AUTHOR, document.id, 1, filename, content, "application/pdf")
    # then
    assert_problem(refused, 422, "file")
    assert written() == before


def test_an_oversized_upload_is_refused_at_the_transport(api: Api, site: dict[str, Actor]) -> None:
    # given
    document = f.draft_document(site)
    before = written()
    # when
    refused = put_file(api, AUTHOR, document.id, 1, "big.pdf", f.PDF_BYTES + b"0" * MAX_DOCUMENT_BYTES)
    # then
    assert "20 MB" in assert_problem(refused, 422, "file")["detail"]
    assert written() == before


def test_draft_edits_refused_naming_the_field(api: Api, site: dict[str, Actor]) -> None:
    # given
    document = f.draft_document(site)
    path = f"/documents/{document.id}/versions/1"
    before = written()
    # when / then
    assert_problem(api.patch(AUTHOR, path, {"effective_on": (TODAY - timedelta(days=1)).isoformat()}), 422,
                   "effective_on")
    assert_problem(api.patch(AUTHOR, path, {"reviewers": [AUTHOR]}), 422, "reviewers[0]")
    assert_problem(api.patch(AUTHOR, path, {"approver": AUTHOR}), 422, "approver")
    assert_problem(api.patch(OP, path, {"change_summary": "x"}), 403)
    assert written() == before


def test_lifecycle_refusals(api: Api, site: dict[str, Actor]) -> None:
    # given: a draft with everything but an approver
    document = f.draft_document(site)
    version_id = document.versions[0].id
    put_file(api, AUTHOR, document.id, 1, "sop.md", f.MD_BYTES)
    api.ok(api.patch(AUTHOR, f"/documents/{document.id}/versions/1", {"reviewers": [REVIEWER],
                                                                      "effective_on": TODAY.isoformat()}))
    before = written()
    # when: submitted without an approver
    refused = api.transition(AUTHOR, "document-versions", version_id, "submit", sign=True, meaning="authored")
    # then
    assert "the approver" in assert_problem(refused, 409)["detail"]
    assert written() == before
    # and: once submitted, it cannot be made effective from review, and only the named approver approves
    api.ok(api.patch(AUTHOR, f"/documents/{document.id}/versions/1", {"approver": APPROVER}))
    api.ok(api.transition(AUTHOR, "document-versions", version_id, "submit", sign=True, meaning="authored"))
    api.ok(api.post(REVIEWER, f"/documents/{document.id}/versions/1/review", {"password": f"{REVIEWER}-pass1"}))
    f.person("qa.sun", "qa_manager", "孙经理")
    before = written()
    assert_problem(api.transition(APPROVER, "document-versions", version_id, "make_effective"), 409)
    assert "named approver" in assert_problem(
        api.transition("qa.sun", "document-versions", version_id, "approve", sign=True), 409)["detail"]
    assert_problem(api.post(REVIEWER, f"/documents/{document.id}/versions/1/review",
                            {"password": f"{REVIEWER}-pass1"}), 409, "reviewer")
    assert written() == before


def test_registration_refusals(api: Api) -> None:
    # given
    before = written()
    body = {"doc_type": "sop", "title_zh": "规程", "department": "QA", "owner_username": AUTHOR}
    # when / then
    assert_problem(api.post(APPROVER, "/documents", {**body, "department": "qa-1"}), 422, "department")
    assert_problem(api.post(APPROVER, "/documents", {**body, "owner_username": OP}), 422, "owner_username")
    assert_problem(api.post(OP, "/documents", body), 403)
    assert written() == before


def test_the_register_exports_as_csv_and_excel_with_the_callers_visibility(api: Api, site: dict[str, Actor]) -> None:
    # given: one effective SOP and one draft only QA and its author may see
    effective = f.effective_document(site, title_zh="洁净区更衣规程")
    draft = f.draft_document(site, title_zh="灌装线清场规程")
    # when
    qa_csv = api.get("qa.li", "/documents/export", include_all="true")
    operator_csv = api.get("op.liu", "/documents/export")
    qa_xlsx = api.get("qa.li", "/documents/export", format="xlsx")
    bad = api.get("qa.li", "/documents/export", format="pdf")
    # then
    assert qa_csv.status_code == 200 and qa_csv.headers["content-type"].startswith("text/csv")
    text = qa_csv.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("number,doc_type,title_zh")
    assert effective.number in text and draft.number in text and "洁净区更衣规程" in text
    assert effective.number in operator_csv.text and draft.number not in operator_csv.text
    assert qa_xlsx.status_code == 200 and qa_xlsx.content[:2] == b"PK"
    assert bad.status_code == 422

"""Comments on quality records: kept in the record's audit trail, shown in its timeline; bad ones refused naming
the field with nothing written. Service, API and page; runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pharmos.compliance.audit import count_entries
from pharmos.compliance.service import verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import NotFound, ValidationFailed
from pharmos.quality import service as quality
from tests.api_client import Api
from tests.conftest import password_of
from tests.quality import document_factories as documents
from tests.quality.factories import report
from tests.test_web_pages import HTML, csrf_of, sign_in

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    return Api(TestClient(create_app()))


def entries() -> int:
    with read_session() as session:
        return count_entries(session)


def test_a_comment_joins_the_timeline_with_its_author_and_the_chain_stays_intact(site: dict[str, Actor]) -> None:
    # given
    deviation = report(site)
    # when
    quality.comment_on_record(actor=site["viewer.chen"], collection="deviations", record_id=deviation.id,
                              text="  冷库门封条已更换，待设备部确认。 ")
    # then
    timeline = quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id).timeline
    comments = [e for e in timeline if e.kind == "comment"]
    assert [(e.actor, e.text) for e in comments] == [("viewer.chen", "冷库门封条已更换，待设备部确认。")]
    assert verify_audit_trail(actor=Actor.cli()).ok


@pytest.mark.parametrize(("collection", "text", "error"), [
    ("deviations", "   ", ValidationFailed),
    ("deviations", "x" * 2001, ValidationFailed),
    ("controlled-settings", "A setting is not a quality record.", NotFound),
    ("batches", "No such collection.", NotFound),
])
def test_a_bad_comment_is_refused_and_writes_nothing(site: dict[str, Actor], collection: str, text: str,
                                                     error: type[Exception]) -> None:
    # given
    deviation = report(site)
    before = entries()
    # when
    with pytest.raises(error) as refused:
        quality.comment_on_record(actor=site["qa.zhang"], collection=collection, record_id=deviation.id, text=text)
    # then
    if isinstance(refused.value, ValidationFailed):
        assert [p.field for p in refused.value.fields] == ["text"]
    assert entries() == before


def test_no_comment_on_a_record_that_does_not_exist_or_a_draft_the_caller_may_not_see(
        site: dict[str, Actor]) -> None:
    # given: a draft SOP only its author, reviewers, approver and document managers may see
    draft = documents.draft_document(site).versions[0]
    before = entries()
    # when
    with pytest.raises(NotFound):
        quality.comment_on_record(actor=site["op.liu"], collection="document-versions", record_id=draft.id,
                                  text="Looks fine")
    with pytest.raises(NotFound):
        quality.comment_on_record(actor=site["qa.li"], collection="complaints", record_id=999_999, text="?")
    # then
    assert entries() == before


def test_the_api_adds_a_comment_and_refuses_an_empty_one_naming_the_field(site: dict[str, Actor],
                                                                          api: Api) -> None:
    # given
    deviation = report(site)
    # when
    added = api.post("op.liu", f"/deviations/{deviation.id}/comments", {"text": "已通知 QA"})
    empty = api.post("op.liu", f"/deviations/{deviation.id}/comments", {"text": ""})
    # then
    assert added.status_code == 204
    assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/problem+json")
    assert "text" in empty.text
    shown = api.ok(api.get("op.liu", f"/deviations/{deviation.id}"))
    assert [e["summary"] for e in shown["timeline"] if e["kind"] == "comment"] == ["Comment: 已通知 QA"]


def test_the_record_page_takes_a_comment_and_keeps_a_refused_one_with_its_message(site: dict[str, Actor]) -> None:
    # given
    from pharmos.app import create_app

    deviation = report(site)
    client = TestClient(create_app())
    sign_in(client, "qa.zhang", password_of("qa.zhang"))
    page = client.get(f"/quality/deviations/{deviation.id}", headers=HTML)
    token = csrf_of(page.text)
    form = {"csrf_token": token, "collection": "deviations", "record_id": str(deviation.id)}
    before = entries()
    # when
    refused = client.post("/quality/comments", data={**form, "text": " "}, headers=HTML, follow_redirects=False)
    accepted = client.post("/quality/comments", data={**form, "text": "请补充温度曲线"}, headers=HTML,
                           follow_redirects=False)
    # then
    assert 'id="comment-form"' in page.text
    assert refused.status_code == 422
    assert 'id="e-text"' in refused.text
    assert entries() == before + 1  # only the accepted comment
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/quality/deviations/{deviation.id}#timeline"
    shown = client.get(f"/quality/deviations/{deviation.id}", headers=HTML).text
    assert "请补充温度曲线" in shown

"""Controlled documents: registered with a number, versions written by their author, reviewed and approved
by named people with signatures, effective on their date; files checked by content and by hash; only the
effective version shown to everyone else; periodic review signed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from pharmos.compliance.audit import count_entries
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import add_months, site_today
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, NotFound, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.quality import documents
from pharmos.quality import lifecycle as quality_lifecycle
from pharmos.quality.models import ControlledDocument, DocumentFile, DocumentReview, DocumentVersion
from tests.conftest import password_of
from tests.quality import document_factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()


def footprint() -> dict[str, Any]:
    """Everything a refused document call must leave untouched."""
    with read_session() as session:
        return {
            "documents": sorted(session.execute(select(
                ControlledDocument.id, ControlledDocument.number, ControlledDocument.effective_version,
                ControlledDocument.next_review_on)).all()),
            "versions": sorted(session.execute(select(
                DocumentVersion.id, DocumentVersion.state, DocumentVersion.sha256, DocumentVersion.filename,
                DocumentVersion.reviewers, DocumentVersion.approver, DocumentVersion.effective_on)).all()),
            "files": session.scalar(select(func.count()).select_from(DocumentFile)),
            "reviews": session.scalar(select(func.count()).select_from(DocumentReview)),
            "signatures": session.scalar(select(func.count()).select_from(ElectronicSignature)),
            "audit": count_entries(session),
        }


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


@contextmanager
def days_later(monkeypatch: pytest.MonkeyPatch, days: int) -> Iterator[None]:
    """The site calendar ``days`` ahead: the clock is the one outside dependency moved here."""
    with monkeypatch.context() as patch:
        for module in (documents, quality_lifecycle):
            patch.setattr(module, "site_today", lambda: TODAY + timedelta(days=days))
        yield


# ---------------------------------------------------------------- registration and numbering


def test_registering_numbers_by_type_and_department_and_opens_a_draft_by_the_owner(site: dict[str, Actor]) -> None:
    # given / when
    first = f.draft_document(site)
    second = f.draft_document(site, title_zh="偏差管理规程")
    spec = f.draft_document(site, doc_type="specification", department="QC")
    # then
    assert (first.number, second.number, spec.number) == ("SOP-QA-0001", "SOP-QA-0002", "SPEC-QC-0001")
    assert [(v.version, v.state, v.author) for v in first.versions] == [(1, "draft", "qa.zhang")]
    assert first.effective_version is None


def test_a_hand_entered_number_is_kept_and_the_generator_skips_it(site: dict[str, Actor]) -> None:
    # given
    f.draft_document(site, number="SOP-QA-0001")
    # when
    generated = f.draft_document(site)
    # then
    assert generated.number == "SOP-QA-0002"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"doc_type": "memo"}, "doc_type"),
    ({"department": "qa1"}, "department"),
    ({"title_zh": "  "}, "title_zh"),
    ({"number": "SOP_QA_1"}, "number"),
    ({"owner_username": "viewer.chen"}, "owner_username"),
    ({"review_interval_months": 0}, "review_interval_months"),
])
def test_bad_registrations_are_refused_naming_the_field_and_write_nothing(
        site: dict[str, Actor], overrides: dict[str, Any], field: str) -> None:
    # given
    values: dict[str, Any] = {"doc_type": "sop", "title_zh": "更衣规程", "department": "QA",
                              "owner_username": "qa.zhang"}
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.register_document(actor=site["qa.li"], **(values | overrides))
    # then
    assert field in fields_of(refused)
    assert footprint() == before


def test_a_duplicate_number_is_refused(site: dict[str, Actor]) -> None:
    # given
    f.draft_document(site, number="SOP-QA-0007")
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        f.draft_document(site, number="sop-qa-0007")
    # then
    assert fields_of(refused) == {"number"}
    assert footprint() == before


def test_only_managers_register(site: dict[str, Actor]) -> None:
    # when / then
    with pytest.raises(PermissionDenied):
        f.draft_document(site, registered_by="op.liu")


# ---------------------------------------------------------------- the way to effective


def test_the_factory_takes_version_1_to_effective_with_every_signature(site: dict[str, Actor]) -> None:
    # when
    document = f.effective_document(site)
    # then
    version = documents.get_version(actor=site["qa.li"], version_id=document.versions[0].id)
    assert document.effective_version == 1
    assert document.next_review_on == add_months(TODAY, 24)
    assert version.state == "effective"
    assert [(s.username, s.meaning, s.valid) for s in version.signatures] == [
        ("qa.zhang", "authored", True), ("sup.wu", "reviewed", True), ("qa.li", "approved", True)]


def test_a_new_version_supersedes_the_previous_one(site: dict[str, Actor]) -> None:
    # given
    document = f.effective_document(site)
    # when
    revised = f.new_version_effective(site, document.number)
    # then
    assert revised.effective_version == 2
    assert [(v.version, v.state) for v in revised.versions] == [(2, "effective"), (1, "superseded")]


def test_submit_without_approver_is_refused_naming_the_missing_approver(site: dict[str, Actor]) -> None:
    # given: file, reviewer and date, but no approver
    document = f.draft_document(site)
    version_id = document.versions[0].id
    f.reviewer()
    documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id, filename="sop.pdf",
                                  content=f.PDF_BYTES, media_type="application/pdf")
    documents.edit_draft(actor=site["qa.zhang"], version_id=version_id, reviewers=["sup.wu"], effective_on=TODAY)
    before = footprint()
    # when
    with pytest.raises(TransitionRefused) as refused:
        f.transition(site["qa.zhang"], version_id, "submit")
    # then
    assert "the approver" in refused.value.message
    assert footprint() == before


def test_submit_of_an_empty_draft_names_everything_missing(site: dict[str, Actor]) -> None:
    # given
    document = f.draft_document(site)
    # when
    with pytest.raises(TransitionRefused) as refused:
        f.transition(site["qa.zhang"], document.versions[0].id, "submit")
    # then
    assert refused.value.message == ("Add the file, at least one reviewer, the approver, the effective date "
                                     "first.")


def test_approval_by_anyone_but_the_named_approver_is_refused(site: dict[str, Actor]) -> None:
    # given: the named approver is qa.li; another QA manager tries
    other = f.person("qa.sun", "qa_manager", "孙经理")
    document = f.draft_document(site)
    version_id = document.versions[0].id
    f.in_review_version(site, version_id)
    documents.review_version(actor=f.reviewer(), version_id=version_id, password=password_of("sup.wu"))
    before = footprint()
    # when
    with pytest.raises(TransitionRefused) as refused:
        f.transition(other, version_id, "approve")
    # then
    assert "Only the named approver (qa.li)" in refused.value.message
    assert footprint() == before


def test_approval_before_every_reviewer_signed_is_refused(site: dict[str, Actor]) -> None:
    # given
    document = f.draft_document(site)
    version_id = document.versions[0].id
    f.in_review_version(site, version_id, reviewers=("sup.wu", "sup.zhou"))
    documents.review_version(actor=f.reviewer(), version_id=version_id, password=password_of("sup.wu"))
    # when
    with pytest.raises(TransitionRefused) as refused:
        f.transition(site["qa.li"], version_id, "approve")
    # then
    assert refused.value.message == "Waiting for the review of: sup.zhou."


def test_make_effective_from_in_review_is_refused(site: dict[str, Actor]) -> None:
    # given
    document = f.draft_document(site)
    version_id = document.versions[0].id
    f.in_review_version(site, version_id)
    before = footprint()
    # when
    with pytest.raises(TransitionRefused) as refused:
        f.transition(site["qa.li"], version_id, "make_effective")
    # then
    assert "Not possible from state 'in_review'" in refused.value.message
    assert footprint() == before


# ---------------------------------------------------------------- editing the draft


def test_an_effective_date_in_the_past_is_refused(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.edit_draft(actor=site["qa.zhang"], version_id=version_id, effective_on=TODAY - timedelta(days=1))
    # then
    assert fields_of(refused) == {"effective_on"}
    assert footprint() == before


def test_the_author_cannot_be_a_reviewer(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    f.reviewer()
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.edit_draft(actor=site["qa.zhang"], version_id=version_id, reviewers=["sup.wu", "qa.zhang"])
    # then
    assert fields_of(refused) == {"reviewers[1]"}
    assert footprint() == before


@pytest.mark.parametrize(("reviewers", "approver", "field"), [
    (["op.liu"], None, "reviewers[0]"),  # an operator does not hold documents.review
    (["sup.wu", "sup.wu"], None, "reviewers[1]"),
    (["sup.wu"], "qa.zhang", "approver"),  # the author
    (["sup.wu"], "sup.wu", "approver"),  # no documents.approve
    (["qa.li"], "qa.li", "approver"),  # approver also a reviewer
    (["nobody"], None, "reviewers[0]"),
])
def test_bad_reviewers_and_approvers_are_refused(site: dict[str, Actor], reviewers: list[str],
                                                 approver: str | None, field: str) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    f.reviewer()
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.edit_draft(actor=site["qa.zhang"], version_id=version_id, reviewers=reviewers, approver=approver)
    # then
    assert field in fields_of(refused)
    assert footprint() == before


def test_only_the_author_edits_and_only_a_draft(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    other_author = f.person("qc.he", "qc_analyst", "何分析")
    # when / then
    with pytest.raises(Conflict):
        documents.edit_draft(actor=other_author, version_id=version_id, change_summary="mine now")
    f.in_review_version(site, version_id)
    with pytest.raises(Conflict) as refused:
        documents.edit_draft(actor=site["qa.zhang"], version_id=version_id, change_summary="late edit")
    assert "only while it is a draft" in refused.value.message


# ---------------------------------------------------------------- files


@pytest.mark.parametrize(("filename", "content", "media_type"), [
    ("sop.pdf", f.PDF_BYTES, "application/pdf"),
    ("sop.docx", f.DOCX_BYTES, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("sop.md", f.MD_BYTES, "text/markdown; charset=utf-8"),
])
def test_pdf_word_and_markdown_are_accepted_by_content_with_their_hash(
        site: dict[str, Actor], filename: str, content: bytes, media_type: str) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    # when
    version = documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id,
                                            filename=f"C:\\drafts\\{filename}", content=content,
                                            media_type="application/octet-stream")
    # then
    import hashlib

    assert (version.filename, version.media_type, version.size) == (filename, media_type, len(content))
    assert version.sha256 == hashlib.sha256(content).hexdigest()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(("filename", "content"), [
    ("setup.exe", b"MZ\x90\x00" + b"\x00" * 64),
    ("scan.pdf", PNG),  # a picture renamed .pdf
    ("sop.docx", b"PK\x03\x04not really a zip"),
    ("book.docx", f.docx_bytes().replace(b"word/document.xml", b"xl/workbook.xmlxx")),
    ("notes.md", "é".encode("latin-1") + b"\xff\xfe"),  # not UTF-8
    ("sop.txt", b"plain text"),
    ("sop.md", f.PDF_BYTES),  # a PDF named .md
    ("sop.pdf", b""),
])
def test_unsupported_files_are_refused_on_the_file_field_and_nothing_is_written(
        site: dict[str, Actor], filename: str, content: bytes) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id, filename=filename,
                                      content=content, media_type="application/pdf")
    # then
    assert fields_of(refused) == {"file"}
    assert footprint() == before


def test_an_oversized_file_is_refused(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    huge = f.PDF_BYTES + b"0" * documents.MAX_DOCUMENT_BYTES
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id, filename="big.pdf",
                                      content=huge, media_type="application/pdf")
    # then
    assert fields_of(refused) == {"file"}
    assert "20 MB" in refused.value.message
    assert footprint() == before


def test_a_second_upload_replaces_the_draft_file(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id, filename="a.pdf",
                                  content=f.PDF_BYTES, media_type="application/pdf")
    # when
    documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id, filename="a.md",
                                  content=f.MD_BYTES, media_type="text/markdown")
    # then
    document = documents.get_document(actor=site["qa.zhang"], number="SOP-QA-0001")
    view, content = documents.version_file(actor=site["qa.zhang"], document_id=document.id, version=1)
    assert (view.filename, content) == ("a.md", f.MD_BYTES)
    assert footprint()["files"] == 1


def test_an_altered_file_is_never_served(site: dict[str, Actor], system: Actor) -> None:
    # given: the stored bytes changed behind the application's back
    document = f.effective_document(site)
    with transaction(actor=system, reason="test: tamper") as session:
        session.execute(update(DocumentFile).values(content=b"%PDF-1.4 forged"))
    # when / then
    with pytest.raises(documents.DataIntegrityError):
        documents.version_file(actor=site["op.liu"], document_id=document.id, version=1)


# ---------------------------------------------------------------- visibility


def test_others_see_only_the_effective_version(site: dict[str, Actor]) -> None:
    # given: version 1 effective, version 2 in draft
    document = f.effective_document(site)
    draft = documents.start_revision(actor=site["qa.zhang"], document_id=document.id, change_summary="Step 3")
    documents.upload_version_file(actor=site["qa.zhang"], version_id=draft.id, filename="v2.pdf",
                                  content=f.PDF_BYTES, media_type="application/pdf")
    operator, manager = site["op.liu"], site["qa.li"]
    # when
    seen_by_operator = documents.get_document(actor=operator, document_id=document.id)
    seen_by_manager = documents.get_document(actor=manager, document_id=document.id)
    # then
    assert [v.version for v in seen_by_operator.versions] == [1]
    assert [v.version for v in seen_by_manager.versions] == [2, 1]
    with pytest.raises(NotFound):
        documents.version_file(actor=operator, document_id=document.id, version=2)
    with pytest.raises(NotFound):
        documents.get_version(actor=operator, version_id=draft.id)


def test_a_reviewer_sees_the_version_they_review(site: dict[str, Actor]) -> None:
    # given
    document = f.draft_document(site)
    f.ready_draft(site, document.versions[0].id)
    # when
    seen = documents.get_document(actor=f.reviewer(), document_id=document.id)
    listed = documents.list_documents(actor=f.reviewer())
    hidden = documents.list_documents(actor=site["op.liu"])
    # then
    assert [v.version for v in seen.versions] == [1]
    assert [d.number for d in listed] == [document.number]
    assert hidden == []


def test_list_filters_and_cursor(site: dict[str, Actor]) -> None:
    # given
    sop = f.effective_document(site)
    spec = f.effective_document(site, doc_type="specification", department="QC", title_zh="纯化水质量标准")
    draft = f.draft_document(site, title_zh="草稿规程")
    viewer = site["viewer.chen"]
    # when / then
    assert [d.number for d in documents.list_documents(actor=viewer)] == [sop.number, spec.number]
    assert [d.number for d in documents.list_documents(actor=viewer, doc_type="specification")] == [spec.number]
    assert [d.number for d in documents.list_documents(actor=viewer, department="qc")] == [spec.number]
    assert [d.number for d in documents.list_documents(actor=viewer, query="纯化水")] == [spec.number]
    assert [d.number for d in documents.list_documents(actor=viewer, after_id=sop.id)] == [spec.number]
    assert [d.number for d in documents.list_documents(actor=viewer, include_all=True)] == [sop.number, spec.number]
    everything = documents.list_documents(actor=site["qa.li"], include_all=True)
    assert [d.number for d in everything] == [sop.number, spec.number, draft.number]
    drafts = documents.list_documents(actor=site["qa.li"], include_all=True, state="draft")
    assert [d.number for d in drafts] == [draft.number]
    with pytest.raises(ValidationFailed) as refused:
        documents.list_documents(actor=viewer, state="lost")
    assert fields_of(refused) == {"state"}


# ---------------------------------------------------------------- review signatures


def test_a_duplicate_review_signature_is_refused(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    f.in_review_version(site, version_id)
    wu = f.reviewer()
    documents.review_version(actor=wu, version_id=version_id, password=password_of("sup.wu"))
    before = footprint()
    # when
    with pytest.raises(Conflict) as refused:
        documents.review_version(actor=wu, version_id=version_id, password=password_of("sup.wu"))
    # then
    assert fields_of(refused) == {"reviewer"}
    assert footprint() == before


def test_only_named_reviewers_sign_while_in_review(site: dict[str, Actor]) -> None:
    # given
    version_id = f.draft_document(site).versions[0].id
    f.ready_draft(site, version_id)
    stranger = f.reviewer("sup.zhou")
    # when / then: still a draft
    with pytest.raises(Conflict) as refused:
        documents.review_version(actor=f.reviewer(), version_id=version_id, password=password_of("sup.wu"))
    assert fields_of(refused) == {"version_id"}
    f.transition(site["qa.zhang"], version_id, "submit")
    before = footprint()
    with pytest.raises(Conflict) as refused:
        documents.review_version(actor=stranger, version_id=version_id, password=password_of("sup.zhou"))
    assert fields_of(refused) == {"reviewer"}
    assert footprint() == before


def test_a_returned_and_changed_version_needs_its_reviews_again(site: dict[str, Actor]) -> None:
    # given: reviewed, then returned and its file replaced
    version_id = f.draft_document(site).versions[0].id
    f.in_review_version(site, version_id)
    documents.review_version(actor=f.reviewer(), version_id=version_id, password=password_of("sup.wu"))
    f.transition(f.reviewer(), version_id, "return", reason="Step 4 unclear")
    documents.upload_version_file(actor=site["qa.zhang"], version_id=version_id, filename="sop.md",
                                  content=f.MD_BYTES, media_type="text/markdown")
    f.transition(site["qa.zhang"], version_id, "submit")
    # when
    version = documents.get_version(actor=site["qa.zhang"], version_id=version_id)
    # then
    assert version.reviews_missing == ("sup.wu",)
    documents.review_version(actor=f.reviewer(), version_id=version_id, password=password_of("sup.wu"))


# ---------------------------------------------------------------- revisions


def test_a_revision_needs_an_effective_version_and_no_other_open_one(site: dict[str, Actor]) -> None:
    # given
    draft = f.draft_document(site)
    document = f.effective_document(site)
    documents.start_revision(actor=site["qa.zhang"], document_id=document.id, change_summary="v2")
    before = footprint()
    # when / then
    with pytest.raises(Conflict) as refused:
        documents.start_revision(actor=site["qa.zhang"], document_id=draft.id, change_summary="v2")
    assert fields_of(refused) == {"document_id"}
    with pytest.raises(Conflict) as refused:
        documents.start_revision(actor=site["qa.zhang"], document_id=document.id, change_summary="v3")
    assert "v2 is already draft" in refused.value.message
    assert footprint() == before


def test_a_revision_names_an_existing_change_control(site: dict[str, Actor]) -> None:
    # given
    document = f.effective_document(site)
    before = footprint()
    # when
    with pytest.raises(ValidationFailed) as refused:
        documents.start_revision(actor=site["qa.zhang"], document_id=document.id, change_summary="v2",
                                 change_control="CC-2026-0099")
    # then
    assert fields_of(refused) == {"change_control"}
    assert footprint() == before


# ---------------------------------------------------------------- effective dates and periodic review


def test_the_daily_job_makes_due_versions_effective(site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given: approved today to become effective in three days
    document = f.draft_document(site)
    version_id = document.versions[0].id
    f.ready_draft(site, version_id, effective_on=TODAY + timedelta(days=3))
    f.transition(site["qa.zhang"], version_id, "submit")
    documents.review_version(actor=f.reviewer(), version_id=version_id, password=password_of("sup.wu"))
    f.transition(site["qa.li"], version_id, "approve")
    job = Actor.system("daily-job")
    # when / then
    assert documents.make_due_versions_effective(actor=job) == []
    with days_later(monkeypatch, 3):
        assert documents.make_due_versions_effective(actor=job) == [f"{document.number} v1"]
        assert documents.make_due_versions_effective(actor=job) == []
    assert documents.get_document(actor=site["op.liu"], document_id=document.id).effective_version == 1


def test_the_daily_job_needs_the_approve_permission(site: dict[str, Actor]) -> None:
    with pytest.raises(PermissionDenied):
        documents.make_due_versions_effective(actor=site["qa.zhang"])


def test_documents_due_for_review(site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given: reviewed every 24 months from today
    document = f.effective_document(site)
    # when / then
    assert documents.documents_due_for_review(actor=site["op.liu"]) == []
    with days_later(monkeypatch, 24 * 31 - 60):
        due = documents.documents_due_for_review(actor=site["op.liu"])
        assert [d.number for d in due] == [document.number]
        assert due[0].due_for_review


def test_periodic_review_no_change_moves_the_next_review_and_is_signed(site: dict[str, Actor]) -> None:
    # given
    document = f.effective_document(site)
    # when
    reviewed = documents.record_periodic_review(actor=site["qa.zhang"], document_id=document.id,
                                                outcome="no_change", comment="Still matches practice.",
                                                password=password_of("qa.zhang"))
    # then
    assert reviewed.next_review_on == add_months(TODAY, 24)
    [review] = reviewed.reviews
    assert (review.outcome, review.version, review.reviewer) == ("no_change", 1, "qa.zhang")
    assert [(s.meaning, s.valid) for s in review.signatures] == [("reviewed", True)]


def test_periodic_review_needs_an_effective_version_an_outcome_and_a_password(site: dict[str, Actor]) -> None:
    # given
    draft = f.draft_document(site)
    document = f.effective_document(site)
    before = footprint()
    # when / then
    with pytest.raises(Conflict):
        documents.record_periodic_review(actor=site["qa.zhang"], document_id=draft.id, outcome="no_change",
                                         comment="ok", password=password_of("qa.zhang"))
    with pytest.raises(ValidationFailed) as refused:
        documents.record_periodic_review(actor=site["qa.zhang"], document_id=document.id, outcome="maybe",
                                         comment="", password=password_of("qa.zhang"))
    assert fields_of(refused) == {"outcome", "comment"}
    with pytest.raises(PermissionDenied):
        documents.record_periodic_review(actor=site["op.liu"], document_id=document.id, outcome="revise",
                                         comment="x", password=password_of("op.liu"))
    assert footprint() == before


def test_printing_a_version(site: dict[str, Actor]) -> None:
    # given
    document = f.effective_document(site)
    # when
    content, media_type, filename = documents.print_document_version(actor=site["op.liu"],
                                                                     version_id=document.versions[0].id)
    # then
    assert content.startswith(b"%PDF-")
    assert (media_type, filename) == ("application/pdf", f"{document.number}-v1.pdf")


def test_the_author_cannot_return_her_own_version_for_review(site: dict[str, Actor]) -> None:
    # given: qa.zhang wrote the version and also holds documents.review
    version_id = f.draft_document(site).versions[0].id
    f.in_review_version(site, version_id)
    # when
    with pytest.raises(TransitionRefused) as refused:
        f.transition(site["qa.zhang"], version_id, "return", reason="Second thoughts")
    # then
    assert "withdraw" in refused.value.message
    assert documents.get_version(actor=site["qa.zhang"], version_id=version_id).state == "in_review"

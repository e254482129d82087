"""Reach controlled-document states the way users do: through the services and signed transitions.

Shared by the document and training tests; keep names and signatures stable and add helpers
at the end rather than changing existing ones.

People: the document is registered by qa.li (documents.manage) and authored by its owner
qa.zhang (documents.author); the reviewer is a production supervisor (sup.wu, created on
first use, documents.review); the named approver is qa.li (documents.approve). Author,
reviewer and approver are different people, as signature separation requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import documents
from pharmos.quality.document_views import DocumentVersionView, DocumentView
from tests.conftest import password_of
from tests.materials.factories import person

__all__ = [
    "DOCX_BYTES",
    "MD_BYTES",
    "PDF_BYTES",
    "actor_named",
    "approved_version",
    "docx_bytes",
    "draft_document",
    "effective_document",
    "in_review_version",
    "new_version_effective",
    "ready_draft",
    "reviewer",
    "transition",
]

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MD_BYTES = "# 洁净区更衣规程\n\n1. 洗手。\n2. 穿无菌服。\n".encode()


def docx_bytes(text: str = "Gowning procedure") -> bytes:
    """A minimal Word document (a zip holding word/document.xml)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f"<w:document><w:body><w:p>{text}</w:p></w:body></w:document>")
    return buffer.getvalue()


DOCX_BYTES = docx_bytes()


def reviewer(username: str = "sup.wu") -> Actor:
    """A production supervisor holding documents.review (created on first use)."""
    return person(username, "production_supervisor", "吴主管")


def actor_named(site: dict[str, Actor], username: str) -> Actor:
    """A ``site`` person, or a production supervisor created on first use for any other name."""
    return site[username] if username in site else reviewer(username)


def transition(actor: Actor, version_id: int, name: str, *, reason: str | None = None) -> str:
    """Apply a document-version transition as ``actor``, signing with their password where needed."""
    return apply_transition(actor=actor, collection="document-versions", record_id=version_id, name=name,
                            password=password_of(actor.username), reason=reason)


def draft_document(site: dict[str, Actor], *, number: str | None = None, title_zh: str = "洁净区更衣规程",
                   doc_type: str = "sop", department: str = "QA", owner: str = "qa.zhang",
                   registered_by: str = "qa.li") -> DocumentView:
    """A registered document whose version 1 is a draft without file, reviewers or approver."""
    return documents.register_document(actor=site[registered_by], doc_type=doc_type, title_zh=title_zh,
                                       department=department, owner_username=owner, number=number)


def ready_draft(site: dict[str, Actor], version_id: int, *, author: str = "qa.zhang",
                reviewers: Sequence[str] = ("sup.wu",), approver: str = "qa.li", effective_on: date | None = None,
                filename: str = "sop.pdf", content: bytes = PDF_BYTES) -> DocumentVersionView:
    """Upload a file and name reviewers, approver and effective date (today by default) on a draft."""
    for name in reviewers:
        actor_named(site, name)
    documents.upload_version_file(actor=site[author], version_id=version_id, filename=filename, content=content,
                                  media_type="application/octet-stream")
    return documents.edit_draft(actor=site[author], version_id=version_id, reviewers=list(reviewers),
                                approver=approver, effective_on=effective_on or site_today())


def in_review_version(site: dict[str, Actor], version_id: int, *, author: str = "qa.zhang",
                      reviewers: Sequence[str] = ("sup.wu",), approver: str = "qa.li") -> DocumentVersionView:
    """A ready draft submitted (signed "authored") by its author."""
    ready_draft(site, version_id, author=author, reviewers=reviewers, approver=approver)
    transition(site[author], version_id, "submit")
    return documents.get_version(actor=site[author], version_id=version_id)


def approved_version(site: dict[str, Actor], version_id: int, *, author: str = "qa.zhang",
                     reviewers: Sequence[str] = ("sup.wu",), approver: str = "qa.li") -> DocumentVersionView:
    """Submitted, reviewed by every reviewer (signed "reviewed") and approved by the named approver."""
    in_review_version(site, version_id, author=author, reviewers=reviewers, approver=approver)
    for name in reviewers:
        documents.review_version(actor=actor_named(site, name), version_id=version_id, password=password_of(name),
                                 comment="Checked against the current practice.")
    transition(actor_named(site, approver), version_id, "approve")
    return documents.get_version(actor=site[author], version_id=version_id)


def effective_document(site: dict[str, Actor], *, number: str | None = None, title_zh: str = "洁净区更衣规程",
                       doc_type: str = "sop", department: str = "QA", owner: str = "qa.zhang",
                       reviewers: Sequence[str] = ("sup.wu",), approver: str = "qa.li") -> DocumentView:
    """A registered document whose version 1 is effective today (register → … → make_effective)."""
    document = draft_document(site, number=number, title_zh=title_zh, doc_type=doc_type, department=department,
                              owner=owner)
    version_id = document.versions[0].id
    approved_version(site, version_id, author=owner, reviewers=reviewers, approver=approver)
    transition(actor_named(site, approver), version_id, "make_effective")
    return documents.get_document(actor=site[owner], document_id=document.id)


def new_version_effective(site: dict[str, Actor], document_number: str, *, author: str = "qa.zhang",
                          reviewers: Sequence[str] = ("sup.wu",), approver: str = "qa.li",
                          change_summary: str = "Step 3 clarified.") -> DocumentView:
    """A new version of an effective document taken to effective; the previous one is superseded."""
    document = documents.get_document(actor=site[author], number=document_number)
    version = documents.start_revision(actor=site[author], document_id=document.id, change_summary=change_summary)
    approved_version(site, version.id, author=author, reviewers=reviewers, approver=approver)
    transition(actor_named(site, approver), version.id, "make_effective")
    return documents.get_document(actor=site[author], document_id=document.id)

"""API routes of controlled documents (see docs/quality/service-api.md, documents.py).

Versions are addressed by their document and number (``/documents/{id}/versions/{v}``); their
lifecycle (submit, return, approve, make effective, make obsolete, withdraw) goes through the
generic ``POST /api/v1/document-versions/{version_id}/transitions/{name}`` of
pharmos.compliance.routes, with the version's ``id`` from the version view. Each route parses
input, resolves the caller through its policy and calls one service of ``pharmos.quality.service``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.core.errors import ValidationFailed
from pharmos.quality import service
from pharmos.quality.document_schemas import (
    DocumentIn,
    DocumentOut,
    DocumentVersionOut,
    DraftIn,
    PeriodicReviewIn,
    RevisionIn,
    VersionReviewIn,
)
from pharmos.quality.routes import SPREADSHEET_RESPONSES, content_disposition, file_download
from pharmos.quality.schemas import ExportFormat

__all__ = ["api"]

api = APIRouter(prefix="/api/v1", tags=["quality"])

View = Annotated[Actor, Depends(requires("quality.view"))]
Manage = Annotated[Actor, Depends(requires("documents.manage"))]
Author = Annotated[Actor, Depends(requires("documents.author"))]
Review = Annotated[Actor, Depends(requires("documents.review"))]
MAX_UPLOAD_BYTES = service.MAX_DOCUMENT_BYTES
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/pdf": {}, "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {},
    "text/markdown": {}}}}


def _upload(file: UploadFile) -> bytes:
    # Transport hygiene only; whether the file is acceptable is upload_version_file's rule.
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed.on("file", f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    return content


@api.get("/documents", response_model=Page[DocumentOut])
def list_documents(
    actor: View, page: Annotated[PageParams, Depends()],
    doc_type: Annotated[str | None, Query(description="sop, specification, form, master or policy")] = None,
    department: Annotated[str | None, Query(max_length=6)] = None,
    state: Annotated[str | None, Query(description="Has a version (visible to you) in this state")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Number or title contains")] = None,
    due_for_review: bool | None = None,
    include_all: Annotated[bool, Query(description="Every document, drafts and obsolete ones included "
                                                   "(documents.manage or documents.approve)")] = False,
) -> Page[DocumentOut]:
    rows = service.list_documents(actor=actor, doc_type=doc_type, department=department, state=state, query=q,
                                  due_for_review=due_for_review, include_all=include_all, after_id=page.after_id,
                                  limit=page.limit + 1)
    return page.page([DocumentOut.of(r) for r in rows], lambda d: d.id)


@api.post("/documents", response_model=DocumentOut, status_code=201)
def register_document(body: DocumentIn, actor: Manage) -> DocumentOut:
    return DocumentOut.of(service.register_document(actor=actor, **body.model_dump()))


@api.get("/documents/export", response_class=Response, responses=SPREADSHEET_RESPONSES)
def export_documents(
    actor: View, format: ExportFormat = "csv",
    doc_type: Annotated[str | None, Query()] = None, department: Annotated[str | None, Query(max_length=6)] = None,
    state: Annotated[str | None, Query()] = None, q: Annotated[str | None, Query(max_length=200)] = None,
    due_for_review: bool | None = None, include_all: bool = False,
) -> Response:
    return file_download(service.export_documents(actor=actor, fmt=format, doc_type=doc_type, department=department,
                                                  state=state, query=q, due_for_review=due_for_review,
                                                  include_all=include_all))


@api.get("/documents/due-for-review", response_model=list[DocumentOut])
def documents_due_for_review(actor: View, within_days: int = 60) -> list[DocumentOut]:
    return [DocumentOut.of(d) for d in service.documents_due_for_review(actor=actor, within_days=within_days)]


@api.get("/documents/{document_id}", response_model=DocumentOut)
def get_document(document_id: int, actor: View) -> DocumentOut:
    return DocumentOut.of(service.get_document(actor=actor, document_id=document_id))


@api.post("/documents/{document_id}/versions", response_model=DocumentVersionOut, status_code=201)
def start_revision(document_id: int, body: RevisionIn, actor: Author) -> DocumentVersionOut:
    return DocumentVersionOut.of(service.start_revision(actor=actor, document_id=document_id, **body.model_dump()))


@api.get("/documents/{document_id}/versions/{version}", response_model=DocumentVersionOut)
def get_version(document_id: int, version: int, actor: View) -> DocumentVersionOut:
    return DocumentVersionOut.of(service.get_version(actor=actor, document_id=document_id, version=version))


@api.patch("/documents/{document_id}/versions/{version}", response_model=DocumentVersionOut)
def edit_draft(document_id: int, version: int, body: DraftIn, actor: Author) -> DocumentVersionOut:
    return DocumentVersionOut.of(service.edit_draft(actor=actor, document_id=document_id, version=version,
                                                    **body.model_dump(exclude_unset=True)))


@api.put("/documents/{document_id}/versions/{version}/file", response_model=DocumentVersionOut)
def upload_version_file(document_id: int, version: int, actor: Author,
                        file: Annotated[UploadFile, File(description="PDF, Word (.docx) or Markdown (.md); "
                                                                     "at most 20 MB")]) -> DocumentVersionOut:
    return DocumentVersionOut.of(service.upload_version_file(
        actor=actor, document_id=document_id, version=version, content=_upload(file), filename=file.filename or "",
        media_type=file.content_type or "application/octet-stream"))


@api.get("/documents/{document_id}/versions/{version}/file", response_class=Response, responses=FILE_RESPONSES)
def download_version_file(document_id: int, version: int, actor: View) -> Response:
    view, content = service.version_file(actor=actor, document_id=document_id, version=version)
    # EU GMP Annex 11 §7.1: the digest recorded at upload (and verified now) lets the reader prove the copy.
    return Response(content, media_type=view.media_type, headers={
        "Content-Disposition": content_disposition(view.filename), "X-Content-SHA256": view.sha256,
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@api.post("/documents/{document_id}/versions/{version}/review", response_model=DocumentVersionOut)
def review_version(document_id: int, version: int, body: VersionReviewIn, actor: Review) -> DocumentVersionOut:
    return DocumentVersionOut.of(service.review_version(actor=actor, document_id=document_id, version=version,
                                                        **body.model_dump()))


@api.get("/documents/{document_id}/versions/{version}/pdf", response_class=Response,
         responses={200: {"content": {"application/pdf": {}}}})
def print_document_version(document_id: int, version: int, actor: View) -> Response:
    # EU GMP Annex 11 §8.1: a clear printed copy, with its signatures and audit trail; the print is audited.
    return file_download(service.print_document_version(actor=actor, document_id=document_id, version=version))


@api.post("/documents/{document_id}/reviews", response_model=DocumentOut, status_code=201)
def record_periodic_review(document_id: int, body: PeriodicReviewIn, actor: Manage) -> DocumentOut:
    return DocumentOut.of(service.record_periodic_review(actor=actor, document_id=document_id, **body.model_dump()))

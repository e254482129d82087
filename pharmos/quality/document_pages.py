"""Web pages of controlled documents: the register, a document with its versions, and a version's page.

Each handler parses the form, calls one service of ``pharmos.quality.service`` (record pages
also ask the lifecycle which transitions the user may take, and why not) and renders. Forms
on a version's page post to ``/quality/document-versions/{version_id}/…`` (the lifecycle's
record id); after a change the browser is sent back to the version's page. A refused call
comes back as the same page with each problem next to its field and the user's input kept.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from pharmos.api.policy import requires
from pharmos.compliance.lifecycle import available_transitions
from pharmos.compliance.signatures import MEANINGS
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError, ValidationFailed
from pharmos.quality import service
from pharmos.quality.lifecycle import DOCUMENT_VERSION_LIFECYCLE
from pharmos.web.forms import (
    FormReader,
    ModulePages,
    download,
    form_values,
    perform,
    query_values,
    see_other,
)
from pharmos.web.rendering import LIST_LIMIT, page_of_rows

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("quality.view"))]
Manager = Annotated[Actor, Depends(requires("documents.manage"))]
Author = Annotated[Actor, Depends(requires("documents.author"))]
Reviewer = Annotated[Actor, Depends(requires("documents.review"))]

MAX_UPLOAD_BYTES = service.MAX_DOCUMENT_BYTES  # transport cap; the service checks size and content again
REVIEWER_ROWS = 4  # reviewer inputs offered on the draft form
VERSION_BASE = "/quality/document-versions"

_VOCABULARY: dict[str, Any] = {
    "meanings": MEANINGS,
    "document_types": tuple(service.DOCUMENT_TYPES),
    "document_states": tuple(DOCUMENT_VERSION_LIFECYCLE.states),
    "review_outcomes": service.REVIEW_OUTCOMES,
    "reviewer_rows": REVIEWER_ROWS,
    "transition_sources": {DOCUMENT_VERSION_LIFECYCLE.collection: {
        t.name: t.source for t in DOCUMENT_VERSION_LIFECYCLE.transitions}},
}
_ui = ModulePages(_VOCABULARY)


# ---------------------------------------------------------------- the register


def _filters(params: dict[str, str]) -> dict[str, Any]:
    return {"doc_type": params.get("doc_type") or None, "department": params.get("department") or None,
            "state": params.get("state") or None, "query": params.get("q") or None,
            "due_for_review": True if params.get("due") == "1" else None, "include_all": params.get("all") == "1"}


@pages.get("/quality/documents", response_class=HTMLResponse)
def document_list(request: Request, actor: Viewer, after: int | None = None) -> Response:
    params = query_values(request)
    rows = service.list_documents(actor=actor, **_filters(params), after_id=after, limit=LIST_LIMIT + 1)
    items, next_page = page_of_rows(request, rows)
    return _ui.page(request, "quality/document_list.html", {
        "documents": items, "next_page": next_page, "values": params,
        "current_query": urlencode({k: v for k, v in params.items() if v}),
        "saved_filters": service.list_saved_filters(actor=actor, list_name="documents")})


@pages.get("/quality/documents/export")
def document_export(request: Request, actor: Viewer, format: str = "csv") -> Response:
    # Declared before /{document_id}: "export" is not an id.
    params = query_values(request, "format")
    return download(*service.export_documents(actor=actor, fmt=format, **_filters(params)))


@pages.get("/quality/documents/new", response_class=HTMLResponse)
def document_form(request: Request, actor: Manager) -> Response:
    return _ui.page(request, "quality/document_new.html", {"values": {"review_interval_months": "24",
                                                                       "training_due_days": "14"}})


@pages.post("/quality/documents/new", response_class=HTMLResponse)
async def document_register(request: Request, actor: Manager) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        interval = reader.integer("review_interval_months", default=24)
        training_days = reader.integer("training_due_days", default=14)
        reader.check()
        document = await perform(service.register_document, actor=actor, doc_type=reader.text("doc_type"),
                                 title_zh=reader.text("title_zh"), title_en=reader.text("title_en"),
                                 department=reader.text("department"), owner_username=reader.text("owner_username"),
                                 number=reader.text("number") or None, review_interval_months=interval,
                                 training_due_days=training_days)
    except DomainError as exc:
        return _ui.refused(request, exc, "quality/document_new.html", {}, values)
    return see_other(f"/quality/documents/{document.id}")


# ---------------------------------------------------------------- a document


def _document_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    document = service.get_document(actor=actor, document_id=record_id)
    return {"document": document, "history": document.timeline}


@pages.get("/quality/documents/{document_id}", response_class=HTMLResponse)
def document_detail(request: Request, document_id: int, actor: Viewer) -> Response:
    return _ui.page(request, "quality/document.html", _document_detail(actor=actor, record_id=document_id))


@pages.post("/quality/documents/{document_id}/reviews", response_class=HTMLResponse)
async def document_periodic_review(request: Request, document_id: int, actor: Manager) -> Response:
    form = await request.form()

    def call(reader: FormReader) -> Any:
        # 药品GMP 第一百五十八条: the periodic review is signed by the person who made it.
        return service.record_periodic_review(actor=actor, document_id=document_id, outcome=reader.text("outcome"),
                                              comment=reader.text("comment"),
                                              password=str(form.get("password") or ""),
                                              otp=reader.text("otp") or None)
    return await _ui.detail_form(request, actor=actor, record_id=document_id, form="review", call=call,
                                 detail=_document_detail, template="quality/document.html",
                                 back=f"/quality/documents/{document_id}#reviews")


@pages.post("/quality/documents/{document_id}/versions", response_class=HTMLResponse)
async def document_revision(request: Request, document_id: int, actor: Author) -> Response:
    values = await form_values(request)
    try:
        version = await perform(service.start_revision, actor=actor, document_id=document_id,
                                change_summary=values.get("change_summary", ""),
                                change_control=values.get("change_control", ""))
    except DomainError as exc:
        values["form"] = "revision"
        context = await perform(_document_detail, actor=actor, record_id=document_id)
        return _ui.refused(request, exc, "quality/document.html", context, values)
    return see_other(f"/quality/documents/{document_id}/versions/{version.version}")


# ---------------------------------------------------------------- a version


def _version_detail(*, actor: Actor, record_id: int) -> dict[str, Any]:
    version = service.get_version(actor=actor, version_id=record_id)
    document = service.get_document(actor=actor, document_id=version.document_id)
    return {"document": document, "version": version, "history": version.timeline,
            "is_author": version.author == actor.username,
            "is_reviewer": actor.username in version.reviews_missing,
            "transitions": available_transitions(actor=actor, collection=DOCUMENT_VERSION_LIFECYCLE.collection,
                                                 record_id=record_id)}


@pages.get("/quality/documents/{document_id}/versions/{number}", response_class=HTMLResponse)
def version_page(request: Request, document_id: int, number: int, actor: Viewer) -> Response:
    version = service.get_version(actor=actor, document_id=document_id, version=number)
    return _ui.page(request, "quality/document_version.html", _version_detail(actor=actor, record_id=version.id))


@pages.get("/quality/documents/{document_id}/versions/{number}/file")
def version_download(document_id: int, number: int, actor: Viewer) -> Response:
    view, content = service.version_file(actor=actor, document_id=document_id, version=number)
    response = download(content, view.media_type, view.filename)
    response.headers.update({"X-Content-SHA256": view.sha256, "Cache-Control": "no-store",
                             "X-Content-Type-Options": "nosniff"})
    return response


@pages.get("/quality/documents/{document_id}/versions/{number}/print")
def version_print(document_id: int, number: int, actor: Viewer) -> Response:
    content, media_type, filename = service.print_document_version(actor=actor, document_id=document_id,
                                                                   version=number)
    return download(content, media_type, filename, inline=True)


@pages.get(VERSION_BASE + "/{version_id}", response_class=HTMLResponse)
def version_by_id(version_id: int, actor: Viewer) -> Response:
    version = service.get_version(actor=actor, version_id=version_id)
    return see_other(f"/quality/documents/{version.document_id}/versions/{version.version}")


@pages.post(VERSION_BASE + "/{version_id}/transitions/{name}", response_class=HTMLResponse)
async def version_transition(request: Request, version_id: int, name: str, actor: Viewer) -> Response:
    return await _ui.transition(request, actor=actor, collection=DOCUMENT_VERSION_LIFECYCLE.collection,
                                record_id=version_id, name=name, detail=_version_detail,
                                template="quality/document_version.html", back=f"{VERSION_BASE}/{version_id}")


@pages.post(VERSION_BASE + "/{version_id}/draft", response_class=HTMLResponse)
async def version_edit(request: Request, version_id: int, actor: Author) -> Response:
    def call(reader: FormReader) -> Any:
        effective_on = reader.date("effective_on")
        reader.check()
        reviewers = [reader.text(f"reviewers[{i}]") for i in range(REVIEWER_ROWS)]
        return service.edit_draft(actor=actor, version_id=version_id, change_summary=reader.text("change_summary"),
                                  reviewers=[name for name in reviewers if name],
                                  approver=reader.text("approver") or None, effective_on=effective_on,
                                  change_control=reader.text("change_control"))
    return await _ui.detail_form(request, actor=actor, record_id=version_id, form="draft", call=call,
                                 detail=_version_detail, template="quality/document_version.html",
                                 back=f"{VERSION_BASE}/{version_id}")


@pages.post(VERSION_BASE + "/{version_id}/file", response_class=HTMLResponse)
async def version_upload(request: Request, version_id: int, actor: Author) -> Response:
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed.on("file", "Choose a file.")
        # Transport hygiene only, as on the API: what is acceptable is upload_version_file's rule.
        content = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed.on("file", f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        await perform(service.upload_version_file, actor=actor, version_id=version_id, filename=upload.filename,
                      content=content, media_type=upload.content_type or "application/octet-stream")
    except DomainError as exc:
        context = await perform(_version_detail, actor=actor, record_id=version_id)
        return _ui.refused(request, exc, "quality/document_version.html", context, {"form": "file"})
    return see_other(f"{VERSION_BASE}/{version_id}")


@pages.post(VERSION_BASE + "/{version_id}/review", response_class=HTMLResponse)
async def version_review(request: Request, version_id: int, actor: Reviewer) -> Response:
    form = await request.form()

    def call(reader: FormReader) -> Any:
        # 21 CFR 11.50: the reviewer's signature means "reviewed".
        return service.review_version(actor=actor, version_id=version_id, password=str(form.get("password") or ""),
                                      otp=reader.text("otp") or None, comment=reader.text("comment"))
    return await _ui.detail_form(request, actor=actor, record_id=version_id, form="review", call=call,
                                 detail=_version_detail, template="quality/document_version.html",
                                 back=f"{VERSION_BASE}/{version_id}")

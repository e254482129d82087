"""API routes of the compliance core: audit trail and the generic lifecycle endpoints."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from pharmos.api.pagination import Page, PageParams
from pharmos.api.policy import requires, signed_in
from pharmos.compliance import export, lifecycle, service
from pharmos.compliance.schemas import (
    AuditEntryOut,
    TransitionIn,
    TransitionOut,
    TransitionResult,
    VerificationOut,
)
from pharmos.core.actor import Actor

api = APIRouter(prefix="/api/v1", tags=["compliance"])


def audit_filter(
    record_type: str | None = None,
    record_id: str | None = None,
    user: Annotated[str | None, Query(description="Username of the actor")] = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> service.AuditQuery:
    """The audit-trail filter shared by the list and the export (same query parameters)."""
    return service.AuditQuery(record_type, record_id, user, action, since, until)


@api.get("/audit-entries", response_model=Page[AuditEntryOut])
def list_audit_entries(
    actor: Annotated[Actor, Depends(requires("audit.view"))],
    page: Annotated[PageParams, Depends()],
    query: Annotated[service.AuditQuery, Depends(audit_filter)],
) -> Page[AuditEntryOut]:
    rows = service.search_audit(actor=actor, query=query, after_id=page.after_id, limit=page.limit + 1)
    return page.page([AuditEntryOut(**asdict(r)) for r in rows], lambda e: e.id)


@api.post("/audit-entries/verify", response_model=VerificationOut)
async def verify_audit_entries(actor: Annotated[Actor, Depends(requires("audit.view"))]) -> VerificationOut:
    result = await run_in_threadpool(service.verify_audit_trail, actor=actor)
    return VerificationOut(ok=result.ok, checked=result.checked, first_broken_id=result.first_broken_id,
                           problem=result.problem)


@api.get("/audit-entries/export", response_class=Response,
         responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}})
def export_audit_entries(
    actor: Annotated[Actor, Depends(requires("audit.export"))],
    query: Annotated[service.AuditQuery, Depends(audit_filter)],
    format: Annotated[str, Query(description="csv or pdf")] = "csv",
) -> Response:
    content, media_type, filename = export.export_audit(actor=actor, fmt=format, query=query)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@api.get("/{collection}/{record_id}/transitions", response_model=list[TransitionOut])
def list_transitions(collection: str, record_id: int,
                     actor: Annotated[Actor, Depends(signed_in())]) -> list[TransitionOut]:
    # The view permission is the lifecycle's own; the service checks it.
    options = lifecycle.available_transitions(actor=actor, collection=collection, record_id=record_id)
    return [TransitionOut(**{**asdict(o), "fields": list(o.fields)}) for o in options]


@api.post("/{collection}/{record_id}/transitions/{name}", response_model=TransitionResult)
def apply_transition(collection: str, record_id: int, name: str, body: TransitionIn,
                     actor: Annotated[Actor, Depends(signed_in())]) -> TransitionResult:
    # Permission is declared per transition in the lifecycle and enforced by the service.
    state = lifecycle.apply_transition(actor=actor, collection=collection, record_id=record_id, name=name,
                                       password=body.password, otp=body.otp, meaning=body.meaning,
                                       reason=body.reason)
    return TransitionResult(state=state)

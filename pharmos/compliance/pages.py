"""Web pages of the compliance core: the audit-trail viewer and its export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.compliance import service
from pharmos.core.actor import Actor
from pharmos.core.config import get_settings
from pharmos.core.errors import FieldProblem, ValidationFailed
from pharmos.web.rendering import render, translate

pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
FILTERS = ("record_type", "record_id", "user", "action", "since", "until")


def _site_time(field: str, value: str) -> datetime | None:
    """The viewer's dates are typed in the site's time zone; the trail is stored in UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("The filter has errors.", [FieldProblem(field, "Use a date and time such as "
                                                                             "2026-03-11 08:30.")]) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(get_settings().site_timezone))
    return parsed


def _query(params: dict[str, str]) -> service.AuditQuery:
    problems: list[FieldProblem] = []
    since = until = None
    try:
        since = _site_time("since", params.get("since", ""))
    except ValidationFailed as exc:
        problems += exc.fields
    try:
        until = _site_time("until", params.get("until", ""))
    except ValidationFailed as exc:
        problems += exc.fields
    if problems:
        raise ValidationFailed("The filter has errors.", problems)
    return service.AuditQuery(record_type=params.get("record_type") or None, record_id=params.get("record_id") or None,
                              actor=params.get("user") or None, action=params.get("action") or None,
                              since=since, until=until)


def _filters(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTERS}


@pages.get("/audit", response_class=HTMLResponse)
def audit_trail(request: Request, actor: Annotated[Actor, Depends(requires("audit.view"))],
                after: int | None = None) -> Response:
    filters = _filters(request)
    context: dict[str, object] = {"filters": filters, "values": filters, "entries": [], "next_after": None,
                                  "export_query": urlencode({k: v for k, v in filters.items() if v})}
    try:
        query = _query(filters)
        rows = service.search_audit(actor=actor, query=query, after_id=after, limit=PAGE_SIZE + 1, newest_first=True)
    except ValidationFailed as exc:
        context["errors"] = {f.field: translate(request, f.message) for f in exc.fields}
        return render(request, "compliance/audit.html", context, status=422)
    context["entries"] = rows[:PAGE_SIZE]
    if len(rows) > PAGE_SIZE:
        context["next_after"] = rows[PAGE_SIZE - 1].id
        context["next_query"] = urlencode({**{k: v for k, v in filters.items() if v},
                                           "after": rows[PAGE_SIZE - 1].id})
    template = "compliance/audit_rows.html" if request.headers.get("hx-request") else "compliance/audit.html"
    return render(request, template, context)


@pages.get("/audit/export")
def audit_export(request: Request, actor: Annotated[Actor, Depends(requires("audit.export"))],
                 format: str = "csv") -> Response:
    from pharmos.compliance.export import export_audit

    content, media_type, filename = export_audit(actor=actor, fmt=format, query=_query(_filters(request)))
    return Response(content, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})

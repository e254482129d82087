"""Page routes that serve every quality list or record page: saved filters and comments.

The list pages render the saved filters with the macro in ``quality/_saved_filters.html``; the
record pages render the comment form with ``record_trail`` in ``quality/_macros.html``. The
forms post here and come back to the page they came from (a ``back`` path under /quality/); a
refused form is shown on its own with the problem next to the field and the input kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from pharmos.api.policy import requires
from pharmos.core.actor import Actor
from pharmos.core.errors import DomainError
from pharmos.quality import service
from pharmos.web.forms import FormReader, ModulePages, form_values, perform, see_other

pages = APIRouter(include_in_schema=False)
Viewer = Annotated[Actor, Depends(requires("quality.view"))]
_ui = ModulePages({})  # the saved-filter form needs no choices of its own


def _back(values: dict[str, str]) -> str:
    # Only a path of this site's quality pages: a form must not turn into an open redirect.
    back = values.get("back", "")
    return back if back.startswith("/quality/") and "//" not in back and "\\" not in back else "/quality/tasks"


@pages.post("/quality/saved-filters", response_class=HTMLResponse)
async def saved_filter_save(request: Request, actor: Viewer) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    try:
        saved = await perform(service.save_filter, actor=actor, list_name=reader.text("list_name"),
                              name=reader.text("name"), query=reader.text("query"),
                              shared=reader.flag("shared"))
    except DomainError as exc:
        return _ui.refused(request, exc, "quality/complaint_saved_filter.html", {"back": _back(values)}, values)
    path = _back(values).split("?", 1)[0]
    return see_other(f"{path}?{saved.query}" if saved.query else path)


@pages.post("/quality/saved-filters/{filter_id}/delete", response_class=HTMLResponse)
async def saved_filter_delete(request: Request, filter_id: int, actor: Viewer) -> Response:
    values = await form_values(request)
    await perform(service.delete_saved_filter, actor=actor, filter_id=filter_id)
    return see_other(_back(values))


# Where each commentable collection's record page lives.
RECORD_PAGES = {"deviations": "/quality/deviations/{id}", "capas": "/quality/capas/{id}",
                "change-controls": "/quality/change-controls/{id}",
                "document-versions": "/quality/document-versions/{id}",
                "training-records": "/quality/training/records/{id}", "complaints": "/quality/complaints/{id}"}


@pages.post("/quality/comments", response_class=HTMLResponse)
async def record_comment(request: Request, actor: Viewer) -> Response:
    values = await form_values(request)
    reader = FormReader(values)
    collection, record_id = reader.text("collection"), reader.integer("record_id")
    back = RECORD_PAGES.get(collection, "/quality/tasks").format(id=record_id)
    try:
        reader.check()
        await perform(service.comment_on_record, actor=actor, collection=collection, record_id=record_id or 0,
                      text=values.get("text", ""))
    except DomainError as exc:
        return _ui.refused(request, exc, "quality/comment_refused.html", {"back": back}, values)
    return see_other(f"{back}#timeline")

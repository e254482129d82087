"""Page routes of the quality lists' saved filters: save the current filter, delete one; back to the list.

The list pages render the saved filters with the macro in ``quality/_saved_filters.html``; the
forms post here and come back to the list they came from (a ``back`` path under /quality/).
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

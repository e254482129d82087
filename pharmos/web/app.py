"""Installs the web UI (pages, static files, i18n) into the FastAPI app."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from pharmos.web.rendering import STATIC_DIR, render, translate

HtmlRenderer = Callable[..., Response]


def render_error(request: Request, status: int, message: str, fields: list[tuple[str, str]],
                 code: str = "") -> Response:
    """The HTML face of the single error handler (pharmos.api.problems)."""
    if code == "login-required":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if code == "password-change-required":
        return RedirectResponse("/profile/password", status_code=303)
    problems = [(field, translate(request, text)) for field, text in fields]
    return render(request, "error.html", {"status": status, "message": translate(request, message),
                                          "problems": problems}, status=status)


def install_web(app: FastAPI) -> HtmlRenderer:
    """Mount pages and static files; return the HTML error renderer."""
    from pharmos.auth.pages import pages as auth_pages
    from pharmos.batches.mbr_pages import pages as mbr_pages
    from pharmos.batches.pages import pages as batch_pages
    from pharmos.compliance.pages import pages as compliance_pages
    from pharmos.equipment.pages import pages as equipment_pages
    from pharmos.materials.pages import pages as materials_pages
    from pharmos.quality.change_pages import pages as change_control_pages
    from pharmos.quality.complaint_pages import pages as complaint_pages
    from pharmos.quality.document_pages import pages as document_pages
    from pharmos.quality.pages import pages as quality_pages
    from pharmos.quality.saved_filter_pages import pages as saved_filter_pages
    from pharmos.quality.training_pages import pages as training_pages
    from pharmos.site.pages import pages as site_pages
    from pharmos.web.pages import pages as shell_pages

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(shell_pages)
    app.include_router(auth_pages)
    app.include_router(compliance_pages)
    app.include_router(site_pages)
    app.include_router(materials_pages)
    app.include_router(equipment_pages)
    app.include_router(quality_pages)
    app.include_router(saved_filter_pages)
    app.include_router(change_control_pages)
    app.include_router(document_pages)
    app.include_router(training_pages)
    app.include_router(complaint_pages)
    app.include_router(mbr_pages)
    app.include_router(batch_pages)
    return render_error

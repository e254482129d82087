"""The one place domain errors become HTTP responses (RFC 9457 problem+json, or HTML)."""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pharmos.core.context import current_request_id
from pharmos.core.errors import DomainError

PROBLEM_JSON = "application/problem+json"


def problem_response(request: Request, *, status: int, code: str, title: str, detail: str,
                     errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": f"https://pharmos.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[-1] if loc else "request")


def install_problem_handlers(app: FastAPI, html_renderer: Any = None) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if html_renderer is not None and _wants_html(request):
            fields = [(f.field, f.message) for f in exc.fields]
            # The code lets the page layer redirect (login-required, password-change-required).
            return cast(Response, html_renderer(request, exc.status, exc.message, fields, code=exc.code))
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(request, status=exc.status, code=exc.code, title=exc.code.replace("-", " "),
                                detail=exc.message,
                                errors=[{"field": f.field, "message": f.message} for f in exc.fields],
                                headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field_name(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
                  for e in exc.errors()]
        if html_renderer is not None and _wants_html(request):
            pairs = [(e["field"], e["message"]) for e in errors]
            return cast(Response, html_renderer(request, 422, "The form has errors.", pairs))
        return problem_response(request, status=422, code="validation-failed", title="validation failed",
                                detail="The request has invalid fields: " + ", ".join(e["field"] for e in errors),
                                errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if html_renderer is not None and _wants_html(request):
            return cast(Response, html_renderer(request, exc.status_code, str(exc.detail), []))
        return problem_response(request, status=exc.status_code, code=f"http-{exc.status_code}",
                                title=str(exc.detail), detail=str(exc.detail),
                                headers=getattr(exc, "headers", None))

"""The ASGI application: API routers, web pages, middleware, error handlers."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

import pharmos
from pharmos.api.policy import Policy, public
from pharmos.api.problems import install_problem_handlers
from pharmos.auth.routes import api as auth_api
from pharmos.batches.dispense_routes import api as dispense_api
from pharmos.batches.mbr_routes import api as mbr_api
from pharmos.batches.record_routes import api as batch_record_api
from pharmos.batches.routes import api as batches_api
from pharmos.compliance.routes import api as compliance_api
from pharmos.core.actor import Actor
from pharmos.core.config import get_settings
from pharmos.core.context import set_request_id
from pharmos.core.db import get_database
from pharmos.equipment.routes import api as equipment_api
from pharmos.materials.routes import api as materials_api
from pharmos.quality.change_routes import api as change_control_api
from pharmos.quality.complaint_routes import api as complaint_api
from pharmos.quality.document_routes import api as document_api
from pharmos.quality.routes import api as quality_api
from pharmos.quality.training_routes import api as training_api
from pharmos.site import lifecycle as _site_lifecycle  # noqa: F401 - registers the lifecycle
from pharmos.site.routes import api as site_api
from pharmos.web.app import install_web

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     b"frame-ancestors 'none'; form-action 'self'; base-uri 'self'"),
    (b"cache-control", b"no-store"),
]


class EdgeMiddleware:
    """Correlation id for every request (carried into audit entries) and security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        incoming = incoming[:64]
        # Accept the usual correlation-id shapes (UUIDs with hyphens); anything else is replaced.
        rid = set_request_id(incoming if _REQUEST_ID.fullmatch(incoming) else None)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def git_commit() -> str | None:
    configured = get_settings().git_commit
    if configured:
        return configured
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent.parent,  # noqa: S607
                             capture_output=True, text=True, timeout=2, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def iter_api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI ≥0.160 nests them)."""
    found: list[APIRoute] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            found.extend(iter_api_routes(list(nested.routes)))
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def route_policy(route: APIRoute) -> Policy | None:
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Policy):
            return dep.call
    return None


def create_app(*, extra_routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The application; ``extra_routers`` (plug-ins, tests) go through the same policy check."""
    get_database()
    app = FastAPI(title="Pharmos", version=pharmos.__version__, openapi_url="/api/openapi.json",
                  docs_url="/api/docs", redoc_url=None)
    commit = git_commit()

    @app.get("/healthz", tags=["ops"])
    def healthz(_: Annotated[Actor, Depends(public())]) -> dict[str, str]:
        from sqlalchemy import text

        with get_database().reader() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/version", tags=["ops"])
    def version(_: Annotated[Actor, Depends(public())]) -> dict[str, str | None]:
        return {"version": pharmos.__version__, "commit": commit}

    app.include_router(auth_api)
    app.include_router(site_api)
    app.include_router(materials_api)
    app.include_router(equipment_api)
    app.include_router(quality_api)
    app.include_router(change_control_api)
    app.include_router(document_api)
    app.include_router(training_api)
    app.include_router(complaint_api)
    app.include_router(mbr_api)
    app.include_router(batches_api)
    app.include_router(dispense_api)
    app.include_router(batch_record_api)
    html_renderer = install_web(app)
    # Generic lifecycle routes last: their path pattern is the broadest.
    for router in extra_routers:
        app.include_router(router)
    app.include_router(compliance_api)
    install_problem_handlers(app, html_renderer)

    missing = [f"{sorted(r.methods or ())} {r.path}"
               for r in iter_api_routes(list(app.routes)) if route_policy(r) is None]
    if missing:
        # Deny by default: a route without a declared policy is a programming error.
        raise RuntimeError("routes without an access policy: " + ", ".join(missing))
    app.add_middleware(EdgeMiddleware)
    return app

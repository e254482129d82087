"""Every API route × every built-in role: the policy's permission decides 403 versus getting through."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pharmos.app import create_app, iter_api_routes, route_policy
from pharmos.auth import service as auth
from pharmos.auth.permissions import BUILTIN_ROLES
from pharmos.compliance.lifecycle import lifecycle_for
from pharmos.core.actor import Actor
from pharmos.site import lifecycle as _site_lifecycle  # noqa: F401 - registers controlled-settings

# Plausible values for path parameters; 404/422 are fine outcomes when the role is permitted.
PATH_VALUES = {
    "username": "nobody.here",  # not a matrix user: revoking its role must not change the matrix
    "role": "viewer",
    "setting_id": "1",
    "token_id": "999999",
    "collection": "controlled-settings",
    "record_id": "1",
    "name": "submit",
    "material_code": "NO-SUCH-MATERIAL",
    "code": "EQ-NONE-999",  # an equipment label scanned at /equipment/by-scan/{code}
    "item_id": "1",
    "task_id": "1",
    "point_id": "1",
    "extension_id": "1",  # a deviation's due-date extension request
    "record_type": "lot",  # a deviation's linked record: /deviations/{record_id}/links/{record_type}/{reference}
    "reference": "LOT-NONE-001",
    "document_id": "1",  # a controlled document: /documents/{document_id}/versions/{version}
    "version": "1",
    "function": "qa",  # a change control's assessing function: /change-controls/{record_id}/assessments/{function}
    "filter_id": "1",  # a saved list filter
    "requirement_id": "1",  # a training requirement
    "batch_id": "1",  # a batch: /batches/{batch_id}/dispense (dispensing routes name it so)
    "step_id": "1",  # a step of a recipe or of a batch
    "entry_id": "1",  # a batch entry being corrected
    "exception_id": "1",  # a batch exception under review
    "dispense_id": "1",  # a dispense whose label is printed
}
# Routes that end the caller's session go last so the token stays usable for the others.
SESSION_ENDING = {"/api/v1/auth/logout"}


def _required_permission(route: APIRoute, declared: str | None) -> str | None:
    """The route's policy, refined by the lifecycle for the generic transition route."""
    if route.path.endswith("/transitions/{name}"):
        return lifecycle_for(PATH_VALUES["collection"]).transition(PATH_VALUES["name"]).permission
    return declared


def _url(route: APIRoute) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in PATH_VALUES, f"no sample value for path parameter {name!r} in {route.path}"
        return PATH_VALUES[name]

    return re.sub(r"\{([^}]+)\}", fill, route.path)


@pytest.mark.requirement("21 CFR 11.10(d)")
def test_every_route_as_every_role(sqlite_url: str, system: Actor) -> None:
    # given: one user per built-in role, each with a bearer token
    auth.ensure_builtin_roles(actor=system)
    client = TestClient(create_app())
    tokens = {}
    for role in BUILTIN_ROLES:
        username = f"user.{role.replace('_', '-')}"
        auth.create_user(actor=system, username=username, full_name=f"Test {role}", password=f"{username}-pass1",
                         roles=[role])
        tokens[role] = auth.login(username=username, password=f"{username}-pass1", kind="api").token
    routes = sorted(
        (r for r in iter_api_routes(list(client.app.routes)) if r.path.startswith("/api/")),  # type: ignore[attr-defined]
        key=lambda r: r.path in SESSION_ENDING,
    )
    assert routes
    # when
    wrong: list[str] = []
    calls = 0
    for route in routes:
        policy = route_policy(route)
        assert policy is not None, route.path
        url = _url(route)
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            for role, token in tokens.items():
                response = client.request(method, url, headers={"Authorization": f"Bearer {token}"},
                                          json={} if method in ("POST", "PUT", "PATCH") else None)
                calls += 1
                needed = _required_permission(route, policy.permission)
                permitted = needed is None or needed in BUILTIN_ROLES[role][2]
                status = response.status_code
                if permitted and status in (401, 403):
                    wrong.append(f"{role} {method} {url}: {status} although permitted ({response.text[:120]})")
                if not permitted and status != 403:
                    wrong.append(f"{role} {method} {url}: {status} although it lacks {needed}")
    # then
    assert calls >= len(routes) * len(BUILTIN_ROLES)
    assert wrong == [], "\n".join(wrong)


@pytest.mark.requirement("21 CFR 11.10(d)")
def test_every_protected_route_refuses_anonymous_callers(sqlite_url: str) -> None:
    # given
    client = TestClient(create_app())
    # when
    wrong = []
    for route in iter_api_routes(list(client.app.routes)):  # type: ignore[attr-defined]
        policy = route_policy(route)
        if policy is None or policy.public or not route.path.startswith("/api/"):
            continue
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.request(method, _url(route), json={} if method in ("POST", "PUT", "PATCH") else None)
            if response.status_code != 401:
                wrong.append(f"{method} {route.path}: {response.status_code}")
    # then
    assert wrong == [], "\n".join(wrong)

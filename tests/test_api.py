"""API conventions every module relies on: problem+json, pagination, ops endpoints, OpenAPI, timestamps, request ids."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pharmos.app import create_app
from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.db import read_session
from pharmos.site import service as settings
from tests.conftest import password_of

PROBLEM = "application/problem+json"


@pytest.fixture
def client(site: dict[str, Actor]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def _headers(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password_of(username)})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


# ---------------------------------------------------------------- problem+json


def test_401_without_a_token_is_problem_json(client: TestClient) -> None:
    # given / when
    response = client.get("/api/v1/users")
    # then
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_401_with_an_unknown_token_is_problem_json(client: TestClient) -> None:
    # given / when
    response = client.get("/api/v1/users", headers={"Authorization": "Bearer phs_not-a-real-token"})
    # then
    _assert_problem(response, 401)


def test_403_without_the_permission_is_problem_json(client: TestClient) -> None:
    # given
    headers = _headers(client, "viewer.chen")
    # when
    response = client.get("/api/v1/users", headers=headers)
    # then
    body = _assert_problem(response, 403)
    assert "auth.view_users" in body["detail"]


def test_404_is_problem_json(client: TestClient) -> None:
    # given
    headers = _headers(client, "qa.li")
    # when
    missing_record = client.get("/api/v1/controlled-settings/999999", headers=headers)
    missing_route = client.get("/api/v1/no-such-thing/at/all/here", headers=headers)
    # then
    _assert_problem(missing_record, 404)
    _assert_problem(missing_route, 404)


def test_409_is_problem_json_and_names_the_field(client: TestClient) -> None:
    # given
    headers = _headers(client, "qa.zhang")
    body = {"key": "deviation.due_days.minor", "value": "30"}
    assert client.post("/api/v1/controlled-settings", headers=headers, json=body).status_code == 201
    # when
    response = client.post("/api/v1/controlled-settings", headers=headers, json=body)
    # then
    _assert_problem(response, 409, "key")


def test_422_domain_validation_names_the_field_and_writes_nothing(client: TestClient) -> None:
    # given
    headers = _headers(client, "qa.zhang")
    # when
    response = client.post("/api/v1/controlled-settings", headers=headers, json={"key": "Not A Key", "value": "30"})
    # then
    _assert_problem(response, 422, "key")
    listed = client.get("/api/v1/controlled-settings", headers=headers).json()
    assert listed["items"] == []


def test_422_malformed_json_body(client: TestClient) -> None:
    # given
    headers = {**_headers(client, "qa.zhang"), "Content-Type": "application/json"}
    # when
    response = client.post("/api/v1/controlled-settings", headers=headers, content=b'{"key": "a.b", "value": ')
    # then
    body = _assert_problem(response, 422)
    assert body["errors"]


def test_422_wrong_types_and_missing_fields_name_them(client: TestClient) -> None:
    # given
    headers = _headers(client, "qa.zhang")
    # when
    wrong_type = client.post("/api/v1/controlled-settings", headers=headers,
                             json={"key": "deviation.due_days.minor", "value": {"days": 30}})
    missing = client.post("/api/v1/controlled-settings", headers=headers, json={"value": "30"})
    bad_path = client.get("/api/v1/controlled-settings/abc", headers=headers)
    # then
    _assert_problem(wrong_type, 422, "value")
    _assert_problem(missing, 422, "key")
    _assert_problem(bad_path, 422, "setting_id")


# ---------------------------------------------------------------- pagination


def test_limit_above_500_is_refused_naming_limit(client: TestClient) -> None:
    # given
    headers = _headers(client, "qa.li")
    # when
    response = client.get("/api/v1/controlled-settings?limit=501", headers=headers)
    # then
    _assert_problem(response, 422, "limit")
    assert client.get("/api/v1/controlled-settings?limit=500", headers=headers).status_code == 200


@pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJhZnRlciI6IC0xfQ", "%%%"])
def test_malformed_cursor_is_refused_naming_cursor(client: TestClient, cursor: str) -> None:
    # given
    headers = _headers(client, "admin.wang")
    # when
    response = client.get("/api/v1/users", headers=headers, params={"cursor": cursor})
    # then
    _assert_problem(response, 422, "cursor")


@pytest.mark.parametrize("path", ["/api/v1/controlled-settings", "/api/v1/users", "/api/v1/audit-entries"])
def test_walking_pages_returns_every_item_once(client: TestClient, site: dict[str, Actor], path: str) -> None:
    # given
    for n in range(5):
        settings.draft_setting(actor=site["qa.zhang"], key=f"deviation.due_days.k{n}", value=str(n + 10))
    headers = _headers(client, "qa.li" if "users" not in path else "admin.wang")
    everything = client.get(path, headers=headers, params={"limit": 500}).json()
    assert everything["next_cursor"] is None
    expected = [item["id"] for item in everything["items"]]
    assert len(expected) >= 5
    # when
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(len(expected) // 2 + 50):  # every page of 2, plus room for entries written meanwhile
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(path, headers=headers, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # then: entries written while walking (the audit trail of our own logins) may be appended
    assert seen[: len(expected)] == expected
    assert len(seen) == len(set(seen))


# ---------------------------------------------------------------- ops and OpenAPI


def test_healthz_and_version(client: TestClient) -> None:
    # given / when
    health = client.get("/healthz")
    version = client.get("/version")
    # then
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    import pharmos

    assert version.status_code == 200 and version.json()["version"] == pharmos.__version__
    assert "commit" in version.json()


def test_openapi_lists_the_routes(client: TestClient) -> None:
    # given
    from pharmos.app import iter_api_routes

    # when
    response = client.get("/api/openapi.json")
    # then
    assert response.status_code == 200
    paths = response.json()["paths"]
    for route in iter_api_routes(list(client.app.routes)):  # type: ignore[attr-defined]
        if route.include_in_schema:
            assert route.path in paths, route.path
            for method in route.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in paths[route.path], (method, route.path)
    assert "/api/v1/auth/token" in paths and "/api/v1/controlled-settings" in paths


# ---------------------------------------------------------------- server time and correlation


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_client_sent_timestamps_are_ignored(client: TestClient) -> None:
    # given
    headers = _headers(client, "qa.zhang")
    forged = "2001-01-01T00:00:00Z"
    before = utcnow()
    # when
    response = client.post("/api/v1/controlled-settings", headers=headers,
                           json={"key": "deviation.due_days.minor", "value": "30", "created_at": forged,
                                 "effective_at": forged, "author": "qa.li", "state": "effective"})
    # then
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "draft" and body["author"] == "qa.zhang" and body["effective_at"] is None
    shown = client.get(f"/api/v1/controlled-settings/{body['id']}", headers=headers).json()
    from datetime import datetime

    created = datetime.fromisoformat(shown["created_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=5) <= created <= utcnow() + timedelta(seconds=5)
    with read_session() as session:
        stamps = session.scalars(select(AuditEntry.at).where(AuditEntry.record_type == "controlled_setting")).all()
    assert stamps and all(at >= before - timedelta(seconds=5) for at in stamps)


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_request_id_is_echoed_and_stored_in_the_audit_entry(client: TestClient) -> None:
    # given
    headers = {**_headers(client, "qa.zhang"), "X-Request-ID": "req-7f3a9c2e-0001"}
    # when
    response = client.post("/api/v1/controlled-settings", headers=headers,
                           json={"key": "deviation.due_days.minor", "value": "30"})
    # then
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "req-7f3a9c2e-0001"
    with read_session() as session:
        rids = session.scalars(select(AuditEntry.request_id).where(
            AuditEntry.record_type == "controlled_setting", AuditEntry.action == "create")).all()
    assert rids == ["req-7f3a9c2e-0001"]


def test_a_request_id_is_generated_when_none_is_sent(client: TestClient) -> None:
    # given / when
    first = client.get("/healthz")
    second = client.get("/healthz")
    # then
    assert first.headers["x-request-id"] and second.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_problem_carries_the_request_id(client: TestClient) -> None:
    # given / when
    response = client.get("/api/v1/users", headers={"X-Request-ID": "abc123"})
    # then
    assert response.json()["request_id"] == "abc123"


def test_user_list_filters_by_status_and_role_across_pages(site: dict[str, Actor]) -> None:
    # given one deactivated user among the site's five, and an admin API session
    from pharmos.auth import service as auth_service

    auth_service.deactivate_user(actor=site["admin.wang"], username="op.liu", reason="Left the company")
    client = TestClient(create_app())
    token = client.post("/api/v1/auth/token",
                        json={"username": "admin.wang", "password": "admin.wang-pass1"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def walk(params: dict[str, str]) -> list[str]:
        names, cursor = [], None
        while True:
            query = {**params, "limit": "2", **({"cursor": cursor} if cursor else {})}
            body = client.get("/api/v1/users", params=query, headers=headers).json()
            names += [u["username"] for u in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return names

    # when the list is walked two at a time with filters
    active = walk({"active": "true"})
    inactive = walk({"active": "false"})
    qa = walk({"role": "qa_manager"})
    unknown = client.get("/api/v1/users", params={"role": "no_such_role"}, headers=headers)
    # then each filter holds on every page and an unknown role names the field
    assert sorted(active) == ["admin.wang", "qa.li", "qa.zhang", "viewer.chen"]
    assert inactive == ["op.liu"]
    assert qa == ["qa.li"]
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "role"

"""The REST API as a signed-in user sees it: one test client, bearer tokens per user (no CSRF)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import password_of

API = "/api/v1"


class Api:
    """The test client acting as one signed-in user at a time (bearer tokens, so no CSRF)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._tokens: dict[str, str] = {}

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            response = self.client.post(f"{API}/auth/token",
                                        json={"username": username, "password": password_of(username)})
            assert response.status_code == 200, response.text
            self._tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def get(self, username: str, path: str, **params: Any) -> Any:
        return self.client.get(API + path, headers=self.headers(username), params=params)

    def post(self, username: str, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(API + path, headers=self.headers(username), json=body, **kwargs)

    def upload(self, username: str, path: str, files: dict[str, Any], data: dict[str, Any] | None = None) -> Any:
        return self.client.post(API + path, headers=self.headers(username), files=files, data=data or {})

    def patch(self, username: str, path: str, body: dict[str, Any]) -> Any:
        return self.client.patch(API + path, headers=self.headers(username), json=body)

    def put(self, username: str, path: str, body: dict[str, Any]) -> Any:
        return self.client.put(API + path, headers=self.headers(username), json=body)

    def transition(self, username: str, collection: str, record_id: int, name: str, *, sign: bool = False,
                   **body: Any) -> Any:
        if sign:
            body["password"] = password_of(username)
        return self.post(username, f"/{collection}/{record_id}/transitions/{name}", body)

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

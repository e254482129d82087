"""Web UI: catalogs complete, pages render, forms refuse bad input next to the field, access and CSRF enforced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from pharmos.auth import service as auth
from pharmos.core.actor import Actor

CATALOGS = Path(__file__).resolve().parent.parent / "pharmos" / "web" / "translations"
HTML = {"accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str) -> None:
    page = client.get("/login", headers=HTML)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_of(page.text), "next": "/"},
                           headers=HTML, follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.fixture
def people(sqlite_url: str, system: Actor) -> dict[str, str]:
    auth.ensure_builtin_roles(actor=system)
    auth.create_user(actor=system, username="admin.wang", full_name="王强", password="admin.wang-pass1",
                     roles=["admin"])
    auth.create_user(actor=system, username="qa.li", full_name="李娜", password="qa.li-pass1", roles=["qa_manager"])
    auth.create_user(actor=system, username="op.liu", full_name="刘洋", password="op.liu-pass1",
                     roles=["operator"])
    return {"admin": "admin.wang", "qa": "qa.li", "operator": "op.liu"}


@pytest.fixture
def client(people: dict[str, str]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_catalog_message_is_translated(language: str) -> None:
    # given
    with open(CATALOGS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    # when
    untranslated = [m.id for m in catalog if m.id and not m.string]
    # then
    assert len(list(catalog)) > 100
    assert untranslated == []
    assert (CATALOGS / language / "LC_MESSAGES" / "messages.mo").exists()


def test_zh_catalog_uses_gmp_vocabulary() -> None:
    # given
    with open(CATALOGS / "zh_CN" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    # when
    strings = {m.id: m.string for m in catalog if m.id}
    # then
    assert strings["Audit trail"] == "审计追踪"
    assert strings["Electronic signatures"] == "电子签名"


def test_unauthenticated_page_redirects_to_login(client: TestClient) -> None:
    # when
    response = client.get("/users?x=1", headers=HTML, follow_redirects=False)
    # then
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fusers%3Fx%3D1"


def test_login_page_is_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    # when
    zh = client.get("/login", headers=HTML)
    en = client.get("/login", headers={**HTML, "accept-language": "en-US,en;q=0.9"})
    # then
    assert "登录" in zh.text and 'lang="zh-CN"' in zh.text
    assert "Sign in" in en.text and 'lang="en"' in en.text


def test_failed_login_shows_one_message_for_unknown_user_and_wrong_password(client: TestClient) -> None:
    # given
    page = client.get("/login", headers=HTML)
    token = csrf_of(page.text)
    # when
    wrong = client.post("/login", data={"username": "admin.wang", "password": "nope-nope-nope",
                                        "csrf_token": token}, headers=HTML)
    unknown = client.post("/login", data={"username": "ghost", "password": "nope-nope-nope",
                                          "csrf_token": token}, headers=HTML)
    # then
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误。" in wrong.text and "用户名或密码错误。" in unknown.text
    assert "pharmos_session" not in wrong.cookies


def test_login_sets_an_httponly_lax_session_cookie(client: TestClient) -> None:
    # given
    page = client.get("/login", headers=HTML)
    # when
    response = client.post("/login", data={"username": "admin.wang", "password": "admin.wang-pass1",
                                           "csrf_token": csrf_of(page.text), "next": "/users"},
                           headers=HTML, follow_redirects=False)
    # then
    assert response.status_code == 303 and response.headers["location"] == "/users"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("pharmos_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_login_without_its_csrf_token_is_refused(client: TestClient) -> None:
    # given
    client.get("/login", headers=HTML)
    # when
    response = client.post("/login", data={"username": "admin.wang", "password": "admin.wang-pass1"},
                           headers=HTML, follow_redirects=False)
    # then
    assert response.status_code == 403
    assert "pharmos_session" not in response.cookies


def test_pages_render_for_an_admin(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    # when
    pages = {path: client.get(path, headers=HTML) for path in
             ["/", "/users", "/users/new", "/users/qa.li", "/roles", "/audit", "/audit?user=admin.wang",
              "/settings", "/profile", "/profile/password", "/profile/mfa", "/profile/tokens"]}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(pages, 200)
    assert "审计追踪" in pages["/"].text and "在用用户" in pages["/"].text
    assert "qa_manager" in pages["/users"].text
    assert "login" in pages["/audit"].text


def test_operator_does_not_see_user_admin(client: TestClient) -> None:
    # given
    sign_in(client, "op.liu", "op.liu-pass1")
    # when
    home = client.get("/", headers=HTML)
    users = client.get("/users", headers=HTML)
    # then
    assert 'href="/users"' not in home.text
    assert users.status_code == 403


def test_bad_new_user_shows_messages_next_to_fields_and_writes_nothing(client: TestClient, system: Actor) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    form = client.get("/users/new", headers=HTML)
    before = len(auth.list_users(actor=system))
    # when
    response = client.post("/users/new", data={"csrf_token": csrf_of(form.text), "username": "Bad Name!",
                                               "full_name": "张三", "password": "short", "language": "zh_CN"},
                           headers=HTML)
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-username"[^>]*>用户名须为 3–64 个字符', response.text)
    assert re.search(r'id="e-password"[^>]*>', response.text)
    assert 'value="张三"' in response.text  # the user's input is kept
    assert len(auth.list_users(actor=system)) == before


def test_grant_breaking_segregation_of_duties_shows_error_at_the_role_field(client: TestClient,
                                                                            system: Actor) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    page = client.get("/users/qa.li", headers=HTML)
    # when
    response = client.post("/users/qa.li/roles/grant", data={"csrf_token": csrf_of(page.text), "role": "admin"},
                           headers=HTML)
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-role"[^>]*>违反职责分离', response.text)
    assert auth.get_user(actor=system, username="qa.li").roles == ("qa_manager",)


def test_grant_role_through_the_page(client: TestClient, system: Actor) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    page = client.get("/users/op.liu", headers=HTML)
    # when
    response = client.post("/users/op.liu/roles/grant", data={"csrf_token": csrf_of(page.text), "role": "planner",
                                                              "reason": "排产职责"}, headers=HTML)
    # then
    assert response.status_code == 200 and "角色已授予。" in response.text
    assert "planner" in auth.get_user(actor=system, username="op.liu").roles


def test_post_without_csrf_token_is_refused(client: TestClient, system: Actor) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    # when
    response = client.post("/users/op.liu/roles/grant", data={"role": "planner"}, headers=HTML)
    # then
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert auth.get_user(actor=system, username="op.liu").roles == ("operator",)


def test_logout_revokes_the_session(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    home = client.get("/", headers=HTML)
    stolen = client.cookies.get("pharmos_session")
    # when
    client.post("/logout", data={"csrf_token": csrf_of(home.text)}, headers=HTML, follow_redirects=False)
    client.cookies.set("pharmos_session", stolen or "")
    after = client.get("/", headers=HTML, follow_redirects=False)
    # then
    assert after.status_code == 303 and after.headers["location"].startswith("/login")


def test_reset_password_shows_temporary_password_once_and_forces_change(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    page = client.get("/users/op.liu", headers=HTML)
    # when
    response = client.post("/users/op.liu/reset-password", data={"csrf_token": csrf_of(page.text)}, headers=HTML)
    temporary = re.search(r'id="temporary-password">([^<]+)<', response.text)
    other = TestClient(client.app)
    sign_in(other, "op.liu", temporary.group(1) if temporary else "")
    landing = other.get("/", headers=HTML, follow_redirects=False)
    # then
    assert landing.status_code == 303 and landing.headers["location"] == "/profile/password"


def test_draft_and_submit_a_controlled_setting_with_signature(client: TestClient) -> None:
    # given
    sign_in(client, "qa.li", "qa.li-pass1")
    form = client.get("/settings/new", headers=HTML)
    created = client.post("/settings/new", data={"csrf_token": csrf_of(form.text), "key": "deviation.due_days.minor",
                                                 "value": "30", "description": "轻微偏差关闭期限"}, headers=HTML)
    setting_path = str(created.url.path)
    # when
    wrong = client.post(f"{setting_path}/transitions/submit", data={"csrf_token": csrf_of(created.text),
                                                                     "password": "wrong-password"}, headers=HTML)
    right = client.post(f"{setting_path}/transitions/submit", data={"csrf_token": csrf_of(created.text),
                                                                     "password": "qa.li-pass1"}, headers=HTML)
    # then
    assert wrong.status_code == 401 and 'id="e-password"' in wrong.text
    assert right.status_code == 200 and "审核中" in right.text
    assert 'class="sig sig--valid"' in right.text and "李娜" in right.text


def test_mfa_enrolment_shows_an_inline_svg_qr_code(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    page = client.get("/profile/mfa", headers=HTML)
    # when
    response = client.post("/profile/mfa/begin", data={"csrf_token": csrf_of(page.text)}, headers=HTML)
    # then
    assert response.status_code == 200
    assert "<svg" in response.text and "style=" not in response.text.split("<svg", 1)[1].split("</svg>")[0]


def test_api_token_is_shown_once(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    page = client.get("/profile/tokens", headers=HTML)
    # when
    created = client.post("/profile/tokens", data={"csrf_token": csrf_of(page.text), "name": "LIMS",
                                                   "scopes": ["audit.view"], "expires_days": "30"}, headers=HTML)
    listing = client.get("/profile/tokens", headers=HTML)
    token = re.search(r'id="api-token">(pht_[^<]+)<', created.text)
    # then
    assert token is not None
    assert token.group(1) not in listing.text and "LIMS" in listing.text


def test_audit_filter_with_a_bad_date_names_the_field(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    # when
    response = client.get("/audit?since=yesterday", headers=HTML)
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-since"[^>]*>请输入日期和时间', response.text)


def test_audit_viewer_pages_newest_first_with_a_cursor(client: TestClient, system: Actor) -> None:
    # given
    for n in range(8):
        auth.create_user(actor=system, username=f"op.extra{n}", full_name=f"操作员{n}", password="op-extra-pass1",
                         roles=["operator"])
    sign_in(client, "admin.wang", "admin.wang-pass1")
    # when
    first = client.get("/audit", headers=HTML)
    ids = [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', first.text)]
    older = client.get(f"/audit?after={ids[-1]}", headers={**HTML, "hx-request": "true"})
    # then
    assert ids == sorted(ids, reverse=True) and len(ids) == 50
    more = [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', older.text)]
    assert more and max(more) < min(ids)
    assert "<html" not in older.text  # htmx gets only the rows to append


def test_audit_export_downloads_csv(client: TestClient) -> None:
    # given
    sign_in(client, "admin.wang", "admin.wang-pass1")
    # when
    response = client.get("/audit/export?format=csv&record_type=user", headers=HTML)
    # then
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    rows = response.content.decode("utf-8-sig").splitlines()[1:]
    assert rows and all(",user," in row for row in rows)

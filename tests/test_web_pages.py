"""Web UI: catalogs complete, pages render, forms refuse bad input next to the field, access and CSRF enforced."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from pharmos.auth import service as auth
from pharmos.compliance.service import AuditEntryView, AuditQuery, search_audit
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.errors import AuthenticationFailed

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


@pytest.mark.parametrize("message", ["", "  "])
def test_an_empty_record_text_is_shown_empty_not_as_the_catalogue_header(message: str) -> None:
    # given a logbook entry or comment stored without text
    from pharmos.web.rendering import translate_message

    # when it is shown in Chinese
    shown = translate_message("zh_CN", message)

    # then nothing is shown, not gettext's catalogue header ("Project-Id-Version: …")
    assert shown == message


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


def _draft_through_the_page(client: TestClient) -> str:
    form = client.get("/settings/new", headers=HTML)
    created = client.post("/settings/new", data={"csrf_token": csrf_of(form.text), "key": "deviation.due_days.major",
                                                 "value": "15", "description": "主要偏差关闭期限"}, headers=HTML)
    assert created.status_code == 200, created.text
    return str(created.url.path)


def _setting_entries(system: Actor, setting_path: str) -> list[AuditEntryView]:
    query = AuditQuery(record_type="controlled_setting", record_id=setting_path.rsplit("/", 1)[1])
    return search_audit(actor=system, query=query)


def test_editing_a_draft_setting_changes_the_value_and_records_the_reason(client: TestClient,
                                                                          system: Actor) -> None:
    # given
    sign_in(client, "qa.li", "qa.li-pass1")
    setting_path = _draft_through_the_page(client)
    detail = client.get(setting_path, headers=HTML)
    assert f'href="{setting_path}/edit"' in detail.text
    form = client.get(f"{setting_path}/edit", headers=HTML)
    # when
    saved = client.post(f"{setting_path}/edit", headers=HTML,
                        data={"csrf_token": csrf_of(form.text), "value": "20", "description": "主要偏差关闭期限",
                              "reason": "CAPA-2026-014 要求"})
    # then
    assert saved.status_code == 200 and str(saved.url.path) == setting_path
    assert "<code>20</code>" in saved.text
    updates = [e for e in _setting_entries(system, setting_path) if e.action == "update"]
    assert [e.reason for e in updates] == ["CAPA-2026-014 要求"]


def test_editing_without_a_reason_shows_the_message_at_the_reason_field_and_writes_nothing(
        client: TestClient, system: Actor) -> None:
    # given
    sign_in(client, "qa.li", "qa.li-pass1")
    setting_path = _draft_through_the_page(client)
    form = client.get(f"{setting_path}/edit", headers=HTML)
    before = _setting_entries(system, setting_path)
    # when
    refused = client.post(f"{setting_path}/edit", data={"csrf_token": csrf_of(form.text), "value": "99",
                                                        "description": "", "reason": "  "}, headers=HTML)
    # then
    assert refused.status_code == 422
    assert re.search(r'id="e-reason"[^>]*>必须填写变更原因。<', refused.text), refused.text
    assert "99" in refused.text  # the user's input is kept
    assert _setting_entries(system, setting_path) == before
    assert "<code>15</code>" in client.get(setting_path, headers=HTML).text


def test_editing_a_setting_that_is_no_longer_a_draft_is_refused(client: TestClient, system: Actor) -> None:
    # given
    sign_in(client, "qa.li", "qa.li-pass1")
    setting_path = _draft_through_the_page(client)
    form = client.get(f"{setting_path}/edit", headers=HTML)
    submitted = client.post(f"{setting_path}/transitions/submit", data={"csrf_token": csrf_of(form.text),
                                                                         "password": "qa.li-pass1"}, headers=HTML)
    assert "审核中" in submitted.text and f'href="{setting_path}/edit"' not in submitted.text
    before = _setting_entries(system, setting_path)
    # when
    refused = client.post(f"{setting_path}/edit", data={"csrf_token": csrf_of(form.text), "value": "99",
                                                        "description": "", "reason": "typo"}, headers=HTML)
    # then
    assert refused.status_code == 409
    assert "只有草稿可以编辑" in refused.text
    assert _setting_entries(system, setting_path) == before


# ---------------------------------------------------------------- two-step sign-in


@pytest.fixture
def enrolled(client: TestClient) -> pyotp.TOTP:
    actor = auth.login(username="qa.li", password="qa.li-pass1").actor
    enrolment = auth.begin_totp_enrolment(actor=actor)
    totp = pyotp.TOTP(enrolment.secret)
    auth.confirm_totp_enrolment(actor=actor, code=totp.now())
    return totp


def _password_step(client: TestClient, password: str = "qa.li-pass1") -> str:
    page = client.get("/login", headers=HTML)
    response = client.post("/login", data={"username": "qa.li", "password": password,
                                           "csrf_token": csrf_of(page.text), "next": "/settings"}, headers=HTML)
    assert response.status_code == 200, response.text
    return response.text


def _next(totp: pyotp.TOTP) -> str:
    # The enrolment used this step's code; a code is accepted once, so the next step's it is.
    return totp.at(time.time() + totp.interval)


def _wrong(totp: pyotp.TOTP) -> str:
    return f"{(int(totp.now()) + 500000) % 1000000:06d}"


def test_mfa_sign_in_asks_for_the_code_without_sending_the_password_back(client: TestClient,
                                                                        enrolled: pyotp.TOTP) -> None:
    # given
    otp_page = _password_step(client)
    # when
    response = client.post("/login", data={"step": "otp", "otp": _next(enrolled), "csrf_token": csrf_of(otp_page),
                                           "next": "/settings"}, headers=HTML, follow_redirects=False)
    # then
    assert 'name="otp"' in otp_page and "qa.li-pass1" not in otp_page and 'name="password"' not in otp_page
    assert response.status_code == 303 and response.headers["location"] == "/settings"
    assert "pharmos_session" in response.cookies
    assert any(h.startswith('pharmos_mfa_pending=""') for h in response.headers.get_list("set-cookie"))


def test_mfa_pending_cookie_is_httponly_strict_and_single_use(client: TestClient, enrolled: pyotp.TOTP) -> None:
    # given
    page = client.get("/login", headers=HTML)
    step = client.post("/login", data={"username": "qa.li", "password": "qa.li-pass1",
                                       "csrf_token": csrf_of(page.text)}, headers=HTML)
    cookie = next(h for h in step.headers.get_list("set-cookie") if h.startswith("pharmos_mfa_pending="))
    challenge = cookie.split(";", 1)[0].split("=", 1)[1]
    auth.complete_mfa_login(challenge=challenge, otp=_next(enrolled))
    # when
    with pytest.raises(AuthenticationFailed) as replayed:
        auth.complete_mfa_login(challenge=challenge, otp=_next(enrolled))
    # then
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=120" in cookie
    assert replayed.value.code == "mfa-challenge-refused"


def test_tampered_or_expired_challenge_is_refused(client: TestClient, enrolled: pyotp.TOTP,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    challenge = auth.begin_login(username="qa.li", password="qa.li-pass1")
    assert isinstance(challenge, auth.MfaChallenge)
    user_id, expires, nonce, mac = challenge.token.split(".")
    later = f"{user_id}.{int(expires) + 3600}.{nonce}.{mac}"
    other_user = f"{int(user_id) - 1}.{expires}.{nonce}.{mac}"
    forged_mac = f"{user_id}.{expires}.{nonce}.{'0' * len(mac)}"
    # when
    outcomes = []
    for token in (later, other_user, forged_mac, "garbage"):
        with pytest.raises(AuthenticationFailed) as refused:
            auth.complete_mfa_login(challenge=token, otp=_next(enrolled))
        outcomes.append(refused.value.code)
    # The server clock is the one outside dependency moved here: the challenge outlives its window.
    monkeypatch.setattr(auth, "utcnow", lambda: utcnow() + timedelta(seconds=auth.MFA_CHALLENGE_SECONDS + 1))
    with pytest.raises(AuthenticationFailed) as expired:
        auth.complete_mfa_login(challenge=challenge.token, otp=_next(enrolled))
    monkeypatch.undo()
    # then: refused, and the forged ones for a real account are in the audit trail
    assert outcomes == ["mfa-challenge-refused"] * 4
    assert expired.value.code == "mfa-challenge-refused"
    forged = search_audit(actor=Actor.system("test"), query=AuditQuery(record_type="user", action="login_failed"))
    assert sum(e.changes.get("cause") == "sign-in challenge not valid" for e in forged) >= 2
    assert auth.complete_mfa_login(challenge=challenge.token, otp=_next(enrolled)).actor.username == "qa.li"


def test_wrong_code_counts_as_a_failed_sign_in_and_asks_for_the_password_again(
        client: TestClient, enrolled: pyotp.TOTP, system: Actor) -> None:
    # given
    otp_page = _password_step(client)
    # when
    response = client.post("/login", data={"step": "otp", "otp": _wrong(enrolled), "csrf_token": csrf_of(otp_page),
                                           "next": "/"}, headers=HTML, follow_redirects=False)
    retry = client.post("/login", data={"step": "otp", "otp": _next(enrolled), "csrf_token": csrf_of(otp_page),
                                        "next": "/"}, headers=HTML, follow_redirects=False)
    # then
    assert response.status_code == 401 and 'name="password"' in response.text
    assert "pharmos_session" not in response.cookies
    failures = search_audit(actor=system, query=AuditQuery(record_type="user", action="login_failed"))
    assert [e.changes.get("cause") for e in failures] == ["wrong verification code"]
    assert retry.status_code == 401 and "pharmos_session" not in retry.cookies

"""Main user journeys in a real browser (Debian's Chromium driven by Playwright) against a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from pharmos.core.actor import Actor

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium package to run the browser journeys"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the browser: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(url: str, secret: str) -> Iterator[str]:
    """The real app under uvicorn on a free port, serving ``url``; its base address while it runs."""
    port = _free_port()
    env = {**os.environ, "PHARMOS_DATABASE_URL": url, "PHARMOS_SECRET_KEY": secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "pharmos.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the Pharmos server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


SECRET = "browser-secret-key-0123456789abcdef0123456789"


@contextmanager
def fresh_database(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """A migrated SQLite database with the built-in roles, set up under the key the served app will use.

    Yields its URL; the caller adds its data, disposes the engine and serves it with ``served(url, SECRET)``.
    """
    _require_chromium()
    from pharmos.auth import service as auth
    from pharmos.core.config import reset_settings_cache
    from pharmos.core.migrate import upgrade_head

    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'pharmos.db'}"
    previous_secret = os.environ.get("PHARMOS_SECRET_KEY")
    os.environ["PHARMOS_SECRET_KEY"] = SECRET
    reset_settings_cache()
    try:
        upgrade_head(url)
        auth.ensure_builtin_roles(actor=Actor.system("browser-setup"))
        yield url
    finally:
        if previous_secret is None:
            os.environ.pop("PHARMOS_SECRET_KEY", None)
        else:
            os.environ["PHARMOS_SECRET_KEY"] = previous_secret
        reset_settings_cache()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on a free port, on a fresh SQLite database with three users."""
    from pharmos.auth import service as auth
    from pharmos.core.db import get_database

    with fresh_database(tmp_path_factory, "browser") as url:
        system = Actor.system("browser-setup")
        auth.create_user(actor=system, username="admin.wang", full_name="王强", password="admin.wang-pass1",
                         department="信息部", roles=["admin"])
        auth.create_user(actor=system, username="op.liu", full_name="刘洋", password="op.liu-pass1",
                         department="原液车间", roles=["operator"])
        get_database().dispose()
        with served(url, SECRET) as base:
            yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # A 10-inch tablet in landscape, Chinese locale: the shop-floor default.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, server: str, username: str, password: str) -> None:
    page.goto(f"{server}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("button[type=submit]")


def test_login_success_lands_on_the_dashboard(page: Any, server: str) -> None:
    # given
    page.goto(f"{server}/login")
    shot(page, "01-login")
    # when
    sign_in(page, server, "admin.wang", "admin.wang-pass1")
    # then
    page.wait_for_url(f"{server}/")
    assert page.locator("h1").inner_text() == "欢迎，王强"
    assert page.locator("[data-figure=users] .figure__value").inner_text() == "2"
    shot(page, "02-dashboard")


def test_failed_login_shows_the_error_message(page: Any, server: str) -> None:
    # when
    sign_in(page, server, "admin.wang", "not-the-password")
    # then
    assert page.locator("#login-error").inner_text() == "用户名或密码错误。"
    assert page.url.startswith(f"{server}/login")
    shot(page, "03-login-failed")


def test_admin_grants_a_role_and_it_shows(page: Any, server: str) -> None:
    # given
    sign_in(page, server, "admin.wang", "admin.wang-pass1")
    page.wait_for_url(f"{server}/")
    page.click("nav.sidenav >> text=用户管理")
    shot(page, "04-users")
    page.click("text=op.liu")
    # when
    page.select_option("#f-role", "planner")
    page.fill("#f-grant-reason", "承担排产计划职责")
    page.click("#grant-form button[type=submit]")
    # then
    assert page.locator(".banner--ok").inner_text() == "角色已授予。"
    assert "计划员" in page.locator("#user-roles").inner_text()  # the role's zh-CN label
    shot(page, "05-role-granted")
    page.goto(f"{server}/users")
    assert "planner" in page.locator("#users").inner_text()
    page.goto(f"{server}/audit?record_type=user")
    assert page.locator("#audit-rows tr").count() > 0
    shot(page, "06-audit-trail")


# ---------------------------------------------------------------- equipment: an inspection round on the tablet


@pytest.fixture(scope="module")
def rounds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The real app on a fresh SQLite database with a usable bioreactor and today's round of two checks at it."""
    from datetime import timedelta

    from pharmos.core.clock import site_today
    from pharmos.core.db import get_database
    from pharmos.equipment import service as equipment
    from pharmos.equipment.rounds import InspectionPointInput
    from tests.equipment.factories import engineer, person, usable_equipment

    with fresh_database(tmp_path_factory, "rounds-browser") as url:
        site = {"qa.li": person("qa.li", "qa_manager", "李娜")}
        person("op.liu", "operator", "刘洋")
        reactor = usable_equipment(site, "bioreactor", name_zh="50L 一次性生物反应器", location="USP-B2-301")
        equipment.create_inspection_route(
            actor=engineer(), code="R-USP-DAILY", name_zh="上游车间日巡检", name_en="Upstream daily round",
            frequency="daily", shift_starts=("00:00",), window_hours=24, points=[
                InspectionPointInput(equipment_number=reactor.number, prompt_zh="罐温",
                                     prompt_en="Vessel temperature", kind="numeric", unit="°C", lower_limit="30",
                                     upper_limit="40"),
                InspectionPointInput(equipment_number=reactor.number, prompt_zh="搅拌运行平稳、无异响",
                                     prompt_en="Agitator runs smoothly", kind="yes_no", expected_yes=True)])
        # Tomorrow's too: should the site's midnight pass during the suite, "today's round" still exists.
        for day in (site_today(), site_today() + timedelta(days=1)):
            equipment.schedule_rounds(actor=engineer(), on=day)
        get_database().dispose()
        with served(url, SECRET) as base:
            yield {"base": base, "equipment": reactor.number}


def _wait_for_focus(page: Any, element_id: str) -> None:
    """Wait until the element has the keyboard focus (a scanner types into whatever has it)."""
    # A locator assertion, not wait_for_function: the latter evaluates a string, which the app's CSP
    # (script-src 'self', no 'unsafe-eval') refuses in some Chromium builds.
    from playwright.sync_api import expect

    expect(page.locator(f"#{element_id}")).to_be_focused(timeout=10_000)


def test_a_technician_completes_an_inspection_round_by_scanning(browser: Any, rounds_server: dict[str, str]) -> None:
    # The module's one Playwright browser (a second sync Playwright cannot run beside it).
    server, number = rounds_server["base"], rounds_server["equipment"]
    # A 10-inch tablet in landscape on the shop floor, Chinese locale.
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    page = context.new_page()
    try:
        _walk_the_round(page, server, number)
    finally:
        context.close()


def _walk_the_round(page: Any, server: str, number: str) -> None:
    # given: the operator opens the tablet view and starts today's round
    sign_in(page, server, "op.liu", "op.liu-pass1")
    page.wait_for_url(f"{server}/")
    page.click("nav.sidenav >> text=技术员平板")
    page.wait_for_selector("#my-rounds .tile")
    shot(page, "equipment-01-tablet")
    page.click("#my-rounds .tile")
    page.click("#transition-start button[type=submit]")
    page.wait_for_selector("#result-form")
    _wait_for_focus(page, "f-scanned")  # the scanner types here
    assert page.locator("#prompt").inner_text() == "罐温"

    # when: he scans the reactor's label and types 45 °C (limits 30–40) without a comment
    page.keyboard.type(number.lower())
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "f-value"
    page.keyboard.type("45")
    page.wait_for_selector("#limit-feedback.limit-feedback--out")
    assert "超出范围" in page.locator("#limit-feedback").inner_text()
    shot(page, "equipment-02-out-of-range")
    page.keyboard.press("Enter")  # to the comment
    page.keyboard.press("Enter")  # empty comment: the form is sent
    # then: the server refuses it at the comment field and keeps what was scanned and typed
    page.wait_for_selector("#e-comment")
    assert page.locator("#e-comment").inner_text() == "超出限度：请说明发现的情况和采取的措施。"
    assert page.input_value("#f-value") == "45"
    assert page.evaluate("document.activeElement.id") == "f-comment"
    shot(page, "equipment-03-comment-required")

    # when: he writes what he found and did
    page.keyboard.type("夹套温控阀卡滞，已通知维修")
    page.keyboard.press("Enter")
    # then: the second check (a yes/no question) is next; the first is recorded out of limits
    page.wait_for_selector("#progress[aria-valuenow='1']")
    assert page.locator("#prompt").inner_text() == "搅拌运行平稳、无异响"
    assert page.locator("#results li.out").count() == 1

    # when: he scans again, answers yes and records it
    _wait_for_focus(page, "f-scanned")  # autofocus lands once the page has loaded; a scan before it is lost
    page.keyboard.type(number)
    page.keyboard.press("Enter")
    page.click("label.yesno__choice >> text=是")
    page.wait_for_selector("#limit-feedback.limit-feedback--in")
    shot(page, "equipment-04-yes-no")
    page.click("#record-result")
    # then: every check is recorded; he signs to complete the round
    page.wait_for_selector("#transition-complete")
    page.fill("#f-complete-password", "op.liu-pass1")
    shot(page, "equipment-05-complete")
    page.click("#transition-complete button[type=submit]")
    page.wait_for_selector("#round-done")
    assert page.locator("#round-done").inner_text() == "巡检已完成并签名。"
    shot(page, "equipment-06-done")
    # and the reactor's page shows the fault the round reported and the inspection in its logbook
    page.goto(f"{server}/equipment/scan?code={number}")
    page.wait_for_selector("#logbook-entries tr[data-kind=inspection]")
    assert page.locator("#faults li a").count() == 1
    shot(page, "equipment-07-equipment-page")

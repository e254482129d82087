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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app under uvicorn on a free port, on a fresh SQLite database with three users."""
    _require_chromium()
    from pharmos.auth import service as auth
    from pharmos.core.config import reset_settings_cache
    from pharmos.core.db import get_database
    from pharmos.core.migrate import upgrade_head

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'pharmos.db'}"
    secret = "browser-secret-key-0123456789abcdef0123456789"
    previous_secret = os.environ.get("PHARMOS_SECRET_KEY")
    os.environ["PHARMOS_SECRET_KEY"] = secret
    reset_settings_cache()
    upgrade_head(url)
    system = Actor.system("browser-setup")
    auth.ensure_builtin_roles(actor=system)
    auth.create_user(actor=system, username="admin.wang", full_name="王强", password="admin.wang-pass1",
                     department="信息部", roles=["admin"])
    auth.create_user(actor=system, username="op.liu", full_name="刘洋", password="op.liu-pass1",
                     department="原液车间", roles=["operator"])
    get_database().dispose()

    try:
        with served(url, secret) as base:
            yield base
    finally:
        if previous_secret is None:
            os.environ.pop("PHARMOS_SECRET_KEY", None)
        else:
            os.environ["PHARMOS_SECRET_KEY"] = previous_secret
        reset_settings_cache()


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

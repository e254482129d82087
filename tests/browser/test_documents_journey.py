"""Controlled-document journey in a real browser: a new SOP version goes from draft to effective with its
signatures (author, reviewer, approver), and an operator whose role requires it reads it and signs "read and
understood"; QA then sees him qualified in the matrix (药品GMP 第一百五十二条, 第一百五十五条; 21 CFR 11.50)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_journeys import CHROMIUM, CHROMIUM_ARGS, SECRET, fresh_database, served, shot, sign_in

pytestmark = pytest.mark.browser

TITLE = "无菌灌装线清场规程"


@pytest.fixture(scope="module")
def documents_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The real app on a fresh SQLite database with an SOP's version 1 drafted (file uploaded, reviewer, approver
    and an effective date of today named) and a training requirement: operators must read it."""
    from pharmos.core.db import get_database
    from tests.materials.factories import person
    from tests.quality.document_factories import draft_document, ready_draft, reviewer
    from tests.quality.training_factories import require

    with fresh_database(tmp_path_factory, "documents-browser") as url:
        site = {"qa.li": person("qa.li", "qa_manager", "李娜"),
                "qa.zhang": person("qa.zhang", "qa_specialist", "张伟"),
                "op.liu": person("op.liu", "operator", "刘洋")}
        reviewer("sup.wu")
        document = draft_document(site, title_zh=TITLE, owner="qa.zhang")
        version = document.versions[0]
        ready_draft(site, version.id, author="qa.zhang", reviewers=("sup.wu",), approver="qa.li")
        require(site, "operator", document_number=document.number)
        get_database().dispose()
        with served(url, SECRET) as base:
            yield {"base": base, "number": document.number,
                   "version_url": f"{base}/quality/documents/{document.id}/versions/{version.version}"}


@pytest.fixture(scope="module")
def chromium(documents_server: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _as(chromium: Any, server: str, username: str) -> tuple[Any, Any]:
    """A new browser session (a desktop screen, Chinese) signed in as ``username``."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, server, username, f"{username}-pass1")
    page.wait_for_url(f"{server}/")
    return context, page


def _sign(page: Any, transition: str, username: str, reason: str = "") -> None:
    """Fill a transition's signature (password, and a reason if given) and press its button."""
    step = page.locator(f"#transition-{transition}")
    if step.locator(f"#f-{transition}-password").count():
        page.fill(f"#f-{transition}-password", f"{username}-pass1")
    if reason:
        page.fill(f"#f-{transition}-reason", reason)
    step.locator("button[type=submit]").click()


def _in_state(page: Any, state: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f'.lothead [data-state="{state}"]')).to_be_visible(timeout=10_000)


def test_a_new_sop_version_becomes_effective_and_an_operator_reads_and_signs_it(
        chromium: Any, documents_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    server, number, version_url = (documents_server["base"], documents_server["number"],
                                   documents_server["version_url"])

    # given: the author opens her draft, its file, reviewer, approver and effective date named
    context, page = _as(chromium, server, "qa.zhang")
    page.goto(version_url)
    _in_state(page, "draft")
    expect(page.locator("#reviewers")).to_contain_text("sup.wu")
    expect(page.locator("#approver")).to_contain_text("qa.li")
    # when: she signs "Submit for review"
    assert "电子签名" in page.locator("#transition-submit").inner_text()
    _sign(page, "submit", "qa.zhang", reason="初稿完成，提交审核")
    # then: the version is in review, waiting for the reviewer, with her "authored" signature
    _in_state(page, "in_review")
    expect(page.locator("#reviewers")).to_contain_text("sup.wu")
    expect(page.locator("#signatures .sig--valid")).to_have_count(1)
    expect(page.locator("#signatures")).to_contain_text("张伟")
    shot(page, "documents-01-in-review")
    context.close()

    # when: the reviewer opens the version page and signs it as reviewed
    context, page = _as(chromium, server, "sup.wu")
    page.goto(version_url)
    _in_state(page, "in_review")
    page.fill("#f-review-comment", "已核对现行清场操作，内容准确。")
    page.fill("#f-review-password", "sup.wu-pass1")
    shot(page, "documents-02-review-signature")
    page.click("#sign-reviewed")
    # then: his signature is recorded and nobody's review is missing any more
    expect(page.locator("#signatures .sig--valid")).to_have_count(2)
    expect(page.locator("#signatures")).to_contain_text("吴主管")
    expect(page.locator("#review-card")).to_have_count(0)
    _in_state(page, "in_review")
    context.close()

    # when: the named approver approves it with her signature
    context, page = _as(chromium, server, "qa.li")
    page.goto(version_url)
    approve = page.locator("#transition-approve")
    expect(approve.locator("button[type=submit]")).to_be_enabled()
    _sign(page, "approve", "qa.li", reason="审核通过，批准发布")
    # then: it is approved, signed by author, reviewer and approver
    _in_state(page, "approved")
    expect(page.locator("#signatures .sig--valid")).to_have_count(3)
    expect(page.locator("#signatures")).to_contain_text("李娜")
    shot(page, "documents-03-approved")
    # when: its effective date (today) has come, she makes it effective
    _sign(page, "make_effective", "qa.li")
    # then: it is the version in force and every signature still holds (21 CFR 11.70)
    _in_state(page, "effective")
    expect(page.locator("#signatures .sig--invalid")).to_have_count(0)
    expect(page.locator("#signatures .sig--valid")).to_have_count(3)
    shot(page, "documents-04-effective")
    context.close()

    # when: the operator opens his training from the menu
    context, page = _as(chromium, server, "op.liu")
    page.click("nav.sidenav >> text=我的培训")
    page.wait_for_url(f"{server}/quality/training")
    # then: the new SOP is due for him to read
    item = page.locator("#open-training article", has_text=number)
    expect(item).to_have_count(1)
    expect(item).to_contain_text(TITLE)
    shot(page, "documents-05-my-training-due")
    # when: he opens the file; it is served as the PDF that was approved
    link = item.locator("a[id^=file-]")
    expect(link).to_contain_text(f"{number} v1")
    response = page.request.get(f"{server}{link.get_attribute('href')}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.body().startswith(b"%PDF")
    # and signs "read and understood" with his password
    record = item.get_attribute("data-record")
    page.fill(f"#f-{record}-password", "op.liu-pass1")
    page.locator(f"#acknowledge-{record} button[type=submit]").click()
    # then: nothing is left to read and the record shows completed
    expect(page.locator("#nothing-open")).to_be_visible(timeout=10_000)
    completed = page.locator("#completed-training tbody tr", has_text=number)
    expect(completed).to_have_count(1)
    shot(page, "documents-06-my-training-completed")
    completed.locator("a").click()
    page.wait_for_url(f"{server}/quality/training/records/{record}")
    expect(page.locator('[data-state="completed"]').first).to_be_visible()
    expect(page.locator("#signatures .sig--valid")).to_have_count(1)
    shot(page, "documents-07-training-record")
    context.close()

    # when: QA opens the operators' qualification matrix
    context, page = _as(chromium, server, "qa.zhang")
    page.goto(f"{server}/quality/training/matrix?role=operator")
    # then: the operator is qualified on the SOP's effective version
    expect(page.locator(f'#matrix th[data-column="document:{number}"]')).to_contain_text(f"{number} v1")
    row = page.locator('#matrix tr[data-user="op.liu"]')
    expect(row.locator('[data-status="qualified"]')).to_have_count(1)
    expect(row.locator('[data-status]:not([data-status="qualified"])')).to_have_count(0)
    shot(page, "documents-08-matrix")
    context.close()

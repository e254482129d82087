"""Batch journey in a real browser on the shop-floor tablet: the operator dispenses two materials by scanning,
records the parameters (the pH out of limit: the tablet says so before sending, and the critical exception raises a
deviation and holds the batch), QA resumes, the operator signs, a second operator verifies the critical step; QA
reviews the exception, closes the deviation, releases the batch with a signature, and the batch record PDF opens
(药品GMP 第一百七十五条; EU GMP Annex 11; 21 CFR 11.10(e), 11.50)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_journeys import CHROMIUM, CHROMIUM_ARGS, SECRET, fresh_database, served, shot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def batch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The real app on a fresh SQLite database with a started batch of the test recipe (tests/batches factories)."""
    from pharmos.auth import service as auth
    from pharmos.core.actor import Actor
    from pharmos.core.db import get_database
    from tests.batches.batch_factories import started_batch
    from tests.batches.test_dispensing import product_with_shelf_life
    from tests.equipment.factories import usable_equipment

    with fresh_database(tmp_path_factory, "batches-browser") as url:
        system = Actor.system("browser-setup")
        site = {}
        for username, role, name in [("admin.wang", "admin", "王强"), ("qa.li", "qa_manager", "李娜"),
                                     ("qa.zhang", "qa_specialist", "张伟"), ("viewer.chen", "viewer", "陈静"),
                                     ("op.liu", "operator", "刘洋")]:
            auth.create_user(actor=system, username=username, full_name=name, password=f"{username}-pass1",
                             roles=[role])
            site[username] = auth.login(username=username, password=f"{username}-pass1").actor
        product_with_shelf_life(site)
        batch, setup = started_batch(site)
        balance = usable_equipment(site, "balance").number
        get_database().dispose()
        with served(url, SECRET) as base:
            yield {"base": base, "site": site, "batch": batch, "setup": setup, "balance": balance}


@pytest.fixture(scope="module")
def chromium(batch_server: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _as(chromium: Any, server: str, username: str, *, width: int = 1280, height: int = 800) -> tuple[Any, Any]:
    """A new browser session (a tablet, Chinese) signed in as ``username``."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, server, username, f"{username}-pass1")
    expect(page).to_have_url(f"{server}/")
    return context, page


def _transition(page: Any, name: str, username: str, reason: str = "") -> None:
    step = page.locator(f"#transition-{name}")
    if step.locator(f"#f-{name}-password").count():
        page.fill(f"#f-{name}-password", f"{username}-pass1")
    if reason:
        page.fill(f"#f-{name}-reason", reason)
    step.locator("button[type=submit]").click()


def _advance_deviation(site: dict[str, Any], number: str) -> int:
    """Classify, investigate and approve the auto-raised deviation through the quality service (its own journey
    is tests/browser/test_quality_journey.py); the close stays for the browser."""
    from pharmos.quality import service as quality
    from tests.quality import factories as qf

    found = quality.list_deviations(actor=site["qa.li"], query=number, open_only=False)
    deviation_id = next(d.id for d in found if d.number == number)
    quality.classify_deviation(actor=site["qa.zhang"], deviation_id=deviation_id, classification="minor",
                               severity=2, occurrence=1, detectability=1,
                               rationale="pH 探头漂移，复测合格", due_on=None)
    qf.sign(site["qa.zhang"], deviation_id, "classify")
    who = qf.investigator()
    quality.assign_investigator(actor=site["qa.zhang"], deviation_id=deviation_id, username=who.username)
    qf.sign(who, deviation_id, "start_investigation")
    qf.record_full_investigation(who, deviation_id)
    qf.sign(who, deviation_id, "submit")
    qf.sign(site["qa.li"], deviation_id, "approve")
    return deviation_id


def test_operator_executes_on_the_tablet_and_qa_reviews_closes_the_deviation_and_releases(
        chromium: Any, batch_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    server, batch, setup = batch_server["base"], batch_server["batch"], batch_server["setup"]
    execute = f"{server}/batches/{batch.id}/execute"
    operator = setup.operator.username

    # given: the operator opens the batch on the tablet; only the dispensing step shows, the container field focused
    context, page = _as(chromium, server, operator)
    page.goto(execute)
    expect(page.locator("#step")).to_have_attribute("data-step", "1.1")
    expect(page.locator("#f-dispense-1-container_number")).to_be_focused()
    shot(page, "batches-01-tablet-dispense")

    # when: each line is weighed by scanning (scanner = typing + Enter) the container and the balance
    for line_no, code, gross, tare in (("1", "RM-TRIS", "1.612", "0.412"), ("2", "RM-NACL", "1.312", "0.412")):
        page.locator(f"#f-dispense-{line_no}-container_number").fill(setup.containers[code])
        page.locator(f"#f-dispense-{line_no}-container_number").press("Enter")
        expect(page.locator(f"#f-dispense-{line_no}-balance_number")).to_be_focused()
        page.locator(f"#f-dispense-{line_no}-balance_number").fill(batch_server["balance"])
        page.locator(f"#f-dispense-{line_no}-gross").fill(gross)
        page.locator(f"#f-dispense-{line_no}-tare").fill(tare)
        expect(page.locator(f"#dispense-feedback-{line_no}")).to_contain_text("✓")
        page.click(f"#dispense-{line_no}-button")
        expect(page.locator(f"#complete-{line_no}")).to_be_visible()
    label = page.locator("a[data-label]").first
    label_response = page.request.get(server + str(label.get_attribute("href")))
    assert label_response.status == 200 and label_response.headers["content-type"] == "application/pdf"
    expect(page.locator("#ready-to-sign")).to_be_visible()
    page.fill("#f-sign-password", f"{operator}-pass1")
    page.click("#sign-step")

    # then: the critical step 2.1 is next
    expect(page.locator("#step")).to_have_attribute("data-step", "2.1")
    expect(page.locator("#sign-blockers")).to_be_visible()

    # when: the equipment is scanned and the values typed; the pH is out of its 6.8–7.2 limits
    page.fill("#f-equipment-number", setup.equipment_number)
    page.press("#f-equipment-number", "Enter")
    expect(page.locator("#equipment-scans")).to_contain_text(setup.equipment_number)
    page.fill("#f-entry-EQ_TIME-value", "30")
    page.press("#f-entry-EQ_TIME-value", "Enter")
    expect(page.locator("#p-EQ_TIME [data-within]")).to_have_attribute("data-within", "yes")
    page.select_option("#f-entry-COLUMN_OK-value", "pass")
    page.locator("#entry-COLUMN_OK-form button[type=submit]").click()
    page.fill("#f-entry-PH-value", "7.45")
    # then: the tablet says it is out of limit, in words, before anything is sent
    expect(page.locator("#entry-PH-form .limit-feedback")).to_contain_text("✗")
    shot(page, "batches-02-tablet-out-of-limit")
    page.locator("#entry-PH-form button[type=submit]").click()
    expect(page.locator("#p-PH [data-within]")).to_have_attribute("data-within", "no")
    expect(page.locator("#on-hold")).to_be_visible()
    deviation = str(page.locator("#step [data-deviation]").first.get_attribute("data-deviation"))
    shot(page, "batches-03-tablet-deviation-raised")
    context.close()

    # when: the QA manager resumes the batch (the deviation is in hand)
    context, page = _as(chromium, server, "qa.li")
    page.goto(f"{server}/batches/{batch.id}")
    _transition(page, "resume", "qa.li", reason="偏差已登记，允许继续执行")
    expect(page.locator(".lothead [data-state]").first).to_have_attribute("data-state", "in_progress")
    context.close()

    # when: the operator signs the step, a second operator verifies it
    context, page = _as(chromium, server, operator)
    page.goto(execute)
    page.fill("#f-sign-password", f"{operator}-pass1")
    page.click("#sign-step")
    expect(page.locator("#step-tabs, #step").first).to_be_visible()
    context.close()
    verifier = setup.verifier.username
    context, page = _as(chromium, server, verifier, width=800, height=1280)  # portrait tablet
    page.goto(f"{execute}?step={next(s.id for s in batch.steps if s.code == '2.1')}")
    expect(page.locator("#verify-form")).to_be_visible()
    shot(page, "batches-04-tablet-verify-portrait")
    page.fill("#f-verify-password", f"{verifier}-pass1")
    page.click("#verify-step")
    context.close()

    # when: the operator performs the last step, records the yield and completes the execution
    context, page = _as(chromium, server, operator)
    page.goto(execute)
    expect(page.locator("#step")).to_have_attribute("data-step", "2.2")
    page.select_option("#f-entry-MODE-value", "step")
    page.locator("#entry-MODE-form button[type=submit]").click()
    expect(page.locator("#p-MODE [data-within]")).to_have_attribute("data-within", "yes")
    page.fill("#f-sign-password", f"{operator}-pass1")
    page.click("#sign-step")
    expect(page.locator("#no-step")).to_be_visible()
    page.goto(f"{server}/batches/{batch.id}")
    page.fill("#f-yield-actual_yield", "480")
    page.click("#record-yield")
    expect(page.locator("#actual-yield")).to_contain_text("480")
    _transition(page, "complete", operator)
    expect(page.locator(".lothead [data-state]").first).to_have_attribute("data-state", "in_review")
    context.close()

    # when: QA reviews the exception on the review page; release is blocked by the open deviation
    context, page = _as(chromium, server, "qa.zhang")
    page.goto(f"{server}/batches/{batch.id}/review")
    expect(page.locator(f'[data-deviation="{deviation}"]').first).to_be_visible()
    shot(page, "batches-05-review-by-exception")
    for form in page.locator("form[id^=review-]").all():
        form.locator("textarea").fill("已评估：pH 探头漂移，复校后复测合格，见偏差调查。")
        form.locator("button[type=submit]").click()
    expect(page.locator("#exceptions [data-exception-state=open]")).to_have_count(0)
    context.close()

    # when: the deviation is investigated and approved (quality service), and QA closes it in the quality pages
    deviation_id = _advance_deviation(batch_server["site"], deviation)
    context, page = _as(chromium, server, "qa.li")
    page.goto(f"{server}/quality/deviations/{deviation_id}")
    _transition(page, "close", "qa.li", reason="调查完成，无产品影响，偏差关闭")
    expect(page.locator('.lothead [data-state="closed"]')).to_be_visible()

    # when: QA releases the batch with a signature
    page.goto(f"{server}/batches/{batch.id}/review")
    expect(page.locator("#releasable")).to_be_visible()
    _transition(page, "release", "qa.li", reason="批记录审核完毕，放行")
    expect(page.locator(".lothead [data-state]").first).to_have_attribute("data-state", "released")
    shot(page, "batches-06-released")

    # then: the batch record PDF opens
    pdf = page.request.get(f"{server}/batches/{batch.id}/record.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    context.close()

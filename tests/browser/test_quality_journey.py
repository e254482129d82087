"""Quality journey in a real browser: an operator reports a deviation with a scanned lot, QA classifies it, the
investigator finds the root cause and signs, QA approves with a signature, a CAPA is implemented and signed by
its owner, QA records its effectiveness and closes it, and the deviation is closed (药品GMP 第二百五十条;
ICH Q10 3.2.2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.browser.test_journeys import CHROMIUM, CHROMIUM_ARGS, SECRET, fresh_database, served, shot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def quality_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The real app on a fresh SQLite database with a quarantined lot of culture medium and the quality people."""
    from pharmos.core.db import get_database
    from tests.materials.factories import (
        approved_material,
        approved_supplier,
        location_tree,
        person,
        received_lot,
    )

    with fresh_database(tmp_path_factory, "quality-browser") as url:
        clerk = person("wh.zhao", "warehouse", "赵磊")
        qa = person("qa.li", "qa_manager", "李娜")
        person("qa.zhang", "qa_specialist", "张伟")
        person("op.liu", "operator", "刘洋")
        person("sup.wu", "production_supervisor", "吴主管")
        location_tree(clerk)
        medium = approved_material(clerk, qa, code="RM-CHO-MED", storage_condition="2-8C", name_zh="CHO 细胞培养基")
        supplier = approved_supplier(clerk, qa, [medium.code], code="SUP-GIBCO")
        lot = received_lot({}, material_code=medium.code, supplier_id=supplier.id, receiver=clerk,
                           location_code="CR-A01", transport_min_c="3", transport_max_c="6")
        get_database().dispose()
        with served(url, SECRET) as base:
            yield {"base": base, "lot": lot.number}


@pytest.fixture(scope="module")
def chromium(quality_server: dict[str, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _as(chromium: Any, server: str, username: str) -> tuple[Any, Any]:
    """A new browser session (a 10-inch tablet in landscape, Chinese) signed in as ``username``."""
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


def _state(page: Any) -> str:
    return str(page.locator(".lothead [data-state]").first.get_attribute("data-state"))


def test_report_investigate_approve_capa_and_close_a_deviation(chromium: Any,
                                                               quality_server: dict[str, str]) -> None:
    from zoneinfo import ZoneInfo

    from pharmos.core.clock import site_today, utcnow
    from pharmos.core.config import get_settings

    server, lot = quality_server["base"], quality_server["lot"]
    zone = ZoneInfo(get_settings().site_timezone)  # people type the site's wall-clock time
    discovered = (utcnow() - timedelta(hours=2)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")

    # given: the operator opens the report form from the quality menu
    context, page = _as(chromium, server, "op.liu")
    page.click("nav.sidenav >> text=偏差")
    page.wait_for_url(f"{server}/quality/deviations")
    page.click("text=报告偏差")
    page.wait_for_url(f"{server}/quality/deviations/new")
    # when: he describes it and scans the lot, but forgets the immediate action
    page.fill("#f-title", "CHO 培养基冷库温度偏离")
    page.fill("#f-description", "冷库 CR-A01 温度记录仪显示 9.6 °C，持续 40 分钟，超出 2–8 °C 储存条件。")
    page.fill("#f-area", "一号仓库 冷库")
    page.fill("#f-discovered_at", discovered)
    page.select_option("#f-links-0-type", "lot")
    page.fill("#f-links-0-reference", lot)
    page.select_option("#f-links-1-type", "batch")
    page.fill("#f-links-1-reference", "B2611-017")
    page.click("#report")
    # then: the missing immediate action is named beside its field and everything typed is kept
    page.wait_for_selector("#e-immediate_action")
    assert page.input_value("#f-links-0-reference") == lot
    shot(page, "quality-01-report-refused")

    # when: the immediate action is added and the form sent again
    page.fill("#f-immediate_action", "将该批培养基移至备用冷库并挂待处理标识，通知 QA。")
    page.click("#report")
    # then: the deviation is reported with the lot and batch linked (and so on hold)
    page.wait_for_url(f"{server}/quality/deviations/*")
    deviation_url = page.url.split("?")[0].split("#")[0]
    number = page.locator("#deviation-number").inner_text()
    assert _state(page) == "reported"
    assert page.locator(f'[data-link="lot:{lot}"]').count() == 1
    assert page.locator('[data-link="batch:B2611-017"]').count() == 1
    shot(page, "quality-02-reported")
    context.close()

    # when: the QA specialist finds it in her inbox, classifies it and assigns the investigator
    context, page = _as(chromium, server, "qa.zhang")
    page.click("nav.sidenav >> text=偏差")
    page.click('.tabs [data-preset="reported"]')
    page.wait_for_url(f"{server}/quality/deviations?state=reported")
    assert page.locator("#deviations tbody tr", has_text=number).count() == 1
    shot(page, "quality-03-list-awaiting-classification")
    page.click("nav.sidenav >> text=我的质量任务")
    page.wait_for_url(f"{server}/quality/tasks")
    task = page.locator('#tasks tr[data-action="classify"]', has_text=number)
    assert task.count() == 1
    shot(page, "quality-03-inbox")
    task.locator("a.btn").click()
    page.wait_for_url(deviation_url)
    page.select_option("#f-classification-classification", "major")
    page.select_option("#f-classification-severity", "4")
    page.select_option("#f-classification-occurrence", "2")
    page.select_option("#f-classification-detectability", "3")
    page.fill("#f-classification-rationale", "储存温度超限可能影响培养基性能，涉及后续生产批次。")
    page.click("#classification button[type=submit]")
    page.wait_for_selector("#risk-priority")
    assert page.locator("#risk-priority").inner_text() == "24"
    _sign(page, "classify", "qa.zhang")
    page.wait_for_selector('.lothead [data-state="classified"]')
    page.fill("#f-investigator-username", "sup.wu")
    page.click("#investigator-form button[type=submit]")
    page.wait_for_selector("#investigator >> text=sup.wu")
    shot(page, "quality-04-classified")
    context.close()

    # when: the investigator starts; before the impact is assessed, submitting says why it cannot be done
    context, page = _as(chromium, server, "sup.wu")
    page.goto(deviation_url)
    _sign(page, "start_investigation", "sup.wu")
    page.wait_for_selector('.lothead [data-state="investigating"]')
    assert "影响评估" in page.locator("#why-submit").inner_text()
    assert page.locator("#transition-submit button[disabled]").count() == 1
    whys = ["冷库温度超限", "压缩机停机 40 分钟", "压缩机过载保护跳闸", "冷凝器翅片积尘导致散热不良",
            "冷凝器清洁未列入预防性维护计划"]
    for index, answer in enumerate(whys, start=1):
        page.fill(f"#f-investigation-why_{index}", answer)
    page.select_option("#f-investigation-root_cause_category", "machine")
    page.fill("#f-investigation-root_cause", "冷凝器清洁未纳入预防性维护计划，积尘导致压缩机过载停机。")
    page.select_option("#f-investigation-product_impact", "no")
    page.fill("#f-investigation-impact_assessment",
              "超限 40 分钟，最高 9.6 °C；稳定性数据支持 25 °C 下 24 小时，培养基质量不受影响。")
    page.fill("#f-investigation-conclusion", "该批培养基可继续使用；需将冷凝器清洁纳入预防性维护。")
    page.click("#save-investigation")
    page.wait_for_selector("#transition-submit button[type=submit]")
    shot(page, "quality-05-investigation")
    _sign(page, "submit", "sup.wu", reason="调查完成，提交 QA 审批")
    page.wait_for_selector('.lothead [data-state="pending_approval"]')
    context.close()

    # when: the QA manager approves the investigation with her signature and plans the CAPA
    context, page = _as(chromium, server, "qa.li")
    page.goto(deviation_url)
    approve = page.locator("#transition-approve")
    assert "电子签名" in approve.inner_text()
    page.fill("#f-approve-password", "qa.li-pass1")
    page.fill("#f-approve-reason", "调查充分，结论合理")
    shot(page, "quality-06-approve-signature")
    approve.locator("button[type=submit]").click()
    page.wait_for_selector('.lothead [data-state="approved"]')
    assert "李娜" in page.locator("#signatures").inner_text()
    page.click("#capa-new summary")
    page.select_option("#f-capa-kind", "corrective")
    page.fill("#f-capa-owner_username", "op.liu")
    page.fill("#f-capa-title", "将冷凝器清洁纳入冷库预防性维护计划")
    page.fill("#f-capa-due_on", (site_today() + timedelta(days=30)).isoformat())
    page.fill("#f-capa-effectiveness_check_days", "0")
    page.fill("#f-capa-effectiveness_criteria", "维护计划已更新并执行一次，冷库温度无超限报警。")
    page.click("#capa-form button[type=submit]")
    page.wait_for_url(f"{server}/quality/capas/*")
    capa_url = page.url.split("?")[0].split("#")[0]
    assert _state(page) == "open"
    # then: the deviation cannot be closed while its CAPA is open
    page.goto(deviation_url)
    assert "CAPA" in page.locator("#why-close").inner_text()
    context.close()

    # when: the owner implements the CAPA and signs it
    context, page = _as(chromium, server, "op.liu")
    page.goto(capa_url)
    page.fill("#f-implementation-summary", "已修订冷库预防性维护计划，增加每月冷凝器清洁，并完成首次清洁。")
    page.click("#save-implementation")
    page.wait_for_selector("#transition-implement button[type=submit]")
    _sign(page, "implement", "op.liu", reason="措施已实施")
    page.wait_for_selector('.lothead [data-state="implemented"]')
    shot(page, "quality-07-capa-implemented")
    context.close()

    # when: QA records the effectiveness check (due today) and closes the CAPA, then the deviation
    context, page = _as(chromium, server, "qa.li")
    page.goto(capa_url)
    page.fill("#f-effectiveness-result", "维护计划已执行，冷库温度连续记录均在 2–8 °C 范围内，无报警。")
    page.select_option("#f-effectiveness-effective", "yes")
    page.click("#save-effectiveness")
    page.wait_for_selector("#transition-close button[type=submit]")
    _sign(page, "close", "qa.li", reason="措施有效")
    page.wait_for_selector('.lothead [data-state="closed"]')
    # the owner's implementation signature still holds after QA's effectiveness check (21 CFR 11.70)
    assert page.locator("#signatures .sig--invalid").count() == 0
    assert page.locator("#signatures .sig--valid").count() == 2
    shot(page, "quality-08-capa-closed")
    page.goto(deviation_url)
    _sign(page, "close", "qa.li", reason="CAPA 已关闭，偏差关闭")
    # then: the deviation is closed, every signature valid, its timeline tells the story
    page.wait_for_selector('.lothead [data-state="closed"]')
    assert page.locator("#signatures .sig--invalid").count() == 0
    assert page.locator("#signatures .sig--valid").count() == 3  # submitted, approved, closed
    assert page.locator('#timeline [data-kind="signature"]').count() == 3
    shot(page, "quality-09-deviation-closed")
    page.goto(f"{server}/")
    assert page.locator('[data-figure="deviations_open"] .figure__value').inner_text() == "0"
    shot(page, "quality-10-dashboard")
    context.close()

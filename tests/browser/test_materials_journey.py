"""Materials journey in a real browser: receive with a scanner, QC tests, QA releases with a signature, print labels."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.browser.test_journeys import CHROMIUM, CHROMIUM_ARGS, SECRET, fresh_database, served, shot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def plant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The real app on a fresh SQLite database with a cold room, an approved 2–8 °C material and an open order."""
    from pharmos.core.clock import site_today
    from pharmos.core.db import get_database
    from pharmos.materials import service as materials
    from pharmos.materials.receiving import OrderLineInput
    from tests.materials.factories import approved_material, approved_supplier, location_tree, person

    with fresh_database(tmp_path_factory, "materials-browser") as url:
        clerk = person("wh.zhao", "warehouse", "赵磊")
        person("qc.sun", "qc_analyst", "孙悦")
        qa = person("qa.li", "qa_manager", "李娜")
        location_tree(clerk)
        medium = approved_material(clerk, qa, code="RM-CHO-MED", storage_condition="2-8C", name_zh="CHO 细胞培养基",
                                   name_en="CHO cell culture medium", shelf_life_days=540, retest_interval_days=180)
        supplier = approved_supplier(clerk, qa, [medium.code], code="SUP-GIBCO")
        order = materials.create_purchase_order(
            actor=clerk, supplier_id=supplier.id,
            lines=[OrderLineInput(material_code=medium.code, quantity="40", unit="kg",
                                  due_on=site_today() + timedelta(days=2))])
        get_database().dispose()
        with served(url, SECRET) as base:
            yield {"base": base, "order": order.number}


@pytest.fixture(scope="module")
def chromium(plant_server: dict[str, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _tablet(chromium: Any) -> Any:
    # A 10-inch tablet in landscape, Chinese locale: the warehouse default.
    return chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def _scan(page: Any, text: str) -> None:
    """What a barcode scanner does: type the code, then press Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_receive_with_a_scanner_test_release_with_signature_and_print_labels(chromium: Any,
                                                                             plant_server: dict[str, str]) -> None:
    from pharmos.core.clock import site_today

    server = plant_server["base"]
    expiry = (site_today() + timedelta(days=500)).isoformat()
    made = (site_today() - timedelta(days=20)).isoformat()

    # given: the warehouse clerk opens the receiving screen; the order field has the focus
    clerk = _tablet(chromium)
    page = clerk.new_page()
    sign_in(page, server, "wh.zhao", "wh.zhao-pass1")
    page.wait_for_url(f"{server}/")
    page.click("nav.sidenav >> text=收货")
    page.wait_for_url(f"{server}/receiving")
    assert _focused(page) == "f-order"
    shot(page, "materials-01-receiving")

    # when: everything is scanned or typed, Enter moving from field to field, no mouse
    _scan(page, plant_server["order"])
    page.wait_for_selector("#receipt-form")
    assert _focused(page) == "f-supplier_lot"  # the order's only line is already chosen
    _scan(page, "GB-2611-0457")
    assert _focused(page) == "f-quantity"
    for value in ["40", "kg", "4", made, "", ""]:  # quantity, unit, containers, made, expiry left empty, retest
        _scan(page, value)
    assert _focused(page) == "f-location_code"
    for value in ["CR-A01", "DN-88231", "3.1", "6.4", "TL-0042", ""]:
        _scan(page, value)  # Enter in the last field submits
    # then: the missing expiry date is named at its field, everything typed is kept, the focus waits there
    page.wait_for_selector("#e-expires_on")
    assert page.locator("#e-expires_on").inner_text() == "必须填写有效期至。"
    assert page.input_value("#f-supplier_lot") == "GB-2611-0457"
    assert _focused(page) == "f-expires_on"
    shot(page, "materials-02-receiving-refused")

    # when: the expiry date is scanned and the form sent again
    _scan(page, expiry)
    page.keyboard.press("Enter")  # retest date: empty, from the material's interval
    page.click("#receive")
    # then: the lot page shows the new lot in quarantine with its four numbered containers
    page.wait_for_url(f"{server}/lots/*")
    lot_url = page.url.split("?")[0]
    lot_number = page.locator("#lot-number").inner_text()
    assert page.locator(".lothead .status").inner_text() == "待验"
    assert page.locator("#containers tbody tr").count() == 4
    assert f"{lot_number}-C04" in page.locator("#containers").inner_text()
    shot(page, "materials-03-lot-quarantine")
    clerk.close()

    # when: QC starts testing
    qc = _tablet(chromium)
    page = qc.new_page()
    sign_in(page, server, "qc.sun", "qc.sun-pass1")
    page.wait_for_url(f"{server}/")
    page.goto(lot_url)
    page.click("#transition-start_testing button[type=submit]")
    # then
    page.wait_for_selector(".lothead .status--under_test")
    assert page.locator(".lothead .status").inner_text() == "检验中"
    qc.close()

    # when: QA releases the lot with her electronic signature
    qa = _tablet(chromium)
    page = qa.new_page()
    sign_in(page, server, "qa.li", "qa.li-pass1")
    page.wait_for_url(f"{server}/")
    page.goto(lot_url)
    release = page.locator("#transition-release")
    assert "电子签名: 放行" in release.inner_text()  # the meaning is shown before signing
    page.fill("#f-release-password", "qa.li-pass1")
    page.fill("#f-release-reason", "检验合格，符合质量标准")
    shot(page, "materials-04-release-signature")
    release.locator("button[type=submit]").click()
    # then: released, signed by her, usable
    page.wait_for_selector(".lothead .status--released")
    assert page.locator(".lothead .status").inner_text() == "已放行"
    signature = page.locator("#signatures .sig--valid")
    assert "李娜" in signature.inner_text() and "放行" in signature.inner_text()
    assert page.locator("#usable").count() == 1
    shot(page, "materials-05-lot-released")

    # when: she prints the labels
    href = page.get_attribute("#print-labels", "href")
    assert href is not None
    labels = page.request.get(f"{server}{href}")
    # then: a PDF the browser shows inline
    assert labels.status == 200
    assert labels.headers["content-type"] == "application/pdf"
    assert labels.body().startswith(b"%PDF")
    page.goto(f"{server}/stock/expiry")
    shot(page, "materials-06-expiry-dashboard")
    qa.close()

"""Materials web pages: they render for a viewer, refuse bad input next to the field and write nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.materials import service as materials
from pharmos.materials.receiving import OrderLineInput
from tests.conftest import password_of
from tests.materials.factories import (
    approved_material,
    approved_supplier,
    location_tree,
    qc_user,
    received_lot,
    site_people,
    warehouse_user,
)
from tests.test_web_pages import HTML, csrf_of, sign_in


@pytest.fixture
def plant(sqlite_url: str) -> dict[str, Any]:
    """People, locations, an approved 2–8 °C material from an approved supplier, an open order and one lot."""
    people = site_people()
    clerk = warehouse_user(people)
    qa = people["qa.li"]
    location_tree(clerk)
    material = approved_material(clerk, qa, code="RM-MEDIUM", storage_condition="2-8C", name_zh="CHO培养基")
    supplier = approved_supplier(clerk, qa, [material.code])
    order = materials.create_purchase_order(
        actor=clerk, supplier_id=supplier.id,
        lines=[OrderLineInput(material_code=material.code, quantity="20", unit="kg",
                              due_on=site_today() + timedelta(days=3))])
    lot = received_lot(people, material_code=material.code, supplier_id=supplier.id, containers=2,
                       location_code="CR-A01", transport_min_c="3", transport_max_c="6", receiver=clerk)
    return {"people": people, "clerk": clerk, "material": material, "supplier": supplier, "order": order,
            "lot": lot}


@pytest.fixture
def client(plant: dict[str, Any]) -> TestClient:
    from pharmos.app import create_app

    return TestClient(create_app())


def _lot_count(actor: Actor) -> int:
    return len(materials.list_lots(actor=actor, limit=500))


def test_materials_pages_render_for_a_viewer(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    lot, material, supplier, order = plant["lot"], plant["material"], plant["supplier"], plant["order"]
    paths = ["/materials", f"/materials/{material.id}", "/suppliers", f"/suppliers/{supplier.id}",
             "/purchase-orders", f"/purchase-orders/{order.id}", "/lots", "/lots?state=quarantine",
             "/lots?flagged=1", f"/lots/{lot.id}", "/scan", "/stock", "/stock?group_by=location",
             "/stock?group_by=material", "/stock/movements", "/stock/movements?pending=1", "/stock/expiry",
             "/locations", "/cycle-counts", "/"]
    # when
    pages = {path: client.get(path, headers=HTML) for path in paths}
    # then
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(paths, 200)
    detail = pages[f"/lots/{lot.id}"].text
    assert lot.number in detail and 'class="status status--quarantine"' in detail and "待验" in detail
    assert f"{lot.number}-C02" in detail  # each container with its location
    assert "CHO培养基" in pages["/materials"].text and "2–8 °C（冷藏）" in pages["/materials"].text
    assert "合格供应商名录" in pages[f"/suppliers/{supplier.id}"].text
    assert 'data-figure="lots_awaiting_release"' in pages["/"].text
    # a viewer sees no forms that would change anything
    assert f'action="/lots/{lot.id}/issue"' not in detail
    assert 'href="/receiving"' not in pages["/lots"].text


def test_viewer_may_not_open_the_receiving_screen(client: TestClient) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    # when
    response = client.get("/receiving", headers=HTML)
    # then
    assert response.status_code == 403


def test_receiving_screen_opens_the_scanned_order_with_the_field_focused(client: TestClient,
                                                                        plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    # when
    empty = client.get("/receiving", headers=HTML)
    scanned = client.get(f"/receiving?order={plant['order'].number.lower()}", headers=HTML)
    unknown = client.get("/receiving?order=PO-1999-0001", headers=HTML)
    # then
    assert re.search(r'<input id="f-order"[^>]*autofocus', empty.text)
    assert scanned.status_code == 200 and 'data-enter-advances' in scanned.text
    assert re.search(r'<input id="f-supplier_lot"[^>]*autofocus', scanned.text)  # the only line is preselected
    assert unknown.status_code == 404
    assert re.search(r'id="e-order"[^>]*>没有该编号的未结采购订单', unknown.text)


def test_receiving_form_shows_each_problem_next_to_its_field_and_writes_nothing(
        client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    order = plant["order"]
    form = client.get(f"/receiving?order={order.number}", headers=HTML)
    before = _lot_count(plant["clerk"])
    # when: zero quantity, expiry before manufacture, no transport temperature for a 2–8 °C material
    response = client.post("/receiving", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "order_id": str(order.id), "order_line_id": str(order.lines[0].id),
        "supplier_lot": "CHO-2611-07", "quantity": "0", "unit": "kg", "containers": "1",
        "manufactured_on": "2026-10-01", "expires_on": "2026-09-01", "location_code": "CR-A01"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-quantity"[^>]*>数量必须大于零', response.text), response.text
    assert re.search(r'id="e-expires_on"[^>]*>', response.text)
    assert re.search(r'id="e-transport_min_c"[^>]*>冷链物料', response.text)
    assert 'value="CHO-2611-07"' in response.text  # the user's input is kept
    assert _lot_count(plant["clerk"]) == before


def test_receiving_with_an_unreadable_date_names_the_field(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    order = plant["order"]
    form = client.get(f"/receiving?order={order.number}", headers=HTML)
    before = _lot_count(plant["clerk"])
    # when
    response = client.post("/receiving", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "order_id": str(order.id), "order_line_id": str(order.lines[0].id),
        "supplier_lot": "CHO-2611-08", "quantity": "5", "unit": "kg", "expires_on": "next spring",
        "location_code": "CR-A01", "transport_min_c": "4", "transport_max_c": "6"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-expires_on"[^>]*>请输入日期', response.text)
    assert _lot_count(plant["clerk"]) == before


def test_receiving_through_the_page_opens_the_quarantined_lot(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    order = plant["order"]
    form = client.get(f"/receiving?order={order.number}", headers=HTML)
    expiry = site_today() + timedelta(days=400)
    # when
    response = client.post("/receiving", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form.text), "order_id": str(order.id), "order_line_id": str(order.lines[0].id),
        "supplier_lot": "CHO-2611-09", "quantity": "20", "unit": "kg", "containers": "4",
        "expires_on": expiry.isoformat(), "location_code": "CR-A01", "transport_min_c": "3.5",
        "transport_max_c": "7.2", "logger_id": "TL-0042"})
    lot_page = client.get(response.headers["location"], headers=HTML)
    # then
    assert response.status_code == 303 and response.headers["location"].startswith("/lots/")
    assert lot_page.status_code == 200 and "status--quarantine" in lot_page.text and 'id="received"' in lot_page.text
    lots = materials.list_lots(actor=plant["clerk"], material_code="RM-MEDIUM", limit=500)
    assert [lot.supplier_lot for lot in lots if lot.supplier_lot == "CHO-2611-09"] == ["CHO-2611-09"]


@pytest.mark.requirement("21 CFR 11.200(a)")
def test_release_with_a_wrong_password_shows_the_error_at_the_password_field(client: TestClient,
                                                                            plant: dict[str, Any]) -> None:
    # given
    lot = plant["lot"]
    apply_transition(actor=qc_user(plant["people"]), collection="lots", record_id=lot.id, name="start_testing")
    sign_in(client, "qa.li", password_of("qa.li"))
    page = client.get(f"/lots/{lot.id}", headers=HTML)
    assert f'action="/lots/{lot.id}/transitions/release"' in page.text
    # when
    refused = client.post(f"/lots/{lot.id}/transitions/release", headers=HTML,
                          data={"csrf_token": csrf_of(page.text), "password": "not-my-password",
                                "reason": "符合质量标准"})
    # then
    assert refused.status_code == 401
    assert re.search(r'id="e-password"[^>]*>', refused.text)
    assert 'value="符合质量标准"' in refused.text
    assert materials.get_lot(actor=plant["clerk"], lot_id=lot.id).state == "under_test"


def test_release_with_the_signature_shows_the_signed_lot(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    lot = plant["lot"]
    apply_transition(actor=qc_user(plant["people"]), collection="lots", record_id=lot.id, name="start_testing")
    sign_in(client, "qa.li", password_of("qa.li"))
    page = client.get(f"/lots/{lot.id}", headers=HTML)
    # when
    released = client.post(f"/lots/{lot.id}/transitions/release", headers=HTML,
                           data={"csrf_token": csrf_of(page.text), "password": password_of("qa.li"),
                                 "reason": "符合质量标准"})
    # then
    assert released.status_code == 200
    assert "status--released" in released.text and 'class="sig sig--valid"' in released.text
    assert "李娜" in released.text and "放行" in released.text


def test_scanning_a_container_number_opens_its_lot_and_an_unknown_code_is_named(client: TestClient,
                                                                              plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    lot = plant["lot"]
    # when
    found = client.get(f"/scan?code={lot.number}-C01", headers=HTML, follow_redirects=False)
    unknown = client.get("/scan?code=LOT-000000-999", headers=HTML)
    # then
    assert found.status_code == 303 and found.headers["location"] == f"/lots/{lot.id}"
    assert unknown.status_code == 404
    assert re.search(r'id="e-code"[^>]*>', unknown.text) and 'value="LOT-000000-999"' in unknown.text


def test_labels_are_served_as_an_inline_pdf(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    # when
    response = client.get(f"/lots/{plant['lot'].id}/labels.pdf", headers=HTML)
    # then
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    assert response.content.startswith(b"%PDF")


def test_bad_material_draft_shows_problems_at_the_fields_and_writes_nothing(client: TestClient,
                                                                          plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    form = client.get("/materials/new", headers=HTML)
    before = len(materials.list_materials(actor=plant["clerk"], limit=500))
    # when
    response = client.post("/materials/new", headers=HTML, data={
        "csrf_token": csrf_of(form.text), "code": "bad code", "name_zh": "磷酸盐缓冲液", "material_type": "buffer",
        "base_unit": "L", "storage_condition": "15-25C", "pack_units": "carton"})
    # then
    assert response.status_code == 422
    assert re.search(r'id="e-pack_units"[^>]*>', response.text)
    assert 'value="磷酸盐缓冲液"' in response.text
    assert len(materials.list_materials(actor=plant["clerk"], limit=500)) == before


def test_a_new_version_of_an_approved_material_starts_from_it(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    material = plant["material"]
    detail = client.get(f"/materials/{material.id}", headers=HTML)
    # when
    form = client.get(f"/materials/new?revise={material.id}", headers=HTML)
    # then
    assert f'href="/materials/new?revise={material.id}"' in detail.text
    assert 'value="RM-MEDIUM"' in form.text and 'value="CHO培养基"' in form.text
    assert re.search(r'<option value="2-8C" selected>', form.text)


def test_issuing_quarantined_stock_from_the_lot_page_is_refused_and_writes_nothing(
        client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    lot = plant["lot"]
    page = client.get(f"/lots/{lot.id}", headers=HTML)
    # when
    response = client.post(f"/lots/{lot.id}/issue", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "container_number": f"{lot.number}-C01", "quantity": "1", "unit": "kg",
        "reference": "BO-2026-0001"})
    # then
    assert response.status_code in (409, 422)
    assert 'class="banner banner--error"' in response.text
    assert materials.get_lot(actor=plant["clerk"], lot_id=lot.id).on_hand == lot.on_hand


def test_put_away_into_a_bin_of_the_wrong_storage_class_is_named_at_the_bin_field(
        client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    lot = plant["lot"]
    page = client.get(f"/lots/{lot.id}", headers=HTML)
    # when: a 2–8 °C material into an ambient bin
    response = client.post(f"/lots/{lot.id}/put-away", headers=HTML, data={
        "csrf_token": csrf_of(page.text), "container_number": f"{lot.number}-C01", "kind": "transfer",
        "to_location_code": "AMB-A01"})
    # then
    assert response.status_code in (409, 422)
    assert re.search(r'id="e-to_location_code"[^>]*>AMB-A01：储存类别 15-25C 不满足', response.text), response.text
    assert 'value="AMB-A01"' in response.text
    containers = materials.get_lot(actor=plant["clerk"], lot_id=lot.id).containers
    assert {c.location_code for c in containers} == {"CR-A01"}


def test_stock_on_hand_exports_as_a_csv_download(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    page = client.get("/stock?group_by=lot", headers=HTML)
    # when
    response = client.get("/stock/export?format=csv&group_by=lot&material=&location=", headers=HTML)
    # then
    assert 'href="/stock/export?format=xlsx&amp;group_by=lot' in page.text
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert plant["lot"].number in response.content.decode("utf-8-sig")


def test_cycle_count_is_opened_and_counted_on_its_page(client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    lot = plant["lot"]
    listing = client.get("/cycle-counts", headers=HTML)
    opened = client.post("/cycle-counts", headers=HTML, data={"csrf_token": csrf_of(listing.text),
                                                              "location_code": "CR-A01"})
    # when: one container counted with a variance, then a bad count
    counted = client.post(f"{opened.url.path}/lines", headers=HTML, data={
        "csrf_token": csrf_of(opened.text), "container_number": f"{lot.number}-C01", "counted": "4.5"})
    refused = client.post(f"{opened.url.path}/lines", headers=HTML, data={
        "csrf_token": csrf_of(opened.text), "container_number": f"{lot.number}-C02", "counted": "-1"})
    # then
    assert opened.status_code == 200 and "CC-" in opened.text
    assert counted.status_code == 200 and 'class="row--variance"' in counted.text
    assert refused.status_code == 422 and re.search(r'id="e-counted"[^>]*>盘点数量不能为负数', refused.text)


def test_qa_reviews_a_fefo_override_from_the_movement_list(client: TestClient, plant: dict[str, Any]) -> None:
    # given: two released lots; the clerk issues from the later-expiring one with a reason
    from tests.materials.factories import released_lot

    people, clerk, supplier = plant["people"], plant["clerk"], plant["supplier"]
    kw = {"material_code": "RM-MEDIUM", "supplier_id": supplier.id, "location_code": "CR-A01",
          "transport_min_c": "4", "transport_max_c": "5", "receiver": clerk}
    released_lot(people, expires_on=site_today() + timedelta(days=200), **kw)
    later = released_lot(people, expires_on=site_today() + timedelta(days=300), **kw)
    issued = materials.issue_stock(actor=clerk, container_number=later.containers[0].number, quantity="1",
                                   unit="kg", reference="BO-2026-0007", fefo_override_reason="需要同一批号")
    sign_in(client, "qa.li", password_of("qa.li"))
    pending = client.get("/stock/movements?pending=1", headers=HTML)
    # when
    reviewed = client.post(f"/stock/movements/{issued.id}/review", headers=HTML,
                           data={"csrf_token": csrf_of(pending.text), "comment": "已评估，可接受"})
    # then
    assert f'action="/stock/movements/{issued.id}/review"' in pending.text
    assert reviewed.status_code == 200
    assert materials.list_movements(actor=clerk, override_pending=True) == []


# ---------------------------------------------------------------- spreadsheet import page


def _upload(client: TestClient, kind: str, content: bytes | None, reason: str,
            filename: str = "opening-stock.csv") -> Any:
    page = client.get("/materials/import", headers=HTML)
    # No file chosen: the browser still sends the part, with an empty file name.
    files = {"file": (filename, content, "text/csv") if content is not None else ("", b"", "application/octet-stream")}
    return client.post(f"/materials/import/{kind}", headers=HTML, files=files,
                       data={"csrf_token": csrf_of(page.text), "reason": reason})


def test_warehouse_user_imports_opening_stock_from_the_import_page(client: TestClient, plant: dict[str, Any]) -> None:
    # given: one row of stock held at go-live, in two containers
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    expires = (site_today() + timedelta(days=400)).isoformat()
    content = ("material_code,quantity,unit,location_code,expires_on,containers,supplier_lot\n"
               f"RM-MEDIUM,12,kg,CR-A01,{expires},2,GO-LIVE-01\n").encode("utf-8-sig")
    before = _lot_count(plant["clerk"])
    # when
    response = _upload(client, "opening-stock", content, "系统上线期初库存")
    # then
    assert response.status_code == 200, response.text
    assert re.search(r'data-count="rows">1<', response.text)
    assert re.search(r'data-count="lots">1<', response.text)
    assert re.search(r'data-count="containers">2<', response.text)
    created = re.search(r'href="/scan\?code=([^"]+)"', response.text)
    assert created is not None
    lot = materials.find_by_scan(actor=plant["clerk"], code=created.group(1))
    assert lot.state == "quarantine" and lot.supplier_lot == "GO-LIVE-01" and len(lot.containers) == 2
    assert _lot_count(plant["clerk"]) == before + 1


def test_import_page_offers_the_exports_and_empty_templates_to_start_from(client: TestClient) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    page = client.get("/materials/import", headers=HTML)
    # when
    exported = client.get("/materials/export?format=csv")
    template = client.get("/materials/import/opening-stock-template.csv")
    unknown = client.get("/materials/import/nothing-template.csv", headers=HTML)
    listing = client.get("/materials", headers=HTML)
    # then
    assert 'id="import-link"' in listing.text and 'href="/materials/import" class=""' in listing.text  # side nav
    assert all(link in page.text for link in ('href="/materials/export?format=csv"', 'href="/stock/export?format=xlsx',
                                              'href="/materials/import/opening-stock-template.csv"'))
    assert exported.status_code == 200 and "RM-MEDIUM" in exported.content.decode("utf-8-sig")
    assert template.content.decode("utf-8-sig").splitlines() == [
        "material_code,quantity,unit,location_code,expires_on,containers,supplier_code,supplier_lot,"
        "manufactured_on,retest_on"]
    assert unknown.status_code == 404


@pytest.mark.requirement("EU GMP Annex 11 §5")
def test_refused_import_lists_every_row_problem_keeps_the_reason_and_writes_nothing(
        client: TestClient, plant: dict[str, Any]) -> None:
    # given: row 2 is fine, row 3 has no unit and a bad date, row 4 names a material never approved
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    expires = (site_today() + timedelta(days=400)).isoformat()
    content = ("material_code,quantity,unit,location_code,expires_on\n"
               f"RM-MEDIUM,5,kg,CR-A01,{expires}\n"
               "RM-MEDIUM,5,,CR-A01,2027-13-40\n"
               f"RM-NOPE,1,kg,CR-A01,{expires}\n").encode()
    before = _lot_count(plant["clerk"])
    # when
    response = _upload(client, "opening-stock", content, "期初库存导入")
    # then
    assert response.status_code == 422
    text = response.text
    assert "未导入任何数据" in text and 'id="row-problems"' in text
    problems = re.findall(r'<tr><td class="num">(\d+)</td><td><code>([^<]+)</code></td><td>([^<]+)</td></tr>', text)
    assert [(row, column) for row, column, _ in problems] == [("3", "unit"), ("3", "expires_on"),
                                                               ("4", "material_code")]
    assert "不是日期" in problems[1][2] and "RM-NOPE" in problems[2][2]
    assert 'value="期初库存导入"' in text  # the reason is kept on the refused form
    assert _lot_count(plant["clerk"]) == before


def test_material_import_names_the_file_and_reason_at_their_fields_and_each_bad_cell(
        client: TestClient, plant: dict[str, Any]) -> None:
    # given
    sign_in(client, "wh.zhao", password_of("wh.zhao"))
    bad_rows = ("code,name_zh,material_type,base_unit,storage_condition\n"
                "RM-NEW-1,新物料,raw_material,kg,2-8C\n"
                "RM-NEW-2,新物料二,raw_material,barrel,2-8C\n").encode()
    # when
    empty = _upload(client, "materials", None, "")
    refused = _upload(client, "materials", bad_rows, "导入物料主数据", filename="materials.csv")
    # then
    assert empty.status_code == 422
    assert re.search(r'id="e-file"[^>]*>请选择 .csv 或 .xlsx 文件', empty.text)
    assert re.search(r'id="e-reason"[^>]*>', empty.text)
    assert refused.status_code == 422
    assert re.search(r'<td class="num">3</td><td><code>base_unit</code></td>', refused.text)
    assert materials.list_materials(actor=plant["clerk"], query="RM-NEW") == []


def test_viewer_may_not_import(client: TestClient) -> None:
    # given
    sign_in(client, "viewer.chen", password_of("viewer.chen"))
    listing = client.get("/materials", headers=HTML)
    # when
    page = client.get("/materials/import", headers=HTML)
    upload = client.post("/materials/import/opening-stock", headers=HTML,
                         files={"file": ("x.csv", b"material_code\n", "text/csv")},
                         data={"csrf_token": csrf_of(listing.text), "reason": "x"})
    # then
    assert page.status_code == 403 and upload.status_code == 403
    assert 'href="/materials/import"' not in listing.text

"""The materials REST API: the warehouse journey end to end, and every bad input of issue #3 refused as problem+json.

Set-up goes through the API itself (as an integration would), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.auth import service as auth
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from tests.api_client import API, Api
from tests.conftest import password_of
from tests.materials.factories import as_time_passes

PROBLEM = "application/problem+json"
CLERK = "wh.zhao"  # warehouse: receives, puts away, issues
ANALYST = "qc.sun"  # qc_analyst: starts testing
QA = "qa.li"  # qa_manager: approves materials and suppliers, releases lots
CLERK_QA = "wh.ma"  # warehouse + qa_specialist: may release, but not what they received


@pytest.fixture
def api(site: dict[str, Actor], system: Actor) -> Api:
    from pharmos.app import create_app

    for username, roles, name in [(CLERK, ["warehouse"], "赵刚"), (ANALYST, ["qc_analyst"], "孙丽"),
                                  (CLERK_QA, ["warehouse", "qa_specialist"], "马骏")]:
        auth.create_user(actor=system, username=username, full_name=name, password=password_of(username),
                         roles=roles)
    return Api(TestClient(create_app()))


def assert_problem(response: Any, status: int | tuple[int, ...], field: str | None = None) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    if field is not None:
        named = [e["field"] for e in body.get("errors", [])]
        assert any(field in name for name in named), body
    return body


# ---------------------------------------------------------------- set-up through the API

TODAY = site_today()


def warehouse(api: Api) -> None:
    """Site HD → WH1 → a room-temperature zone (receiving and store bins) and a cold room."""
    for body in [
        {"code": "HD", "name": "华东基地", "kind": "site", "storage_class": "15-25C"},
        {"code": "WH1", "name": "一号仓库", "kind": "warehouse", "parent_code": "HD", "storage_class": "15-25C"},
        {"code": "RT", "name": "常温区", "kind": "zone", "parent_code": "WH1", "storage_class": "15-25C"},
        {"code": "RCV-01", "name": "收货暂存位", "kind": "bin", "parent_code": "RT", "storage_class": "15-25C"},
        {"code": "A-01", "name": "常温货位 A-01", "kind": "bin", "parent_code": "RT", "storage_class": "15-25C"},
        {"code": "CR", "name": "冷库", "kind": "zone", "parent_code": "WH1", "storage_class": "2-8C"},
        {"code": "CR-01", "name": "冷库货位 CR-01", "kind": "bin", "parent_code": "CR", "storage_class": "2-8C"},
    ]:
        api.ok(api.post(CLERK, "/locations", body), 201)


def approved_material(api: Api, code: str = "NACL", **fields: Any) -> dict[str, Any]:
    body = {"code": code, "name_zh": "氯化钠", "name_en": "Sodium chloride", "material_type": "raw_material",
            "base_unit": "kg", "storage_condition": "15-25C", "shelf_life_days": 1095, "retest_interval_days": 365,
            **fields}
    material = api.ok(api.post(CLERK, "/materials", body), 201)
    approved = api.post(QA, f"/materials/{material['id']}/transitions/approve",
                        {"password": password_of(QA), "meaning": "approved"})
    assert api.ok(approved) == {"state": "approved"}
    return material  # type: ignore[no-any-return]


def approved_supplier(api: Api, material_code: str = "NACL", code: str = "SUP-MERCK") -> dict[str, Any]:
    supplier = api.ok(api.post(CLERK, "/suppliers", {"code": code, "name": "默克化工", "name_en": "Merck"}), 201)
    api.ok(api.put(QA, f"/suppliers/{supplier['id']}/approvals/{material_code}",
                   {"status": "approved", "reason": "Audit passed"}))
    return supplier  # type: ignore[no-any-return]


def purchase_order(api: Api, supplier_id: int, material_code: str = "NACL", quantity: str = "100",
                   unit: str = "kg") -> dict[str, Any]:
    body = {"supplier_id": supplier_id, "lines": [{"material_code": material_code, "quantity": quantity,
                                                    "unit": unit, "due_on": TODAY.isoformat()}]}
    return api.ok(api.post(CLERK, "/purchase-orders", body), 201)  # type: ignore[no-any-return]


def receipt_line(order: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"order_line_id": order["lines"][0]["id"], "supplier_lot": "S-2401", "quantity": "50", "unit": "kg",
            "containers": 2, "manufactured_on": (TODAY - timedelta(days=30)).isoformat(),
            "expires_on": (TODAY + timedelta(days=700)).isoformat(), **fields}


def receive(api: Api, order: dict[str, Any], *lines: dict[str, Any], username: str = CLERK) -> Any:
    return api.post(username, "/receipts", {"order_id": order["id"], "location_code": "RCV-01",
                                            "delivery_note": "DN-001", "lines": list(lines)})


def received_lot(api: Api, *, username: str = CLERK, **line: Any) -> dict[str, Any]:
    """One approved material, an approved supplier, a PO and a receipt: the new lot (quarantine)."""
    warehouse(api)
    approved_material(api)
    supplier = approved_supplier(api)
    order = purchase_order(api, supplier["id"])
    received = api.ok(receive(api, order, receipt_line(order, **line), username=username), 201)
    return received["lots"][0]  # type: ignore[no-any-return]


def release(api: Api, lot_id: int, username: str = QA, password: str | None = None) -> Any:
    return api.post(username, f"/lots/{lot_id}/transitions/release",
                    {"password": password or password_of(username), "meaning": "released",
                     "reason": "COA and QC results conform"})


def start_testing(api: Api, lot_id: int) -> None:
    assert api.ok(api.post(ANALYST, f"/lots/{lot_id}/transitions/start_testing", {})) == {"state": "under_test"}


def released_lot(api: Api, **line: Any) -> dict[str, Any]:
    lot = received_lot(api, **line)
    start_testing(api, lot["id"])
    assert api.ok(release(api, lot["id"])) == {"state": "released"}
    return lot


def nothing_received(api: Api) -> None:
    assert api.ok(api.get(QA, "/lots"))["items"] == []
    assert api.ok(api.get(QA, "/receipts"))["items"] == []
    assert api.ok(api.get(QA, "/stock/movements"))["items"] == []


# ---------------------------------------------------------------- the journey


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_material_to_issue_journey_keeps_the_on_hand_figures_right(api: Api) -> None:
    # given: an approved material from an approved supplier, ordered and received in two drums
    lot = received_lot(api)
    assert lot["state"] == "quarantine" and Decimal(lot["on_hand"]) == Decimal(50)
    drums = [c["number"] for c in lot["containers"]]
    assert len(drums) == 2
    start_testing(api, lot["id"])
    # when: QA releases it, the clerk puts both drums away, allocates 30 kg FEFO and issues them
    released = release(api, lot["id"])
    for drum in drums:
        api.ok(api.post(CLERK, "/stock/movements/put-away", {"container_number": drum, "to_location_code": "A-01"}),
               201)
    allocation = api.ok(api.post(CLERK, "/stock/allocate", {"material_code": "NACL", "quantity": 30000, "unit": "g",
                                                             "purpose": "BO-2026-0001", "reserve": True}))
    for line in allocation["lines"]:
        api.ok(api.post(CLERK, "/stock/movements/issue", {
            "container_number": line["container_number"], "quantity": line["quantity"], "unit": "kg",
            "reference": "BO-2026-0001", "reservation_id": line["reservation_id"]}), 201)
    held = api.ok(api.post(CLERK, "/stock/reservations", {"container_number": drums[1], "quantity": "5", "unit": "kg",
                                                          "purpose": "BO-2026-0002"}), 201)
    available_while_held = api.ok(api.get(CLERK, "/stock/on-hand", material_code="NACL", group_by="material"))
    cancelled = api.post(CLERK, f"/stock/reservations/{held['reservation_id']}/cancel", {"reason": "Batch postponed"})
    # then: released with a QA signature, 30 kg gone, 20 kg left in A-01, nothing reserved
    assert api.ok(released) == {"state": "released"}
    assert all(line["reservation_id"] for line in allocation["lines"])
    assert Decimal(available_while_held[0]["available"]) == Decimal(15)
    assert cancelled.status_code == 204, cancelled.text
    after = api.ok(api.get(QA, f"/lots/{lot['id']}"))
    assert after["state"] == "released" and after["use_problems"] == []
    assert [s["meaning"] for s in after["signatures"]] == ["released"]
    assert [(h["from_state"], h["to_state"]) for h in after["history"]] == [
        (None, "quarantine"), ("quarantine", "under_test"), ("under_test", "released")]
    assert Decimal(allocation["shortfall"]) == 0
    assert sum(Decimal(line["quantity"]) for line in allocation["lines"]) == Decimal(30)
    rows = api.ok(api.get(CLERK, "/stock/on-hand", material_code="NACL", group_by="location"))
    assert [(r["location_code"], Decimal(r["on_hand"])) for r in rows] == [("A-01", Decimal(20))]
    by_material = api.ok(api.get(CLERK, "/stock/on-hand", material_code="NACL", group_by="material"))
    assert [(Decimal(by_material[0][k])) for k in ("on_hand", "reserved", "available")] == [20, 0, 20]
    kinds = sorted(m["kind"] for m in api.ok(api.get(QA, f"/lots/{lot['id']}/movements"))["items"])
    assert kinds.count("receipt") == 2 and kinds.count("put_away") == 2 and "issue" in kinds


def test_material_draft_revision_needs_a_reason_and_changes_only_the_fields_sent(api: Api) -> None:
    # given
    draft = api.ok(api.post(CLERK, "/materials", {"code": "WFI", "name_zh": "注射用水", "material_type": "raw_material",
                                                   "base_unit": "L", "storage_condition": "15-25C"}), 201)
    # when
    without_reason = api.patch(CLERK, f"/materials/{draft['id']}", {"name_en": "Water for injection"})
    revised = api.patch(CLERK, f"/materials/{draft['id']}", {"name_en": "Water for injection",
                                                             "reason": "English name added"})
    # then
    assert_problem(without_reason, 422, "reason")
    body = api.ok(revised)
    assert body["name_en"] == "Water for injection" and body["name_zh"] == "注射用水" and body["state"] == "draft"


# ---------------------------------------------------------------- QA release through the transition endpoint


@pytest.mark.requirement("21 CFR 11.200(a)(1)")
def test_release_with_a_wrong_password_is_401_naming_password_and_leaves_the_lot(api: Api) -> None:
    # given
    lot = received_lot(api)
    start_testing(api, lot["id"])
    # when
    response = release(api, lot["id"], password="not-my-password")
    # then
    assert_problem(response, 401, "password")
    after = api.ok(api.get(QA, f"/lots/{lot['id']}"))
    assert after["state"] == "under_test" and after["signatures"] == []


@pytest.mark.requirement("EU GMP Part I 2.11")
def test_the_receiver_cannot_release_the_lot_they_received(api: Api) -> None:
    # given: a clerk who also holds the QA release right receives the lot
    lot = received_lot(api, username=CLERK_QA)
    start_testing(api, lot["id"])
    # when
    by_receiver = release(api, lot["id"], username=CLERK_QA)
    by_clerk_without_the_right = release(api, lot["id"], username=CLERK)
    # then
    refusal = assert_problem(by_receiver, (403, 409))["detail"].lower()
    assert "author" in refusal or "receiv" in refusal, refusal
    assert_problem(by_clerk_without_the_right, 403)
    assert api.ok(api.get(QA, f"/lots/{lot['id']}"))["state"] == "under_test"


# ------------------------------------------------ bad inputs: each refused, naming the field, nothing written


BAD_RECEIPT_LINES = [  # (what is wrong, the line's fields, the field the problem must name)
    ("unknown unit", [{"unit": "furlong"}], "unit"),
    ("volume for a material kept in kg: no conversion", [{"unit": "L"}], "unit"),
    ("zero quantity", [{"quantity": "0"}], "quantity"),
    ("negative quantity", [{"quantity": -5}], "quantity"),
    ("expiry before manufacture", [{"manufactured_on": (TODAY + timedelta(days=10)).isoformat(),
                                    "expires_on": (TODAY + timedelta(days=5)).isoformat()}], "expires_on"),
    ("one supplier lot twice in one receipt", [{"quantity": "20"}, {"quantity": "30"}], "supplier_lot"),
]


def test_each_bad_receipt_line_is_refused_naming_the_field_and_writes_nothing(api: Api) -> None:
    # given
    warehouse(api)
    approved_material(api)
    order = purchase_order(api, approved_supplier(api)["id"])
    for what, lines, field in BAD_RECEIPT_LINES:
        # when
        response = receive(api, order, *(receipt_line(order, **line) for line in lines))
        # then
        body = assert_problem(response, 422, field)
        assert all(e["field"].startswith("lines[") for e in body["errors"]), (what, body)
        nothing_received(api)
    assert Decimal(api.ok(api.get(QA, f"/purchase-orders/{order['id']}"))["lines"][0]["received_base"]) == 0


def test_unknown_material_or_unit_on_master_data_is_refused_naming_the_field(api: Api) -> None:
    # given
    warehouse(api)
    approved_material(api)
    supplier = approved_supplier(api)
    # when
    unknown_material = api.post(CLERK, "/purchase-orders", {"supplier_id": supplier["id"], "lines": [
        {"material_code": "NO-SUCH", "quantity": "10", "unit": "kg", "due_on": TODAY.isoformat()}]})
    unknown_unit = api.post(CLERK, "/materials", {"code": "PBS", "name_zh": "磷酸盐缓冲液",
                                                  "material_type": "raw_material", "base_unit": "gallon",
                                                  "storage_condition": "15-25C"})
    # then
    assert_problem(unknown_material, (404, 422), "material_code")
    assert_problem(unknown_unit, 422, "base_unit")
    assert api.ok(api.get(QA, "/purchase-orders"))["items"] == []
    assert [m["code"] for m in api.ok(api.get(QA, "/materials"))["items"]] == ["NACL"]


def test_receiving_from_a_supplier_not_on_the_approved_list_is_refused(api: Api) -> None:
    # given: the supplier was approved when ordering, then disqualified by QA
    warehouse(api)
    approved_material(api)
    supplier = approved_supplier(api)
    order = purchase_order(api, supplier["id"])
    api.ok(api.put(QA, f"/suppliers/{supplier['id']}/approvals/NACL",
                   {"status": "disqualified", "reason": "Audit found data integrity gaps"}))
    # when
    response = receive(api, order, receipt_line(order))
    # then
    assert_problem(response, 422)
    nothing_received(api)


def test_put_away_into_a_bin_of_the_wrong_storage_class_is_refused(api: Api) -> None:
    # given: a room-temperature material and a 2–8 °C bin
    lot = released_lot(api)
    drum = lot["containers"][0]["number"]
    # when
    response = api.post(CLERK, "/stock/movements/put-away", {"container_number": drum, "to_location_code": "CR-01"})
    # then
    assert_problem(response, 422, "to_location_code")
    after = api.ok(api.get(QA, f"/lots/{lot['id']}"))
    assert {c["location_code"] for c in after["containers"]} == {"RCV-01"}
    assert [m["kind"] for m in api.ok(api.get(QA, "/stock/movements", kind="put_away"))["items"]] == []


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_issue_of_quarantined_stock_is_refused(api: Api) -> None:
    # given
    lot = received_lot(api)
    # when
    response = api.post(CLERK, "/stock/movements/issue", {
        "container_number": lot["containers"][0]["number"], "quantity": "1", "unit": "kg", "reference": "BO-1"})
    # then
    assert_problem(response, (409, 422))
    assert Decimal(api.ok(api.get(QA, f"/lots/{lot['id']}"))["on_hand"]) == Decimal(50)
    assert api.ok(api.get(QA, "/stock/movements", kind="issue"))["items"] == []


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_issue_of_expired_stock_is_refused(api: Api) -> None:
    # given: a released lot whose expiry date has since passed (time moved on; no service rewinds it)
    lot = released_lot(api)
    as_time_passes(lot["id"], expires_on=TODAY - timedelta(days=1))
    # when
    response = api.post(CLERK, "/stock/movements/issue", {
        "container_number": lot["containers"][0]["number"], "quantity": "1", "unit": "kg", "reference": "BO-1"})
    # then
    body = assert_problem(response, (409, 422))
    assert "expir" in body["detail"].lower() or any("expir" in e["message"].lower() for e in body.get("errors", []))
    assert api.ok(api.get(QA, "/stock/movements", kind="issue"))["items"] == []


def test_issue_of_more_than_on_hand_or_a_zero_quantity_is_refused(api: Api) -> None:
    # given
    lot = released_lot(api)
    drum = lot["containers"][0]["number"]  # 25 kg
    # when
    too_much = api.post(CLERK, "/stock/movements/issue", {"container_number": drum, "quantity": "25.5", "unit": "kg",
                                                          "reference": "BO-1"})
    zero = api.post(CLERK, "/stock/movements/issue", {"container_number": drum, "quantity": 0, "unit": "kg",
                                                      "reference": "BO-1"})
    # then
    assert_problem(too_much, (409, 422), "quantity")
    assert_problem(zero, 422, "quantity")
    assert Decimal(api.ok(api.get(QA, f"/lots/{lot['id']}"))["on_hand"]) == Decimal(50)


# ---------------------------------------------------------------- permissions, pagination, scanning


@pytest.mark.requirement("21 CFR 11.10(d)")
def test_a_viewer_cannot_receive_and_nothing_is_written(api: Api) -> None:
    # given
    warehouse(api)
    approved_material(api)
    order = purchase_order(api, approved_supplier(api)["id"])
    # when
    response = receive(api, order, receipt_line(order), username="viewer.chen")
    # then
    body = assert_problem(response, 403)
    assert "materials.receive" in body["detail"]
    nothing_received(api)


def test_lists_walk_in_pages_with_filters(api: Api) -> None:
    # given: five materials, two of them approved
    for n in range(5):
        api.ok(api.post(CLERK, "/materials", {"code": f"BUF-{n}", "name_zh": f"缓冲液{n}",
                                               "material_type": "raw_material", "base_unit": "L",
                                               "storage_condition": "15-25C"}), 201)
    everything = api.ok(api.get(QA, "/materials", limit=500))["items"]
    for material in everything[:2]:
        api.ok(api.post(QA, f"/materials/{material['id']}/transitions/approve",
                        {"password": password_of(QA), "meaning": "approved"}))
    # when
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.ok(api.get(QA, "/materials", **params))
        assert len(page["items"]) <= 2
        seen += [m["code"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    approved = api.ok(api.get(QA, "/materials", state="approved"))["items"]
    # then
    assert seen == [f"BUF-{n}" for n in range(5)]
    assert [m["code"] for m in approved] == ["BUF-0", "BUF-1"]
    assert_problem(api.get(QA, "/materials", cursor="not-a-cursor"), 422, "cursor")


def test_scanning_a_container_label_finds_its_lot(api: Api) -> None:
    # given
    lot = received_lot(api)
    # when
    by_container = api.get(CLERK, "/lots/scan", code=lot["containers"][1]["number"])
    by_lot = api.get(CLERK, "/lots/scan", code=lot["number"])
    unknown = api.get(CLERK, "/lots/scan", code="LOT-000000-999")
    # then
    assert api.ok(by_container)["id"] == lot["id"]
    assert api.ok(by_lot)["id"] == lot["id"]
    assert_problem(unknown, 404)


def test_lot_labels_are_a_pdf(api: Api) -> None:
    # given
    lot = received_lot(api)
    # when
    response = api.get(CLERK, f"/lots/{lot['id']}/labels.pdf")
    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


# ---------------------------------------------------------------- master data maintenance


@pytest.mark.requirement("EU GMP Annex 11 §9")
def test_supplier_changes_need_a_reason_and_a_cancelled_order_cannot_be_received(api: Api) -> None:
    # given
    warehouse(api)
    approved_material(api)
    supplier = approved_supplier(api)
    order = purchase_order(api, supplier["id"])
    # when
    unexplained = api.patch(CLERK, f"/suppliers/{supplier['id']}", {"contact": "王经理 021-5555"})
    explained = api.patch(CLERK, f"/suppliers/{supplier['id']}", {"contact": "王经理 021-5555",
                                                                  "reason": "New account manager"})
    cancelled = api.post(CLERK, f"/purchase-orders/{order['id']}/cancel", {"reason": "Ordered twice"})
    received = receive(api, order, receipt_line(order))
    # then
    assert_problem(unexplained, 422, "reason")
    assert api.ok(explained)["contact"] == "王经理 021-5555" and api.ok(explained)["name"] == "默克化工"
    assert api.ok(cancelled)["status"] == "cancelled"
    assert_problem(received, (409, 422))
    nothing_received(api)
    assert [a["status"] for a in api.ok(api.get(QA, f"/suppliers/{supplier['id']}"))["approvals"]] == ["approved"]


def test_location_changes_and_lookups(api: Api) -> None:
    # given
    warehouse(api)
    bins = api.ok(api.get(CLERK, "/locations", kind="bin"))["items"]
    a01 = next(b for b in bins if b["code"] == "A-01")
    # when
    renamed = api.patch(CLERK, f"/locations/{a01['id']}", {"name": "常温货位 A-01（避光）", "light_protected": True,
                                                           "reason": "Blackout curtain fitted"})
    wrong_class = api.patch(CLERK, f"/locations/{a01['id']}", {"storage_class": "tropical", "reason": "typo"})
    # then
    assert api.ok(renamed)["light_protected"] is True
    assert_problem(wrong_class, 422, "storage_class")
    fetched = api.ok(api.get(QA, f"/locations/{a01['id']}"))
    assert fetched["path"].endswith("A-01") and fetched["storage_class"] == "15-25C"
    assert sorted(b["code"] for b in bins) == ["A-01", "CR-01", "RCV-01"]


# ---------------------------------------------------------------- QA decisions on lots


@pytest.mark.requirement("21 CFR 11.200(a)(1)")
def test_a_cold_chain_excursion_blocks_release_until_qa_signs_the_assessment(api: Api) -> None:
    # given: a 2–8 °C resin that reached 12 °C in transport
    warehouse(api)
    approved_material(api, "PROTA", name_zh="Protein A 填料", storage_condition="2-8C", base_unit="L")
    supplier = approved_supplier(api, "PROTA")
    order = purchase_order(api, supplier["id"], "PROTA", "20", "L")
    received = api.ok(api.post(CLERK, "/receipts", {
        "order_id": order["id"], "location_code": "CR-01", "logger_id": "TL-88", "transport_min_c": 2,
        "transport_max_c": "12.5", "lines": [receipt_line(order, quantity="20", unit="L", containers=1)]}), 201)
    lot = received["lots"][0]
    start_testing(api, lot["id"])
    # when
    flagged = api.ok(api.get(QA, "/lots", flagged=True))["items"]
    refused = release(api, lot["id"])
    wrong_password = api.post(QA, f"/lots/{lot['id']}/qa-flag-assessment",
                              {"password": "guess", "reason": "Stability data cover 24 h at 25 °C"})
    assessed = api.post(QA, f"/lots/{lot['id']}/qa-flag-assessment",
                        {"password": password_of(QA), "reason": "Stability data cover 24 h at 25 °C"})
    released = release(api, lot["id"])
    # then
    assert [f["id"] for f in flagged] == [lot["id"]] and flagged[0]["qa_flag"]
    assert_problem(refused, 409)
    assert_problem(wrong_password, 401, "password")
    assert api.ok(assessed)["qa_flag_assessed"] is True
    assert api.ok(released) == {"state": "released"}
    assert api.ok(api.get(QA, "/lots", flagged=True))["items"] == []


@pytest.mark.requirement("EU GMP Part I 5.61")
def test_a_short_dated_lot_is_issued_only_after_qa_approves_its_use(api: Api) -> None:
    # given: released, but it expires in 10 days (inside the 30-day window)
    lot = released_lot(api, expires_on=(TODAY + timedelta(days=10)).isoformat(), containers=1)
    drum = lot["containers"][0]["number"]
    issue = {"container_number": drum, "quantity": "5", "unit": "kg", "reference": "BO-7"}
    # when
    before = api.post(CLERK, "/stock/movements/issue", issue)
    approval = api.post(QA, f"/lots/{lot['id']}/short-dated-approval",
                        {"password": password_of(QA), "reason": "Batch BO-7 finishes within 3 days"})
    after = api.post(CLERK, "/stock/movements/issue", issue)
    # then
    assert_problem(before, (409, 422))
    assert api.ok(approval)["short_dated_use_approved"] is True
    assert Decimal(api.ok(after, 201)["quantity"]) == Decimal(5)


@pytest.mark.requirement("EU GMP Part I 5.63")
def test_issuing_out_of_fefo_order_needs_a_reason_and_goes_to_qa_review(api: Api) -> None:
    # given: two released lots of one material; the second expires later
    warehouse(api)
    approved_material(api)
    supplier = approved_supplier(api)
    lots = []
    for n, days in ((1, 200), (2, 600)):
        order = purchase_order(api, supplier["id"], quantity="10")
        received = receive(api, order, receipt_line(order, supplier_lot=f"S-{n}", quantity="10", containers=1,
                                                    expires_on=(TODAY + timedelta(days=days)).isoformat()))
        lot = api.ok(received, 201)["lots"][0]
        start_testing(api, lot["id"])
        api.ok(release(api, lot["id"]))
        lots.append(lot)
    later = lots[1]["containers"][0]["number"]
    issue = {"container_number": later, "quantity": "2", "unit": "kg", "reference": "BO-9"}
    # when
    unexplained = api.post(CLERK, "/stock/movements/issue", issue)
    explained = api.ok(api.post(CLERK, "/stock/movements/issue",
                                {**issue, "fefo_override_reason": "Earlier drum is on the bottom pallet"}), 201)
    pending = api.ok(api.get(QA, "/stock/movements", override_pending=True))["items"]
    reviewed = api.post(QA, f"/stock/movements/{explained['id']}/review", {"comment": "Acceptable, same spec"})
    # then
    assert_problem(unexplained, 422, "fefo_override_reason")
    assert explained["fefo_override"] is True
    assert [m["id"] for m in pending] == [explained["id"]]
    assert api.ok(reviewed)["reviewed_by"] == QA
    assert api.ok(api.get(QA, "/stock/movements", override_pending=True))["items"] == []


def test_cycle_count_records_counts_and_its_variance_is_posted_on_approval(api: Api) -> None:
    # given: both drums (25 kg each) put away in A-01
    lot = released_lot(api)
    for container in lot["containers"]:
        api.ok(api.post(CLERK, "/stock/movements/put-away",
                        {"container_number": container["number"], "to_location_code": "A-01"}), 201)
    count = api.ok(api.post(CLERK, "/cycle-counts", {"location_code": "A-01"}), 201)
    # when
    first, second = (c["number"] for c in lot["containers"])
    api.ok(api.post(CLERK, f"/cycle-counts/{count['id']}/counts", {"container_number": first, "counted": "25"}))
    negative = api.post(CLERK, f"/cycle-counts/{count['id']}/counts", {"container_number": second, "counted": -1})
    counted = api.ok(api.post(CLERK, f"/cycle-counts/{count['id']}/counts",
                              {"container_number": second, "counted": "24.5"}))
    submitted = api.post(CLERK, f"/cycle-counts/{count['id']}/transitions/submit",
                         {"password": password_of(CLERK), "meaning": "performed"})
    approved = api.post(QA, f"/cycle-counts/{count['id']}/transitions/approve",
                        {"password": password_of(QA), "meaning": "approved"})
    # then
    assert_problem(negative, 422, "counted")
    variances = {line["container_number"]: Decimal(line["variance"]) for line in counted["lines"]}
    assert variances == {first: Decimal(0), second: Decimal("-0.5")}
    assert api.ok(submitted) == {"state": "submitted"} and api.ok(approved) == {"state": "approved"}
    assert Decimal(api.ok(api.get(QA, f"/lots/{lot['id']}"))["on_hand"]) == Decimal("49.5")
    assert api.ok(api.get(QA, f"/cycle-counts/{count['id']}"))["state"] == "approved"


# ---------------------------------------------------------------- reports, exports and imports


def upload(api: Api, username: str, path: str, content: bytes, filename: str, reason: str | None) -> Any:
    data = {"reason": reason} if reason is not None else {}
    return api.client.post(API + path, headers=api.headers(username), data=data,
                           files={"file": (filename, content, "text/csv")})


@pytest.mark.requirement("EU GMP Annex 11 §8.1")
def test_reports_export_as_json_csv_and_excel(api: Api) -> None:
    # given: a released lot expiring in 60 days
    lot = released_lot(api, expires_on=(TODAY + timedelta(days=60)).isoformat())
    # when
    report = api.get(QA, "/stock/expiry-report", within_days=90)
    report_csv = api.get(QA, "/stock/expiry-report", within_days=90, format="csv")
    on_hand_xlsx = api.get(QA, "/stock/on-hand/export", format="xlsx", material_code="NACL")
    materials_csv = api.get(QA, "/materials/export", format="csv")
    movements_csv = api.get(QA, f"/lots/{lot['id']}/movements/export")
    bad_format = api.get(QA, "/stock/on-hand/export", format="pdf")
    # then
    rows = api.ok(report)
    assert [(r["lot_number"], r["days_to_expiry"], Decimal(r["on_hand"])) for r in rows] == [
        (lot["number"], 60, Decimal(50))]
    assert report_csv.headers["content-type"].startswith("text/csv") and lot["number"] in report_csv.text
    assert "attachment" in report_csv.headers["content-disposition"]
    assert on_hand_xlsx.status_code == 200 and on_hand_xlsx.content[:2] == b"PK"
    assert materials_csv.status_code == 200 and "NACL" in materials_csv.text
    assert movements_csv.status_code == 200 and movements_csv.text.count("receipt") == 2
    assert_problem(bad_format, 422, "format")


def test_material_import_is_all_or_nothing_with_each_row_problem_named(api: Api) -> None:
    # given
    header = "code,name_zh,material_type,base_unit,storage_condition\n"
    bad = (header + "PBS,磷酸盐缓冲液,raw_material,L,15-25C\nTWEEN80,聚山梨酯80,excipient,gallon,15-25C\n").encode()
    good = (header + "PBS,磷酸盐缓冲液,raw_material,L,15-25C\nTWEEN80,聚山梨酯80,excipient,kg,15-25C\n").encode()
    # when
    refused = upload(api, CLERK, "/materials/import", bad, "materials.csv", "Go-live master data")
    no_reason = upload(api, CLERK, "/materials/import", good, "materials.csv", None)
    by_viewer = upload(api, "viewer.chen", "/materials/import", good, "materials.csv", "Go-live master data")
    written_after_refusals = api.ok(api.get(QA, "/materials"))["items"]
    imported = upload(api, CLERK, "/materials/import", good, "materials.csv", "Go-live master data")
    # then
    body = assert_problem(refused, 422)
    assert [e["field"] for e in body["errors"]] == ["row 3: base_unit"]
    assert_problem(no_reason, 422, "reason")
    assert_problem(by_viewer, 403)
    assert written_after_refusals == []
    assert api.ok(imported)["materials"] == 2
    assert sorted(m["code"] for m in api.ok(api.get(QA, "/materials", state="draft"))["items"]) == ["PBS", "TWEEN80"]


def test_opening_stock_import_lands_in_quarantine_and_refuses_a_wrong_bin(api: Api) -> None:
    # given
    warehouse(api)
    approved_material(api)
    expiry = (TODAY + timedelta(days=400)).isoformat()
    header = "material_code,quantity,unit,location_code,expires_on,containers\n"
    wrong_bin = f"{header}NACL,40,kg,CR-01,{expiry},2\n".encode()
    good = f"{header}NACL,40,kg,A-01,{expiry},2\n".encode()
    # when
    refused = upload(api, CLERK, "/stock/opening-import", wrong_bin, "opening.csv", "Go-live stock take")
    lots_after_refusal = api.ok(api.get(QA, "/lots"))["items"]
    imported = upload(api, CLERK, "/stock/opening-import", good, "opening.csv", "Go-live stock take")
    # then
    assert_problem(refused, 422, "row 2: location_code")
    assert lots_after_refusal == []
    assert api.ok(imported)["lots"] == 1 and api.ok(imported)["containers"] == 2
    [listed] = api.ok(api.get(QA, "/lots", material_code="NACL"))["items"]
    lot = api.ok(api.get(QA, f"/lots/{listed['id']}"))
    assert lot["state"] == "quarantine" and Decimal(lot["on_hand"]) == Decimal(40)
    assert [(c["location_code"], Decimal(c["quantity"])) for c in lot["containers"]] == [
        ("A-01", Decimal(20)), ("A-01", Decimal(20))]

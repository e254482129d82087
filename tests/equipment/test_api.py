"""The equipment REST API: each resource family end to end, and every bad input of issue #4 refused as problem+json.

The behaviour under test is driven through the API (as an integration or the shop-floor tablet
would); background states the test does not examine (qualification, a released instrument) are
reached through the services via tests/equipment/factories.py. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from tests.api_client import API, Api
from tests.equipment.factories import engineer, owner, qualify, technician, usable_equipment

PROBLEM = "application/problem+json"
ENG = "eng.sun"  # maintenance: registers equipment, records calibrations, plans and manages work orders
TECH = "tech.zhou"  # maintenance: carries out work orders
OWNER = "sup.ma"  # production supervisor: owns process equipment, closes its work orders
QA = "qa.li"  # qa_manager: releases equipment, approves calibrations and assessments, verifies repairs
QA_SPEC = "qa.zhang"  # qa_specialist: assesses out-of-tolerance impact
OP = "op.liu"  # operator: uses and cleans equipment, walks inspection rounds, reports faults
VIEWER = "viewer.chen"
TODAY = site_today()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # enough of a PNG for a stored photo


@pytest.fixture
def api(site: dict[str, Actor]) -> Api:
    from pharmos.app import create_app

    for make in (engineer, technician, owner):
        make()
    return Api(TestClient(create_app()))


def assert_problem(response: Any, status: int | tuple[int, ...], field: str | None = None) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    if field is not None:
        named = [e["field"] for e in body.get("errors", [])]
        assert field in named, body
    return body


# ---------------------------------------------------------------- set-up through the API


def bioreactor_class(api: Api) -> dict[str, Any]:
    return api.ok(api.post(ENG, "/equipment-classes", {  # type: ignore[no-any-return]
        "code": "bioreactor", "name_zh": "生物反应器", "name_en": "Bioreactor", "number_prefix": "BR",
        "requalification_interval_days": 365, "clean_hold_hours": 72, "dirty_hold_hours": 24}), 201)


def balance_class(api: Api) -> dict[str, Any]:
    return api.ok(api.post(ENG, "/equipment-classes", {  # type: ignore[no-any-return]
        "code": "balance", "name_zh": "天平", "name_en": "Balance", "number_prefix": "BAL", "is_instrument": True,
        "calibration_interval_days": 180}), 201)


def register(api: Api, class_code: str = "bioreactor", **fields: Any) -> Any:
    body = {"class_code": class_code, "name_zh": "2000L 一次性生物反应器", "name_en": "2000 L single-use bioreactor",
            "location": "B2-301", "manufacturer": "Sartorius", "model": "Biostat STR 2000", **fields}
    return api.post(ENG, "/equipment", body)


def balance(api: Api, **fields: Any) -> dict[str, Any]:
    """A registered analytical balance (commissioning, never calibrated), range 0-220 g, ± 0.001 g."""
    balance_class(api)
    body = {"name_zh": "分析天平", "name_en": "Analytical balance", "manufacturer": "Mettler Toledo",
            "model": "XPR225", "range_low": "0", "range_high": "220", "range_unit": "g", "tolerance": "0.001",
            **fields}
    return api.ok(register(api, "balance", **body), 201)  # type: ignore[no-any-return]


def calibration(equipment_id: int, *, as_left: str = "100.0004", result: str = "pass", comment: str = "",
                **fields: Any) -> dict[str, Any]:
    return {"equipment_id": equipment_id, "performed_on": (TODAY - timedelta(days=1)).isoformat(),
            "kind": "internal", "performed_by": "计量室 孙工", "reference_standard": "E2 砝码 100 g",
            "points": [{"nominal": "100", "as_found": "100.0002", "as_left": as_left}], "result": result,
            "comment": comment, **fields}


def logbook(api: Api, equipment_id: int) -> list[dict[str, Any]]:
    return api.ok(api.get(VIEWER, f"/equipment/{equipment_id}/logbook", limit=500))["items"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- equipment ledger


@pytest.mark.requirement("EU GMP Annex 15 §4.1")
def test_equipment_is_registered_qualified_released_cleaned_and_used_through_the_api(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a class and a registered bioreactor, owned by the production supervisor
    cls = bioreactor_class(api)
    created = api.ok(register(api, serial_number="SN-2401", owner_username=OWNER), 201)
    record = f"/equipment/{created['id']}"
    # when: it is qualified IQ → OQ → PQ, released by QA, cleaned, used for a batch and the use ended
    for phase in ("IQ", "OQ", "PQ"):
        api.ok(api.post(ENG, f"{record}/qualifications", {
            "phase": phase, "protocol_number": f"{phase}-BR-001",
            "completed_on": (TODAY - timedelta(days=3)).isoformat(), "passed": True,
            "performed_by": "验证部 王工"}), 201)
    offered = api.ok(api.get(QA, f"/equipment/{created['id']}/transitions"))
    released = api.transition(QA, "equipment", created["id"], "release_to_service", sign=True, meaning="approved")
    before_cleaning = api.ok(api.get(OP, f"{record}/usability"))
    cleaned = api.ok(api.post(OP, f"{record}/cleanings", {"procedure": "SOP-CL-001"}))
    in_use = api.ok(api.post(OP, f"{record}/use", {"reference": "BO-2026-0001", "activity": "Seed train N-1"}))
    ended = api.ok(api.post(OP, f"{record}/use/end", {"reference": "BO-2026-0001", "counter_value": "12.5"}))
    noted = api.ok(api.post(OP, f"{record}/logbook/notes", {"text": "Sensor cable re-seated"}), 201)
    # then
    assert cls["code"] == "bioreactor" and created["number"] == "EQ-BR-001" and created["state"] == "commissioning"
    assert created["owner"] == OWNER and created["class_name_en"] == "Bioreactor"
    assert next(t for t in offered if t["name"] == "release_to_service")["allowed"] is True
    assert api.ok(released) == {"state": "in_service"}
    assert [r["code"] for r in before_cleaning["reasons"]] == ["not_clean"]
    assert cleaned["clean_status"] == "clean" and cleaned["clean_expires_at"] is not None
    assert in_use["in_use_by"] == "BO-2026-0001"
    assert ended["in_use_by"] is None and ended["clean_status"] == "dirty" and Decimal(ended["usage_counter"]) == 12.5
    assert noted["kind"] == "note" and noted["actor"] == OP
    detail = api.ok(api.get(VIEWER, record))
    assert [q["phase"] for q in detail["qualifications"]] == ["IQ", "OQ", "PQ"]
    assert detail["state"] == "in_service" and [s["meaning"] for s in detail["signatures"]] == ["approved"]
    kinds = [e["kind"] for e in logbook(api, created["id"])]
    for kind in ("qualification", "status", "cleaned", "use_started", "use_ended", "counter", "note"):
        assert kind in kinds


def test_equipment_lists_filter_and_walk_in_pages_and_the_label_scan_finds_it(api: Api) -> None:
    # given: three bioreactors and one balance
    bioreactor_class(api)
    numbers = [api.ok(register(api, location=f"B2-30{i}"), 201)["number"] for i in range(3)]
    scale = balance(api)
    # when
    first = api.ok(api.get(VIEWER, "/equipment", limit=2))
    second = api.ok(api.get(VIEWER, "/equipment", limit=2, cursor=first["next_cursor"]))
    by_class = api.ok(api.get(VIEWER, "/equipment", class_code="balance"))
    by_text = api.ok(api.get(VIEWER, "/equipment", q="B2-302"))
    by_state = api.ok(api.get(VIEWER, "/equipment", state="in_service"))
    never_calibrated = api.ok(api.get(VIEWER, "/equipment", calibration="any", class_code="balance"))
    scanned = api.ok(api.get(OP, f"/equipment/by-scan/{numbers[1].lower()}"))
    unknown = api.get(OP, "/equipment/by-scan/EQ-NOPE-001")
    bad_cursor = api.get(VIEWER, "/equipment", cursor="not-a-cursor")
    # then
    walked = [e["number"] for e in first["items"] + second["items"]]
    assert walked == [*numbers, scale["number"]] and second["next_cursor"] is None
    assert [e["number"] for e in by_class["items"]] == [scale["number"]]
    assert [e["number"] for e in by_text["items"]] == [numbers[2]]
    assert by_state["items"] == []
    assert never_calibrated["items"][0]["usability"]["usable"] is False
    assert scanned["number"] == numbers[1]
    assert_problem(unknown, 404)
    assert_problem(bad_cursor, 422, "cursor")


def test_equipment_changes_need_a_reason_and_change_only_the_fields_sent(api: Api) -> None:
    # given
    bioreactor_class(api)
    created = api.ok(register(api), 201)
    # when
    unexplained = api.patch(ENG, f"/equipment/{created['id']}", {"location": "B3-101"})
    moved = api.ok(api.patch(ENG, f"/equipment/{created['id']}", {"location": "B3-101",
                                                                  "reason": "Moved to the new suite"}))
    # then
    assert_problem(unexplained, 422, "reason")
    assert moved["location"] == "B3-101" and moved["name_zh"] == created["name_zh"]


def test_a_duplicate_serial_number_for_the_same_model_is_refused_and_nothing_is_written(api: Api) -> None:
    # given
    bioreactor_class(api)
    api.ok(register(api, serial_number="SN-2401"), 201)
    # when
    duplicate = register(api, serial_number="SN-2401", location="B2-302")
    other_model = register(api, serial_number="SN-2401", model="Biostat STR 500")
    # then
    assert_problem(duplicate, 422, "serial_number")
    assert other_model.status_code == 201, other_model.text
    listed = api.ok(api.get(VIEWER, "/equipment"))["items"]
    assert [(e["model"], e["location"]) for e in listed] == [("Biostat STR 2000", "B2-301"),
                                                             ("Biostat STR 500", "B2-301")]


def test_bad_register_fields_are_named_and_nothing_is_written(api: Api) -> None:
    # given
    bioreactor_class(api)
    # when
    responses = {
        "class_code": register(api, class_code="no_such_class"),
        "number": register(api, number="BR-1"),
        "range_high": register(api, range_low="10", range_high="5"),
        "tolerance": register(api, tolerance="-0.1"),
        "name_zh": api.post(ENG, "/equipment", {"class_code": "bioreactor"}),
    }
    # then
    for field, response in responses.items():
        assert_problem(response, (404, 422), field if response.status_code == 422 else None)
    assert api.ok(api.get(VIEWER, "/equipment"))["items"] == []


# ---------------------------------------------------------------- usability and use


@pytest.mark.requirement("EU GMP Part I 3.41")
def test_usability_names_every_reason_with_its_code_in_chinese_and_english(api: Api) -> None:
    # given: a balance just registered (commissioning, never calibrated, not qualified)
    scale = balance(api)
    # when
    answer = api.ok(api.get(OP, f"/equipment/{scale['id']}/usability"))
    planned = api.ok(api.get(OP, f"/equipment/{scale['id']}/usability",
                             at=(utcnow() + timedelta(days=7)).isoformat(), for_reference="BO-2026-0009"))
    past = api.get(OP, f"/equipment/{scale['id']}/usability", at=(utcnow() - timedelta(days=1)).isoformat())
    # then
    assert answer["usable"] is False and answer["number"] == scale["number"]
    assert [r["code"] for r in answer["reasons"]] == ["commissioning", "calibration_missing", "not_qualified"]
    for reason in answer["reasons"]:
        assert reason["message_en"] and reason["message_zh"] and reason["message_en"] != reason["message_zh"]
    assert any("尚未放行" in r["message_zh"] for r in answer["reasons"])
    assert [r["code"] for r in planned["reasons"]] == [r["code"] for r in answer["reasons"]]
    assert_problem(past, 422, "at")


@pytest.mark.requirement("EU GMP Part I 5.20")
def test_usability_reports_in_use_dirty_and_clean_hold_reasons(api: Api, site: dict[str, Actor]) -> None:
    # given: a released, clean bioreactor in use by one batch
    reactor = usable_equipment(site)
    api.ok(api.post(OP, f"/equipment/{reactor.id}/use", {"reference": "BO-2026-0001"}))
    # when
    for_same_batch = api.ok(api.get(OP, f"/equipment/{reactor.id}/usability", for_reference="BO-2026-0001"))
    for_other_batch = api.ok(api.get(OP, f"/equipment/{reactor.id}/usability", for_reference="BO-2026-0002"))
    api.ok(api.post(OP, f"/equipment/{reactor.id}/use/end", {"reference": "BO-2026-0001"}))
    after_use = api.ok(api.get(OP, f"/equipment/{reactor.id}/usability"))
    in_four_days = api.ok(api.get(OP, f"/equipment/{reactor.id}/usability",
                                  at=(utcnow() + timedelta(days=4)).isoformat()))
    # then
    assert for_same_batch["usable"] is True and for_same_batch["reasons"] == []
    assert [r["code"] for r in for_other_batch["reasons"]] == ["in_use"]
    assert "BO-2026-0001" in for_other_batch["reasons"][0]["message_zh"]
    assert [r["code"] for r in after_use["reasons"]] == ["not_clean"]
    assert [r["code"] for r in in_four_days["reasons"]] == ["not_clean", "dirty_hold_expired"]


@pytest.mark.requirement("EU GMP Part I 3.44")
def test_starting_use_of_equipment_that_may_not_be_used_is_refused_and_nothing_is_written(api: Api) -> None:
    # given: a balance in commissioning, never calibrated or qualified
    scale = balance(api)
    entries_before = logbook(api, scale["id"])
    # when
    response = api.post(OP, f"/equipment/{scale['id']}/use", {"reference": "BO-2026-0001"})
    # then: refused with every reason, no use recorded
    body = assert_problem(response, 409)
    for text in ("commissioning", "No passing calibration", "performance qualification"):
        assert text in body["detail"]
    assert api.ok(api.get(VIEWER, f"/equipment/{scale['id']}"))["in_use_by"] is None
    assert logbook(api, scale["id"]) == entries_before


def test_a_bad_use_reference_is_named(api: Api, site: dict[str, Actor]) -> None:
    # given
    reactor = usable_equipment(site)
    # when
    response = api.post(OP, f"/equipment/{reactor.id}/use", {"reference": "batch #1 (retry)"})
    # then
    assert_problem(response, 422, "reference")
    assert api.ok(api.get(VIEWER, f"/equipment/{reactor.id}"))["in_use_by"] is None


def test_a_negative_or_falling_counter_reading_is_refused_naming_value_and_nothing_is_written(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a bioreactor whose counter reads 120 h
    reactor = usable_equipment(site)
    api.ok(api.post(OP, f"/equipment/{reactor.id}/counter-readings", {"value": "120"}))
    entries_before = logbook(api, reactor.id)
    # when
    negative = api.post(OP, f"/equipment/{reactor.id}/counter-readings", {"value": "-5"})
    falling = api.post(OP, f"/equipment/{reactor.id}/counter-readings", {"value": "100"})
    not_a_number = api.post(OP, f"/equipment/{reactor.id}/counter-readings", {"value": "lots"})
    # then
    assert_problem(negative, 422, "value")
    assert "120" in assert_problem(falling, 422, "value")["errors"][0]["message"]
    assert_problem(not_a_number, 422, "value")
    assert Decimal(api.ok(api.get(VIEWER, f"/equipment/{reactor.id}"))["usage_counter"]) == 120
    assert logbook(api, reactor.id) == entries_before


def test_marking_dirty_needs_a_reason_and_the_logbook_walks_in_pages(api: Api, site: dict[str, Actor]) -> None:
    # given
    reactor = usable_equipment(site)
    # when
    unexplained = api.post(OP, f"/equipment/{reactor.id}/dirty", {})
    dirty = api.ok(api.post(OP, f"/equipment/{reactor.id}/dirty", {"reason": "Media spill during sampling"}))
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.ok(api.get(VIEWER, f"/equipment/{reactor.id}/logbook", **params))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    only_cleaning = api.ok(api.get(VIEWER, f"/equipment/{reactor.id}/logbook", kind="cleaned"))
    # then
    assert_problem(unexplained, 422, "reason")
    assert dirty["clean_status"] == "dirty"
    walked = [e["id"] for page in pages for e in page]
    assert walked == sorted(walked) and len(walked) == len(set(walked)) and len(pages) >= 3
    assert pages[-1][-1]["kind"] == "marked_dirty"
    assert [e["kind"] for e in only_cleaning["items"]] == ["cleaned"]


# ---------------------------------------------------------------- documents and attachments


@pytest.mark.requirement("EU GMP Annex 11 §7.1")
def test_documents_are_stored_with_their_digest_and_served_as_uploaded(api: Api) -> None:
    # given
    bioreactor_class(api)
    created = api.ok(register(api), 201)
    manual = "操作手册 v2 — Biostat".encode()
    # when
    uploaded = api.ok(api.upload(ENG, f"/equipment/{created['id']}/documents",
                                 files={"file": ("操作手册.txt", manual, "text/plain")},
                                 data={"kind": "manual", "title": "操作手册"}), 201)
    listed = api.ok(api.get(VIEWER, f"/equipment/{created['id']}/documents"))
    downloaded = api.get(VIEWER, f"/attachments/{uploaded['id']}")
    empty = api.upload(ENG, f"/equipment/{created['id']}/documents", files={"file": ("x.txt", b"", "text/plain")},
                       data={"kind": "manual", "title": "Empty"})
    by_operator = api.upload(OP, f"/equipment/{created['id']}/documents",
                             files={"file": ("m.txt", b"x", "text/plain")}, data={"kind": "manual", "title": "M"})
    # then
    assert uploaded["sha256"] == hashlib.sha256(manual).hexdigest() and uploaded["size"] == len(manual)
    assert [d["id"] for d in listed] == [uploaded["id"]]
    assert downloaded.status_code == 200 and downloaded.content == manual
    assert downloaded.headers["content-type"].startswith("text/plain")
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''" in downloaded.headers["content-disposition"]
    assert downloaded.headers["x-content-sha256"] == hashlib.sha256(manual).hexdigest()
    assert_problem(empty, 422)
    assert_problem(by_operator, 403)
    assert len(api.ok(api.get(VIEWER, f"/equipment/{created['id']}/documents"))) == 1


# ---------------------------------------------------------------- calibrations and impact assessments


@pytest.mark.requirement("21 CFR 211.68(a)")
def test_a_passing_calibration_with_its_certificate_puts_the_instrument_in_tolerance(api: Api) -> None:
    # given
    scale = balance(api)
    certificate = b"%PDF-1.4 calibration certificate"
    # when
    recorded = api.ok(api.post(ENG, "/calibrations", calibration(scale["id"], kind="external",
                                                                certificate_number="CNAS-2026-118")), 201)
    attached = api.ok(api.upload(ENG, f"/calibrations/{recorded['id']}/certificates",
                                 files={"file": ("cert.pdf", certificate, "application/pdf")}), 201)
    approved = api.transition(QA, "calibrations", recorded["id"], "approve", sign=True, meaning="approved")
    fetched = api.ok(api.get(VIEWER, f"/calibrations/{recorded['id']}"))
    listed = api.ok(api.get(VIEWER, "/calibrations", equipment_id=scale["id"]))
    instrument = api.ok(api.get(VIEWER, f"/equipment/{scale['id']}"))
    calendar = api.ok(api.get(VIEWER, "/calibration-calendar", start=TODAY.isoformat(),
                              end=(TODAY + timedelta(days=200)).isoformat()))
    # then
    assert recorded["number"].startswith("CAL-") and recorded["result"] == "pass"
    assert recorded["points"][0]["as_left_within"] is True and recorded["points"][0]["unit"] == "g"
    assert api.ok(approved) == {"state": "approved"}
    assert fetched["state"] == "approved" and [c["id"] for c in fetched["certificates"]] == [attached["id"]]
    assert [c["id"] for c in listed["items"]] == [recorded["id"]]
    assert instrument["calibration_status"] == "in_tolerance"
    assert instrument["calibration_due_on"] == (TODAY - timedelta(days=1) + timedelta(days=180)).isoformat()
    assert any(e["kind"] == "calibration" and e["equipment_number"] == scale["number"] for e in calendar)


@pytest.mark.requirement("EU GMP Part I 3.41")
def test_a_pass_with_an_as_left_outside_tolerance_is_refused_naming_the_point_and_nothing_is_written(
        api: Api) -> None:
    # given: a balance with ± 0.001 g
    scale = balance(api)
    # when: 100.01 g left on a 100 g point, declared a pass
    response = api.post(ENG, "/calibrations", calibration(scale["id"], as_left="100.01", result="pass"))
    external_without_certificate = api.post(ENG, "/calibrations", calibration(scale["id"], kind="external"))
    no_points = api.post(ENG, "/calibrations", calibration(scale["id"], points=[]))
    # then
    assert_problem(response, 422, "points[0].as_left")
    assert_problem(external_without_certificate, 422, "certificate_number")
    assert_problem(no_points, 422, "points")
    assert api.ok(api.get(VIEWER, "/calibrations", equipment_id=scale["id"]))["items"] == []
    assert api.ok(api.get(VIEWER, f"/equipment/{scale['id']}"))["calibration_status"] == "never_calibrated"
    assert [e["kind"] for e in logbook(api, scale["id"])] == ["note"]


@pytest.mark.requirement("EU GMP Part I 3.41")
def test_a_failed_calibration_blocks_use_and_opens_an_impact_assessment_judged_through_the_api(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a released balance used for one batch
    scale = usable_equipment(site, "balance")
    api.ok(api.post(OP, f"/equipment/{scale.id}/use", {"reference": "BO-2026-0001"}))
    api.ok(api.post(OP, f"/equipment/{scale.id}/use/end", {"reference": "BO-2026-0001"}))
    # when: the next calibration fails, and the specialist judges the use and concludes
    failed = api.ok(api.post(ENG, "/calibrations", calibration(
        scale.id, as_left="100.02", result="fail", performed_on=TODAY.isoformat())), 201)
    usable = api.ok(api.get(OP, f"/equipment/{scale.id}/usability"))
    assessments = api.ok(api.get(QA_SPEC, "/impact-assessments", state="open"))["items"]
    assessment = api.ok(api.get(QA_SPEC, f"/impact-assessments/{failed['impact_assessment_id']}"))
    item = assessment["items"][0]
    early_submit = api.transition(QA_SPEC, "impact-assessments", assessment["id"], "submit", sign=True,
                                  meaning="performed")
    impact_without_comment = api.put(QA_SPEC, f"/impact-assessments/{assessment['id']}/items/{item['id']}",
                                     {"verdict": "impact"})
    judged = api.ok(api.put(QA_SPEC, f"/impact-assessments/{assessment['id']}/items/{item['id']}",
                            {"verdict": "no_impact", "comment": "Weighings re-checked on the reference balance"}))
    concluded = api.ok(api.put(QA_SPEC, f"/impact-assessments/{assessment['id']}/conclusion",
                               {"conclusion": "No batch affected."}))
    submitted = api.transition(QA_SPEC, "impact-assessments", assessment["id"], "submit", sign=True,
                               meaning="performed")
    closed = api.transition(QA, "impact-assessments", assessment["id"], "approve", sign=True, meaning="approved")
    # then
    assert failed["result"] == "fail" and failed["impact_assessment_number"].startswith("IA-")
    assert "calibration_failed" in [r["code"] for r in usable["reasons"]]
    assert [a["id"] for a in assessments] == [assessment["id"]]
    assert [i["reference"] for i in assessment["items"]] == ["BO-2026-0001"]
    assert_problem(early_submit, 409)
    assert_problem(impact_without_comment, 422, "comment")
    assert judged["items"][0]["verdict"] == "no_impact" and concluded["conclusion"] == "No batch affected."
    assert api.ok(submitted) == {"state": "assessed"} and api.ok(closed) == {"state": "closed"}


# ---------------------------------------------------------------- maintenance plans and work orders


def work_order(api: Api, equipment_id: int, **fields: Any) -> dict[str, Any]:
    body = {"equipment_id": equipment_id, "title": "更换搅拌密封", "kind": "corrective",
            "due_on": (TODAY + timedelta(days=3)).isoformat(),
            "tasks": [{"text": "Lock out / tag out", "mandatory": True},
                      {"text": "Replace the mechanical seal", "mandatory": True},
                      {"text": "Photograph the old seal", "mandatory": False}], **fields}
    return api.ok(api.post(ENG, "/work-orders", body), 201)  # type: ignore[no-any-return]


@pytest.mark.requirement("EU GMP Part I 3.34")
def test_a_work_order_cannot_be_completed_with_mandatory_items_unchecked(api: Api, site: dict[str, Actor]) -> None:
    # given: an assigned corrective work order, started, with findings but one mandatory item unchecked
    reactor = usable_equipment(site, owner_username=OWNER)
    order = work_order(api, reactor.id)
    record = f"/work-orders/{order['id']}"
    api.ok(api.put(ENG, f"{record}/assignment", {"username": TECH}))
    assert api.ok(api.transition(TECH, "work-orders", order["id"], "start")) == {"state": "in_progress"}
    tasks = order["tasks"]
    api.ok(api.put(TECH, f"{record}/tasks/{tasks[0]['id']}", {"done": True, "result": "LOTO applied"}))
    api.ok(api.put(TECH, f"{record}/findings", {"findings": "Seal worn; replaced."}))
    # when
    refused = api.transition(TECH, "work-orders", order["id"], "complete", sign=True, meaning="performed")
    # then: refused naming what is open, and the order stays in progress
    body = assert_problem(refused, (409, 422))
    assert "mandatory" in body["detail"]
    still = api.ok(api.get(VIEWER, record))
    assert still["state"] == "in_progress" and still["completed_at"] is None
    # when: the last mandatory item is done, labour logged, then completed and closed by the owner
    api.ok(api.put(TECH, f"{record}/tasks/{tasks[1]['id']}", {"done": True}))
    labour = api.ok(api.post(TECH, f"{record}/labour", {"technician": TECH, "hours": "2.5",
                                                        "worked_on": TODAY.isoformat()}), 201)
    too_long = api.post(TECH, f"{record}/labour", {"technician": TECH, "hours": "25", "worked_on": TODAY.isoformat()})
    completed = api.transition(TECH, "work-orders", order["id"], "complete", sign=True, meaning="performed")
    closed = api.transition(OWNER, "work-orders", order["id"], "close", sign=True, meaning="approved")
    # then
    assert [Decimal(entry["hours"]) for entry in labour["labour"]] == [Decimal("2.5")]
    assert_problem(too_long, 422, "hours")
    assert api.ok(completed) == {"state": "completed"} and api.ok(closed) == {"state": "closed"}
    closed_order = api.ok(api.get(VIEWER, record))
    assert closed_order["performed_by"] == TECH and [s["meaning"] for s in closed_order["signatures"]] == [
        "performed", "approved"]
    listed = api.ok(api.get(VIEWER, "/work-orders", equipment_id=reactor.id, state="closed"))
    assert [w["number"] for w in listed["items"]] == [order["number"]]


def test_work_order_tasks_are_recorded_only_while_in_progress(api: Api, site: dict[str, Actor]) -> None:
    # given: a planned (not started) work order
    reactor = usable_equipment(site)
    order = work_order(api, reactor.id)
    # when
    response = api.put(TECH, f"/work-orders/{order['id']}/tasks/{order['tasks'][0]['id']}", {"done": True})
    # then
    assert_problem(response, (409, 422))
    assert api.ok(api.get(VIEWER, f"/work-orders/{order['id']}"))["tasks"][0]["done"] is False


def test_preventive_plans_generate_their_due_work_orders_once(api: Api, site: dict[str, Actor]) -> None:
    # given: a calendar plan due today
    reactor = usable_equipment(site)
    plan = api.ok(api.post(ENG, "/maintenance-plans", {
        "equipment_id": reactor.id, "title": "季度预防性维护", "basis": "calendar", "interval_days": 90,
        "lead_days": 7, "first_due_on": TODAY.isoformat(), "estimated_hours": "4",
        "tasks": [{"text": "Inspect the agitator"}, {"text": "Check the load cells", "mandatory": False}]}), 201)
    no_tasks = api.post(ENG, "/maintenance-plans", {"equipment_id": reactor.id, "title": "Empty", "basis": "calendar",
                                                    "interval_days": 30, "tasks": []})
    # when
    generated = api.ok(api.post(ENG, "/work-orders/generate"))
    again = api.ok(api.post(ENG, "/work-orders/generate"))
    by_operator = api.post(OP, "/work-orders/generate")
    renamed = api.ok(api.patch(ENG, f"/maintenance-plans/{plan['id']}", {"title": "季度PM", "reason": "Shorter"}))
    # then
    assert plan["number"].startswith("PM-") and [t["mandatory"] for t in plan["tasks"]] == [True, False]
    assert_problem(no_tasks, 422, "tasks")
    assert len(generated["work_orders"]) == 1 and again["work_orders"] == []
    assert_problem(by_operator, 403)
    assert renamed["title"] == "季度PM"
    orders = api.ok(api.get(VIEWER, "/work-orders", kind="preventive"))["items"]
    assert [(o["number"], o["plan_number"]) for o in orders] == [(generated["work_orders"][0], plan["number"])]
    copied = api.ok(api.get(VIEWER, f"/work-orders/{orders[0]['id']}"))["tasks"]
    assert [(t["text"], t["mandatory"]) for t in copied] == [("Inspect the agitator", True),
                                                            ("Check the load cells", False)]
    assert [p["id"] for p in api.ok(api.get(VIEWER, "/maintenance-plans", equipment_id=reactor.id))["items"]] == [
        plan["id"]]


# ---------------------------------------------------------------- spare parts


def test_spare_parts_are_received_issued_to_a_work_order_and_returned(api: Api, site: dict[str, Actor]) -> None:
    # given: a seal kit that fits the bioreactor, and a started work order on it
    reactor = usable_equipment(site)
    part = api.ok(api.post(ENG, "/spare-parts", {"code": "SP-SEAL-01", "name_zh": "机械密封", "name_en": "Seal kit",
                                                 "reorder_point": "2", "fits": [reactor.number]}), 201)
    order = work_order(api, reactor.id)
    api.ok(api.transition(TECH, "work-orders", order["id"], "start"))
    # when
    received = api.ok(api.post(ENG, f"/spare-parts/{part['id']}/receipts", {"quantity": "5"}), 201)
    issued = api.ok(api.post(TECH, f"/work-orders/{order['id']}/parts", {"part_code": "SP-SEAL-01", "quantity": "2"}),
                    201)
    too_many = api.post(TECH, f"/work-orders/{order['id']}/parts", {"part_code": "SP-SEAL-01", "quantity": "9"})
    returned = api.ok(api.post(TECH, f"/work-orders/{order['id']}/parts/returns",
                               {"part_code": "SP-SEAL-01", "quantity": "1"}), 201)
    over_return = api.post(TECH, f"/work-orders/{order['id']}/parts/returns",
                           {"part_code": "SP-SEAL-01", "quantity": "5"})
    below_zero = api.post(ENG, f"/spare-parts/{part['id']}/adjustments", {"change": "-10", "reason": "Count"})
    adjusted = api.ok(api.post(ENG, f"/spare-parts/{part['id']}/adjustments", {"change": "-1", "reason": "Damaged"}),
                      201)
    movements = api.ok(api.get(VIEWER, f"/spare-parts/{part['id']}/movements"))["items"]
    revised = api.ok(api.patch(ENG, f"/spare-parts/{part['id']}", {"reorder_point": "4", "reason": "Lead time"}))
    low = api.ok(api.get(VIEWER, "/spare-parts", low_stock=True))["items"]
    # then
    assert Decimal(received["on_hand"]) == 5 and received["fits"] == [reactor.number]
    assert [Decimal(p["quantity"]) for p in issued["parts"]] == [2]
    assert_problem(too_many, (409, 422), "quantity")
    assert [Decimal(p["quantity"]) for p in returned["parts"]] == [2, -1]
    assert_problem(over_return, (409, 422), "quantity")
    assert_problem(below_zero, (409, 422), "change")
    assert Decimal(adjusted["on_hand"]) == 3
    assert [m["kind"] for m in movements] == ["receipt", "issue", "return", "adjustment"]
    assert revised["low_stock"] is True and [p["code"] for p in low] == ["SP-SEAL-01"]


# ---------------------------------------------------------------- faults


@pytest.mark.requirement("EU GMP Part I 3.44")
def test_a_fault_reported_with_a_photo_stops_the_equipment_and_is_repaired_verified_and_closed(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a released bioreactor
    reactor = usable_equipment(site)
    # when: an operator reports a stopping fault with a phone photo (multipart)
    reported = api.ok(api.upload(OP, "/faults", files={"photo": ("leak.png", PNG, "image/png")},
                                 data={"equipment_id": str(reactor.id), "description": "搅拌轴密封处漏液",
                                       "severity": "major", "stops_equipment": "true"}), 201)
    stopped = api.ok(api.get(VIEWER, f"/equipment/{reactor.id}"))
    record = f"/faults/{reported['id']}"
    api.ok(api.put(ENG, f"{record}/triage", {"severity": "critical", "stops_equipment": True}))
    api.ok(api.transition(ENG, "faults", reported["id"], "triage"))
    assigned = api.ok(api.put(ENG, f"{record}/assignment", {"username": TECH}))
    api.ok(api.transition(ENG, "faults", reported["id"], "assign"))
    api.ok(api.put(TECH, f"{record}/repair", {"repair_description": "Seal replaced, leak test passed"}))
    repaired = api.transition(TECH, "faults", reported["id"], "mark_repaired")
    by_repairer = api.transition(TECH, "faults", reported["id"], "verify", sign=True, meaning="verified")
    verified = api.transition(QA, "faults", reported["id"], "verify", sign=True, meaning="verified")
    closed = api.transition(ENG, "faults", reported["id"], "close")
    photo = api.get(VIEWER, f"/attachments/{reported['photos'][0]['id']}")
    # then
    assert reported["number"].startswith("FLT-") and reported["state"] == "reported"
    assert stopped["state"] == "out_of_service"
    assert assigned["assigned_to"] == TECH and assigned["work_order_number"]
    assert api.ok(repaired) == {"state": "repaired"}
    assert_problem(by_repairer, (403, 409))
    assert api.ok(verified) == {"state": "verified"} and api.ok(closed) == {"state": "closed"}
    assert photo.content == PNG and photo.headers["content-type"] == "image/png"
    assert [f["number"] for f in api.ok(api.get(VIEWER, "/faults", state="closed"))["items"]] == [reported["number"]]


def test_a_fault_reported_as_json_by_equipment_number_and_bad_reports_are_named(
        api: Api, site: dict[str, Actor]) -> None:
    # given
    reactor = usable_equipment(site)
    # when
    reported = api.ok(api.post(OP, "/faults", {"number": reactor.number.lower(), "description": "报警灯闪烁"}), 201)
    no_description = api.post(OP, "/faults", {"equipment_id": reactor.id})
    bad_severity = api.post(OP, "/faults", {"equipment_id": reactor.id, "description": "x", "severity": "huge"})
    multipart_without_description = api.upload(OP, "/faults", files={"photo": ("p.png", PNG, "image/png")},
                                               data={"equipment_id": str(reactor.id)})
    not_json = api.client.post(API + "/faults", headers=api.headers(OP) | {"content-type": "application/json"},
                               content=b"{not json")
    by_viewer = api.post(VIEWER, "/faults", {"equipment_id": reactor.id, "description": "x"})
    photo = api.ok(api.upload(OP, f"/faults/{reported['id']}/photos", files={"file": ("lamp.png", PNG, "image/png")}),
                   201)
    not_a_photo = api.upload(OP, f"/faults/{reported['id']}/photos",
                             files={"file": ("run.exe", b"MZ", "application/x-msdownload")})
    # then
    assert reported["equipment_number"] == reactor.number and reported["photos"] == []
    assert [p["id"] for p in api.ok(api.get(VIEWER, f"/faults/{reported['id']}"))["photos"]] == [photo["id"]]
    assert photo["kind"] == "photo" and photo["owner_type"] == "fault"
    assert_problem(not_a_photo, 422)
    assert_problem(no_description, 422, "description")
    assert_problem(bad_severity, 422, "severity")
    assert_problem(multipart_without_description, 422, "description")
    assert_problem(not_json, 422)
    assert_problem(by_viewer, 403)
    assert [f["id"] for f in api.ok(api.get(VIEWER, "/faults"))["items"]] == [reported["id"]]
    assert api.ok(api.get(VIEWER, f"/equipment/{reactor.id}"))["state"] == "in_service"


# ---------------------------------------------------------------- inspection rounds


def inspection_route(api: Api, equipment_number: str) -> dict[str, Any]:
    return api.ok(api.post(ENG, "/inspection-routes", {  # type: ignore[no-any-return]
        "code": "B2-DAILY", "name_zh": "B2 车间日常巡检", "name_en": "B2 daily round", "frequency": "daily",
        "shift_starts": ["00:00"], "window_hours": 24,
        "points": [{"equipment_number": equipment_number, "prompt_zh": "罐温 (°C)", "prompt_en": "Vessel temperature",
                    "kind": "numeric", "unit": "°C", "lower_limit": "35.5", "upper_limit": "37.5"},
                   {"equipment_number": equipment_number, "prompt_zh": "无泄漏？", "prompt_en": "No leaks?",
                    "kind": "yes_no"}]}), 201)


@pytest.mark.requirement("EU GMP Part I 3.34")
def test_a_round_refuses_a_wrong_scan_and_an_out_of_range_value_without_comment_and_writes_nothing(
        api: Api, site: dict[str, Actor]) -> None:
    # given: today's round of a route with a temperature check on the bioreactor, started by the operator
    reactor = usable_equipment(site)
    route = inspection_route(api, reactor.number)
    scheduled = api.ok(api.post(ENG, "/inspection-rounds/schedule", {"on": TODAY.isoformat()}))
    rounds = api.ok(api.get(OP, "/inspection-rounds", route_id=route["id"], on=TODAY.isoformat()))["items"]
    assert scheduled["rounds_scheduled"] >= 1 and len(rounds) == 1
    record = f"/inspection-rounds/{rounds[0]['id']}"
    assert api.ok(api.transition(OP, "inspection-rounds", rounds[0]["id"], "start")) == {"state": "in_progress"}
    temperature, leaks = route["points"]
    # when
    wrong_scan = api.post(OP, f"{record}/results", {"point_id": temperature["id"], "scanned": "EQ-XX-999",
                                                    "value": "36.5"})
    no_comment = api.post(OP, f"{record}/results", {"point_id": temperature["id"], "scanned": reactor.number,
                                                    "value": "39.2"})
    # then
    assert_problem(wrong_scan, 422, "scanned")
    assert_problem(no_comment, 422, "comment")
    assert api.ok(api.get(VIEWER, record))["results"] == []
    assert api.ok(api.get(VIEWER, "/faults"))["items"] == []
    # when: recorded with a comment, the other check answered, the round completed
    out_of_range = api.ok(api.post(OP, f"{record}/results", {
        "point_id": temperature["id"], "scanned": reactor.number.lower(), "value": 39.2,
        "comment": "夹套温控异常，已通知维修"}), 201)
    api.ok(api.post(OP, f"{record}/results", {"point_id": leaks["id"], "scanned": reactor.number, "value": "是"}), 201)
    answered_twice = api.post(OP, f"{record}/results", {"point_id": leaks["id"], "scanned": reactor.number,
                                                        "value": True})
    on_the_tablet = api.ok(api.get(OP, "/inspection-rounds/mine", on=TODAY.isoformat()))
    completed = api.transition(OP, "inspection-rounds", rounds[0]["id"], "complete", sign=True, meaning="performed")
    # then: the excursion opened a fault linked to the result
    result = next(r for r in out_of_range["results"] if r["point_id"] == temperature["id"])
    assert result["within_limits"] is False and result["fault_number"]
    assert [f["number"] for f in api.ok(api.get(VIEWER, "/faults"))["items"]] == [result["fault_number"]]
    assert_problem(answered_twice, 409)
    assert api.ok(completed) == {"state": "completed"}
    assert [r["number"] for r in on_the_tablet] == [rounds[0]["number"]]


# ---------------------------------------------------------------- reports, exchange and labels


def test_kpis_downtime_and_reminders_are_served(api: Api, site: dict[str, Actor]) -> None:
    # given: a stopping fault on a released bioreactor
    reactor = usable_equipment(site)
    api.ok(api.post(OP, "/faults", {"equipment_id": reactor.id, "description": "停机", "stops_equipment": True}), 201)
    # when
    kpis = api.ok(api.get(VIEWER, "/equipment-kpis", start=(TODAY - timedelta(days=30)).isoformat(),
                          end=TODAY.isoformat()))
    downtime = api.ok(api.get(VIEWER, "/equipment-reports/downtime"))
    downtime_csv = api.get(VIEWER, "/equipment-reports/downtime", format="csv")
    reminders = api.ok(api.get(VIEWER, "/equipment-reminders"))
    # then
    assert kpis["period_start"] == (TODAY - timedelta(days=30)).isoformat() and kpis["open_work_orders"] == 0
    assert [(r["equipment_number"], r["stopping_faults"]) for r in downtime] == [(reactor.number, 1)]
    assert downtime_csv.status_code == 200 and reactor.number in downtime_csv.text
    assert downtime_csv.headers["content-disposition"].startswith("attachment;")
    assert reminders == []


def test_the_ledger_exports_imports_all_or_nothing_and_prints_labels(api: Api) -> None:
    # given
    bioreactor_class(api)
    created = api.ok(register(api), 201)
    # when
    csv = api.get(VIEWER, "/equipment/export", format="csv")
    xlsx = api.get(VIEWER, "/equipment/export", format="xlsx")
    bad_format = api.get(VIEWER, "/equipment/export", format="pdf")
    template = api.get(VIEWER, "/equipment/import-template")
    header = template.text.splitlines()[0]
    rows = header + "\n" + ",".join({"class_code": "bioreactor", "name_zh": "新反应器"}.get(c, "") for c in
                                    header.split(",")) + "\n"
    dry = api.upload(ENG, "/equipment/import", files={"file": ("ledger.csv", rows.encode(), "text/csv")},
                     data={"dry_run": "true"})
    after_dry_run = len(api.ok(api.get(VIEWER, "/equipment"))["items"])
    bad = rows + ",".join({"class_code": "no_such_class", "name_zh": "坏行"}.get(c, "") for c in
                          header.split(",")) + "\n"
    refused = api.upload(ENG, "/equipment/import", files={"file": ("ledger.csv", bad.encode(), "text/csv")})
    by_viewer = api.upload(VIEWER, "/equipment/import", files={"file": ("ledger.csv", rows.encode(), "text/csv")})
    labels = api.post(VIEWER, "/equipment/labels", {"equipment_ids": [created["id"]]})
    # then
    assert csv.status_code == 200 and created["number"] in csv.text
    assert csv.headers["content-disposition"].startswith("attachment;")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert_problem(bad_format, 422, "format")
    assert api.ok(dry) | {"numbers": None} == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0,
                                               "dry_run": True, "numbers": None}
    assert after_dry_run == 1
    assert_problem(refused, 422)
    assert_problem(by_viewer, 403)
    assert len(api.ok(api.get(VIEWER, "/equipment"))["items"]) == 1
    assert labels.status_code == 200 and labels.content.startswith(b"%PDF")


# ---------------------------------------------------------------- access


@pytest.mark.requirement("21 CFR 11.10(d)")
def test_roles_without_the_permission_are_refused_and_nothing_is_written(api: Api, site: dict[str, Actor]) -> None:
    # given: a released bioreactor and a balance in commissioning
    reactor = usable_equipment(site)
    scale = balance(api)
    entries_before = logbook(api, reactor.id)
    # when
    refused = {
        "viewer registers": api.post(VIEWER, "/equipment", {"class_code": "bioreactor", "name_zh": "x"}),
        "operator creates a class": api.post(OP, "/equipment-classes", {"code": "mixer", "name_zh": "x",
                                                                         "number_prefix": "MX"}),
        "viewer starts use": api.post(VIEWER, f"/equipment/{reactor.id}/use", {"reference": "BO-1"}),
        "viewer cleans": api.post(VIEWER, f"/equipment/{reactor.id}/cleanings", {"procedure": "SOP-CL-001"}),
        "operator calibrates": api.post(OP, "/calibrations", calibration(scale["id"])),
        "operator qualifies": api.post(OP, f"/equipment/{scale['id']}/qualifications", {
            "phase": "IQ", "protocol_number": "IQ-1", "completed_on": TODAY.isoformat(), "passed": True,
            "performed_by": "x"}),
        "operator orders work": api.post(OP, "/work-orders", {"equipment_id": reactor.id, "title": "x"}),
        "operator plans PM": api.post(OP, "/maintenance-plans", {"equipment_id": reactor.id, "title": "x",
                                                                 "basis": "calendar", "interval_days": 30,
                                                                 "tasks": [{"text": "x"}]}),
        "viewer reports a fault": api.post(VIEWER, "/faults", {"equipment_id": reactor.id, "description": "x"}),
        "operator stocks parts": api.post(OP, "/spare-parts", {"code": "SP-1", "name_zh": "x"}),
        "operator builds a route": api.post(OP, "/inspection-routes", {"code": "R", "name_zh": "x",
                                                                       "frequency": "daily", "points": []}),
        "operator schedules rounds": api.post(OP, "/inspection-rounds/schedule", {"on": TODAY.isoformat()}),
        "operator imports": api.upload(OP, "/equipment/import", files={"file": ("l.csv", b"a\n", "text/csv")}),
        "qa specialist releases": api.transition(QA_SPEC, "equipment", scale["id"], "release_to_service", sign=True,
                                                 meaning="approved"),
    }
    # then
    for what, response in refused.items():
        assert response.status_code == 403, f"{what}: {response.status_code} {response.text}"
        assert_problem(response, 403)
    assert [e["number"] for e in api.ok(api.get(VIEWER, "/equipment"))["items"]] == [reactor.number, scale["number"]]
    assert api.ok(api.get(VIEWER, "/equipment-classes"))[-1]["code"] != "mixer"
    assert api.ok(api.get(VIEWER, "/calibrations", equipment_id=scale["id"]))["items"] == []
    assert api.ok(api.get(VIEWER, "/work-orders"))["items"] == []
    assert api.ok(api.get(VIEWER, "/faults"))["items"] == []
    assert api.ok(api.get(VIEWER, "/spare-parts"))["items"] == []
    assert logbook(api, reactor.id) == entries_before
    assert api.ok(api.get(VIEWER, f"/equipment/{scale['id']}"))["state"] == "commissioning"


def test_equipment_lifecycle_transitions_are_offered_and_refused_by_the_generic_routes(
        api: Api, site: dict[str, Actor]) -> None:
    # given: a balance qualified but never calibrated (not ready for service)
    scale = balance(api)
    qualify(scale["id"])
    # when
    offered = {t["name"]: t for t in api.ok(api.get(QA, f"/equipment/{scale['id']}/transitions"))}
    not_ready = api.transition(QA, "equipment", scale["id"], "release_to_service", sign=True, meaning="approved")
    api.ok(api.post(ENG, "/calibrations", calibration(scale["id"])), 201)
    released = api.transition(QA, "equipment", scale["id"], "release_to_service", sign=True, meaning="approved")
    unexplained = api.transition(QA_SPEC, "equipment", scale["id"], "take_out_of_service")
    stopped = api.transition(QA_SPEC, "equipment", scale["id"], "take_out_of_service", reason="Display flickers")
    # then
    assert offered["release_to_service"]["allowed"] is False
    assert "calibration" in (offered["release_to_service"]["why_not"] or "").lower()
    assert_problem(not_ready, 409)
    assert api.ok(released) == {"state": "in_service"}
    assert_problem(unexplained, 422, "reason")
    assert api.ok(stopped) == {"state": "out_of_service"}
    usable = api.ok(api.get(OP, f"/equipment/{scale['id']}/usability"))
    assert [r["code"] for r in usable["reasons"]] == ["out_of_service"]


def test_a_recorded_check_is_corrected_only_with_a_reason(api: Api, site: dict[str, Actor]) -> None:
    # given: a started round with the temperature recorded as 36.5
    reactor = usable_equipment(site)
    route = inspection_route(api, reactor.number)
    api.ok(api.post(ENG, "/inspection-rounds/schedule", {"on": TODAY.isoformat()}))
    started = api.ok(api.get(OP, "/inspection-rounds", route_id=route["id"]))["items"][0]
    api.ok(api.transition(OP, "inspection-rounds", started["id"], "start"))
    temperature = route["points"][0]
    record = f"/inspection-rounds/{started['id']}/results"
    api.ok(api.post(OP, record, {"point_id": temperature["id"], "scanned": reactor.number, "value": "36.5"}), 201)
    # when
    unexplained = api.put(OP, f"{record}/{temperature['id']}", {"value": "36.8"})
    corrected = api.ok(api.put(OP, f"{record}/{temperature['id']}", {"value": "36.8", "reason": "Misread display"}))
    # then
    assert_problem(unexplained, 422, "reason")
    result = next(r for r in corrected["results"] if r["point_id"] == temperature["id"])
    assert Decimal(result["numeric_value"]) == Decimal("36.8") and result["within_limits"] is True


def test_class_and_route_changes_need_a_reason(api: Api, site: dict[str, Actor]) -> None:
    # given
    cls = bioreactor_class(api)
    reactor = usable_equipment(site)
    route = inspection_route(api, reactor.number)
    # when
    unexplained_class = api.patch(ENG, f"/equipment-classes/{cls['id']}", {"clean_hold_hours": 48})
    shorter_hold = api.ok(api.patch(ENG, f"/equipment-classes/{cls['id']}", {"clean_hold_hours": 48,
                                                                            "reason": "Hold study CV-2026-07"}))
    unexplained_route = api.patch(ENG, f"/inspection-routes/{route['id']}", {"window_hours": 12})
    renamed = api.ok(api.patch(ENG, f"/inspection-routes/{route['id']}", {"name_en": "B2 day round",
                                                                         "reason": "Clearer name"}))
    # then
    assert_problem(unexplained_class, 422, "reason")
    assert shorter_hold["clean_hold_hours"] == 48 and shorter_hold["dirty_hold_hours"] == 24
    assert_problem(unexplained_route, 422, "reason")
    assert renamed["name_en"] == "B2 day round" and renamed["window_hours"] == 24
    assert [r["code"] for r in api.ok(api.get(VIEWER, "/inspection-routes", active=True))] == ["B2-DAILY"]
    assert api.ok(api.get(VIEWER, f"/inspection-routes/{route['id']}"))["points"] == route["points"]


def test_the_calibration_plan_and_work_orders_export_and_the_plan_imports(api: Api) -> None:
    # given: a balance without calibration records
    scale = balance(api)
    # when
    plan = api.get(VIEWER, "/calibration-plan/export", format="csv")
    orders = api.get(VIEWER, "/work-orders/export", format="xlsx")
    content = f"number,calibration_interval_days\n{scale['number']},90\n".encode()
    dry = api.ok(api.upload(ENG, "/calibration-plan/import", files={"file": ("plan.csv", content, "text/csv")},
                            data={"dry_run": "true"}))
    unchanged = api.ok(api.get(VIEWER, f"/equipment/{scale['id']}"))
    imported = api.ok(api.upload(ENG, "/calibration-plan/import", files={"file": ("plan.csv", content, "text/csv")},
                                 data={"reason": "Metrology plan 2027"}))
    bad = api.upload(ENG, "/calibration-plan/import",
                     files={"file": ("plan.csv", b"number,calibration_interval_days\nEQ-NOPE-1,-3\n", "text/csv")})
    # then
    assert plan.status_code == 200 and scale["number"] in plan.text
    assert orders.status_code == 200 and orders.content[:2] == b"PK"
    assert dry["dry_run"] is True and dry["updated"] == 1
    assert unchanged["effective_calibration_interval_days"] == 180
    assert imported["updated"] == 1
    assert api.ok(api.get(VIEWER, f"/equipment/{scale['id']}"))["effective_calibration_interval_days"] == 90
    assert_problem(bad, 422)

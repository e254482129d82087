"""The dispensing, yield, reconciliation and genealogy API: a batch weighed and traced end to end, and bad
inputs refused as problem+json naming the field with nothing written (dispenses and stock movements counted)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pharmos.batches.models import Dispense
from pharmos.batches.views import BatchView
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.materials.models import StockMovement
from tests.api_client import Api
from tests.batches.batch_factories import ExecutionSetup, started_batch
from tests.batches.test_completion import execute_all_steps
from tests.batches.test_dispensing import product_with_shelf_life
from tests.equipment.factories import usable_equipment
from tests.materials.factories import SETUP

PROBLEM = "application/problem+json"
OP, QA, VIEWER = "op.liu", "qa.li", "viewer.chen"


@pytest.fixture
def plant(site: dict[str, Actor]) -> tuple[Api, BatchView, ExecutionSetup, str]:
    from pharmos.app import create_app

    product_with_shelf_life(site)
    batch, setup = started_batch(site)
    return Api(TestClient(create_app())), batch, setup, usable_equipment(site, "balance").number


def written() -> tuple[int, int]:
    with read_session() as session:
        return (session.scalar(select(func.count()).select_from(Dispense)) or 0,
                session.scalar(select(func.count()).select_from(StockMovement)) or 0)


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def test_weigh_complete_release_and_trace_through_the_api(
        plant: tuple[Api, BatchView, ExecutionSetup, str]) -> None:
    # given
    api, batch, setup, balance = plant
    # when: both lines weighed (gross/tare as strings and numbers), the label printed
    first = api.ok(api.post(OP, f"/batches/{batch.id}/dispense", {
        "line_no": 1, "container_number": setup.containers["RM-TRIS"], "gross": "1.700", "tare": "0.500",
        "balance_number": balance}), 201)
    api.ok(api.post(OP, f"/batches/{batch.id}/dispense", {
        "line_no": 2, "container_number": setup.containers["RM-NACL"], "net": 0.9, "balance_number": balance}), 201)
    label = api.get(OP, f"/batches/{batch.id}/dispenses/{first['id']}/label.pdf")
    listed = api.ok(api.get(VIEWER, f"/batches/{batch.id}/dispenses"))
    reconciliation = api.ok(api.get(VIEWER, f"/batches/{batch.id}/reconciliation"))
    execute_all_steps(batch, setup)
    recorded = api.ok(api.post(OP, f"/batches/{batch.id}/yield", {"actual_yield": "480"}))
    api.ok(api.transition(OP, "batches", batch.id, "complete"))
    api.ok(api.transition(QA, "batches", batch.id, "release", sign=True))
    traced = api.ok(api.get(VIEWER, "/genealogy", lot=setup.lots["RM-TRIS"], direction="forward"))
    # then
    assert first["net"] == "1.200" and first["lot_number"] == setup.lots["RM-TRIS"]
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF")
    assert [(d["line_no"], d["labels_printed"]) for d in listed] == [(1, 1), (2, 0)]
    assert [r["within_tolerance"] for r in reconciliation] == [True, True]
    assert recorded["yield_pct"] == "96.000"
    assert [(n["depth"], n["material_code"], n["state"]) for n in traced["nodes"]] == [
        (0, "RM-TRIS", "released"), (1, "DS-MAB01", "released")]
    assert traced["batches"] == [batch.number]


BAD_DISPENSES = [
    ({"line_no": 1, "net": "1.300"}, "net"),  # above the line's window
    ({"line_no": 1, "gross": "1.7", "tare": "0.5", "net": "1.1"}, "net"),  # net ≠ gross − tare
    ({"line_no": 1, "net": "1.2", "container": "RM-NACL"}, "container_number"),  # wrong material
    ({"line_no": 1, "net": "1.2", "balance_number": "BAL-NONE"}, "balance_number"),
]


def test_bad_dispenses_name_the_field_and_issue_nothing(plant: tuple[Api, BatchView, ExecutionSetup, str]) -> None:
    # given
    api, batch, setup, balance = plant
    before = written()
    for body, field in BAD_DISPENSES:
        fields = dict(body)
        request = {"container_number": setup.containers[str(fields.pop("container", "RM-TRIS"))],
                   "balance_number": balance, **fields}
        # when
        response = api.post(OP, f"/batches/{batch.id}/dispense", request)
        # then
        assert_problem(response, 422, field)
        assert written() == before


def test_bad_yield_and_genealogy_requests_are_refused(plant: tuple[Api, BatchView, ExecutionSetup, str]) -> None:
    # given
    api, batch, setup, _ = plant
    # when
    outside = api.post(OP, f"/batches/{batch.id}/yield", {"actual_yield": "700"})
    sideways = api.get(VIEWER, "/genealogy", lot=setup.lots["RM-TRIS"], direction="sideways")
    unknown = api.get(VIEWER, "/genealogy", lot="LOT-000000-999", direction="backward")
    denied = api.post(VIEWER, f"/batches/{batch.id}/dispense", {
        "line_no": 1, "container_number": setup.containers["RM-TRIS"], "net": "1.2", "balance_number": "X"})
    # then
    assert_problem(outside, 422, "note")
    assert_problem(sideways, 422, "direction")
    assert_problem(unknown, 404)
    assert denied.status_code == 403
    from pharmos.batches import service as batches

    assert batches.get_batch(actor=SETUP, batch_id=batch.id).actual_yield is None

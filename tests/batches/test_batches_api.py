"""The batch execution REST API on both databases: order, start and hold through the generic transition route,
enter values, scan, sign, verify, review an exception; refusals are problem+json naming the field, nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pharmos.batches.models import Batch, BatchEntry, BatchException
from pharmos.compliance.audit import AuditEntry
from pharmos.compliance.signatures import ElectronicSignature
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.db import read_session
from tests.api_client import Api
from tests.batches.batch_factories import ExecutionSetup, planned_batch, process_mbr
from tests.conftest import password_of

PROBLEM = "application/problem+json"
OP, VERIFIER, QA, QA_SPEC, PLANNER = "op.liu", "op.zhao", "qa.li", "qa.zhang", "plan.he"


@pytest.fixture
def ordered(site: dict[str, Actor]) -> tuple[int, ExecutionSetup, Api]:
    """A planned batch of the process recipe (1.1 → 2.1 critical → 3.1 ∥ 4.1) and the API."""
    from pharmos.app import create_app

    batch, setup = planned_batch(site, recipe=process_mbr(site))
    return batch.id, setup, Api(TestClient(create_app()))


def written() -> dict[str, int]:
    with read_session() as session:
        return {
            "batches": session.scalar(select(func.count(Batch.id))) or 0,
            "entries": session.scalar(select(func.count(BatchEntry.id))) or 0,
            "exceptions": session.scalar(select(func.count(BatchException.id))) or 0,
            "signatures": session.scalar(select(func.count(ElectronicSignature.id))) or 0,
            "audit": session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.record_type.in_(
                ("batch", "batch_step", "batch_entry", "batch_exception", "batch_material")))) or 0,
        }


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def step_id(api: Api, batch_id: int, code: str) -> int:
    batch = api.ok(api.get(OP, f"/batches/{batch_id}"))
    return next(s["id"] for s in batch["steps"] if s["code"] == code)


def test_a_batch_is_executed_through_the_api(ordered: tuple[int, ExecutionSetup, Api]) -> None:
    # given
    batch_id, setup, api = ordered

    # when: started through the generic transition route, 1.1 and 2.1 worked on and signed
    api.ok(api.transition(OP, "batches", batch_id, "start"))
    first = step_id(api, batch_id, "1.1")
    entered = api.ok(api.post(OP, f"/batches/{batch_id}/steps/{first}/entries",
                              {"parameter_code": "TEMP", "value": "21.5"}), 201)
    api.ok(api.post(OP, f"/batches/{batch_id}/steps/{first}/lots",
                    {"code": setup.lots[setup.recipe.material_codes[0]]}), 201)
    api.ok(api.post(OP, f"/batches/{batch_id}/steps/{first}/sign", {"password": password_of(OP)}))
    second = step_id(api, batch_id, "2.1")
    api.ok(api.post(OP, f"/batches/{batch_id}/steps/{second}/entries", {"parameter_code": "PH", "value": "7.0"}), 201)
    api.ok(api.post(OP, f"/batches/{batch_id}/steps/{second}/equipment", {"number": setup.equipment_number}), 201)
    performed = api.ok(api.post(OP, f"/batches/{batch_id}/steps/{second}/sign", {"password": password_of(OP)}))
    verified = api.ok(api.post(VERIFIER, f"/batches/{batch_id}/steps/{second}/verify",
                               {"password": password_of(VERIFIER)}))

    # then
    assert entered["parameters"][0]["current"]["value"] == "21.5"
    assert entered["parameters"][0]["current"]["within_limits"] is True
    assert performed["state"] == "performed" and verified["state"] == "done"
    assert [s["meaning"] for s in verified["signatures"]] == ["performed", "verified"]
    batch = api.ok(api.get(OP, f"/batches/{batch_id}"))
    assert batch["state"] == "in_progress" and batch["steps_done"] == 2
    listed = api.ok(api.get(QA, "/batches", state="in_progress"))
    assert [b["number"] for b in listed["items"]] == [batch["number"]]


def test_an_exception_is_reviewed_by_qa_with_a_comment_but_not_by_its_raiser(
        ordered: tuple[int, ExecutionSetup, Api], site: dict[str, Actor]) -> None:
    # given: an out-of-limit temperature recorded by op.liu
    batch_id, _, api = ordered
    api.ok(api.transition(OP, "batches", batch_id, "start"))
    first = step_id(api, batch_id, "1.1")
    api.ok(api.post(OP, f"/batches/{batch_id}/steps/{first}/entries", {"parameter_code": "TEMP", "value": "26"}), 201)
    [exception] = api.ok(api.get(QA, f"/batches/{batch_id}/exceptions", state="open"))
    path = f"/batches/{batch_id}/exceptions/{exception['id']}/review"
    before = written()

    # when / then: no comment, and no right
    assert_problem(api.post(QA, path, {"comment": "  "}), 422, "comment")
    assert_problem(api.post(OP, path, {"comment": "fine"}), 403)
    assert written() == before

    # when
    reviewed = api.ok(api.post(QA, path, {"comment": "Room at 26 °C for 5 min; no impact on the buffer."}))

    # then
    assert reviewed["state"] == "reviewed" and reviewed["reviewed_by"] == QA and reviewed["label"] == "EX-01"
    assert_problem(api.post(QA_SPEC, path, {"comment": "again"}), 409, "exception_id")


def test_signing_while_on_hold_is_a_problem_naming_the_batch(ordered: tuple[int, ExecutionSetup, Api]) -> None:
    # given: started, 1.1 filled in, then held by QA through the generic route
    batch_id, _, api = ordered
    api.ok(api.transition(OP, "batches", batch_id, "start"))
    first = step_id(api, batch_id, "1.1")
    api.ok(api.post(OP, f"/batches/{batch_id}/steps/{first}/entries", {"parameter_code": "TEMP", "value": "20"}), 201)
    api.ok(api.transition(QA, "batches", batch_id, "hold", reason="Particle count alarm in the suite"))
    before = written()

    # when
    response = api.post(OP, f"/batches/{batch_id}/steps/{first}/sign", {"password": password_of(OP)})

    # then
    assert_problem(response, 409, "batch")
    assert written() == before
    assert api.ok(api.get(OP, f"/batches/{batch_id}"))["state"] == "on_hold"


def test_bad_orders_and_entries_are_problems_naming_the_field(ordered: tuple[int, ExecutionSetup, Api]) -> None:
    # given
    batch_id, setup, api = ordered
    api.ok(api.transition(OP, "batches", batch_id, "start"))
    first = step_id(api, batch_id, "1.1")
    before = written()

    # when / then
    assert_problem(api.post(PLANNER, "/batches", {"mbr_id": setup.recipe.mbr.id, "planned_size": "zero",
                                                  "planned_start": utcnow().isoformat()}), 422, "planned_size")
    assert_problem(api.post(OP, "/batches", {"mbr_id": setup.recipe.mbr.id, "planned_size": "200",
                                             "planned_start": utcnow().isoformat()}), 403)
    assert_problem(api.post(OP, f"/batches/{batch_id}/steps/{first}/entries",
                            {"parameter_code": "TEMP", "value": "warm"}), 422, "value")
    assert_problem(api.post(OP, f"/batches/{batch_id}/steps/{first}/equipment", {"number": "NOPE-1"}), 422, "number")
    assert_problem(api.post(OP, f"/batches/{batch_id}/steps/{first}/sign", {"password": ""}), 409, "password")
    assert api.get(OP, f"/batches/{batch_id}/steps/999999").status_code == 404
    assert written() == before

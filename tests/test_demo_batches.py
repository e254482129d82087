"""The demo site's batch records: two effective recipes and three batches, loaded through the services."""

from __future__ import annotations

import pytest

from pharmos.batches import service as batches
from pharmos.core.actor import Actor
from pharmos.demo_batches import DEMO_MBR_TITLES

# One test process loads the demo once and copies it for each of these tests.
pytestmark = [pytest.mark.sqlite_only, pytest.mark.xdist_group("demo")]


def test_demo_has_effective_recipes_and_a_released_a_running_and_a_reviewable_batch(demo_qa: Actor) -> None:
    # Loading the demo takes a while, so one test looks at everything it must show.
    # given
    qa = demo_qa

    # when
    effective = batches.list_mbrs(actor=qa, state="effective")
    listed = batches.list_batches(actor=qa, limit=50)
    by_state = {b.state: batches.get_batch(actor=qa, batch_id=b.id) for b in listed}

    # then: both recipes in force, with Chinese instructions
    assert {m.title for m in effective} >= set(DEMO_MBR_TITLES)
    assert {m.stage for m in effective} >= {"downstream", "formulation_fill"}
    downstream = batches.get_mbr(actor=qa, mbr_id=next(m.id for m in effective if m.stage == "downstream"))
    assert any("病毒灭活" in p.name for p in downstream.phases)
    assert all(s.instructions for p in downstream.phases for s in p.steps)
    # then: one released batch with its release signature and output lot
    released = by_state["released"]
    assert released.output_lot_number and released.steps_done == released.steps_total
    assert any(s.meaning == "released" and s.valid for s in released.signatures)
    # then: one batch in execution with some (not all) steps signed
    running = by_state["in_progress"]
    assert 0 < running.steps_done < running.steps_total
    # then: one waiting for review, with an out-of-limit value that raised a deviation, and a correction
    waiting = by_state["in_review"]
    kinds = {e.kind for e in waiting.exceptions}
    assert {"out_of_limit", "correction"} <= kinds
    assert any(e.deviation_number for e in waiting.exceptions if e.kind == "out_of_limit")
    assert waiting.release_blockers

"""The demo site's deviations and CAPA: loaded through the services, they show what QA acts on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pharmos.compliance.service import verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.demo_quality import COLD_ROOM, COLD_ROOM_MATERIALS, FAILED_BALANCE, PENDING_IMPACT_BATCHES, SEED_BATCH
from pharmos.equipment import service as equipment
from pharmos.materials import service as materials
from pharmos.quality import service as quality

# One test process loads the demo once and copies it for each of these tests.
pytestmark = pytest.mark.xdist_group("demo")


def test_demo_quality_shows_open_and_closed_deviations_capa_and_holds(demo_qa: Actor) -> None:
    # Loading the demo takes a while, so one test looks at everything it must show.
    # given
    qa = demo_qa
    today = site_today()

    # when
    counts = quality.quality_counts(actor=qa)
    deviations = quality.list_deviations(actor=qa, limit=200)
    closed = quality.list_deviations(actor=qa, state="closed")
    awaiting = quality.list_capas(actor=qa, awaiting_effectiveness=True)
    closed_capas = quality.list_capas(actor=qa, state="closed")
    open_capas = quality.list_capas(actor=qa, state="open")
    cold_room = quality.list_deviations(actor=qa, linked=f"equipment:{COLD_ROOM}")
    balance = quality.list_deviations(actor=qa, linked=f"equipment:{FAILED_BALANCE}")
    tasks = quality.my_quality_tasks(actor=qa)
    chain = verify_audit_trail(actor=Actor.cli())

    # then: open deviations in every stage before closure, and one closed
    states = {d.state for d in deviations}
    assert {"reported", "investigating", "approved", "closed"} <= states
    assert counts.open_deviations == len([d for d in deviations if d.state not in ("closed", "cancelled")]) >= 4
    assert len(closed) == 1
    closed_deviation = quality.get_deviation(actor=qa, deviation_id=closed[0].id)
    assert closed_deviation.classification == "minor"
    assert {s.meaning for s in closed_deviation.signatures} == {"performed", "approved"}
    assert all(s.valid for s in closed_deviation.signatures)
    assert [c.state for c in closed_deviation.capas] == ["closed"]
    # then: one CAPA awaiting its effectiveness check, one closed after an immediate check, others open
    assert counts.capas_awaiting_effectiveness == len(awaiting) == 1
    assert awaiting[0].effectiveness_due_on == today + timedelta(days=90) and not awaiting[0].overdue
    assert len(closed_capas) == 1 and closed_capas[0].effectiveness_check_days == 0
    assert closed_capas[0].effective is True
    assert len(open_capas) >= 2 and {c.source_type for c in open_capas} == {"deviation", "audit"}
    # then: the pH deviation holds its batch; the cold-room excursion holds the media lots stored there
    assert [h.deviation_number for h in quality.open_quality_holds(record_type="batch", reference=SEED_BATCH)]
    assert len(cold_room) == 1 and cold_room[0].state == "investigating"
    for code in COLD_ROOM_MATERIALS:
        lot = materials.list_lots(actor=qa, material_code=code, state="released")[0]
        holds = quality.open_quality_holds(record_type="lot", reference=lot.number)
        assert [h.deviation_number for h in holds] == [cold_room[0].number]
        assert any(cold_room[0].number in p for p in materials.lot_use_problems(lot_id=lot.id))
    # then: the failed calibration raised its deviation, which now names the batches in doubt and waits on an extension
    assert len(balance) == 1
    raised = quality.get_deviation(actor=qa, deviation_id=balance[0].id)
    assert raised.source.startswith("calibration CAL-")
    assessment = equipment.list_impact_assessments(actor=qa, state="open")[0]
    assert equipment.get_impact_assessment(actor=qa, assessment_id=assessment.id).deviation_number == raised.number
    assert {link.reference for link in raised.links if link.record_type == "batch"} == set(PENDING_IMPACT_BATCHES)
    assert [e.decision for e in raised.extensions] == ["pending"]
    assert raised.due_on is not None and raised.due_on > today
    # then: the QA manager's inbox has work, and nothing is overdue on the day the demo is loaded
    assert {"classify", "decide_extension"} <= {t.action for t in tasks}
    assert counts.overdue_deviations == 0 and counts.overdue_capas == 0
    # then: the audit trail is intact
    assert chain.ok, chain.problem

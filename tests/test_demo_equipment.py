"""The demo site's equipment: loaded through the services, it shows what maintenance, metrology and QA act on."""

from __future__ import annotations

import pytest

from pharmos.compliance.service import verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.demo_equipment import EQUIPMENT, WEIGHED_ON_FAILED_BALANCE
from pharmos.equipment import service as equipment

# One test process loads the demo once and copies it for each of these tests.
pytestmark = pytest.mark.xdist_group("demo")


def test_demo_equipment_shows_every_figure_maintenance_metrology_and_qa_act_on(demo_qa: Actor) -> None:
    # Loading the demo takes a while, so one test looks at everything it must show.
    # given
    qa = demo_qa
    today = site_today()

    # when
    ledger = equipment.list_equipment(actor=qa, limit=200)
    overdue = equipment.list_equipment(actor=qa, calibration="overdue", limit=200)
    assessments = equipment.list_impact_assessments(actor=qa, state="open")
    open_orders = equipment.list_work_orders(actor=qa, open_only=True, limit=200)
    closed_orders = equipment.list_work_orders(actor=qa, state="closed", limit=200)
    faults = equipment.list_faults(actor=qa, limit=200)
    low_stock = equipment.list_spare_parts(actor=qa, low_stock=True)
    rounds = equipment.list_inspection_rounds(actor=qa, limit=200)
    reminders = equipment.list_reminders(actor=qa)
    chain = verify_audit_trail(actor=Actor.cli())

    # then: the ledger, mostly qualified and in service
    by_number = {e.number: e for e in ledger}
    assert len(ledger) == len(EQUIPMENT)
    assert {"EQ-BR-001", "EQ-BR-002", "EQ-BR-003", "EQ-CS-001", "EQ-UF-001", "EQ-FL-001", "EQ-AC-001", "EQ-FRZ-001",
            "EQ-CR-001", "EQ-BAL-001", "EQ-PH-001"} <= set(by_number)
    in_service = [e for e in ledger if e.state == "in_service"]
    assert len(in_service) > len(ledger) * 0.7
    assert {e.state for e in ledger} == {"in_service", "out_of_service", "commissioning"}
    # then: a usable and a non-usable bioreactor, each with its reasons
    bioreactors = [e for e in ledger if e.class_code == "bioreactor"]
    assert any(e.usability is not None and e.usability.usable for e in bioreactors)
    reasons = {code for e in bioreactors if e.usability is not None for code in (r.code for r in e.usability.reasons)}
    assert {"not_clean", "in_use", "out_of_service"} <= reasons
    assert {e.clean_status for e in bioreactors} >= {"clean", "dirty"}
    assert any(e.in_use_by == "BO-2026-0007" for e in bioreactors)
    # then: instruments overdue for calibration
    assert overdue and all(e.calibration_due_on is not None and e.calibration_due_on < today for e in overdue)
    assert all(any(r.code == "calibration_overdue" for r in (e.usability.reasons if e.usability else ()))
               for e in overdue)
    # then: the failed calibration's impact assessment lists the batches weighed since the last pass
    assert len(assessments) == 1
    assessment = equipment.get_impact_assessment(actor=qa, assessment_id=assessments[0].id)
    assert sorted(item.reference for item in assessment.items) == sorted(WEIGHED_ON_FAILED_BALANCE)
    assert {item.verdict for item in assessment.items} == {"pending", "no_impact"}
    failed = by_number[assessment.equipment_number]
    assert failed.calibration_status == "out_of_tolerance" and failed.state == "out_of_service"
    # then: open preventive work orders from the plans, a corrective one from a fault, one closed by its owner
    assert {w.kind for w in open_orders} == {"preventive", "corrective"}
    assert any(w.overdue for w in open_orders)
    assert any(w.fault_number for w in open_orders if w.kind == "corrective")
    assert len(closed_orders) == 1
    closed = equipment.get_work_order(actor=qa, work_order_id=closed_orders[0].id)
    assert {s.meaning for s in closed.signatures} == {"performed", "approved"}
    assert all(s.valid for s in closed.signatures)
    assert any(f.stops_equipment and f.state == "assigned" for f in faults)
    assert any(f.source.startswith("RND-") for f in faults)
    # then: spare parts, rounds and the reminders the daily scan raised
    assert [p.code for p in low_stock] == ["SP-BR-001"]
    states = {r.state for r in rounds}
    assert {"completed", "missed", "scheduled"} <= states
    assert any(r.route_code == "CLEAN-DAILY" and r.state == "completed" for r in rounds)
    assert {r.kind for r in reminders} >= {"calibration_due", "calibration_overdue", "requalification_due"}
    # then: the audit trail is intact
    assert chain.ok, chain.problem


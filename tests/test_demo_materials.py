"""The demo site's warehouse: loaded through the services, it shows every lot status and QA's work queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pharmos.compliance.service import verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.demo_materials import MATERIALS, SUPPLIERS
from pharmos.materials import service as materials
from pharmos.materials.ledger import reconcile
from pharmos.materials.models import Lot

# One test process loads the demo once and copies it for each of these tests.
pytestmark = pytest.mark.xdist_group("demo")


def test_demo_warehouse_is_complete_consistent_and_released_only_by_qa(demo_qa: Actor) -> None:
    # Loading the demo takes a while, so one test looks at everything it must show.
    # given
    qa = demo_qa
    today = site_today()

    # when
    lots = materials.list_lots(actor=qa, limit=500)
    approved = materials.list_materials(actor=qa, state="approved", limit=500)
    suppliers = materials.list_suppliers(actor=qa, limit=50)
    pending_overrides = materials.list_movements(actor=qa, override_pending=True)
    counts = materials.list_cycle_counts(actor=qa)
    issues = materials.list_movements(actor=qa, kind="issue", limit=100)
    released = [materials.get_lot(actor=qa, lot_id=lot.id) for lot in lots if lot.state == "released"]
    with read_session() as session:
        mismatches = reconcile(session)
        lot_count = len(session.scalars(select(Lot.id)).all())
    chain = verify_audit_trail(actor=Actor.cli())

    # then: every status, and QA's work queue
    # Expired go-live stock is expired by the daily review (the clock is never faked); one lot expires tomorrow.
    assert {lot.state for lot in lots} == {"quarantine", "under_test", "released", "rejected", "expired"}
    assert all(c.location_code == "RJ-01" for lot in lots if lot.state == "expired"
               for c in materials.get_lot(actor=qa, lot_id=lot.id).containers)
    assert any(lot.expires_on == today + timedelta(days=1) for lot in released)
    assert len(lots) == lot_count > 30
    assert len(approved) >= 40 and len(MATERIALS) >= 40
    assert len(suppliers) == len(SUPPLIERS) == 6
    assert {a.status for s in suppliers for a in s.approvals} == {"approved", "conditional", "disqualified"}
    assert any(lot.expires_on <= today + timedelta(days=30) for lot in released)
    assert any(lot.retest_on is not None and lot.retest_on < today for lot in lots)
    assert any(lot.short_dated_use_approved for lot in released)
    assert any("excursion" in lot.qa_flag and not lot.qa_flag_assessed for lot in lots)
    assert len(pending_overrides) == 1 and pending_overrides[0].fefo_override
    assert [c.state for c in counts] == ["submitted"]
    assert "BO-2026-0007 上游细胞培养" in {m.reference for m in issues}
    # then: releases signed by the QA manager, never by the person who received the lot
    signed = [(lot, s) for lot in released for s in lot.signatures if s.meaning == "released"]
    assert signed
    for lot, signature in signed:
        assert signature.username == "qa.lina"
        assert signature.username != lot.received_by
        assert signature.valid, signature.problem
    # then: the stock ledger and the audit trail are intact
    assert mismatches == []
    assert chain.ok, chain.problem

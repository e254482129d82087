"""The demo site's documents, training, change control and complaints: loaded through the services with a past."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pharmos.compliance.service import verify_audit_trail
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.demo_documents import HISTORY, OVERDUE_DOCUMENT, OVERDUE_USER
from pharmos.quality import service as quality

# One test process loads the demo once and copies it for each of these tests.
pytestmark = pytest.mark.xdist_group("demo")


def test_demo_shows_effective_sops_training_with_one_overdue_a_change_in_approval_and_two_complaints(
        demo_qa: Actor) -> None:
    # Loading the demo takes a while, so one test looks at everything it must show.
    # given
    qa = demo_qa
    today = site_today()

    # when
    documents = quality.list_documents(actor=qa, limit=100)
    overdue = quality.list_training_records(actor=qa, overdue=True)
    matrix = quality.qualification_matrix(actor=qa, role="operator")
    verdict = quality.is_qualified(username=OVERDUE_USER, document_number=OVERDUE_DOCUMENT)
    colleague = quality.is_qualified(username="prod.liuyang", document_number=OVERDUE_DOCUMENT)
    changes = quality.list_changes(actor=qa)
    complaints = quality.list_complaints(actor=qa)
    counts = quality.quality_counts(actor=qa)
    chain = verify_audit_trail(actor=Actor.cli())

    # then: about twenty Chinese SOPs in force, effective five weeks ago, with their signatures
    effective = [d for d in documents if d.effective_version is not None]
    assert len(effective) >= 20 and all(d.doc_type == "sop" for d in effective)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in d.title_zh) for d in effective)
    usp = quality.get_document(actor=qa, number="SOP-USP-0002")
    first = quality.get_version(actor=qa, version_id=next(v.id for v in usp.versions if v.version == 1))
    assert first.state == "effective" and first.effective_on == today - HISTORY
    assert {s.meaning for s in first.signatures} == {"authored", "reviewed", "approved"}
    assert all(s.valid for s in first.signatures)
    # then: today's revisions: one in review under the change control, one approved for next week, one effective
    assert sorted((v.version, v.state) for v in usp.versions) == [(1, "effective"), (2, "in_review")]
    deviation_sop = quality.get_document(actor=qa, number="SOP-QA-0002")
    second = next(v for v in deviation_sop.versions if v.version == 2)
    assert second.state == "approved" and second.effective_on == today + timedelta(days=7)
    protein_a = quality.get_document(actor=qa, number="SOP-DSP-0001")
    assert protein_a.effective_version == 2
    new_training = quality.list_training_records(actor=qa, document_number="SOP-DSP-0001", state="assigned")
    assert new_training and all(r.due_on == today + timedelta(days=14) for r in new_training)
    # then: exactly one person's training is overdue, and it makes them unqualified for the step's SOP
    assert [(r.username, r.subject.split(" ")[0]) for r in overdue] == [(OVERDUE_USER, OVERDUE_DOCUMENT)]
    assert not verdict.qualified and verdict.reasons
    assert colleague.qualified
    statuses = {cell.status for row in matrix.rows for cell in row.cells}
    assert {"qualified", "overdue", "assigned"} <= statuses
    assert counts.training_overdue == 1
    # then: the pH-probe change waits for production and QA after QC and engineering signed
    assert [c.state for c in changes] == ["under_assessment"]
    change = quality.get_change(actor=qa, change_id=changes[0].id)
    assert set(change.pending_functions) == {"production", "qa"}
    assert next(v for v in usp.versions if v.version == 2).change_control == change.number
    # then: two complaints, one under investigation linked to the filling deviation, one just received
    assert sorted(c.state for c in complaints) == ["investigating", "received"]
    investigating = next(c for c in complaints if c.state == "investigating")
    assert any(link.startswith("deviation:") for link in
               quality.get_complaint(actor=qa, complaint_id=investigating.id).linked_records)
    # then: the history loaded under a shifted clock still forms an intact audit chain
    assert chain.ok, chain.problem

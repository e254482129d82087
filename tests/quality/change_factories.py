"""Reach change-control states the way users do: through the services and signed transitions, never by writing rows.

People: op.liu (operator) proposes; qa.li (qa_manager, change_controls.manage) classifies,
approves, reviews effectiveness and closes; the functions are assessed by a production
supervisor (sup.wu), a QC analyst (qc.sun) and a QA specialist (qa.zhang); regulatory and
validation (for major changes) by reg.he and val.ma. Implementation tasks are owned by op.liu.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import change_control as cc
from pharmos.quality.change_views import ChangeControlView
from tests.conftest import password_of
from tests.materials.factories import SETUP, person

__all__ = [
    "SETUP",
    "approved_change",
    "assess_all",
    "assessors",
    "closed_change",
    "in_effectiveness_review",
    "major_functions",
    "person",
    "proposed_change",
    "proposer",
    "qa",
    "step",
    "under_assessment_change",
]

COLLECTION = "change-controls"


def proposer(site: dict[str, Actor]) -> Actor:
    """The operator asking for the change (change_controls.propose only)."""
    return site["op.liu"]


def qa(site: dict[str, Actor]) -> Actor:
    """The QA manager: classifies, approves, reviews effectiveness and closes (change_controls.manage)."""
    return site["qa.li"]


def assessors(site: dict[str, Actor]) -> dict[str, Actor]:
    """One assessor per function used in the tests (created on first use; each holds change_controls.assess)."""
    return {"production": person("sup.wu", "production_supervisor", "吴主管"),
            "qc": person("qc.sun", "qc_analyst", "孙化验"), "qa": site["qa.zhang"],
            "regulatory": person("reg.he", "qa_specialist", "何注册"),
            "validation": person("val.ma", "maintenance", "马验证")}


def major_functions(site: dict[str, Actor]) -> dict[str, str]:
    people = assessors(site)
    return {f: people[f].username for f in ("regulatory", "qa", "validation")}


def step(actor: Actor, change_id: int, name: str, *, reason: str | None = None) -> str:
    """Apply a change-control transition as ``actor``, signing with their password where it is needed."""
    return apply_transition(actor=actor, collection=COLLECTION, record_id=change_id, name=name,
                            password=password_of(actor.username), reason=reason)


def proposed_change(site: dict[str, Actor], *, by: Actor | None = None, **fields: Any) -> ChangeControlView:
    """A change in ``proposed``: replace bioreactor BR-002's pH probe with another make."""
    values: dict[str, Any] = {
        "title": "Replace the pH probe of bioreactor BR-002 with a Mettler InPro 3253",
        "description": "Current: Hamilton EasyFerm probe. Proposed: Mettler InPro 3253 with the same range.",
        "justification": "The current probe model is discontinued by its supplier.",
        "change_type": "equipment", "affected_records": ["equipment:EQ-BR-002", "document:SOP-PR-0012"],
        "target_date": site_today() + timedelta(days=60)}
    values.update(fields)
    return cc.propose_change(actor=by or proposer(site), **values)


def under_assessment_change(site: dict[str, Actor], *, classification: str = "moderate",
                            functions: dict[str, str] | None = None, **fields: Any) -> ChangeControlView:
    """Classified by qa.li with production → sup.wu, qc → qc.sun, qa → qa.zhang, then sent for assessment."""
    people = assessors(site)
    named = functions or {f: people[f].username for f in ("production", "qc", "qa")}
    change = proposed_change(site, **fields)
    cc.classify_change(actor=qa(site), change_id=change.id, classification=classification,
                       rationale="Like-for-like instrument change; calibration and SOP update needed.",
                       regulatory_filing=False, functions=named)
    step(qa(site), change.id, "classify")
    return cc.get_change(actor=qa(site), change_id=change.id)


def assess_all(site: dict[str, Actor], change: ChangeControlView, *, decision: str = "approved") -> ChangeControlView:
    """Every named function assesses the change and signs ``decision``."""
    people = {a.username: a for a in assessors(site).values()}
    for assessment in change.assessments:
        who = people.get(assessment.assessor) or site[assessment.assessor]
        cc.assess_change(actor=who, change_id=change.id, function=assessment.function,
                         impact=f"{assessment.function}: probe change needs calibration before use.",
                         impact_level="low", required_actions="Calibrate; update SOP-PR-0012.", decision=decision,
                         password=password_of(who.username))
    return cc.get_change(actor=qa(site), change_id=change.id)


def approved_change(site: dict[str, Actor], *, tasks: int = 1, **fields: Any) -> ChangeControlView:
    """Assessed and approved by every function, ``tasks`` implementation tasks for op.liu, approved by qa.li."""
    change = assess_all(site, under_assessment_change(site, **fields))
    for i in range(tasks):
        cc.add_change_task(actor=qa(site), change_id=change.id, title=f"Install and calibrate the probe ({i + 1})",
                           owner_username="op.liu", due_on=site_today() + timedelta(days=14), function="production")
    step(qa(site), change.id, "approve")
    return cc.get_change(actor=qa(site), change_id=change.id)


def in_effectiveness_review(site: dict[str, Actor], **fields: Any) -> ChangeControlView:
    """Approved, every task completed (signed 'performed') by its owner, implementation declared complete."""
    change = approved_change(site, **fields)
    for task in change.tasks:
        cc.complete_change_task(actor=site[task.owner], change_id=change.id, task_id=task.id,
                                evidence="Probe installed; calibration record CAL-2611-0042.",
                                password=password_of(task.owner))
    step(qa(site), change.id, "complete_implementation")
    return cc.get_change(actor=qa(site), change_id=change.id)


def closed_change(site: dict[str, Actor], **fields: Any) -> ChangeControlView:
    """Effectiveness reviewed as effective and closed by qa.li with her signature."""
    change = in_effectiveness_review(site, **fields)
    cc.record_change_effectiveness(actor=qa(site), change_id=change.id,
                                   review="Three batches run with the new probe; pH control within limits.",
                                   effective=True)
    step(qa(site), change.id, "close")
    return cc.get_change(actor=qa(site), change_id=change.id)

"""Reach complaint states the way users do: through the services and signed transitions, never by writing rows.

People: the complaint is logged by customer service (``receiver()``, a planner holding
complaints.receive), classified by qa.zhang (qa_specialist), investigated by a production
supervisor (``tests.quality.factories.investigator()``), approved and closed by qa.li (qa_manager).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.quality import service as quality
from pharmos.quality.complaint_views import ComplaintView
from tests.quality.factories import classifier, investigator, person, qa_approver, sign

__all__ = [
    "approved_complaint",
    "classified_complaint",
    "closed_complaint",
    "investigating_complaint",
    "pending_complaint",
    "receive",
    "receiver",
]


def receiver() -> Actor:
    """Customer service: logs complaints (complaints.receive through the planner role) and nothing else of QA's."""
    return person("cs.zhao", "planner", "赵客服")


def receive(site: dict[str, Actor], *, by: Actor | None = None, received_on: date | None = None,
            **fields: Any) -> ComplaintView:
    """A complaint in ``received``."""
    values: dict[str, Any] = {
        "channel": "phone", "customer": "华东医药配送中心", "product": "重组人胰岛素注射液 3 mL",
        "description": "Two cartridges in one carton show visible particles.", "lot_number": "INS-2611-004",
        "region": "上海"}
    values.update(fields)
    return quality.receive_complaint(actor=by or receiver(), received_on=received_on or site_today(), **values)


def classified_complaint(site: dict[str, Actor], *, classification: str = "major", category: str = "quality_defect",
                         adverse_event: bool = False, by: Actor | None = None, due_on: date | None = None,
                         **fields: Any) -> ComplaintView:
    """Received, then classified by qa.zhang with an investigator (fields set, state still ``received``)."""
    complaint = receive(site, **fields)
    who = by or investigator()
    return quality.classify_complaint(actor=classifier(site), complaint_id=complaint.id,
                                      classification=classification, category=category,
                                      adverse_event=adverse_event, investigator_username=who.username,
                                      due_on=due_on)


def investigating_complaint(site: dict[str, Actor], **fields: Any) -> ComplaintView:
    """Classified and moved to ``investigating`` by the ``classify`` transition."""
    complaint = classified_complaint(site, **fields)
    sign(classifier(site), complaint.id, "classify", collection="complaints")
    return quality.get_complaint(actor=classifier(site), complaint_id=complaint.id)


def pending_complaint(site: dict[str, Actor], *, justified: bool = True, **fields: Any) -> ComplaintView:
    """Investigated by the investigator and submitted (signed 'performed')."""
    complaint = investigating_complaint(site, **fields)
    who = investigator()
    quality.record_complaint_investigation(
        actor=who, complaint_id=complaint.id, investigation="Retained samples of INS-2611-004 inspected: clear.",
        root_cause="Particles from a damaged stopper during transport.", justified=justified)
    sign(who, complaint.id, "submit", collection="complaints")
    return quality.get_complaint(actor=who, complaint_id=complaint.id)


def approved_complaint(site: dict[str, Actor], **fields: Any) -> ComplaintView:
    """Investigation approved by qa.li with her signature."""
    complaint = pending_complaint(site, **fields)
    sign(qa_approver(site), complaint.id, "approve", collection="complaints")
    return quality.get_complaint(actor=qa_approver(site), complaint_id=complaint.id)


def closed_complaint(site: dict[str, Actor], **fields: Any) -> ComplaintView:
    """Answered by qa.zhang and closed by qa.li with her signature."""
    complaint = approved_complaint(site, **fields)
    quality.record_response(actor=classifier(site), complaint_id=complaint.id,
                            response="Replacement supplied; stopper supplier informed.",
                            responded_on=site_today())
    sign(qa_approver(site), complaint.id, "close", collection="complaints")
    return quality.get_complaint(actor=qa_approver(site), complaint_id=complaint.id)

"""Reach deviation states the way users do: through the services and signed transitions, never by writing rows.

Shared by every quality test (services, API, pages, browser, demo); keep names and
signatures stable and add helpers at the end rather than changing existing ones.

People: the reporter is op.liu (operator), QA classification by qa.zhang (qa_specialist),
the investigator is a production supervisor (``investigator()``), QA approval by qa.li
(qa_manager) — four different people, as signature separation requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pharmos.compliance.lifecycle import apply_transition
from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.quality import service as quality
from pharmos.quality.deviations import LinkInput
from pharmos.quality.views import DeviationView
from tests.conftest import password_of
from tests.materials.factories import SETUP, person

__all__ = [
    "SETUP",
    "LinkInput",
    "approved_deviation",
    "cancelled_deviation",
    "classified",
    "classifier",
    "closed_deviation",
    "investigating",
    "investigator",
    "pending_approval",
    "person",
    "qa_approver",
    "record_full_investigation",
    "report",
    "reporter",
    "sign",
]


def reporter(site: dict[str, Actor]) -> Actor:
    """The operator who saw it happen (deviations.report only)."""
    return site["op.liu"]


def classifier(site: dict[str, Actor]) -> Actor:
    """QA specialist: classifies, assigns investigators, decides extensions (not deviations.approve)."""
    return site["qa.zhang"]


def qa_approver(site: dict[str, Actor]) -> Actor:
    """QA manager: approves and closes (deviations.approve)."""
    return site["qa.li"]


def investigator(username: str = "sup.wu") -> Actor:
    """A production supervisor holding deviations.investigate (created on first use)."""
    return person(username, "production_supervisor", "吴主管")


def sign(actor: Actor, deviation_id: int, name: str, *, reason: str | None = None,
         collection: str = "deviations") -> str:
    """Apply a lifecycle transition as ``actor``, signing with their password where it is needed."""
    return apply_transition(actor=actor, collection=collection, record_id=deviation_id, name=name,
                            password=password_of(actor.username), reason=reason)


def report(site: dict[str, Actor], *, links: Sequence[LinkInput] = (), by: Actor | None = None,
           title: str = "Bioreactor BR-002 temperature excursion", discovered_at: datetime | None = None,
           **fields: Any) -> DeviationView:
    """A deviation in ``reported`` (links are ``LinkInput`` values or ``(record_type, reference)`` pairs)."""
    values: dict[str, Any] = {
        "description": "Jacket temperature rose to 39.5 °C for 12 minutes during the growth phase.",
        "immediate_action": "Batch placed on hold; supervisor and QA informed.",
        "area": "B2-301",
    }
    values.update(fields)
    return quality.report_deviation(
        actor=by or reporter(site), title=title,
        discovered_at=discovered_at or utcnow() - timedelta(minutes=30),
        links=[link if isinstance(link, LinkInput) else LinkInput(*link) for link in links], **values)


def classified(site: dict[str, Actor], *, classification: str = "major", severity: int = 3, occurrence: int = 2,
               detectability: int = 2, due_on: Any = None, links: Sequence[LinkInput] = (),
               **report_fields: Any) -> DeviationView:
    """Reported, then classified by qa.zhang (risk scored, due date set) and moved to ``classified``."""
    deviation = report(site, links=links, **report_fields)
    quality.classify_deviation(actor=classifier(site), deviation_id=deviation.id, classification=classification,
                               severity=severity, occurrence=occurrence, detectability=detectability,
                               rationale="Product contact; limited duration.", due_on=due_on)
    sign(classifier(site), deviation.id, "classify")
    return quality.get_deviation(actor=classifier(site), deviation_id=deviation.id)


def investigating(site: dict[str, Actor], *, by: Actor | None = None, **classified_fields: Any) -> DeviationView:
    """Classified, an investigator assigned (default ``investigator()``) who started the investigation."""
    who = by or investigator()
    deviation = classified(site, **classified_fields)
    quality.assign_investigator(actor=classifier(site), deviation_id=deviation.id, username=who.username)
    sign(who, deviation.id, "start_investigation")
    return quality.get_deviation(actor=who, deviation_id=deviation.id)


def record_full_investigation(actor: Actor, deviation_id: int, *, product_impact: bool = False) -> DeviationView:
    """Every finding the submit guard asks for, recorded by the investigator ``actor``."""
    return quality.record_investigation(
        actor=actor, deviation_id=deviation_id,
        five_whys=["Temperature rose", "Cooling valve stuck", "Valve not in the PM plan"],
        root_cause_category="machine", root_cause="Cooling valve CV-12 stuck half open.",
        impact_assessment="Cells within viability limits; in-process controls met.",
        product_impact=product_impact, conclusion="No impact on product quality; add valve to PM plan.")


def pending_approval(site: dict[str, Actor], *, by: Actor | None = None, **classified_fields: Any) -> DeviationView:
    """Investigated completely and submitted (signed 'performed') by the investigator."""
    who = by or investigator()
    deviation = investigating(site, by=who, **classified_fields)
    record_full_investigation(who, deviation.id)
    sign(who, deviation.id, "submit")
    return quality.get_deviation(actor=who, deviation_id=deviation.id)


def approved_deviation(site: dict[str, Actor], **fields: Any) -> DeviationView:
    """Investigation approved by qa.li with her signature."""
    deviation = pending_approval(site, **fields)
    sign(qa_approver(site), deviation.id, "approve")
    return quality.get_deviation(actor=qa_approver(site), deviation_id=deviation.id)


def closed_deviation(site: dict[str, Actor], **fields: Any) -> DeviationView:
    """Approved without CAPA and closed by qa.li with her signature."""
    deviation = approved_deviation(site, **fields)
    sign(qa_approver(site), deviation.id, "close")
    return quality.get_deviation(actor=qa_approver(site), deviation_id=deviation.id)


def cancelled_deviation(site: dict[str, Actor], **report_fields: Any) -> DeviationView:
    """Reported, then cancelled by qa.zhang as not a deviation (signed, with a reason)."""
    deviation = report(site, **report_fields)
    sign(classifier(site), deviation.id, "cancel", reason="Within the validated range: not a deviation.")
    return quality.get_deviation(actor=classifier(site), deviation_id=deviation.id)

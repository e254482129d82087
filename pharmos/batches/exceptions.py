"""Batch exceptions: departures recorded during execution, auto-raised deviations and holds.

An out-of-limit value, a late step, a correction, a lot substitution or a weight out of
tolerance becomes an exception on the batch (EX-01, EX-02 … within the batch). QA reviews
every one before release (review by exception, EU GMP Annex 16 §1.7). A critical exception
raises a deviation through the quality module and stops the batch (药品GMP 第二百五十条:
the affected batch is not processed further until QA decides).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmos.batches.models import Batch, BatchEntry, BatchException, BatchStep, Dispense
from pharmos.batches.views import ExceptionView
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import NotFound, ValidationFailed

__all__ = [
    "EXCEPTION_KINDS",
    "exception_view",
    "list_exceptions",
    "raise_exception",
]

EXCEPTION_KINDS = ("out_of_limit", "late_step", "override", "correction", "lot_substitution",
                   "weight_out_of_tolerance", "yield")
EXCEPTION_STATES = ("open", "reviewed")


def exception_label(seq: int) -> str:
    return f"EX-{seq:02d}"


def exception_view(row: BatchException, *, batch_number: str) -> ExceptionView:
    return ExceptionView(
        id=row.id, batch_id=row.batch_id, batch_number=batch_number, label=exception_label(row.seq), kind=row.kind,
        critical=row.critical, step_id=row.step_id, step_code=row.step_code, entry_id=row.entry_id,
        description=row.description, context=dict(row.context or {}), reason=row.reason, raised_by=row.raised_by,
        raised_at=as_utc(row.raised_at), deviation_number=row.deviation_number, state=row.state,
        reviewed_by=row.reviewed_by, reviewed_at=as_utc(row.reviewed_at) if row.reviewed_at else None,
        review_comment=row.review_comment)


def _step_lot_numbers(session: Session, step: BatchStep) -> list[str]:
    """The lots scanned or dispensed in the step: a deviation on it holds them too (药品GMP 第二百五十条)."""
    scanned = session.scalars(select(BatchEntry.value).where(
        BatchEntry.step_id == step.id, BatchEntry.kind == "lot", BatchEntry.superseded.is_(False))).all()
    dispensed = session.scalars(select(Dispense.lot_number).where(Dispense.step_id == step.id)).all()
    return sorted(set(scanned) | set(dispensed))


def raise_exception(session: Session, *, batch: Batch, actor: Actor, kind: str, description: str,
                    critical: bool = False, step: BatchStep | None = None, entry: BatchEntry | None = None,
                    context: dict[str, Any] | None = None, reason: str = "") -> BatchException:
    """Record an exception inside the caller's unit of work; a critical one raises a deviation and holds the batch."""
    if kind not in EXCEPTION_KINDS:
        raise ValueError(f"unknown exception kind {kind!r}")
    seq = (session.scalar(select(func.max(BatchException.seq)).where(BatchException.batch_id == batch.id)) or 0) + 1
    row = BatchException(
        batch_id=batch.id, seq=seq, kind=kind, critical=critical, step_id=step.id if step else None,
        step_code=step.code if step else "", entry_id=entry.id if entry else None, description=description,
        context=context or {}, reason=reason or "", raised_by=actor.username, raised_at=utcnow(), state="open")
    session.add(row)
    session.flush()
    if critical:
        _raise_deviation_and_hold(session, batch=batch, actor=actor, row=row, step=step)
    return row


def _raise_deviation_and_hold(session: Session, *, batch: Batch, actor: Actor, row: BatchException,
                              step: BatchStep | None) -> None:
    # Imported here: quality validates its batch links and is imported by modules this one imports.
    from pharmos.quality import service as quality

    label = exception_label(row.seq)
    links = [quality.LinkInput("batch", batch.number)]
    if step is not None:
        links += [quality.LinkInput("lot", number) for number in _step_lot_numbers(session, step)]
    # The operator who saw it is the reporter where they may report; otherwise the system reports for them.
    reporter = actor if actor.can("deviations.report") else Actor.system("batches")
    where = f" step {step.code}" if step is not None else ""
    deviation = quality.raise_deviation(
        actor=reporter, title=f"Critical exception {label} in batch {batch.number}{where}"[:200],
        description=row.description, source=f"batch {batch.number}", links=links,
        immediate_action=f"Batch {batch.number} put on hold automatically.")
    row.deviation_number = deviation.number
    if batch.state == "in_progress":
        # 药品GMP 第二百五十条: the batch stops until QA has assessed the deviation; the audit
        # entry of this change carries the reason (EU GMP Annex 11 §9).
        why = f"Critical exception {label}: deviation {deviation.number} raised"
        with transaction(actor=actor, reason=why):
            batch.state = "on_hold"
            batch.hold_reason = f"{why} — {row.description}"[:2000]
            session.flush()
    session.flush()


def list_exceptions(*, actor: Actor, batch_id: int, state: str | None = None) -> list[ExceptionView]:
    """The batch's exceptions, oldest first (the reviewer's list: review by exception)."""
    actor.require("batches.view")
    if state is not None and state not in EXCEPTION_STATES:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(EXCEPTION_STATES)}.")
    with read_session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"No batch with id {batch_id}.")
        stmt = select(BatchException).where(BatchException.batch_id == batch_id).order_by(BatchException.seq)
        if state is not None:
            stmt = stmt.where(BatchException.state == state)
        return [exception_view(row, batch_number=batch.number) for row in session.scalars(stmt)]

"""Batch lists and details, and QA's review by exception.

EU GMP Annex 16 §1.7 / 药品GMP 第二百二十九条: before release QA reviews the executed record;
the exceptions come first, each with its context, and each is marked reviewed with a comment.
A person never reviews an exception they raised themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pharmos.batches.exceptions import exception_label, exception_view
from pharmos.batches.execution import dispense_view, material_line_view, step_view
from pharmos.batches.lifecycle import BATCH_LIFECYCLE, release_problems
from pharmos.batches.models import Batch, BatchException, BatchMaterial, BatchStep, Dispense
from pharmos.batches.views import BatchView, DispenseView, ExceptionView
from pharmos.compliance.signatures import signatures_for
from pharmos.core.actor import Actor
from pharmos.core.clock import as_utc, utcnow
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, text_problem

__all__ = [
    "batch_view",
    "batch_views",
    "batches_awaiting_review",
    "get_batch",
    "list_batches",
    "review_exception",
]

_COMMENT_MAX = 4000


def batch_views(session: Session, rows: Sequence[Batch]) -> list[BatchView]:
    """List views of ``rows`` (progress, open exceptions, current steps) in a fixed number of queries."""
    ids = [row.id for row in rows]
    steps: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    open_exceptions: dict[int, int] = {}
    if ids:
        for batch_id, step_id, state in session.execute(select(BatchStep.batch_id, BatchStep.id, BatchStep.state)
                                                        .where(BatchStep.batch_id.in_(ids)).order_by(BatchStep.seq)):
            steps[batch_id].append((step_id, state))
        open_exceptions = dict(session.execute(
            select(BatchException.batch_id, func.count()).where(BatchException.batch_id.in_(ids),
                                                                BatchException.state == "open")
            .group_by(BatchException.batch_id)).all())
    return [_view(row, progress=steps[row.id], open_exceptions=open_exceptions.get(row.id, 0)) for row in rows]


def _view(row: Batch, *, progress: Sequence[tuple[int, str]], open_exceptions: int, **details: object) -> BatchView:
    return BatchView(
        id=row.id, number=row.number, mbr_id=row.mbr_id, mbr_number=row.mbr_number, mbr_version=row.mbr_version,
        product_code=row.product_code, product_name=row.product_name, stage=row.stage,
        planned_size=row.planned_size, unit=row.unit, scale_factor=row.scale_factor,
        planned_start=as_utc(row.planned_start), state=row.state, ordered_by=row.ordered_by,
        created_at=as_utc(row.created_at), started_at=as_utc(row.started_at) if row.started_at else None,
        completed_at=as_utc(row.completed_at) if row.completed_at else None,
        decided_at=as_utc(row.decided_at) if row.decided_at else None, hold_reason=row.hold_reason,
        theoretical_yield=row.theoretical_yield, yield_unit=row.yield_unit, yield_low_pct=row.yield_low_pct,
        yield_high_pct=row.yield_high_pct, actual_yield=row.actual_yield, yield_pct=row.yield_pct,
        reconciliation_note=row.reconciliation_note, output_lot_id=row.output_lot_id,
        output_lot_number=row.output_lot_number, steps_total=len(progress),
        steps_done=sum(1 for _, state in progress if state == "done"), open_exceptions=open_exceptions,
        current_step_ids=tuple(i for i, state in progress if state in ("open", "performed")), **details)  # type: ignore[arg-type]


def batch_view(session: Session, row: Batch, *, details: bool = False) -> BatchView:
    """The batch; with ``details`` its materials with dispenses, steps, exceptions, signatures, release blockers."""
    if not details:
        return batch_views(session, [row])[0]
    steps = list(session.scalars(select(BatchStep).where(BatchStep.batch_id == row.id).order_by(BatchStep.seq)))
    lines = list(session.scalars(select(BatchMaterial).where(BatchMaterial.batch_id == row.id)
                                 .order_by(BatchMaterial.line_no)))
    by_line = {line.id: line for line in lines}
    dispenses: dict[int, list[DispenseView]] = {line.id: [] for line in lines}
    for dispense in session.scalars(select(Dispense).where(Dispense.batch_id == row.id).order_by(Dispense.id)):
        line = by_line[dispense.material_line_id]
        dispenses[line.id].append(dispense_view(dispense, batch_number=row.number, line=line))
    exceptions = session.scalars(select(BatchException).where(BatchException.batch_id == row.id)
                                 .order_by(BatchException.seq)).all()
    blockers = tuple(release_problems(session, row)) if row.state == "in_review" else ()
    return _view(
        row, progress=[(s.id, s.state) for s in steps], open_exceptions=sum(1 for x in exceptions if x.state == "open"),
        materials=tuple(material_line_view(line, dispenses=dispenses[line.id]) for line in lines),
        steps=tuple(step_view(session, s, batch=row) for s in steps),
        exceptions=tuple(exception_view(x, batch_number=row.number) for x in exceptions),
        signatures=tuple(signatures_for(session, row)), release_blockers=blockers)


def get_batch(*, actor: Actor, batch_id: int) -> BatchView:
    actor.require("batches.view")
    with read_session() as session:
        row = session.get(Batch, batch_id)
        if row is None:
            raise NotFound(f"No batch with id {batch_id}.")
        return batch_view(session, row, details=True)


def list_batches(*, actor: Actor, state: str | None = None, product_code: str | None = None,
                 query: str | None = None, after_id: int | None = None, limit: int = 50) -> list[BatchView]:
    """Batches by id (cursor ``after_id``), filtered by state, product and a number/product text."""
    actor.require("batches.view")
    if state is not None and state not in BATCH_LIFECYCLE.states:
        raise ValidationFailed.on("state", f"Choose one of {', '.join(BATCH_LIFECYCLE.states)}.")
    with read_session() as session:
        stmt = select(Batch).order_by(Batch.id).limit(max(1, min(int(limit), 501)))
        if state:
            stmt = stmt.where(Batch.state == state)
        if product_code:
            stmt = stmt.where(Batch.product_code == product_code.strip())
        if query and query.strip():
            like = f"%{query.strip()}%"
            stmt = stmt.where(or_(Batch.number.ilike(like), Batch.product_name.ilike(like),
                                  Batch.product_code.ilike(like), Batch.mbr_number.ilike(like)))
        if after_id is not None:
            stmt = stmt.where(Batch.id > after_id)
        return batch_views(session, list(session.scalars(stmt)))


def batches_awaiting_review(*, actor: Actor) -> list[BatchView]:
    """Batches in review (QA's worklist), those with most unreviewed exceptions first."""
    actor.require("batches.view")
    with read_session() as session:
        rows = list(session.scalars(select(Batch).where(Batch.state == "in_review").order_by(Batch.id)))
        return sorted(batch_views(session, rows), key=lambda v: (-v.open_exceptions, v.id))


def review_exception(*, actor: Actor, batch_id: int, exception_id: int, comment: str) -> ExceptionView:
    """QA marks an exception reviewed with a comment; never one they raised (EU GMP Annex 16 §1.7)."""
    actor.require("batches.review")
    problem = text_problem("comment", comment, required=True, max_length=_COMMENT_MAX)
    if problem is not None:
        raise ValidationFailed(f"comment: {problem.message}", [problem])
    text = comment.strip()
    with transaction(actor=actor, reason=f"Exception reviewed: {text[:200]}") as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"No batch with id {batch_id}.")
        row = session.get(BatchException, exception_id, with_for_update=True)
        if row is None or row.batch_id != batch.id:
            raise NotFound(f"No exception {exception_id} on batch {batch.number}.")
        label = exception_label(row.seq)
        if row.state != "open":
            raise Conflict(f"{label} was already reviewed by {row.reviewed_by}.",
                           [FieldProblem("exception_id", "Already reviewed.")])
        if row.raised_by == actor.username:
            # Four-eyes: the person who raised a departure does not also accept it.
            raise Conflict(f"You raised {label}; another reviewer reviews it.",
                           [FieldProblem("exception_id", "You raised this exception.")])
        row.state, row.reviewed_by, row.reviewed_at, row.review_comment = "reviewed", actor.username, utcnow(), text
        session.flush()
        return exception_view(row, batch_number=batch.number)

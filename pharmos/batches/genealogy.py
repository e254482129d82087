"""Genealogy: which lots went into a lot (backward) and where a lot went (forward).

Every dispense issues a lot into a batch and every batch produces an output lot, so the links
``parent lot → child lot via batch`` written at completion answer a recall in one query: a
recursive CTE over ``genealogy_link`` (药品GMP 第一百八十六条: 可追溯; EU GMP Part I 8.28 recall
needs the distribution and origin of a batch). The same SQL runs on SQLite and PostgreSQL; the
walk is bounded by ``max_depth`` so a damaged graph (a cycle) cannot run away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Integer, func, literal, select
from sqlalchemy.orm import Session

from pharmos.batches.models import Batch, GenealogyLink
from pharmos.batches.views import GenealogyNode, GenealogyView
from pharmos.core.actor import Actor
from pharmos.core.db import read_session
from pharmos.core.errors import FieldProblem, ValidationFailed

__all__ = ["DIRECTIONS", "link_lots", "trace"]

DIRECTIONS = ("backward", "forward")
MAX_DEPTH = 50


@dataclass(frozen=True)
class _Reached:
    lot_id: int
    lot_number: str
    depth: int
    via_batch: str


def link_lots(session: Session, *, batch: Batch, parent_lot_id: int, parent_lot_number: str, child_lot_id: int,
              child_lot_number: str, quantity: Decimal | None, unit: str) -> GenealogyLink:
    """Record that ``parent`` went into ``child`` in ``batch`` (quantities of one edge add up)."""
    link = session.scalar(select(GenealogyLink).where(
        GenealogyLink.parent_lot_id == parent_lot_id, GenealogyLink.child_lot_id == child_lot_id,
        GenealogyLink.batch_number == batch.number))
    if link is None:
        link = GenealogyLink(batch_id=batch.id, batch_number=batch.number, parent_lot_id=parent_lot_id,
                             parent_lot_number=parent_lot_number, child_lot_id=child_lot_id,
                             child_lot_number=child_lot_number, quantity=quantity, unit=unit)
        session.add(link)
    elif quantity is not None:
        link.quantity = (Decimal(link.quantity) if link.quantity is not None else Decimal(0)) + quantity
    session.flush()
    return link


def walk(session: Session, *, lot_id: int, direction: str, max_depth: int) -> tuple[list[_Reached], bool]:
    """Every lot reached from ``lot_id`` within ``max_depth`` links (nearest depth each), and whether cut short."""
    link = GenealogyLink.__table__
    # backward: from a child to its parents; forward: from a parent to its children.
    here, there, there_number = ((link.c.child_lot_id, link.c.parent_lot_id, link.c.parent_lot_number)
                                 if direction == "backward" else
                                 (link.c.parent_lot_id, link.c.child_lot_id, link.c.child_lot_number))
    start = (select(there.label("lot_id"), there_number.label("lot_number"),
                    literal(1, Integer).label("depth"), link.c.batch_number.label("via_batch"))
             .where(here == lot_id))
    reached = start.cte("reached", recursive=True)
    step = (select(there, there_number, (reached.c.depth + 1).label("depth"), link.c.batch_number)
            .join(reached, here == reached.c.lot_id)
            .where(reached.c.depth < max_depth))
    # UNION (not UNION ALL) drops a lot reached again the same way: a diamond does not multiply rows.
    reached = reached.union(step)
    rows = session.execute(select(reached.c.lot_id, reached.c.lot_number, reached.c.depth, reached.c.via_batch)
                           .order_by(reached.c.depth, reached.c.lot_number)).all()
    nearest: dict[int, _Reached] = {}
    for row_lot, number, depth, via in rows:
        if row_lot != lot_id and row_lot not in nearest:
            nearest[row_lot] = _Reached(int(row_lot), number, int(depth), via)
    frontier = [r.lot_id for r in nearest.values() if r.depth == max_depth]
    truncated = bool(frontier) and session.scalar(
        select(func.count()).select_from(link).where(here.in_(frontier[:1000]))) != 0
    return list(nearest.values()), truncated


def _depth(max_depth: object) -> int:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not 1 <= max_depth <= MAX_DEPTH:
        raise ValidationFailed.on("max_depth", f"A whole number from 1 to {MAX_DEPTH}.")
    return max_depth


def trace(*, actor: Actor, lot: str, direction: str, max_depth: int = 10) -> GenealogyView:
    """The lots upstream (``backward``) or downstream (``forward``) of a lot or container number."""
    from pharmos.materials import service as materials

    actor.require("batches.view")
    problems: list[FieldProblem] = []
    if direction not in DIRECTIONS:
        problems.append(FieldProblem("direction", "Either backward (what went in) or forward (where it went)."))
    try:
        depth = _depth(max_depth)
    except ValidationFailed as error:
        problems.extend(error.fields)
    code = (lot or "").strip()
    if not code:
        problems.append(FieldProblem("lot", "Scan or type a lot or container number."))
    if problems:
        raise ValidationFailed("The genealogy cannot be traced.", problems)
    root = materials.find_by_scan(actor=actor, code=code)  # NotFound for an unknown number
    with read_session() as session:
        reached, truncated = walk(session, lot_id=root.id, direction=direction, max_depth=depth)
    summaries = materials.lot_summaries(lot_ids=[root.id, *(r.lot_id for r in reached)])
    nodes = [GenealogyNode(lot_id=root.id, lot_number=root.number, material_code=root.material_code,
                           material_name=root.material_name, supplier_lot=root.supplier_lot or None,
                           state=root.state, depth=0, via_batch=None)]
    for r in reached:
        summary = summaries.get(r.lot_id)
        nodes.append(GenealogyNode(
            lot_id=r.lot_id, lot_number=r.lot_number,
            material_code=summary.material_code if summary else "",
            material_name=summary.material_name if summary else "",
            supplier_lot=(summary.supplier_lot or None) if summary else None,
            state=summary.state if summary else "", depth=r.depth, via_batch=r.via_batch))
    return GenealogyView(lot_id=root.id, lot_number=root.number, direction=direction, nodes=tuple(nodes),
                         batches=tuple(_in_order(r.via_batch for r in reached)), truncated=truncated)


def _in_order(numbers: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(numbers))

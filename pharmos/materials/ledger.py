"""The stock ledger: the only code that changes a container's quantity, reserved quantity or place.

Every movement is an append-only ``stock_movement`` row written in the same transaction as
the container's cached balance. The balance changes through one conditional UPDATE
(``… WHERE quantity - reserved + change >= 0``), so two concurrent issues of the same
container on PostgreSQL cannot both pass: the second waits for the first's row lock and
re-evaluates the condition on the committed balance (READ COMMITTED re-check). A CHECK
constraint backs this up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, func, select, update
from sqlalchemy.orm import Session

from pharmos.core.actor import Actor
from pharmos.core.errors import Conflict, FieldProblem
from pharmos.materials.models import Container, StockMovement

MOVEMENT_KINDS: dict[str, tuple[str, str]] = {
    "receipt": ("Receipt", "收货"),
    "put_away": ("Put-away", "上架"),
    "transfer": ("Transfer", "移库"),
    "issue": ("Issue", "发料"),
    "return": ("Return", "退库"),
    "adjustment": ("Adjustment", "库存调整"),
    "sampling": ("Sampling", "取样"),
    "destruction": ("Destruction", "销毁"),
}
# Movements that take quantity out of a container, and those that only change its place.
CONSUMING = frozenset({"issue", "sampling", "destruction"})
RELOCATING = frozenset({"put_away", "transfer"})


def _exact(expression: ColumnElement[Decimal]) -> ColumnElement[Decimal]:
    # SQLite keeps NUMERIC as binary floating point: 0.3 - 0.1 - 0.2 is -2.8e-17 there, which
    # would refuse issuing the last 0.2 kg and leave dust behind. Rounding to the ledger's
    # resolution (units.QUANTUM) keeps balances exact; on PostgreSQL numeric it changes nothing.
    return func.round(expression, 6)


def _rows_changed(session: Session, stmt: Update) -> int:
    result = cast("CursorResult[Any]", session.execute(stmt))
    return result.rowcount


def post_movement(
    session: Session,
    *,
    kind: str,
    container: Container,
    change: Decimal,
    quantity: Decimal,
    unit: str,
    actor: Actor,
    to_location_id: int | None = None,
    reason: str = "",
    reference: str = "",
    consume_reserved: Decimal = Decimal(0),
    fefo_override: bool = False,
) -> StockMovement:
    """Write one ledger entry and move the container's balance by ``change`` (base unit).

    ``consume_reserved`` is the part of a negative change that was reserved for this purpose
    (an issue against a reservation); the rest must come out of the available quantity.
    Raises Conflict, naming ``quantity``, when the balance would go negative.
    """
    if kind not in MOVEMENT_KINDS:
        raise ValueError(f"unknown movement kind {kind!r}")
    from_location = container.location_id
    if change != 0:
        stmt = (update(Container).where(Container.id == container.id)
                .values(quantity=_exact(Container.quantity + change),
                        reserved=_exact(Container.reserved - consume_reserved)))
        if change < 0:
            # No movement can make a balance negative or eat into someone else's reservation.
            stmt = stmt.where(_exact(Container.quantity - Container.reserved + change + consume_reserved) >= 0,
                              _exact(Container.reserved - consume_reserved) >= 0)
        if _rows_changed(session, stmt.execution_options(synchronize_session=False)) != 1:
            session.expire(container, ["quantity", "reserved"])
            available = session.scalar(select(Container.quantity - Container.reserved)
                                       .where(Container.id == container.id))
            raise Conflict(
                f"Container {container.number} has only {available} available; {-change} requested.",
                [FieldProblem("quantity", f"Only {available} available in container {container.number}.")])
        session.expire(container, ["quantity", "reserved"])
    if kind in RELOCATING or (kind in ("receipt", "return") and to_location_id is not None):
        container.location_id = to_location_id
    movement = StockMovement(
        kind=kind, lot_id=container.lot_id, container_id=container.id, material_id=container.material_id,
        quantity_change=change, quantity=quantity, unit=unit,
        from_location_id=None if kind in ("receipt",) else from_location,
        to_location_id=to_location_id if kind in RELOCATING or kind in ("receipt", "return") else None,
        actor_id=actor.user_id, actor=actor.username, reason=reason, reference=reference,
        fefo_override=fefo_override,
    )
    session.add(movement)
    session.flush()
    return movement


def change_reservation(session: Session, *, container: Container, change: Decimal) -> None:
    """Reserve (positive) or un-reserve (negative) quantity of a container, never beyond what it holds."""
    stmt = (update(Container).where(Container.id == container.id,
                                    _exact(Container.reserved + change) >= 0,
                                    _exact(Container.quantity - Container.reserved - change) >= 0)
            .values(reserved=_exact(Container.reserved + change)).execution_options(synchronize_session=False))
    if _rows_changed(session, stmt) != 1:
        raise Conflict(f"Container {container.number} does not have {change} available to reserve.",
                       [FieldProblem("quantity", f"Not enough available in container {container.number}.")])
    session.expire(container, ["reserved"])


@dataclass(frozen=True)
class LedgerMismatch:
    container_id: int
    cached: Decimal
    from_ledger: Decimal


def reconcile(session: Session, container_ids: Iterable[int] | None = None) -> list[LedgerMismatch]:
    """Containers whose cached quantity differs from the sum of their ledger entries."""
    ledger = (select(StockMovement.container_id, func.sum(StockMovement.quantity_change).label("total"))
              .group_by(StockMovement.container_id).subquery())
    stmt = (select(Container.id, Container.quantity, func.coalesce(ledger.c.total, 0))
            .outerjoin(ledger, ledger.c.container_id == Container.id))
    if container_ids is not None:
        stmt = stmt.where(Container.id.in_(list(container_ids)))
    return [LedgerMismatch(cid, Decimal(cached), Decimal(total))
            for cid, cached, total in session.execute(stmt) if Decimal(cached) != Decimal(total)]

"""Record lifecycles: one declaration per record type, one entry point to apply them.

A lifecycle names its states (each with a one-line meaning) and its transitions, each
with the permission it needs, an optional guard returning the reason it is blocked, the
signature meaning it requires (21 CFR 11.50) and whether a reason-for-change is
mandatory (EU GMP Annex 11 §9). ``apply_transition`` enforces all of them and writes the
state change, its audit entries and the signature in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmos.compliance.signatures import (
    MEANINGS,
    SignableRecord,
    authenticate_signer,
    separation_problem,
    sign,
)
from pharmos.core.actor import Actor
from pharmos.core.db import Base, read_session, transaction
from pharmos.core.errors import FieldProblem, NotFound, PermissionDenied, TransitionRefused, ValidationFailed

Guard = Callable[[Session, Any, Actor], str | None]
Effect = Callable[[Session, Any, Actor], None]


@dataclass(frozen=True)
class Transition:
    name: str
    source: tuple[str, ...]
    target: str
    permission: str
    label_en: str
    label_zh: str
    signature: str | None = None
    reason_required: bool = False
    guard: Guard | None = None
    effect: Effect | None = None


@dataclass(frozen=True)
class Lifecycle:
    record_type: str
    model: type[Base]
    collection: str
    view_permission: str
    initial: str
    states: dict[str, str]
    transitions: tuple[Transition, ...]
    state_attr: str = "state"

    def __post_init__(self) -> None:
        names = [t.name for t in self.transitions]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.record_type}: duplicate transition names")
        if self.initial not in self.states:
            raise ValueError(f"{self.record_type}: initial state {self.initial!r} is not declared")
        for t in self.transitions:
            unknown = [s for s in (*t.source, t.target) if s not in self.states]
            if unknown:
                raise ValueError(f"{self.record_type}.{t.name}: undeclared states {unknown}")
            if t.signature is not None and t.signature not in MEANINGS:
                raise ValueError(f"{self.record_type}.{t.name}: unknown signature meaning {t.signature!r}")

    def transition(self, name: str) -> Transition:
        for t in self.transitions:
            if t.name == name:
                return t
        raise NotFound(f"{self.record_type} has no transition {name!r}.")


def replace_version_in_force(session: Session, record: Any, *, identity: str, in_force: str,
                             replaced: str) -> None:
    """Move every other version of ``record`` (same ``identity`` column) out of ``in_force``.

    For versioned records of which only one version may be in force at a time (controlled
    settings, material master records): approving a new version replaces the old one.
    """
    model = type(record)
    for previous in session.scalars(select(model).where(
            getattr(model, identity) == getattr(record, identity), model.state == in_force, model.id != record.id)):
        previous.state = replaced


LIFECYCLES: dict[str, Lifecycle] = {}


def register_lifecycle(lifecycle: Lifecycle) -> Lifecycle:
    LIFECYCLES[lifecycle.collection] = lifecycle
    return lifecycle


def lifecycle_for(collection: str) -> Lifecycle:
    try:
        return LIFECYCLES[collection]
    except KeyError:
        raise NotFound(f"No record collection {collection!r}.") from None


@dataclass(frozen=True)
class TransitionOption:
    name: str
    label_en: str
    label_zh: str
    target: str
    allowed: bool
    why_not: str | None
    signature: str | None
    reason_required: bool
    fields: tuple[str, ...] = field(default_factory=tuple)


def _blocked_reason(session: Session, lifecycle: Lifecycle, t: Transition, record: Any, actor: Actor) -> str | None:
    state = getattr(record, lifecycle.state_attr)
    if state not in t.source:
        return f"Not possible from state '{state}'."
    if not actor.can(t.permission):
        return f"Requires the permission {t.permission}."
    if t.signature is not None:
        if actor.user_id is None:
            return "Needs an electronic signature by a person."
        problem = separation_problem(session, record, meaning=t.signature, user_id=actor.user_id)
        if problem:
            return problem
    if t.guard is not None:
        return t.guard(session, record, actor)
    return None


def _load(session: Session, lifecycle: Lifecycle, record_id: int, *, lock: bool = False) -> Any:
    record = session.get(lifecycle.model, record_id, with_for_update=lock or None)
    if record is None:
        raise NotFound(f"No {lifecycle.record_type} with id {record_id}.")
    return record


def available_transitions(*, actor: Actor, collection: str, record_id: int) -> list[TransitionOption]:
    lifecycle = lifecycle_for(collection)
    if not actor.can(lifecycle.view_permission):
        raise PermissionDenied(f"You do not have the permission {lifecycle.view_permission}.")
    with read_session() as session:
        record = _load(session, lifecycle, record_id)
        options = []
        for t in lifecycle.transitions:
            why = _blocked_reason(session, lifecycle, t, record, actor)
            needed = (("password", "otp", "meaning") if t.signature else ()) + (
                ("reason",) if t.reason_required else ())
            options.append(TransitionOption(t.name, t.label_en, t.label_zh, t.target, why is None, why,
                                            t.signature, t.reason_required, needed))
        return options


def apply_transition(
    *,
    actor: Actor,
    collection: str,
    record_id: int,
    name: str,
    password: str | None = None,
    otp: str | None = None,
    meaning: str | None = None,
    reason: str | None = None,
) -> str:
    """Apply one transition; returns the new state. Refusals write nothing but failed-signature events."""
    lifecycle = lifecycle_for(collection)
    t = lifecycle.transition(name)
    if not actor.can(t.permission):
        # Lacking the right is a 403 like on every other route, whatever the record's state.
        raise PermissionDenied(f"You do not have the permission {t.permission}.")
    reason = (reason or "").strip() or None
    problems: list[FieldProblem] = []
    if t.reason_required and not reason:
        problems.append(FieldProblem("reason", "A reason for this change is required."))
    if t.signature is not None:
        if not password:
            problems.append(FieldProblem("password", "Re-enter your password to sign."))
        if meaning is not None and meaning != t.signature:
            problems.append(FieldProblem("meaning", f"This transition is signed with the meaning '{t.signature}'."))
    if problems:
        raise ValidationFailed(f"The transition '{name}' needs more input.", problems)
    with read_session() as session:
        why = _blocked_reason(session, lifecycle, t, _load(session, lifecycle, record_id), actor)
    if why:
        raise TransitionRefused(why)
    proof = authenticate_signer(actor=actor, password=password or "", otp=otp) if t.signature else None
    with transaction(actor=actor, reason=reason or f"{lifecycle.record_type}: {t.name}") as session:
        record = _load(session, lifecycle, record_id, lock=True)
        why = _blocked_reason(session, lifecycle, t, record, actor)  # re-checked under the row lock
        if why:
            raise TransitionRefused(why)
        if t.effect is not None:
            t.effect(session, record, actor)
        setattr(record, lifecycle.state_attr, t.target)
        session.flush()
        if proof is not None and t.signature is not None:
            signable: SignableRecord = record
            sign(session, record=signable, meaning=t.signature, actor=actor, proof=proof, reason=reason)
    return t.target

"""Saved filters of the quality lists: a person's named query strings, optionally shared.

A saved filter is a preference, not GMP data (no audit trail): it is only the query string a
list page already understands, so it can never show more than the person may see.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from sqlalchemy import or_, select

from pharmos.auth import service as auth
from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import FieldProblem, NotFound, PermissionDenied, ValidationFailed, text_problem
from pharmos.quality.complaint_views import SavedFilterView
from pharmos.quality.models import SavedFilter

__all__ = ["SAVED_FILTER_KEYS", "delete_saved_filter", "list_saved_filters", "save_filter"]

# The query keys each quality list page reads; a saved filter may use only these.
SAVED_FILTER_KEYS: dict[str, frozenset[str]] = {
    "deviations": frozenset({"q", "state", "classification", "overdue", "mine", "all", "linked"}),
    "capas": frozenset({"state", "overdue", "mine", "source_type", "awaiting", "all"}),
    "change_controls": frozenset({"q", "state", "change_type", "classification", "assessor", "mine", "open",
                                  "all"}),
    "documents": frozenset({"q", "doc_type", "department", "state", "due", "all"}),
    "training": frozenset({"username", "state", "overdue", "document", "skill"}),
    "complaints": frozenset({"q", "state", "category", "classification", "product", "overdue", "all"}),
}
MAX_QUERY = 1000


def _view(row: SavedFilter, owners: dict[int, str], me: int | None) -> SavedFilterView:
    return SavedFilterView(id=row.id, list_name=row.list_name, name=row.name, query=row.query, shared=row.shared,
                           owner=owners.get(row.user_id, ""), mine=me is not None and row.user_id == me)


def _query(problems: list[FieldProblem], list_name: str, query: object) -> str:
    if not isinstance(query, str):
        problems.append(FieldProblem("query", "Must be text."))
        return ""
    raw = query.strip().removeprefix("?")
    try:
        pairs = parse_qsl(raw, keep_blank_values=False, strict_parsing=bool(raw), max_num_fields=30)
    except ValueError:
        problems.append(FieldProblem("query", "Not a query string (key=value&…)."))
        return ""
    allowed = SAVED_FILTER_KEYS.get(list_name)
    if allowed is not None:
        unknown = sorted({key for key, _ in pairs if key not in allowed})
        if unknown:
            problems.append(FieldProblem("query", f"Not a filter of this list: {', '.join(unknown)}; "
                                                  f"use {', '.join(sorted(allowed))}."))
    normal = urlencode(pairs)
    if len(normal) > MAX_QUERY:
        problems.append(FieldProblem("query", f"At most {MAX_QUERY} characters."))
    return normal


def save_filter(*, actor: Actor, list_name: str, name: str, query: str, shared: bool = False) -> SavedFilterView:
    """Keep the current filter of a list under a name; QA may share it with everyone."""
    actor.require("quality.view")
    problems: list[FieldProblem] = []
    if list_name not in SAVED_FILTER_KEYS:
        problems.append(FieldProblem("list_name", f"Choose one of {', '.join(SAVED_FILTER_KEYS)}."))
    problem = text_problem("name", name, required=True, max_length=80)
    if problem is not None:
        problems.append(problem)
    label = name.strip() if isinstance(name, str) else ""
    normal = _query(problems, list_name, query)
    if not isinstance(shared, bool):
        problems.append(FieldProblem("shared", "Yes or no."))
    elif shared and not actor.can("deviations.classify"):
        raise PermissionDenied("Only QA (deviations.classify) shares filters with everyone.")
    if problems:
        raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    if actor.user_id is None:
        raise PermissionDenied("Only a person keeps saved filters.")
    with transaction(actor=actor, reason=f"Saved filter {label!r}") as session:
        taken = session.scalar(select(SavedFilter.id).where(
            SavedFilter.user_id == actor.user_id, SavedFilter.list_name == list_name, SavedFilter.name == label))
        if taken is not None:
            raise ValidationFailed.on("name", f"You already have a filter named {label!r} on this list.")
        row = SavedFilter(user_id=actor.user_id, list_name=list_name, name=label, query=normal, shared=shared)
        session.add(row)
        session.flush()
        return _view(row, {actor.user_id: actor.username}, actor.user_id)


def list_saved_filters(*, actor: Actor, list_name: str) -> list[SavedFilterView]:
    """The person's own filters of a list and those shared by QA, by name."""
    actor.require("quality.view")
    if list_name not in SAVED_FILTER_KEYS:
        raise ValidationFailed.on("list_name", f"Choose one of {', '.join(SAVED_FILTER_KEYS)}.")
    me = actor.user_id
    with read_session() as session:
        visible = SavedFilter.shared.is_(True) if me is None else or_(SavedFilter.user_id == me,
                                                                       SavedFilter.shared.is_(True))
        rows = list(session.scalars(select(SavedFilter).where(SavedFilter.list_name == list_name, visible)
                                    .order_by(SavedFilter.name, SavedFilter.id)))
        owners = auth.usernames_by_id(session, {r.user_id for r in rows})
        return [_view(r, owners, me) for r in rows]


def delete_saved_filter(*, actor: Actor, filter_id: int) -> None:
    """Only the person who saved a filter deletes it."""
    actor.require("quality.view")
    with transaction(actor=actor, reason="Saved filter deleted") as session:
        row = session.get(SavedFilter, filter_id, with_for_update=True)
        if row is None:
            raise NotFound(f"No saved filter with id {filter_id}.")
        if actor.user_id is None or row.user_id != actor.user_id:
            raise PermissionDenied("Only the person who saved a filter can delete it.")
        session.delete(row)
        session.flush()

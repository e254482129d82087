"""Comments on quality records: free text a person adds to a record's timeline.

A comment is kept as an entry of the record's audit trail (action ``comment``), so it is
attributable, time-stamped by the server, append-only and covered by the hash chain like
every other entry (ALCOA+; EU GMP Annex 11 §9). It changes no field and needs no signature.
"""

from __future__ import annotations

from pharmos.compliance.audit import record_event
from pharmos.compliance.lifecycle import lifecycle_for
from pharmos.core.actor import Actor
from pharmos.core.db import read_session, transaction
from pharmos.core.errors import NotFound, ValidationFailed, text_problem

__all__ = ["COMMENTABLE", "MAX_COMMENT", "comment_on_record"]

# The quality collections whose records take comments (the lifecycle collections of the module).
COMMENTABLE = ("deviations", "capas", "change-controls", "document-versions", "training-records", "complaints")
MAX_COMMENT = 2000


def comment_on_record(*, actor: Actor, collection: str, record_id: int, text: str) -> None:
    """Add ``text`` to the record's timeline; refused (nothing written) if empty, too long or no such record."""
    actor.require("quality.view")
    if collection not in COMMENTABLE:
        raise NotFound(f"No record collection {collection!r} takes comments.")
    lifecycle = lifecycle_for(collection)
    actor.require(lifecycle.view_permission)
    problem = text_problem("text", text, required=True, max_length=MAX_COMMENT)
    if problem:
        raise ValidationFailed("The comment was not added.", [problem])
    if collection == "document-versions":
        from pharmos.quality.documents import get_version

        get_version(actor=actor, version_id=record_id)  # NotFound for a version the caller may not see
    with read_session() as session:
        if session.get(lifecycle.model, record_id) is None:
            raise NotFound(f"No {lifecycle.record_type.replace('_', ' ')} with id {record_id}.")
    with transaction(actor=actor, reason="Comment") as session:
        record_event(session, record_type=lifecycle.record_type, record_id=record_id, action="comment",
                     details={"text": text.strip()})

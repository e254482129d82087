"""CAPA: planned by QA with owner, due date and effectiveness criteria; implemented by the owner only;
closed by someone else once the effectiveness check date has come and the action proved effective."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today
from pharmos.core.db import read_session
from pharmos.core.errors import Conflict, NotFound, PermissionDenied, TransitionRefused, ValidationFailed
from pharmos.quality import capa as capa_module
from pharmos.quality import lifecycle as quality_lifecycle
from pharmos.quality import service as quality
from pharmos.quality.models import Capa
from pharmos.quality.views import CapaView
from tests.quality import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()


def footprint() -> dict[str, Any]:
    """Everything a refused CAPA call must leave untouched."""
    with read_session() as session:
        return {
            "capas": sorted(session.execute(select(
                Capa.id, Capa.number, Capa.title, Capa.owner, Capa.due_on, Capa.state, Capa.implementation_summary,
                Capa.effectiveness_result, Capa.effective)).all()),
            "audit": count_entries(session),
        }


def fields_of(error: pytest.ExceptionInfo[Any]) -> set[str]:
    return {p.field for p in error.value.fields}


@contextmanager
def days_later(monkeypatch: pytest.MonkeyPatch, days: int) -> Iterator[None]:
    """The site calendar ``days`` ahead: the clock is the one outside dependency moved here."""
    with monkeypatch.context() as patch:
        for module in (capa_module, quality_lifecycle):
            patch.setattr(module, "site_today", lambda: TODAY + timedelta(days=days))
        yield


def new_capa(site: dict[str, Actor], *, owner: str = "op.liu", **overrides: Any) -> CapaView:
    """A corrective action planned by qa.zhang from an internal audit finding; ``overrides`` replace defaults."""
    fields: dict[str, Any] = {
        "kind": "corrective", "title": "Add cooling valve CV-12 to the PM plan", "source_type": "audit",
        "source_reference": "AUD-2026-03", "owner_username": owner, "due_on": TODAY + timedelta(days=14),
        "effectiveness_criteria": "No cooling valve failure in the next three batches.",
        "effectiveness_check_days": 30}
    return quality.create_capa(actor=site["qa.zhang"], **(fields | overrides))


def implemented(site: dict[str, Actor], capa: CapaView) -> CapaView:
    """Implementation recorded and signed ('performed') by the CAPA's owner."""
    owner = site.get(capa.owner) or f.person(capa.owner, "qa_manager")
    quality.record_implementation(actor=owner, capa_id=capa.id, summary="Valve added to PM plan PM-BR-002.")
    f.sign(owner, capa.id, "implement", collection="capas")
    return quality.get_capa(actor=owner, capa_id=capa.id)


# ---------------------------------------------------------------- planning


@pytest.mark.requirement("ICH Q10 3.2.2")
def test_a_capa_is_planned_with_owner_due_date_and_effectiveness_criteria(site: dict[str, Actor]) -> None:
    # when
    capa = new_capa(site)

    # then
    assert capa.number.startswith(f"CAPA-{TODAY.year}-") and len(capa.number) == len("CAPA-2026-0001")
    assert (capa.state, capa.owner, capa.author, capa.kind) == ("open", "op.liu", "qa.zhang", "corrective")
    assert (capa.source_type, capa.source_reference, capa.deviation_id) == ("audit", "AUD-2026-03", None)
    assert (capa.due_on, capa.effectiveness_check_days, capa.effectiveness_due_on) == (
        TODAY + timedelta(days=14), 30, None)
    assert not capa.overdue
    assert [e.kind for e in capa.timeline] == ["state"] and capa.timeline[0].actor == "qa.zhang"
    assert quality.get_capa(actor=site["viewer.chen"], number=capa.number.lower()) == capa


def test_the_effectiveness_check_delay_defaults_to_the_site_setting(site: dict[str, Actor]) -> None:
    # given
    from tests.materials.factories import effective_setting

    default = new_capa(site, effectiveness_check_days=None)
    effective_setting(site, "quality.capa_effectiveness_days", "60")

    # when
    configured = new_capa(site, effectiveness_check_days=None)

    # then
    assert (default.effectiveness_check_days, configured.effectiveness_check_days) == (90, 60)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"due_on": TODAY - timedelta(days=1)}, "due_on"),
    ({"owner_username": "viewer.chen"}, "owner_username"),
    ({"owner_username": "nobody"}, "owner_username"),
    ({"effectiveness_criteria": "  "}, "effectiveness_criteria"),
    ({"kind": "curative"}, "kind"),
    ({"title": ""}, "title"),
    ({"source_type": "rumour"}, "source_type"),
    ({"source_type": "deviation"}, "deviation_id"),
    ({"deviation_id": 1}, "deviation_id"),
    ({"effectiveness_check_days": 731}, "effectiveness_check_days"),
    ({"effectiveness_check_days": -1}, "effectiveness_check_days"),
])
def test_a_bad_plan_is_refused_on_its_field_and_writes_nothing(
        site: dict[str, Actor], overrides: dict[str, Any], field: str) -> None:
    # given
    new_capa(site)
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as error:
        new_capa(site, **overrides)

    # then
    assert field in fields_of(error)
    assert footprint() == before


@pytest.mark.parametrize("state", ["reported", "classified", "closed", "cancelled"])
def test_a_capa_for_a_deviation_outside_investigation_or_approval_is_refused(
        site: dict[str, Actor], state: str) -> None:
    # given
    deviation = {"reported": f.report, "classified": f.classified, "closed": f.closed_deviation,
                 "cancelled": f.cancelled_deviation}[state](site)
    before = footprint()

    # when
    with pytest.raises(ValidationFailed) as error:
        new_capa(site, source_type="deviation", source_reference="", deviation_id=deviation.id)

    # then
    assert fields_of(error) == {"deviation_id"} and state in error.value.message
    assert footprint() == before


def test_a_capa_for_a_deviation_under_investigation_takes_its_number_and_is_listed_on_it(
        site: dict[str, Actor]) -> None:
    # given
    deviation = f.investigating(site)

    # when
    capa = new_capa(site, source_type="deviation", source_reference="", deviation_id=deviation.id)

    # then
    assert (capa.deviation_id, capa.source_reference) == (deviation.id, deviation.number)
    assert [c.number for c in quality.get_deviation(actor=site["qa.li"], deviation_id=deviation.id).capas] == [
        capa.number]
    assert [c.id for c in quality.list_capas(actor=site["viewer.chen"], deviation_id=deviation.id)] == [capa.id]
    with pytest.raises(ValidationFailed) as error:
        new_capa(site, source_type="deviation", source_reference="DEV-1999-0001", deviation_id=deviation.id)
    assert fields_of(error) == {"source_reference"}


def test_planning_needs_capas_manage(site: dict[str, Actor]) -> None:
    # given
    before = footprint()

    # when / then
    with pytest.raises(PermissionDenied):
        quality.create_capa(actor=site["op.liu"], kind="corrective", title="x", source_type="other",
                            owner_username="op.liu", due_on=TODAY, effectiveness_criteria="y")
    assert footprint() == before


def test_the_plan_changes_while_open_with_a_reason_and_not_after(site: dict[str, Actor]) -> None:
    # given
    capa = new_capa(site)

    # when
    changed = quality.update_capa(actor=site["qa.zhang"], capa_id=capa.id, reason="Owner moved to QA",
                                  owner_username="qa.li", due_on=TODAY + timedelta(days=30))

    # then
    assert (changed.owner, changed.due_on, changed.title) == ("qa.li", TODAY + timedelta(days=30), capa.title)
    assert any("Owner moved to QA" in e.summary for e in changed.timeline)
    before = footprint()
    with pytest.raises(ValidationFailed) as error:
        quality.update_capa(actor=site["qa.zhang"], capa_id=capa.id, reason=" ", title="New")
    assert fields_of(error) == {"reason"}
    with pytest.raises(ValidationFailed) as error:
        quality.update_capa(actor=site["qa.zhang"], capa_id=capa.id, reason="r", owner_username="viewer.chen")
    assert fields_of(error) == {"owner_username"}
    assert footprint() == before
    implemented(site, changed)
    with pytest.raises(Conflict):
        quality.update_capa(actor=site["qa.zhang"], capa_id=capa.id, reason="Late change", title="New")


# ---------------------------------------------------------------- implementation


@pytest.mark.requirement("ICH Q10 3.2.2")
def test_only_the_owner_records_and_signs_the_implementation(site: dict[str, Actor]) -> None:
    # given a CAPA owned by the operator; the QA specialist also holds capas.perform
    capa = new_capa(site)
    before = footprint()

    # when someone else records or signs the implementation, it is refused
    with pytest.raises(Conflict, match="owner"):
        quality.record_implementation(actor=site["qa.zhang"], capa_id=capa.id, summary="Done by QA")
    with pytest.raises(TransitionRefused, match="owner"):
        f.sign(site["qa.zhang"], capa.id, "implement", collection="capas")
    # and the owner cannot sign before saying what was implemented
    with pytest.raises(TransitionRefused, match="implemented"):
        f.sign(site["op.liu"], capa.id, "implement", collection="capas")
    assert footprint() == before

    # when the owner records and signs it
    done = implemented(site, capa)

    # then the effectiveness check is scheduled from today
    assert (done.state, done.implementation_summary) == ("implemented", "Valve added to PM plan PM-BR-002.")
    assert done.effectiveness_due_on == TODAY + timedelta(days=30) and done.implemented_at is not None
    assert [(s.username, s.meaning) for s in done.signatures] == [("op.liu", "performed")]
    assert "signature" in {e.kind for e in done.timeline}


def test_an_empty_summary_or_an_implemented_capa_is_refused(site: dict[str, Actor]) -> None:
    # given
    capa = new_capa(site)
    before = footprint()

    # when / then
    with pytest.raises(ValidationFailed) as error:
        quality.record_implementation(actor=site["op.liu"], capa_id=capa.id, summary="")
    assert fields_of(error) == {"summary"} and footprint() == before
    implemented(site, capa)
    with pytest.raises(Conflict):
        quality.record_implementation(actor=site["op.liu"], capa_id=capa.id, summary="Again")
    with pytest.raises(NotFound):
        quality.record_implementation(actor=site["op.liu"], capa_id=capa.id + 100, summary="x")


# ---------------------------------------------------------------- effectiveness and closure


@pytest.mark.requirement("ICH Q10 3.2.2")
def test_closing_is_refused_before_the_effectiveness_check_date(
        site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given an implemented CAPA judged effective early
    capa = implemented(site, new_capa(site))
    quality.record_effectiveness_check(actor=site["qa.li"], capa_id=capa.id, result="No failures so far.",
                                       effective=True)

    # when / then QA cannot close it before the check date
    with pytest.raises(TransitionRefused, match=f"due on {(TODAY + timedelta(days=30)).isoformat()}"):
        f.sign(site["qa.li"], capa.id, "close", collection="capas")
    assert quality.get_capa(actor=site["qa.li"], capa_id=capa.id).state == "implemented"

    # when the check date has come, it closes
    with days_later(monkeypatch, 30):
        assert f.sign(site["qa.li"], capa.id, "close", collection="capas") == "closed"
    closed = quality.get_capa(actor=site["qa.li"], capa_id=capa.id)
    assert (closed.effective, closed.closed_at is not None) == (True, True)
    # the owner's signature covers the implementation, QA's the effectiveness check: both stay valid
    assert [s.meaning for s in closed.signatures] == ["performed", "approved"]
    assert all(s.valid for s in closed.signatures)


def test_closing_is_refused_without_a_check_and_when_not_effective_and_reopening_restarts_it(
        site: dict[str, Actor]) -> None:
    # given an implemented CAPA due for its check today
    capa = implemented(site, new_capa(site, effectiveness_check_days=0))

    # when no check was recorded
    with pytest.raises(TransitionRefused, match="Record the effectiveness check"):
        f.sign(site["qa.li"], capa.id, "close", collection="capas")

    # when the check finds the action not effective
    quality.record_effectiveness_check(actor=site["qa.li"], capa_id=capa.id, result="Valve failed again.",
                                       effective=False)
    with pytest.raises(TransitionRefused, match="not effective"):
        f.sign(site["qa.li"], capa.id, "close", collection="capas")

    # then QA reopens it with a reason, and the owner implements it again
    with pytest.raises(ValidationFailed) as error:
        f.sign(site["qa.li"], capa.id, "reopen", collection="capas")
    assert fields_of(error) == {"reason"}
    assert f.sign(site["qa.li"], capa.id, "reopen", collection="capas", reason="Valve failed again") == "open"
    reopened = quality.get_capa(actor=site["qa.li"], capa_id=capa.id)
    assert (reopened.state, reopened.implemented_at, reopened.effectiveness_due_on) == ("open", None, None)
    assert implemented(site, reopened).state == "implemented"


@pytest.mark.requirement("21 CFR 11.10(g)")
def test_the_owner_cannot_judge_or_close_their_own_capa(site: dict[str, Actor]) -> None:
    # given a CAPA owned and implemented by a QA manager (who holds capas.verify)
    capa = implemented(site, new_capa(site, owner="qa.li", effectiveness_check_days=0))
    other = f.person("qa.wu", "qa_manager", "吴敏")
    before = footprint()

    # when the owner records the check, it is refused
    with pytest.raises(Conflict, match="owner"):
        quality.record_effectiveness_check(actor=site["qa.li"], capa_id=capa.id, result="Fine", effective=True)
    assert footprint() == before

    # when another QA manager judges it effective, the owner still cannot close it
    quality.record_effectiveness_check(actor=other, capa_id=capa.id, result="No failures.", effective=True)
    with pytest.raises(TransitionRefused):
        f.sign(site["qa.li"], capa.id, "close", collection="capas")

    # then that other QA manager closes it
    assert f.sign(other, capa.id, "close", collection="capas") == "closed"


def test_an_effectiveness_check_needs_a_result_and_an_implemented_capa(site: dict[str, Actor]) -> None:
    # given
    capa = new_capa(site)
    before = footprint()

    # when / then: not while open
    with pytest.raises(Conflict):
        quality.record_effectiveness_check(actor=site["qa.li"], capa_id=capa.id, result="Fine", effective=True)
    assert footprint() == before
    implemented(site, capa)
    before = footprint()
    # nor without a result and a yes/no, nor by a QA specialist without capas.verify
    with pytest.raises(ValidationFailed) as error:
        quality.record_effectiveness_check(actor=site["qa.li"], capa_id=capa.id, result="",
                                           effective="yes")  # type: ignore[arg-type]
    assert fields_of(error) == {"result", "effective"}
    with pytest.raises(PermissionDenied):
        quality.record_effectiveness_check(actor=site["qa.zhang"], capa_id=capa.id, result="Fine", effective=True)
    assert footprint() == before


def test_an_open_capa_is_cancelled_with_a_reason(site: dict[str, Actor]) -> None:
    # given
    capa = new_capa(site)

    # when
    state = f.sign(site["qa.zhang"], capa.id, "cancel", collection="capas", reason="Covered by CAPA-2026-0002")

    # then
    assert state == "cancelled"
    assert quality.list_capas(actor=site["viewer.chen"], open_only=True) == []


# ---------------------------------------------------------------- lists


def test_lists_filter_by_state_owner_overdue_and_awaiting_effectiveness(
        site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given one open CAPA due today, one owned by qa.li due later, one implemented with its check in 5 days
    due_today = new_capa(site, due_on=TODAY)
    later = new_capa(site, owner="qa.li", due_on=TODAY + timedelta(days=10))
    checking = implemented(site, new_capa(site, effectiveness_check_days=5, source_type="other",
                                          source_reference=""))
    viewer = site["viewer.chen"]

    def numbers(**filters: Any) -> list[str]:
        return [c.number for c in quality.list_capas(actor=viewer, **filters)]

    # then
    assert numbers() == [due_today.number, later.number, checking.number]
    assert numbers(state="implemented") == numbers(awaiting_effectiveness=True) == [checking.number]
    assert numbers(owner="qa.li") == [later.number]
    assert numbers(source_type="other") == [checking.number]
    assert numbers(overdue=True) == []
    assert numbers(after_id=due_today.id, limit=1) == [later.number]
    with days_later(monkeypatch, 6):
        assert numbers(overdue=True) == [due_today.number, checking.number]
        assert numbers(overdue=False) == [later.number]
        assert [c.overdue for c in quality.list_capas(actor=viewer)] == [True, False, True]
    with pytest.raises(ValidationFailed) as error:
        quality.list_capas(actor=viewer, state="done")
    assert fields_of(error) == {"state"}
    with pytest.raises(PermissionDenied):
        quality.list_capas(actor=Actor("nobody", "nobody", user_id=999))


def test_list_views_of_many_capas_run_no_query_per_row(site: dict[str, Actor]) -> None:
    # given
    for _ in range(5):
        new_capa(site)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    # when
    with read_session() as session:
        rows = list(session.scalars(select(Capa).order_by(Capa.id)))
        ids = [r.id for r in rows]
        event.listen(session.get_bind(), "before_cursor_execute", count)
        try:
            views = capa_module.capa_views(session, rows)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", count)

    # then: list views carry no signatures or timeline, and building them asked the database nothing
    assert [v.id for v in views] == ids and len(views) == 5
    assert all(v.timeline == () and v.signatures == () for v in views)
    assert statements == []

"""The quality inbox, the dashboard counts, the deviation trend and the spreadsheet exports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pharmos.compliance.audit import AuditEntry
from pharmos.core.actor import Actor
from pharmos.core.clock import site_today, utcnow
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import get_database, read_session
from pharmos.core.errors import PermissionDenied, ValidationFailed
from pharmos.core.spreadsheets import EXPORT_FORMATS, read_table
from pharmos.quality import deviations as deviations_module
from pharmos.quality import reports as reports_module
from pharmos.quality import service as quality
from pharmos.quality.reports import CAPA_EXPORT_COLUMNS, DEVIATION_EXPORT_COLUMNS
from pharmos.quality.views import CapaView, DeviationView
from tests.materials.factories import site_people
from tests.quality import factories as f

# Service rules: SQLite is enough; this module's API tests run on both back-ends.
pytestmark = pytest.mark.sqlite_only

TODAY = site_today()


@contextmanager
def days_later(monkeypatch: pytest.MonkeyPatch, days: int) -> Iterator[None]:
    """The site calendar ``days`` ahead for the reports: the clock is the one outside dependency moved here."""
    with monkeypatch.context() as patch:
        patch.setattr(reports_module, "site_today", lambda: TODAY + timedelta(days=days))
        yield


def capa(site: dict[str, Actor], *, owner: str = "op.liu", check_days: int = 30, **fields: Any) -> CapaView:
    values: dict[str, Any] = {"kind": "preventive", "title": "Train operators on jacket alarms",
                              "source_type": "other", "owner_username": owner, "due_on": TODAY + timedelta(days=14),
                              "effectiveness_criteria": "No missed alarm in 3 months.",
                              "effectiveness_check_days": check_days}
    return quality.create_capa(actor=site["qa.zhang"], **(values | fields))


def implemented(site: dict[str, Actor], item: CapaView) -> CapaView:
    owner = site[item.owner]
    quality.record_implementation(actor=owner, capa_id=item.id, summary="Training given, records filed.")
    f.sign(owner, item.id, "implement", collection="capas")
    return quality.get_capa(actor=owner, capa_id=item.id)


@dataclass
class Inbox:
    reported: DeviationView
    investigating: DeviationView
    pending: DeviationView
    approved: DeviationView
    open_capa: CapaView
    checking: CapaView


def inbox_site(site: dict[str, Actor]) -> Inbox:
    """One record waiting for each kind of action, each investigation by a different supervisor."""
    reported = f.report(site, title="Label printer jam")
    investigating = f.investigating(site, by=f.investigator("sup.wu"), title="Jacket temperature excursion")
    assert investigating.due_on is not None
    quality.request_extension(actor=f.investigator("sup.wu"), deviation_id=investigating.id,
                              requested_due_on=investigating.due_on + timedelta(days=5),
                              justification="Valve supplier report pending.")
    pending = f.pending_approval(site, by=f.investigator("sup.ma"), title="Filter integrity retest")
    approved = f.approved_deviation(site, by=f.investigator("sup.qian"), title="Room pressure alarm")
    open_capa = capa(site)
    checking = implemented(site, capa(site, check_days=0, title="Add alarm to SOP"))
    return Inbox(reported, investigating, pending, approved, open_capa, checking)


def tasks_of(actor: Actor) -> set[tuple[str, str, str]]:
    return {(t.record_type, t.number, t.action) for t in quality.my_quality_tasks(actor=actor)}


# ---------------------------------------------------------------- the inbox


def test_each_role_sees_what_it_should_do_now(site: dict[str, Actor]) -> None:
    # given
    box = inbox_site(site)

    # when / then: the QA specialist classifies and decides extensions
    assert tasks_of(site["qa.zhang"]) == {
        ("deviation", box.reported.number, "classify"),
        ("extension", box.investigating.number, "decide_extension")}
    # the QA manager also approves, closes (no open CAPA) and checks effectiveness when due
    assert tasks_of(site["qa.li"]) == {
        ("deviation", box.reported.number, "classify"),
        ("extension", box.investigating.number, "decide_extension"),
        ("deviation", box.pending.number, "approve"),
        ("deviation", box.approved.number, "close"),
        ("capa", box.checking.number, "check_effectiveness")}
    # each investigator sees only their own investigation, and the one who submitted sees nothing to approve
    assert tasks_of(f.investigator("sup.wu")) == {("deviation", box.investigating.number, "investigate")}
    assert tasks_of(f.investigator("sup.ma")) == set()
    # the operator implements the CAPA they own; the viewer has nothing to do
    assert tasks_of(site["op.liu"]) == {("capa", box.open_capa.number, "implement")}
    assert tasks_of(site["viewer.chen"]) == set()
    extension = next(t for t in quality.my_quality_tasks(actor=site["qa.li"]) if t.action == "decide_extension")
    assert extension.record_id == box.investigating.id


def test_an_approved_deviation_with_open_capa_is_not_yet_to_close(site: dict[str, Actor]) -> None:
    # given
    box = inbox_site(site)

    # when
    capa(site, source_type="deviation", deviation_id=box.approved.id)

    # then
    assert ("deviation", box.approved.number, "close") not in tasks_of(site["qa.li"])


def test_the_owner_of_a_capa_is_not_asked_to_check_its_effectiveness(site: dict[str, Actor]) -> None:
    # given a CAPA owned and implemented by the QA manager
    owned = implemented(site, capa(site, owner="qa.li", check_days=0))

    # then
    assert ("capa", owned.number, "check_effectiveness") not in tasks_of(site["qa.li"])
    assert ("capa", owned.number, "check_effectiveness") in tasks_of(f.person("qa.wu", "qa_manager"))


def test_the_inbox_lists_overdue_work_first(site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given the operator owns a CAPA due in 14 days and one due in 3
    later = capa(site)
    sooner = capa(site, due_on=TODAY + timedelta(days=3), title="Relabel the alarm panel")
    assert [t.number for t in quality.my_quality_tasks(actor=site["op.liu"])] == [sooner.number, later.number]

    # when 5 days pass
    with days_later(monkeypatch, 5):
        tasks = quality.my_quality_tasks(actor=site["op.liu"])

    # then the overdue one comes first and says so
    assert [(t.number, t.overdue, t.due_on) for t in tasks] == [
        (sooner.number, True, TODAY + timedelta(days=3)), (later.number, False, TODAY + timedelta(days=14))]


# ---------------------------------------------------------------- counts and trend


def test_counts_give_open_and_overdue_items_by_classification_and_age(
        site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given two open deviations (one classified major), one closed, an open and an implemented CAPA
    f.report(site, title="Label printer jam")
    major = f.classified(site, classification="major")
    f.closed_deviation(site, by=f.investigator("sup.ma"))
    capa(site)
    implemented(site, capa(site, check_days=10))
    assert major.due_on is not None and major.due_on > TODAY + timedelta(days=14)

    # when
    now = quality.quality_counts(actor=site["viewer.chen"])
    with days_later(monkeypatch, (major.due_on - TODAY).days + 1):
        past_due = quality.quality_counts(actor=site["viewer.chen"])
    with days_later(monkeypatch, 100):
        much_later = quality.quality_counts(actor=site["viewer.chen"])

    # then
    assert (now.open_deviations, now.overdue_deviations, now.open_capas, now.overdue_capas,
            now.capas_awaiting_effectiveness) == (2, 0, 2, 0, 1)
    assert now.by_classification == {"minor": 0, "major": 1, "critical": 0, "unclassified": 1}
    assert now.by_age == {"0-30": 2, "31-60": 0, "61-90": 0, ">90": 0}
    assert (past_due.overdue_deviations, past_due.overdue_capas) == (1, 2)
    assert much_later.by_age == {"0-30": 0, "31-60": 0, "61-90": 0, ">90": 2}
    with pytest.raises(PermissionDenied):
        quality.quality_counts(actor=Actor("nobody", "nobody", user_id=999))


def test_the_trend_counts_deviations_per_month_and_category_with_zeros(
        site: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    # given a deviation reported 40 days ago, and this month one unclassified, one investigated (machine)
    long_ago = utcnow() - timedelta(days=40)
    with monkeypatch.context() as patch:
        patch.setattr(deviations_module, "utcnow", lambda: long_ago)
        f.report(site, title="Old excursion", discovered_at=long_ago - timedelta(hours=1))
    f.report(site, title="Label printer jam")
    f.pending_approval(site, classification="critical")
    this_month, earlier = TODAY.strftime("%Y-%m"), (TODAY - timedelta(days=40)).strftime("%Y-%m")

    # when
    by_class = quality.deviation_trend(actor=site["viewer.chen"], months=3)
    by_cause = quality.deviation_trend(actor=site["viewer.chen"], months=3, by="root_cause_category")

    # then every month × category is there, oldest month first
    assert len(by_class) == 3 * 4 and len(by_cause) == 3 * 7
    assert by_class[0].month < by_class[-1].month == this_month
    assert {(p.category, p.count) for p in by_class if p.month == this_month and p.count} == {
        ("unclassified", 1), ("critical", 1)}
    assert {(p.category, p.count) for p in by_class if p.month == earlier and p.count} == {("unclassified", 1)}
    assert {(p.category, p.count) for p in by_cause if p.month == this_month and p.count} == {
        ("machine", 1), ("undetermined", 1)}


@pytest.mark.parametrize(("arguments", "field"), [({"months": 0}, "months"), ({"months": 61}, "months"),
                                                  ({"by": "area"}, "by")])
def test_a_bad_trend_request_is_refused_on_its_field(site: dict[str, Actor], arguments: dict[str, Any],
                                                     field: str) -> None:
    # when / then
    with pytest.raises(ValidationFailed) as error:
        quality.deviation_trend(actor=site["viewer.chen"], **arguments)
    assert {p.field for p in error.value.fields} == {field}


# ---------------------------------------------------------------- exports


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_deviations_export_as_a_spreadsheet_that_reads_back(site: dict[str, Actor], fmt: str) -> None:
    # given
    first = f.report(site, title="=cmd|' /C calc'!A0")
    second = f.classified(site, classification="minor", title="Balance drift")

    # when
    content, media_type, filename = quality.export_deviations(actor=site["viewer.chen"], fmt=fmt)
    only_minor = quality.export_deviations(actor=site["viewer.chen"], fmt=fmt, classification="minor")[0]

    # then
    assert filename.startswith("deviations-") and filename.endswith(f".{fmt}")
    assert media_type == EXPORT_FORMATS[fmt]
    rows = read_table(content, filename, required=DEVIATION_EXPORT_COLUMNS, optional=())
    assert [r.values["number"] for r in rows] == [first.number, second.number]
    # a typed formula stays text (OWASP CSV injection)
    assert str(rows[0].values["title"]).lstrip("'") == "=cmd|' /C calc'!A0"
    assert (rows[1].values["classification"], rows[1].values["state"]) == ("minor", "classified")
    assert [r.values["number"] for r in read_table(only_minor, filename, required=DEVIATION_EXPORT_COLUMNS,
                                                   optional=())] == [second.number]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_capa_export_as_a_spreadsheet_that_reads_back(site: dict[str, Actor], fmt: str) -> None:
    # given
    open_one = capa(site)
    done = implemented(site, capa(site, title="Add alarm to SOP"))

    # when
    content, _media_type, filename = quality.export_capas(actor=site["viewer.chen"], fmt=fmt)
    implemented_only = quality.export_capas(actor=site["viewer.chen"], fmt=fmt, state="implemented")[0]

    # then
    rows = read_table(content, filename, required=CAPA_EXPORT_COLUMNS, optional=())
    assert [(r.values["number"], r.values["state"], r.values["owner"]) for r in rows] == [
        (open_one.number, "open", "op.liu"), (done.number, "implemented", "op.liu")]
    assert str(rows[1].values["effectiveness_due_on"])[:10] == (TODAY + timedelta(days=30)).isoformat()
    assert [r.values["number"] for r in read_table(implemented_only, filename, required=CAPA_EXPORT_COLUMNS,
                                                   optional=())] == [done.number]


def test_an_unknown_export_format_is_refused_on_format(site: dict[str, Actor]) -> None:
    # when / then
    with pytest.raises(ValidationFailed) as error:
        quality.export_capas(actor=site["viewer.chen"], fmt="pdf")
    assert {p.field for p in error.value.fields} == {"format"}
    with pytest.raises(PermissionDenied):
        quality.export_deviations(actor=Actor("nobody", "nobody", user_id=999))


# ---------------------------------------------------------------- the escalation command


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PHARMOS_DATABASE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    get_database().dispose()


def test_cli_escalate_reports_what_it_escalated_once_and_refuses_a_bad_date(db_file: Path) -> None:
    # given a CAPA due today on a freshly migrated database
    from pharmos.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    people = site_people()
    due_today = capa(people, due_on=TODAY)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()

    # when
    today_run = runner.invoke(app, ["quality", "escalate"])
    first = runner.invoke(app, ["quality", "escalate", "--today", tomorrow])
    second = runner.invoke(app, ["quality", "escalate", "--today", tomorrow])
    bad = runner.invoke(app, ["quality", "escalate", "--today", "tomorrow"])

    # then
    assert today_run.exit_code == 0, today_run.output
    assert "0 deviation(s) and 0 CAPA escalated" in today_run.output
    assert first.exit_code == 0 and "0 deviation(s) and 1 CAPA escalated" in first.output
    assert f"escalated: {due_today.number}" in first.output and tomorrow in first.output
    assert second.exit_code == 0 and "0 deviation(s) and 0 CAPA escalated" in second.output
    assert bad.exit_code == 2 and "today" in bad.output
    with read_session() as session:
        actors = list(session.scalars(select(AuditEntry.actor).where(
            AuditEntry.record_type == "capa", AuditEntry.action == "escalated")))
    assert actors == ["job:quality-escalation"]

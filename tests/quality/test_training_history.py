"""is_qualified over history (Hypothesis), and the daily training-sync job and its CLI command.

The property: at every instant between steps of a random sequence of new versions becoming
effective and trainees acknowledging, ``is_qualified(at=that instant)`` says "qualified" exactly
when the person had acknowledged the version then in force. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pharmos.core.actor import Actor
from pharmos.core.clock import utcnow
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import get_database
from pharmos.core.errors import PermissionDenied
from pharmos.quality import training
from tests.materials.factories import site_people
from tests.quality.document_factories import effective_document, new_version_effective
from tests.quality.training_factories import acknowledge, open_record, operator, require

_numbers = itertools.count(1)
STEPS = st.lists(st.sampled_from(("revise", "op.liu", "op.zhao")), min_size=1, max_size=4)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_is_qualified_matches_the_history_of_versions_and_acknowledgements(site: dict[str, Actor],
                                                                           steps: list[str]) -> None:
    # given: a new SOP required for operators, effective now (version 1)
    people = {"op.liu": site["op.liu"], "op.zhao": operator()}
    number = f"SOP-HY-{next(_numbers):04d}"
    before_effective = utcnow()
    effective_document(site, number=number)
    require(site, document_number=number)
    version, trained = 1, {name: set[int]() for name in people}
    checkpoints: list[tuple[datetime, dict[str, bool]]] = [(utcnow(), {name: False for name in people})]

    # when: versions become effective and people acknowledge, in a random order
    for step in steps:
        if step == "revise":
            new_version_effective(site, number)
            version += 1
        elif version not in trained[step]:
            acknowledge(people[step], number)
            trained[step].add(version)
        checkpoints.append((utcnow(), {name: version in trained[name] for name in people}))

    # then: every past instant is judged on the version then in force
    for at, expected in checkpoints:
        for name, qualified in expected.items():
            answer = training.is_qualified(username=name, document_number=number, at=at)
            assert answer.qualified == qualified, (name, at, answer)
            assert answer.qualified == (answer.reasons == ())
    early = training.is_qualified(username="op.liu", document_number=number, at=before_effective)
    assert early.reasons[0].startswith(f"no effective version of {number}")


def test_sync_is_idempotent_and_skips_documents_without_an_effective_version(site: dict[str, Actor]) -> None:
    # given
    effective_document(site, number="SOP-QA-0401")
    require(site, document_number="SOP-QA-0401")
    job = Actor.system("job:training-sync")

    # when
    nothing_new = training.sync_training(actor=job)
    operator("op.new")
    joined = training.sync_training(actor=job)

    # then
    assert nothing_new.assigned == ()
    assert len(joined.assigned) == 1 and joined.assigned[0].startswith("op.new: SOP-QA-0401 v1")
    assert open_record(operator("op.new"), document_number="SOP-QA-0401").due_on == joined.run_on + timedelta(days=14)
    with pytest.raises(PermissionDenied):
        training.sync_training(actor=site["op.liu"])


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PHARMOS_DATABASE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    get_database().dispose()


def test_cli_training_sync_assigns_newcomers_once_and_refuses_a_bad_date(db_file: Path) -> None:
    # given
    from pharmos.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    people = site_people()
    effective_document(people, number="SOP-QA-0501")
    require(people, document_number="SOP-QA-0501")
    operator("op.sun", "孙丽")

    # when
    first = runner.invoke(app, ["quality", "training-sync"])
    second = runner.invoke(app, ["quality", "training-sync"])
    bad = runner.invoke(app, ["quality", "training-sync", "--today", "tomorrow"])

    # then
    assert first.exit_code == 0, first.output
    assert "1 assignment(s)" in first.output and "assigned: op.sun: SOP-QA-0501 v1" in first.output
    assert second.exit_code == 0 and "0 assignment(s)" in second.output
    assert bad.exit_code == 2 and "today" in bad.output

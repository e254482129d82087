"""The daily job's command: `pharmos quality documents-effective` makes approved versions effective on their date."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pharmos.compliance.audit import AuditEntry
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import get_database, read_session
from pharmos.quality import documents
from tests.materials.factories import site_people
from tests.quality import document_factories as f


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PHARMOS_DATABASE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    get_database().dispose()


def test_cli_makes_approved_versions_effective_once(db_file: Path) -> None:
    # given: a version approved for today on a freshly migrated database
    from pharmos.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    people = site_people()
    document = f.draft_document(people)
    f.approved_version(people, document.versions[0].id)
    # when
    first = runner.invoke(app, ["quality", "documents-effective"])
    second = runner.invoke(app, ["quality", "documents-effective"])
    # then
    assert first.exit_code == 0, first.output
    assert "made effective: 1" in first.output and f"effective: {document.number} v1" in first.output
    assert second.exit_code == 0 and "made effective: 0" in second.output
    assert documents.get_document(actor=people["op.liu"], document_id=document.id).effective_version == 1
    with read_session() as session:
        actors = set(session.scalars(select(AuditEntry.actor).where(
            AuditEntry.record_type == "document_version", AuditEntry.reason.like("effective date reached%"))))
    assert actors == {"job:documents-effective"}

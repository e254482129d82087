"""The ``pharmos`` command, run in-process against a temporary SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pharmos.auth import service as auth
from pharmos.cli import app
from pharmos.compliance.audit import count_entries
from pharmos.core.actor import Actor
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import get_database, read_session

runner = CliRunner()
ADMIN = ["--admin-username", "admin.wang", "--admin-password", "Admin@2026-x", "--admin-full-name", "王强"]


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PHARMOS_DATABASE_URL", f"sqlite:///{path}")
    reset_settings_cache()
    yield path
    get_database().dispose()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _entries() -> int:
    with read_session() as session:
        return count_entries(session)


def test_init_with_flags_creates_an_admin_who_can_log_in(db_file: Path) -> None:
    # when
    code, output = _run("init", *ADMIN)

    # then
    assert code == 0, output
    assert "admin.wang" in output
    actor = auth.login(username="admin.wang", password="Admin@2026-x").actor
    assert actor.full_name == "王强"
    assert actor.can("auth.manage_users")


def test_init_without_flags_or_terminal_migrates_and_creates_no_admin(db_file: Path) -> None:
    # when
    code, output = _run("init")

    # then
    assert code == 0, output
    assert "No administrator was created" in output
    assert auth.list_users(actor=Actor.cli()) == []
    assert {r.name for r in auth.list_roles(actor=Actor.cli())} >= {"admin", "qa_manager", "viewer"}


def test_init_with_partial_flags_names_the_missing_ones(db_file: Path) -> None:
    # when
    code, output = _run("init", "--admin-username", "admin.wang")

    # then
    assert code == 2
    assert "admin_password" in output and "admin_full_name" in output
    assert auth.list_users(actor=Actor.cli()) == []


def test_user_add_with_a_bad_password_names_the_field_and_creates_nothing(db_file: Path) -> None:
    # given
    _run("init")
    before = _entries()

    # when
    code, output = _run("user", "add", "qa.li", "--full-name", "李娜", "--role", "qa_manager", "--password", "short")

    # then
    assert code == 2
    assert "password" in output
    assert "at least 10 characters" in output
    assert auth.list_users(actor=Actor.cli()) == []
    assert _entries() == before


def test_user_commands_are_attributed_to_the_os_account(db_file: Path) -> None:
    # given
    _run("init")

    # when
    added = _run("user", "add", "qc.wang", "--full-name", "王芳", "--role", "qc_analyst", "--role", "viewer",
                 "--password", "Pharmos@2026", "--department", "质量控制部")
    listed = _run("user", "list")
    reset = _run("user", "reset-password", "qc.wang")
    deactivated = _run("user", "deactivate", "qc.wang", "--reason", "离职")

    # then
    assert added[0] == 0, added[1]
    assert listed[0] == 0 and "qc.wang" in listed[1]
    assert reset[0] == 0
    temporary = reset[1].split("Temporary password for qc.wang:")[1].split()[0]
    assert deactivated[0] == 0
    user = auth.get_user(actor=Actor.cli(), username="qc.wang")
    assert user.roles == ("qc_analyst", "viewer")
    assert not user.is_active
    assert len(temporary) == 14
    from pharmos.compliance.service import AuditQuery, search_audit

    created = search_audit(actor=Actor.cli(), query=AuditQuery(record_type="user", action="create"))
    assert created[0].actor == Actor.cli().username
    assert created[0].actor.startswith("cli:")


def test_role_grant_that_breaks_segregation_of_duties_is_refused(db_file: Path) -> None:
    # given
    _run("init", *ADMIN)
    before = _entries()

    # when
    code, output = _run("role", "grant", "admin.wang", "qa_manager", "--reason", "兼任QA")

    # then
    assert code == 2
    assert "role" in output
    assert "System administration and QA approval" in output
    assert auth.get_user(actor=Actor.cli(), username="admin.wang").roles == ("admin",)
    assert _entries() == before


def test_role_grant_and_revoke(db_file: Path) -> None:
    # given
    _run("init")
    _run("user", "add", "plan.xu", "--full-name", "徐婷", "--role", "planner", "--password", "Pharmos@2026")

    # when
    granted = _run("role", "grant", "plan.xu", "viewer")
    revoked = _run("role", "revoke", "plan.xu", "planner", "--reason", "调岗")
    listed = _run("role", "list")

    # then
    assert granted[0] == 0 and revoked[0] == 0 and listed[0] == 0
    assert auth.get_user(actor=Actor.cli(), username="plan.xu").roles == ("viewer",)
    assert "plan.xu" in listed[1]


@pytest.mark.requirement("21 CFR 11.10(e)")
def test_audit_verify_passes_on_an_intact_chain_and_names_the_first_tampered_entry(db_file: Path) -> None:
    # given
    _run("init", *ADMIN)
    total = _entries()
    intact = _run("audit", "verify")
    conn = sqlite3.connect(db_file, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
    conn.execute("UPDATE audit_entry SET reason = 'nothing to see' WHERE id = 7")
    conn.close()

    # when
    broken = _run("audit", "verify")

    # then
    assert intact[0] == 0, intact[1]
    assert f"{total} entries checked" in intact[1]
    assert broken[0] == 1
    assert "entry 7" in broken[1]
    assert "does not match its hash" in broken[1]


def test_demo_without_serving_creates_the_demo_logins_and_an_intact_chain(db_file: Path) -> None:
    # given: a stale database file that the demo must replace
    from pharmos.demo import DEMO_LOGINS

    _run("init", *ADMIN)

    # when
    code, output = _run("demo", "--no-serve")

    # then
    assert code == 0, output
    users = {u.username: u for u in auth.list_users(actor=Actor.cli())}
    assert "admin.wang" not in users
    assert set(users) == {login.username for login in DEMO_LOGINS}
    for login in DEMO_LOGINS:
        assert login.username in output
        assert users[login.username].roles == (login.role,)
        assert users[login.username].full_name == login.full_name
        assert login.password.lower() != login.username
    assert {login.role for login in DEMO_LOGINS} == {
        "admin", "qa_manager", "qa_specialist", "qc_analyst", "production_supervisor", "operator", "warehouse",
        "maintenance", "planner", "viewer"}
    qa = auth.login(username="qa.lina", password=DEMO_LOGINS[1].password).actor
    assert qa.can("settings.approve")
    from pharmos.site.service import list_settings

    states = {s.state for s in list_settings(actor=qa, limit=100)}
    assert states >= {"effective", "in_review", "draft", "superseded"}
    verified = _run("audit", "verify")
    assert verified[0] == 0, verified[1]


def test_demo_refuses_to_wipe_a_database_that_is_not_sqlite(db_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("PHARMOS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/production")
    reset_settings_cache()

    # when
    code, output = _run("demo", "--no-serve")

    # then
    assert code == 2
    assert "database_url" in output
    assert "--force" in output


def test_audit_export_writes_csv_and_pdf_files(db_file: Path, tmp_path: Path) -> None:
    # given
    _run("init", *ADMIN)

    # when
    csv_run = _run("audit", "export", "--format", "csv", "--record", "user:1", "--output", str(tmp_path / "a.csv"))
    pdf_run = _run("audit", "export", "--format", "pdf", "--since", "2020-01-01", "--output", str(tmp_path / "a.pdf"))
    bad_since = _run("audit", "export", "--since", "yesterday")
    bad_record = _run("audit", "export", "--record", "user")

    # then
    assert csv_run[0] == 0, csv_run[1]
    text = (tmp_path / "a.csv").read_bytes().decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("id,time_utc,time_local,actor")
    assert len(lines) >= 2
    assert all(",user,1," in line for line in lines[1:])
    assert "王强" in text
    assert pdf_run[0] == 0, pdf_run[1]
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF-")
    assert bad_since[0] == 2 and "since" in bad_since[1]
    assert bad_record[0] == 2 and "record" in bad_record[1]


def test_version(db_file: Path) -> None:
    # when
    code, output = _run("version")

    # then
    assert code == 0
    assert "pharmos 0.1.0" in output

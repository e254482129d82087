"""Shared fixtures: a fresh database per test, on SQLite and (when reachable) PostgreSQL.

Under CI=true an unreachable PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pharmos.core.actor import Actor
from pharmos.core.config import reset_settings_cache
from pharmos.core.db import configure_database, get_database

PG_ADMIN_URL = os.environ.get("PHARMOS_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_available() -> str | None:
    """None when reachable, else the reason."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} unreachable: {exc}"


def require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true requires PostgreSQL: {reason}")
    pytest.skip(reason)


def create_pg_database(template: str | None = None) -> str:
    import psycopg

    name = f"pharmos_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        # A test database is thrown away: no WAL flush waited for at each of its many commits.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    get_database().dispose()
    _drop_by_name(url.rsplit("/", 1)[1])


def _drop_by_name(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _PgClones:
    """Databases cloned from the template one test ahead, and dropped after, without waiting for either.

    CREATE DATABASE … TEMPLATE writes the whole clone through the WAL with an fsync (about a second on
    a loaded two-core machine). The next clone is requested with libpq's asynchronous API while the
    current test runs, and collected when the next test starts; drops go the same way on a second
    connection. Everything stays on the test's own thread (libpq connections are not shared).
    """

    def __init__(self, template: str) -> None:
        from psycopg import pq

        conninfo = PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql").encode()
        self.template = template
        self.creator = pq.PGconn.connect(conninfo)
        self.dropper = pq.PGconn.connect(conninfo)
        self.dropping = False
        self.pending = self._request_clone()
        atexit.register(self.close)

    def _request_clone(self) -> str:
        name = f"pharmos_test_{uuid.uuid4().hex[:12]}"
        self.creator.send_query(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'.encode())
        return name

    @staticmethod
    def _collect(conn: object) -> None:
        from psycopg import pq

        failure = None
        while (result := conn.get_result()) is not None:  # type: ignore[attr-defined]
            if result.status == pq.ExecStatus.FATAL_ERROR:
                failure = (result.error_message or b"").decode()
        if failure:
            raise RuntimeError(f"PostgreSQL test database: {failure}")

    def take(self) -> str:
        self._collect(self.creator)
        name = self.pending
        # A test database is thrown away: no WAL flush waited for at each of its many commits.
        self.creator.send_query(f'ALTER DATABASE "{name}" SET synchronous_commit = off'.encode())
        self._collect(self.creator)
        self.pending = self._request_clone()
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def give_back(self, url: str) -> None:
        get_database().dispose()
        if self.dropping:
            self._collect(self.dropper)
        self.dropper.send_query(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'.encode())
        self.dropping = True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._collect(self.creator)
            if self.dropping:
                self._collect(self.dropper)
            _drop_by_name(self.pending)
        self.creator.finish()
        self.dropper.finish()


_CLONES: dict[str, _PgClones] = {}


def _pg_clone() -> _PgClones:
    if "postgres" not in _CLONES:
        _CLONES["postgres"] = _PgClones(_pg_template())
    return _CLONES["postgres"]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PHARMOS_SECRET_KEY", "test-secret-key-0123456789abcdef0123456789")
    # Cheap Argon2 in tests only: the policy under test is the same, the cost is not.
    monkeypatch.setenv("PHARMOS_PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("PHARMOS_PASSWORD_HASH_MEMORY_KIB", "1024")
    reset_settings_cache()
    yield
    reset_settings_cache()


_TEMPLATES: dict[str, str] = {}


def _sqlite_template() -> Path:
    """One migrated SQLite file per test process; each test gets a copy (migrating is the slow part)."""
    from pharmos.core.migrate import upgrade_head

    if "sqlite" not in _TEMPLATES:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="pharmos-template-")) / "template.db"
        upgrade_head(f"sqlite:///{path}")
        get_database().dispose()  # closes the last connection: SQLite folds the WAL into the file
        _TEMPLATES["sqlite"] = str(path)
    return Path(_TEMPLATES["sqlite"])


def _pg_template() -> str:
    """One migrated PostgreSQL database per test process, cloned with CREATE DATABASE … TEMPLATE."""
    from pharmos.core.migrate import upgrade_head

    if "postgres" not in _TEMPLATES:
        url = create_pg_database()
        upgrade_head(url)
        get_database().dispose()  # a template must have no open connections
        _TEMPLATES["postgres"] = url.rsplit("/", 1)[1]
        atexit.register(_drop_pg_template, _TEMPLATES["postgres"])
    return _TEMPLATES["postgres"]


def _drop_pg_template(name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(
            PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database on ``backend``; the PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        target = tmp_path / "pharmos.db"
        shutil.copyfile(_sqlite_template(), target)
        url = f"sqlite:///{target}"
        configure_database(url)
        try:
            yield url
        finally:
            get_database().dispose()
        return
    require_postgres()
    clones = _pg_clone()
    url = clones.take()
    configure_database(url)
    try:
        yield url
    finally:
        clones.give_back(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database; tests using it run on both back-ends."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only, for fast unit tests of domain rules."""
    with migrated_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL only, for concurrency tests."""
    with migrated_database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def system() -> Actor:
    return Actor.system("test-setup")


@pytest.fixture
def site(db_url: str, system: Actor) -> dict[str, Actor]:
    """Built-in roles plus one user per role, reached through the services. Password: '<username>-pass1'."""
    from pharmos.auth import service as auth

    auth.ensure_builtin_roles(actor=system)
    people = {}
    for username, role, name in [
        ("admin.wang", "admin", "王强"),
        ("qa.li", "qa_manager", "李娜"),
        ("qa.zhang", "qa_specialist", "张伟"),
        ("viewer.chen", "viewer", "陈静"),
        ("op.liu", "operator", "刘洋"),
    ]:
        auth.create_user(actor=system, username=username, full_name=name, password=f"{username}-pass1",
                         roles=[role])
        people[username] = auth.login(username=username, password=f"{username}-pass1").actor
    return people


@pytest.fixture
def demo_qa(tmp_path: Path) -> Iterator[Actor]:
    """The demo site, loaded once per test process and copied for each test; signed in as QA (qa.lina)."""
    from pharmos.auth import service as auth
    from pharmos.demo import DEMO_PASSWORD, load_demo_site

    if "demo" not in _TEMPLATES:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="pharmos-demo-")) / "demo.db"
        shutil.copyfile(_sqlite_template(), path)
        configure_database(f"sqlite:///{path}")
        load_demo_site(actor=Actor.cli())
        get_database().dispose()  # folds the WAL into the file before it is copied
        _TEMPLATES["demo"] = str(path)
    target = tmp_path / "pharmos.db"
    shutil.copyfile(_TEMPLATES["demo"], target)
    configure_database(f"sqlite:///{target}")
    try:
        yield auth.login(username="qa.lina", password=DEMO_PASSWORD).actor
    finally:
        get_database().dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Rule and bad-input tests of a service need one back-end; the suite's 15-minute budget goes
    # to the integration tests that run on both (docs/development.md, "Which database").
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("sqlite_only") and params.get("db_url") == "postgres":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def password_of(username: str) -> str:
    return f"{username}-pass1"


__all__ = ["configure_database", "password_of", "require_postgres"]

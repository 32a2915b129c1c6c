"""Integration fixtures: a test that takes `db` or `database_url` runs on SQLite and PostgreSQL.

SQLite: a fresh file in the test's temporary folder. PostgreSQL: the server named by
`IL2TOX_TEST_POSTGRES_URL`, in a fresh schema per test (`t_<hex>`, first on the connection's
search_path, so the tables, Alembic's version table and the triggers all land there), dropped
afterwards. Without that variable the PostgreSQL cases skip and say why; with
`IL2TOX_REQUIRE_POSTGRES=1` they fail instead. Every database is migrated with
`alembic upgrade head` (`il2_tox.store.migrate`), as the app does.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from il2_tox.course import Course, save_course
from il2_tox.store import Database, migrate

POSTGRES_URL_ENV = "IL2TOX_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "IL2TOX_REQUIRE_POSTGRES"
REPO_ROOT = Path(__file__).resolve().parents[2]

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_base_url() -> str:
    base = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if base:
        return base
    reason = (
        f"PostgreSQL not configured: set {POSTGRES_URL_ENV}="
        "postgresql+psycopg://postgres@127.0.0.1:5432/test to run these cases"
    )
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_POSTGRES_ENV}=1 requires them)")
    pytest.skip(reason)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """Yield a URL to a fresh, empty PostgreSQL schema; drop the schema afterwards."""
    base = _postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Return a URL to a new SQLite file (created on first connection)."""
    return f"sqlite:///{tmp_path / 'il2_tox.db'}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """Return an empty database's URL, once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_schema_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    """Return `sqlite` or `postgresql`: the backend of this test case."""
    return make_url(database_url).get_backend_name()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """Yield a migrated database (both backends)."""
    migrate(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """Yield a migrated SQLite database, for what only SQLite has (WAL, BEGIN IMMEDIATE)."""
    migrate(sqlite_url)
    database = Database(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def course_file(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that writes a course (or a raw document) to a file and returns its path."""

    def write(course: Course | dict[str, Any] | str, name: str = "course.json") -> Path:
        path = tmp_path / name
        if isinstance(course, Course):
            save_course(course, path)
        elif isinstance(course, str):
            path.write_text(course, encoding="utf-8")
        else:
            path.write_text(json.dumps(course), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    """Return an environment for `python -m il2_tox` on this test's database."""
    return {**os.environ, "IL2TOX_DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}

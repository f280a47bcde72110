"""Fixtures: databases (SQLite files, PostgreSQL databases, migrated copies), CLI runners, project copies."""

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from analyzer.config import Settings
from analyzer.db import init_database, open_database
from analyzer.ingest import demo
from analyzer.migrate import commands

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
_pg_status = {}


def _postgres_reachable():
    if "ok" not in _pg_status:
        try:
            psycopg2.connect(PG_ADMIN_URL, connect_timeout=3).close()
            _pg_status.update(ok=True, reason="")
        except psycopg2.Error as exc:
            _pg_status.update(ok=False, reason=f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {str(exc).strip()}")
    return _pg_status["ok"], _pg_status["reason"]


_spare = []  # databases of earlier tests of this process, emptied: CREATE DATABASE takes ~0.4 s, emptying ~0.05 s
EMPTY = ("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
         "GRANT USAGE ON SCHEMA public TO PUBLIC")
OTHER_SCHEMAS = ("SELECT count(*) FROM pg_namespace "
                 "WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'")


@pytest.fixture
def pg_url():
    """Give one test an empty PostgreSQL database of its own; the next test of this process may reuse it, emptied."""
    ok, reason = _postgres_reachable()
    if not ok:
        if REQUIRE_POSTGRES:
            pytest.fail(reason + " (REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    if _spare:
        name = _spare.pop()
    else:
        name = f"analyzer_test_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    if _emptied(name):
        _spare.append(name)
    else:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(name):
    return urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}"))


def _emptied(name):
    """Close every session of database NAME and drop what a test made in it; False if it cannot be reused."""
    try:
        _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        with contextlib.closing(psycopg2.connect(_pg_url(name))) as connection:
            connection.autocommit = True
            with connection.cursor() as cur:
                cur.execute(OTHER_SCHEMAS)
                if cur.fetchone()[0]:
                    return False
                cur.execute(EMPTY)
        return True
    except psycopg2.Error:
        return False


_templates = {}  # (sqlite?, key) -> URL of a database built once per test process and copied into the tests


@pytest.fixture(scope="session", autouse=True)
def _drop_templates():
    """Drop the template and spare databases when the test process ends."""
    yield
    for name in _spare:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for url in _templates.values():
        if url.startswith("sqlite"):
            shutil.rmtree(Path(url[len("sqlite:///"):]).parent, ignore_errors=True)
        else:
            _pg_admin(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')


def _pg_admin(*statements):
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        admin.close()


def _name(url):
    return urlsplit(url).path.lstrip("/")


def copy_of_template(url, key, build):
    """Make the test's new database URL a copy of the one BUILD(url) filled, built once per test process and KEY."""
    sqlite = url.startswith("sqlite")
    template = _templates.get((sqlite, key))
    if template is None:
        name = f"analyzer_template_{uuid.uuid4().hex[:12]}"
        if sqlite:
            template = f"sqlite:///{Path(tempfile.mkdtemp(prefix=name)) / 'template.db'}"
        else:
            template = _pg_url(name)
            _pg_admin(f'CREATE DATABASE "{name}"')
        build(template)
        if sqlite:  # the copy is of the file alone: move what the write-ahead log holds into it
            with contextlib.closing(sqlite3.connect(template[len("sqlite:///"):])) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:  # a copy needs the template free of sessions: a pool may keep one open
            _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        _templates[(sqlite, key)] = template
    if sqlite:
        shutil.copyfile(template[len("sqlite:///"):], url[len("sqlite:///"):])
    else:
        name = _name(url)
        _pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{_name(template)}"')
    return url


def _migrate(url):
    ctx = commands.Context(settings=Settings(database_url=url), out=lambda *_: None)
    try:
        commands.run(ctx)
    finally:
        ctx.close()


def migrated(url):
    """Bring the test's new database URL to the project's latest migration; return URL."""
    if url.startswith("sqlite"):
        return copy_of_template(url, "migrated", _migrate)
    _migrate(url)  # a copy would cost a CREATE DATABASE, more than the migrations
    return url


def with_demo(url, sessions, days, seed):
    """Make the test's new database URL a migrated one holding demo.load's sessions (loaded once per process)."""
    def build(template):
        _migrate(template)
        database = init_database(Settings(database_url=template))
        with database.connection_context():
            demo.load(database, sessions=sessions, days=days, seed=seed)
        database.close()

    return copy_of_template(url, ("demo", sessions, days, seed, dt.date.today()), build)


@pytest.fixture
def sqlite_url(tmp_path):
    """Return the URL of a new SQLite file."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url):
    """Open the test's database."""
    database = open_database(db_url)
    database.connect()
    yield database
    if not database.is_closed():
        database.close()


class FakeTerminal:
    """A stdin that claims to be a terminal and answers prompts from a list."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.asked = 0

    def isatty(self):
        return True

    def readline(self):
        self.asked += 1
        return (self.answers.pop(0) if self.answers else "") + "\n"


class NoTerminal:
    """A stdin with no terminal behind it (a deploy pipeline)."""

    def isatty(self):
        return False

    def readline(self):
        raise AssertionError("prompted with no terminal")


@dataclass
class Console:
    """Collect what a command prints."""

    lines: list = field(default_factory=list)

    def __call__(self, text=""):
        self.lines.append(str(text))

    @property
    def text(self):
        return "\n".join(self.lines)


@pytest.fixture
def migrations_dir(tmp_path):
    """An empty migrations directory."""
    path = tmp_path / "migrations"
    path.mkdir()
    return path


@pytest.fixture
def make_ctx(db_url, migrations_dir):
    """Build a migrate command context on the test's database and migrations directory."""
    made = []

    def make(app_env="development", yes=False, stdin=None, models_module="analyzer.models", directory=None):
        ctx = commands.Context(
            settings=Settings(app_env=app_env, database_url=db_url, secret_key="x"),
            directory=directory or migrations_dir,
            models_module=models_module,
            yes=yes,
            out=Console(),
            stdin=stdin or NoTerminal(),
        )
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


CREATE_ITEMS = '''
@migrator.create_model
class Item(pw.Model):
    name = pw.CharField(max_length=50)
    price = pw.IntegerField(null=True)

    class Meta:
        table_name = "items"
'''


def write_migration(directory, name, migrate_body, rollback_body="pass", header=""):
    """Write a hand-made migration file: bodies are the indented lines of migrate() and rollback()."""
    def indent(body):
        return "\n".join("    " + line if line.strip() else "" for line in body.strip("\n").splitlines())

    path = Path(directory) / f"{name}.py"
    path.write_text(
        f'"""Test migration {name}."""\n\nimport peewee as pw\n{header}\n\n'
        f"def migrate(migrator, database, *, fake=False):\n{indent(migrate_body)}\n\n\n"
        f"def rollback(migrator, database, *, fake=False):\n{indent(rollback_body)}\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Result:
    """What a command-line run returned."""

    code: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path):
    """A copy of the project (code, migrations, manage.py, app.py) that a test may change."""
    target = tmp_path / "project"
    target.mkdir()
    for name in ("analyzer", "migrations"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("manage.py", "app.py"):
        shutil.copy(ROOT / name, target / name)
    return target


def run_cli(cwd, *args, env=None, stdin=None, timeout=60):
    """Run python manage.py ARGS in CWD and return its exit code and output."""
    environment = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "SECRET_KEY")}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=cwd, env=environment, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


PASSWORD = "a long test password 7"


def sign_in(testapp, email="admin@example.com", role="admin", password=PASSWORD):
    """Create the user (unless it exists) and sign TESTAPP in through the real login form; return the user."""
    from analyzer.accounts import users
    from analyzer.models import User

    user = User.get_or_none(User.email == email) or users.create(email, password, role, cheap=True)
    form = testapp.get("/login").forms[0]
    form["email"], form["password"] = email, password
    form.submit(status=303)
    return user


def csrf_of(testapp, path="/account"):
    """Return the CSRF token of the forms on PATH for TESTAPP's session."""
    return testapp.get(path).html.select_one("input[name=csrf_token]")["value"]


def wait_for_server(base, process, seconds=60):
    """Wait until the server PROCESS answers /healthz at BASE; fail with its output if it stops first."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(process.communicate()[0])
            time.sleep(0.1)


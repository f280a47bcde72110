"""Bad days in production: connections killed mid-request, databases gone mid-import, killed imports, full disks."""

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time

import psycopg2
import pytest
import webtest

from analyzer.config import Settings
from analyzer.models import LoginSession
from analyzer.web import create_app
from analyzer.accounts import now, tokens, users
from tests.conftest import PASSWORD, ROOT, run_cli, sign_in
from tests.test_web import migrate


@pytest.fixture
def pg_app(pg_url):
    """The app on a migrated PostgreSQL database, and a way to end its connection's server process."""
    settings = Settings(app_env="test", database_url=pg_url, secret_key="k")
    migrate(settings)
    app = create_app(settings)
    yield app, pg_url
    app.config["analyzer.db"].close_all()


def kill_at_first_session_query(app, url, monkeypatch):
    """End the connection's server process when the route first reads sessions (after the access checks passed)."""
    db = app.config["analyzer.db"]
    execute = db.execute_sql
    pending = [True]

    def execute_sql(sql, *args, **kwargs):
        if pending and "customer_sessions" in sql:
            pending.pop()
            terminate(url, execute("SELECT pg_backend_pid()").fetchone()[0])
        return execute(sql, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", execute_sql)
    return pending


def terminate(url, pid):
    """Run pg_terminate_backend on PID and wait until its process is gone."""
    admin = psycopg2.connect(url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
            if cursor.fetchone() is None:
                break
            time.sleep(0.02)
    admin.close()


def test_a_connection_killed_during_a_page_gives_503_and_the_next_request_reconnects(pg_app, monkeypatch):
    app, url = pg_app
    client = webtest.TestApp(app)
    sign_in(client)
    pending = kill_at_first_session_query(app, url, monkeypatch)
    response = client.get("/", status=503)
    assert not pending
    assert "503 · Database unavailable" in response.text
    assert "Traceback" not in response.text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    client.get("/", status=200)


def backends(url):
    """Return the server process ids of the other connections to URL's database."""
    admin = psycopg2.connect(url)
    with admin.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        pids = {pid for (pid,) in cursor.fetchall()}
    admin.close()
    return pids


def test_requests_reuse_one_connection_and_a_server_restart_between_them_costs_no_request(pg_app):
    app, url = pg_app
    client = webtest.TestApp(app)
    sign_in(client)
    client.get("/", status=200)
    (pid,) = backends(url)
    for path in ("/sessions", "/imports", "/"):
        client.get(path, status=200)
    assert backends(url) == {pid}
    terminate(url, pid)  # as a restart or failover ends every idle pooled connection
    assert "503" not in client.get("/", status=200).text
    assert pid not in backends(url)


def test_a_request_that_leaves_a_transaction_open_gives_its_connection_back_closed(pg_app):
    app, url = pg_app
    db = app.config["analyzer.db"]

    @app.get("/left-open", access="public")
    def left_open():
        db.atomic().__enter__()
        db.execute_sql("SELECT 1")
        return "done"

    client = webtest.TestApp(app)
    client.get("/left-open", status=200)
    assert not db._in_use and not db._connections
    assert not backends(url)
    client.get("/healthz", status=200)


def test_a_connection_killed_during_an_api_call_gives_a_json_503_and_the_next_call_works(pg_app, monkeypatch):
    app, url = pg_app
    client = webtest.TestApp(app)
    with app.config["analyzer.db"].connection_context():
        secret = tokens.create(users.create("reader@example.com", "a long test password 7", "viewer", cheap=True),
                               "read")[0]
    headers = {"Authorization": f"Bearer {secret}"}
    pending = kill_at_first_session_query(app, url, monkeypatch)
    response = client.get("/api/v1/sessions", headers=headers, status=503)
    assert not pending
    assert response.json == {"error": "The database cannot be reached right now. Try again in a minute."}
    assert client.get("/api/v1/sessions", headers=headers, status=200).json["sessions"] == []


def test_the_setup_token_is_logged_only_after_confirming_that_no_user_exists(tmp_path, caplog):
    folder = tmp_path / "not-yet"
    settings = Settings(app_env="production", database_url=f"sqlite:///{folder / 'app.db'}", secret_key="p" * 32)
    app = create_app(settings)
    messages = lambda: [r.getMessage() for r in caplog.records]  # noqa: E731
    assert not [m for m in messages() if "setup token:" in m]
    assert any(m.startswith("Cannot check at start whether a user exists") for m in messages())
    folder.mkdir()
    migrate(settings)
    client = webtest.TestApp(app, extra_environ={"wsgi.url_scheme": "https"})
    assert 'name="setup_token"' in client.get("/setup").text
    client.get("/setup")
    token = app.config["analyzer.setup_token"]
    assert [m for m in messages() if "setup token:" in m] == [
        f"No user exists yet. Open /setup and enter this one-time setup token: {token}"]
    app.config["analyzer.db"].close()


def test_a_command_whose_reader_went_away_stops_quietly(project):
    env = {"DATABASE_URL": f"sqlite:///{project / 'app.db'}"}
    assert run_cli(project, "migrate", "run", env=env).code == 0
    read, write = os.pipe()
    os.close(read)  # no reader at all, as after "| head -1" has exited
    done = subprocess.run([sys.executable, "manage.py", "migrate", "list"], cwd=project, env=os.environ | env,
                          stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


def test_redirects_are_relative_whatever_host_the_request_names(tmp_path):
    settings = Settings(app_env="test", database_url=f"sqlite:///{tmp_path / 'app.db'}", secret_key="k")
    migrate(settings)
    app = create_app(settings)
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "evil.example"})
    assert client.get("/", status=302).headers["Location"] == "/setup"
    sign_in(client)
    client.reset()
    assert client.get("/imports?x=1", status=302).headers["Location"] == "/login?next=/imports%3Fx%3D1"
    form = client.get("/login?next=/imports").forms[0]
    form["email"], form["password"] = "admin@example.com", PASSWORD
    assert form.submit(status=303).headers["Location"] == "/imports"
    app.config["analyzer.db"].close()


@pytest.mark.parametrize("args", [("migrate", "list"), ("migrate", "status"), ("migrate", "sql"), ("migrate", "history"),
                                  ("migrate", "check"), ("migrate", "run", "--dry-run"), ("import", "--list"),
                                  ("user", "list"), ("export", "--out", "x.csv")])
def test_a_read_only_command_on_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path, args):
    folder = tmp_path / "data"
    folder.mkdir()
    result = run_cli(ROOT, *args, env={"DATABASE_URL": f"sqlite:///{folder / 'typo.db'}"})
    assert result.code == 2
    assert f"No database at {folder / 'typo.db'}: check DATABASE_URL" in result.err + result.out
    assert list(folder.iterdir()) == []


def test_reading_never_waits_for_a_long_import_holding_the_sqlite_write_lock(tmp_path):
    path = tmp_path / "app.db"
    settings = Settings(app_env="test", database_url=f"sqlite:///{path}", secret_key="k")
    migrate(settings)
    app = create_app(settings)
    client = webtest.TestApp(app)
    user = sign_in(client)
    with app.config["analyzer.db"].connection_context():
        secret = tokens.create(user, "read")[0]
        LoginSession.update(last_seen_at=now() - dt.timedelta(minutes=5)).execute()
    importing = sqlite3.connect(path)
    importing.execute("BEGIN IMMEDIATE")  # what an import's transaction holds
    started = time.monotonic()
    client.get("/", status=200)
    client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {secret}"}, status=200)
    assert time.monotonic() - started < 2  # not the 10 s busy timeout
    importing.rollback()
    importing.close()
    client.get("/", status=200)
    with app.config["analyzer.db"].connection_context():
        assert LoginSession.get().last_seen_at > now() - dt.timedelta(minutes=1)  # it slid at the next request
    app.config["analyzer.db"].close()

"""Bad days in production: connections killed mid-request, databases gone mid-import, killed imports, full disks."""

import time

import psycopg2
import pytest
import webtest

from analyzer.config import Settings
from analyzer.web import create_app
from analyzer.accounts import tokens, users
from tests.conftest import sign_in
from tests.test_web import migrate


@pytest.fixture
def pg_app(pg_url):
    """The app on a migrated PostgreSQL database, and a way to end its connection's server process."""
    settings = Settings(app_env="test", database_url=pg_url, secret_key="k")
    migrate(settings)
    app = create_app(settings)
    yield app, pg_url
    db = app.config["analyzer.db"]
    if not db.is_closed():
        db.close()


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

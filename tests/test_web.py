"""The web app through its real WSGI interface: health check, sessions page, errors, headers.

Every test runs on SQLite and on a fresh PostgreSQL database; the schema always comes from the
project's real migrations, applied with the migrate layer.
"""

import datetime as dt
import html
import shutil

import pytest
import webtest

from analyzer import localtime
from analyzer.accounts import tokens, users
from analyzer.config import Settings
from analyzer.errors import AppError
from analyzer.ingest import importer, rollups
from analyzer.ingest.options import ImportOptions
from analyzer.migrate import MIGRATIONS_DIR, commands
from analyzer.migrate import files as mfiles
from analyzer.models import CustomerSession, RollupZone
from analyzer.web import SECURITY_HEADERS, create_app, routes
from tests.conftest import migrated, sign_in

ON_DISK = [f.name for f in mfiles.scan(MIGRATIONS_DIR)]
LATEST = ON_DISK[-1]
START = dt.datetime(2026, 3, 1, 12, 0)


def migrate(settings, directory=MIGRATIONS_DIR):
    """Apply the pending migrations of DIRECTORY, as "python manage.py migrate run" does."""
    ctx = commands.Context(settings=settings, directory=directory, out=lambda *_: None)
    try:
        commands.run(ctx)
    finally:
        ctx.close()


@pytest.fixture
def settings(db_url):
    return Settings(app_env="test", database_url=db_url, secret_key="k")


@pytest.fixture
def serve():
    """Build TestApps on create_app; close their database handles afterwards."""
    apps = []

    def serve(settings, migrations_dir=None):
        app = create_app(settings, migrations_dir=migrations_dir)
        apps.append(app)
        # Production cookies are Secure: the test browser then talks HTTPS, as Railway's edge does.
        scheme = "https" if settings.is_production else "http"
        return webtest.TestApp(app, extra_environ={"wsgi.url_scheme": scheme})

    yield serve
    for app in apps:
        db = app.config["analyzer.db"]
        if not db.is_closed():
            db.close()


@pytest.fixture
def client(settings, serve):
    """The app on an up-to-date database, signed in as an admin."""
    migrated(settings.database_url)
    testapp = serve(settings)
    sign_in(testapp)
    return testapp


@pytest.fixture
def behind(settings, tmp_path):
    """A migrations directory with one file more than the (migrated) database has applied."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    migrate(settings, directory)
    name = f"{mfiles.next_number(mfiles.scan(directory)):03d}_add_referrer"
    (directory / f"{name}.py").write_text(
        "def migrate(migrator, database, *, fake=False):\n    pass\n\n\n"
        "def rollback(migrator, database, *, fake=False):\n    pass\n",
        encoding="utf-8",
    )
    return directory, name


def add_sessions(count, start=START, step=dt.timedelta(minutes=1), **values):
    """Insert COUNT sessions s0000, s0001, ... starting STEP apart (s0000 is the oldest)."""
    rows = [
        dict(session_key=f"s{i:04d}", customer_id=f"c{i % 7}", started_at=start + i * step, duration_s=90,
             channel="organic search", device="mobile", page_views=3, **values)
        for i in range(count)
    ]
    CustomerSession.insert_many(rows).execute()
    rollups.rebuild_rollups(CustomerSession._meta.database)  # as every import and the demo keep them


def session_keys(response):
    """The session keys of the table rows, top to bottom."""
    return [tr.select_one("td a")["title"] for tr in response.html.select("table.sessions tbody tr")]


def with_failing_route(testapp):
    """Register GET /boom, which raises, on the app behind TESTAPP."""
    @testapp.app.get("/boom", access="public")
    def boom():
        raise RuntimeError("kaboom: secret internal detail")
    return testapp


# --- /healthz -------------------------------------------------------------------------------------


def test_healthz_is_200_ok_on_an_up_to_date_database(client):
    response = client.get("/healthz")
    assert response.status_int == 200
    assert response.content_type == "application/json"
    assert response.json == {"status": "ok", "database": "ok", "schema": {"current": LATEST, "pending": []}}


def test_healthz_names_the_last_applied_migration_and_lists_the_others_as_pending(settings, serve):
    ctx = commands.Context(settings=settings, out=lambda *_: None)
    try:
        commands.run(ctx, to="001_initial_customer_sessions")
    finally:
        ctx.close()
    response = serve(settings).get("/healthz", status=200 if len(ON_DISK) == 1 else 503)
    assert response.json["schema"] == {"current": "001_initial_customer_sessions", "pending": ON_DISK[1:]}


def test_healthz_is_503_listing_every_migration_on_an_empty_database(settings, serve):
    response = serve(settings).get("/healthz", status=503)
    assert response.json == {"status": "migrations pending", "database": "ok",
                             "schema": {"current": None, "pending": ON_DISK}}


def test_healthz_is_503_when_a_new_migration_file_is_not_applied(settings, serve, behind):
    directory, name = behind
    response = serve(settings, migrations_dir=directory).get("/healthz", status=503)
    assert response.json == {"status": "migrations pending", "database": "ok",
                             "schema": {"current": LATEST, "pending": [name]}}


def test_the_previous_version_keeps_serving_once_the_next_ones_migration_is_applied(settings, serve, behind):
    directory, name = behind
    migrate(settings, directory)  # the new version's pre-deploy step; the old code (MIGRATIONS_DIR) still serves
    app = serve(settings)
    assert app.get("/healthz").json == {"status": "ok", "database": "ok", "schema": {"current": name, "pending": []}}
    sign_in(app)
    assert app.get("/sessions").status_int == 200
    (directory / f"{LATEST}.py").unlink()  # a file missing below the newest one is still a problem
    assert serve(settings, migrations_dir=directory).get("/healthz", status=503).json["status"] == "schema problem"


def test_a_schema_found_fine_is_trusted_for_a_second_then_checked_again(settings, serve, behind, monkeypatch):
    directory, name = behind
    now = [1000.0]
    monkeypatch.setattr(routes, "monotonic", lambda: now[0])
    migrate(settings, directory)
    app = serve(settings, migrations_dir=directory)
    sign_in(app)
    assert app.get("/sessions").status_int == 200
    ctx = commands.Context(settings=settings, directory=directory, out=lambda *_: None, yes=True)
    try:
        commands.rollback(ctx)  # another process rolls the newest migration back
    finally:
        ctx.close()
    real_state, checks = routes.schema_state, []
    monkeypatch.setattr(routes, "schema_state", lambda a: checks.append(a) or real_state(a))
    now[0] += routes.FINE_FOR_S / 2
    assert app.get("/sessions").status_int == 200  # three queries a request saved; the rollback not seen yet
    assert checks == []
    now[0] += routes.FINE_FOR_S / 2
    response = app.get("/sessions", status=503)
    assert f"1 migration(s) are pending ({name})" in response.text and len(checks) == 1
    assert app.get("/healthz", status=503).json["schema"]["pending"] == [name]  # the health check never trusts


UNREACHABLE = {
    "postgres-closed-port": "postgresql://analyzer:secret@127.0.0.1:1/analyzer",
    "sqlite-missing-directory": "sqlite:////nonexistent-dir/analyzer/app.db",
}


@pytest.mark.parametrize("url", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_healthz_is_503_when_the_database_is_unreachable(url, serve):
    response = serve(Settings(app_env="test", database_url=url)).get("/healthz", status=503)
    assert response.json["status"] == "unavailable"
    assert response.json["database"] == "unreachable"
    assert response.json["error"] == "The database cannot be reached; the server log says why."
    assert "secret" not in response.text and "127.0.0.1" not in response.text


def test_static_files_open_no_database_connection(settings, serve, monkeypatch):
    client = serve(settings)
    connects = []
    monkeypatch.setattr(client.app.config["analyzer.db"], "connect", lambda *a, **k: connects.append(a))
    assert client.get("/static/favicon.svg", status=200).content_type == "image/svg+xml"
    assert connects == []


# --- the sessions page ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_sessions_page_is_503_without_traceback_when_the_database_is_unreachable(url, serve):
    response = serve(Settings(app_env="test", database_url=url)).get("/sessions", status=503)
    assert "503 · Database unavailable" in response.text
    assert "The database cannot be reached right now." in response.text
    assert "Traceback" not in response.text and "secret" not in response.text


def test_sessions_page_is_503_naming_the_pending_migrations(settings, serve, behind):
    directory, name = behind
    response = serve(settings, migrations_dir=directory).get("/sessions", status=503)
    assert "Database schema is behind" in response.text
    assert f"1 migration(s) are pending ({name}). Run: python manage.py migrate run" in response.text
    assert "Traceback" not in response.text


def test_sessions_page_lists_newest_first_fifty_per_page_with_an_older_link(client):
    add_sessions(120)
    first = client.get("/sessions")
    assert "120 in all, newest first" in first.text
    assert session_keys(first) == [f"s{i:04d}" for i in range(119, 69, -1)]
    assert first.html.select("table.sessions tbody tr td")[0].text == "2026-03-01 13:59:00"
    assert "« First page" not in first.text
    older = first.html.find("a", string="Next »")
    assert older["href"].startswith("/sessions?period=all&after=")

    second = first.click("Next")
    assert session_keys(second) == [f"s{i:04d}" for i in range(69, 19, -1)]
    assert second.html.find("a", string="« First page")["href"] == "/sessions?period=all"

    third = second.click("Next")
    assert session_keys(third) == [f"s{i:04d}" for i in range(19, -1, -1)]
    assert "Next »" not in third.text


def test_sessions_sharing_a_start_time_are_neither_skipped_nor_repeated_across_pages(client):
    add_sessions(60, step=dt.timedelta(0))
    CustomerSession.create(session_key="later", customer_id="c", started_at=START + dt.timedelta(microseconds=500))
    first = client.get("/sessions")
    second = first.click("Next")
    assert session_keys(first) == ["later"] + [f"s{i:04d}" for i in range(59, 10, -1)]
    assert session_keys(second) == [f"s{i:04d}" for i in range(10, -1, -1)]


def test_sessions_page_shows_the_empty_state_on_an_empty_table(client):
    response = client.get("/sessions")
    assert response.status_int == 200
    assert "0 in all, newest first" in response.text
    assert "No sessions yet. Once sessions are imported they appear here, newest first." in response.text
    assert response.html.select("table.sessions") == []


def test_a_cursor_past_the_oldest_session_says_there_are_no_older_ones(client):
    add_sessions(3)
    response = client.get("/sessions?after=-started_at~20000101T000000.000000~1")
    assert "No more sessions." in response.text
    assert response.html.find("a", string="Back to the first page")["href"] == "/sessions?period=all"


@pytest.mark.parametrize("cursor", [
    "not-a-cursor", "_", "20260301T120000_5", "20261399T000000.000000_1", "20260301T120000.000000_abc",
    "' OR 1=1 --", "<script>", "20990101T000000.000000_99999999999999999999", "20990101T000000.000000_0",
])
def test_a_malformed_cursor_is_a_400_that_says_so(client, cursor):
    add_sessions(3)
    response = client.get("/sessions", params={"after": cursor}, status=400)
    assert "is not a cursor from a previous page" in response.text
    assert "<script>" not in response.text
    read = {"Authorization": f"Bearer {tokens.create(users.get('admin@example.com'), 'read')[0]}"}
    error = client.get("/api/v1/sessions", params={"after": cursor}, headers=read, status=400).json["error"]
    assert error == f"after: {cursor!r} is not a cursor from a previous page."


@pytest.mark.parametrize("mapping, message", [
    ("x" * 5000, f"--map {'x' * 79 + '…'!r}: write FIELD=COLUMN, for example --map customer_id=user_token."),
    ("customer_id=" + "n" * 5000, f"--map customer_id={'n' * 67}…: the file has no column {'n' * 79 + '…'!r}. "
                                  "Columns: session_id, customer_id, started_at."),
], ids=["no equals sign", "long column"])
def test_an_ingest_map_error_repeats_at_most_80_characters_of_a_long_value(client, mapping, message):
    ingest = {"Authorization": f"Bearer {tokens.create(users.get('admin@example.com'), 'ingest')[0]}"}
    body = '{"session_id": "s1", "customer_id": "c1", "started_at": "2026-03-01T10:00:00Z"}'
    response = client.post(f"/api/v1/sessions?map={mapping}", body, headers=ingest, status=400)
    assert response.json["error"] == message
    assert CustomerSession.select().count() == 0


def test_user_supplied_values_are_html_escaped(client):
    CustomerSession.create(session_key='"><img src=x onerror=alert(1)>', customer_id="<script>alert(1)</script>",
                           started_at=START, source="<b>bold</b>", medium="a&b", channel="<i>x</i>")
    text = client.get("/sessions").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"' in text
    assert "&lt;b&gt;bold&lt;/b&gt; / a&amp;b" in text
    assert "&lt;i&gt;x&lt;/i&gt;" in text
    for raw in ("<script>alert", "<img src=x", "<b>bold", "<i>x"):  # the page's own script tag is /static/…
        assert raw not in text


def test_the_stylesheet_is_served(client):
    response = client.get("/static/style.css")
    assert response.content_type == "text/css"
    assert ".sessions" in response.text


# --- errors ---------------------------------------------------------------------------------------


def test_an_unknown_url_is_a_404_page_without_traceback(client):
    response = client.get("/no/such/page", status=404)
    assert "404 · Not found" in response.text
    assert "There is no page at this address." in response.text
    assert "Traceback" not in response.text


def test_a_server_error_shows_a_plain_500_page_and_logs_the_detail(client, caplog):
    response = with_failing_route(client).get("/boom", status=500, expect_errors=True)
    assert "500 · Something went wrong" in response.text
    assert "The error was logged." in response.text
    assert "Traceback" not in response.text and "secret internal detail" not in response.text
    logged = [r.getMessage() for r in caplog.records if r.name == "analyzer.web" and r.levelname == "ERROR"]
    assert len(logged) == 1
    assert logged[0].startswith("500 on GET /boom: kaboom: secret internal detail")
    assert "Traceback" in logged[0] and "RuntimeError" in logged[0]


# --- security headers -----------------------------------------------------------------------------


def every_kind_of_response(settings, serve, behind):
    """One response of each kind: page, JSON, static file, 404, 500 and 503."""
    client = with_failing_route(serve(settings))
    sign_in(client)
    directory, _ = behind
    return {
        "page": client.get("/"),
        "health": client.get("/healthz"),
        "static": client.get("/static/style.css"),
        "not found": client.get("/missing", status=404),
        "server error": client.get("/boom", status=500, expect_errors=True),
        "schema behind": serve(settings, migrations_dir=directory).get("/", status=503),
    }


def test_security_headers_are_on_every_response(settings, serve, behind):
    for kind, response in every_kind_of_response(settings, serve, behind).items():
        headers = {name: response.headers.get(name) for name in SECURITY_HEADERS}
        assert headers == {
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                       "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                       "form-action 'self'",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        }, kind
        assert "Strict-Transport-Security" not in response.headers, kind
        assert response.headers.get("Cache-Control") == (None if kind == "static" else "no-store"), kind


def test_hsts_is_sent_only_in_production(db_url, serve, behind):
    production = Settings(app_env="production", database_url=db_url, secret_key="k")
    for kind, response in every_kind_of_response(production, serve, behind).items():
        assert response.headers.get("Strict-Transport-Security") == "max-age=31536000; includeSubDomains", kind
        assert response.headers.get("X-Frame-Options") == "DENY", kind


def test_rollups_of_another_zone_stop_pages_and_imports_until_they_are_rebuilt(client, tmp_path):
    db = client.app.config["analyzer.db"]
    path = tmp_path / "s.csv"
    path.write_text("session_id,customer_id,started_at\ns1,c1,2026-03-01T23:30:00Z\n", encoding="utf-8")
    importer.import_file(db, path)
    assert RollupZone.get().zone == "UTC"
    read = {"Authorization": f"Bearer {tokens.create(users.get('admin@example.com'), 'read')[0]}"}
    localtime.configure("Europe/Berlin")  # REPORT_TIMEZONE changed, the rollups not rebuilt
    try:
        problem = ("The rollups hold the days of UTC, but REPORT_TIMEZONE is now Europe/Berlin: every figure would "
                   "be counted by UTC's days. Run: python manage.py rollups rebuild")
        assert problem in html.unescape(client.get("/?period=all", status=503).text)
        assert client.get("/api/v1/stats?period=all", headers=read, status=503).json["error"] == problem
        health = client.get("/healthz", status=503).json  # a deploy that changed the zone fails its health check
        assert (health["status"], health["problems"]) == ("rollups of another time zone", [problem])
        path.write_text("session_id,customer_id,started_at\ns2,c2,2026-03-02T10:00:00Z\n", encoding="utf-8")
        for dry_run in (True, False):  # refused before the file is read
            with pytest.raises(AppError, match="Run: python manage.py rollups rebuild, then try again; nothing was"):
                importer.import_file(db, path, ImportOptions(dry_run=dry_run))
        with pytest.raises(AppError, match="Run: python manage.py rollups rebuild, then try again"):
            importer.undo(db, 1)
        assert CustomerSession.select().count() == 1
        rollups.rebuild_rollups(db)
        assert RollupZone.get().zone == "Europe/Berlin" and RollupZone.select().count() == 1
        stats = client.get("/api/v1/stats?from=2026-03-02&to=2026-03-02", headers=read).json
        assert stats["metrics"]["sessions"]["value"] == 1  # 23:30 UTC is the 2nd in Berlin
        assert importer.import_file(db, path).sessions_created == 1
    finally:
        localtime.configure("UTC")

"""SQLite imports stage a file in temporary tables and hold the main file's write lock only while publishing it:
sign-ins and other writes go on during a long import."""

import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
import webtest

from analyzer.config import Settings
from analyzer.db import write_transaction
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions
from analyzer.models import CustomerSession, Import, LoginAttempt, SessionEvent
from analyzer.web import create_app
from tests.conftest import PASSWORD, migrated, sign_in


@pytest.fixture
def app(sqlite_url):
    """The real WSGI app on a migrated SQLite file; the import runs on its database handle too."""
    app = create_app(Settings(app_env="test", database_url=migrated(sqlite_url), secret_key="test-secret"))
    yield app
    app.config["analyzer.db"].close()


@pytest.fixture
def db(app):
    return app.config["analyzer.db"]


@pytest.fixture
def blocker(sqlite_url):
    """A second connection to the file that takes nothing on its own and never waits for a lock."""
    connection = sqlite3.connect(sqlite_url.split(":///", 1)[1], timeout=0, isolation_level=None)
    yield connection
    connection.close()


def write_file(folder, kind, count, bad_last=False):
    """Write COUNT generated sessions or events (a last one with a bad time when BAD_LAST); return the path."""
    path = folder / f"{kind}.csv"
    with open(path, "w", encoding="utf-8") as out:
        if kind == "sessions":
            out.write("session_id,user_id,started_at,duration,pageviews,utm_source\n")
            out.writelines(f"s{i},c{i % 997},2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z,{i % 900},{1 + i % 9},"
                           "google\n" for i in range(count))
            if bad_last:
                out.write("s-bad,c1,soon,60,1,google\n")
        else:
            out.write("user_id,timestamp,event,page\n")
            out.writelines(f"c{i % 997},2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,page_view,/p{i % 50}\n"
                           for i in range(count))
            if bad_last:
                out.write("c1,soon,page_view,/\n")
    return path


def temp_tables(db):
    return [name for (name,) in db.execute_sql("SELECT name FROM sqlite_temp_master WHERE type = 'table'")]


@pytest.mark.parametrize("kind", ["sessions", "events"])
def test_a_sign_in_during_a_sqlite_import_goes_through_at_once(app, db, tmp_path, kind):
    browser = webtest.TestApp(app)
    sign_in(browser)
    path = write_file(tmp_path, kind, 30_000)
    answers = []

    def sign_in_again(rows_read, fraction):
        # A request thread has its own connection to the file, as under waitress.
        def request():
            form = webtest.TestApp(app).get("/login").forms[0]
            form["email"], form["password"] = "admin@example.com", PASSWORD
            started = time.perf_counter()
            answers.append((rows_read, form.submit(expect_errors=True).status_int, time.perf_counter() - started))
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()

    report = importer.import_file(db, path, ImportOptions(kind=kind), progress=sign_in_again)
    assert [(rows, status) for rows, status, _ in answers] == [(10_000, 303), (20_000, 303), (30_000, 303)]
    assert max(seconds for _, _, seconds in answers) < 1.0  # the busy timeout is 10 s
    assert LoginAttempt.select().where(LoginAttempt.succeeded).count() == 4
    assert report.rows_read == 30_000 and temp_tables(db) == []
    if kind == "sessions":
        assert CustomerSession.select().count() == report.sessions_created == 30_000
    else:
        assert SessionEvent.select().count() == report.events_added == 30_000


def test_the_write_lock_is_held_only_while_a_large_import_publishes(db, tmp_path, monkeypatch):
    path = write_file(tmp_path, "sessions", 200_000)
    held = []

    @contextmanager
    def timed(database):
        started = time.perf_counter()
        with write_transaction(database) as transaction:
            yield transaction
        held.append(time.perf_counter() - started)

    monkeypatch.setattr(importer, "write_transaction", timed)
    started = time.perf_counter()
    report = importer.import_file(db, path)
    whole = time.perf_counter() - started
    print(f"\n200,000 sessions: write lock held {held[0] * 1000:.0f} ms of the import's {whole * 1000:.0f} ms "
          f"({held[0] / whole:.0%})")
    assert report.sessions_created == CustomerSession.select().count() == 200_000
    # Reading the file no longer holds it; inserting 200,000 sessions and refreshing their rollups still does.
    assert len(held) == 1 and held[0] < 0.75 * whole


@pytest.mark.parametrize("kind", ["sessions", "events"])
def test_a_bad_sqlite_file_is_read_to_its_end_without_the_write_lock(db, blocker, tmp_path, monkeypatch, kind):
    path = write_file(tmp_path, kind, 20_000, bad_last=True)
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("INSERT INTO login_attempts (email, address, succeeded, attempted_at) "
                    "VALUES ('x@example.com', '192.0.2.1', 0, '2026-03-01 10:00:00')")
    db.execute_sql("PRAGMA busy_timeout = 0")  # a lock it wanted would fail the import at once
    record_failure = importer._record_failure

    def record_after_the_other_writer(*args):
        assert blocker.in_transaction  # held all through the import's reading and staging
        blocker.execute("COMMIT")
        record_failure(*args)

    monkeypatch.setattr(importer, "_record_failure", record_after_the_other_writer)
    with pytest.raises(importer.ImportRejected) as rejected:
        importer.import_file(db, path, ImportOptions(kind=kind))
    assert (rejected.value.report.rows_read, rejected.value.report.error_count) == (20_001, 1)
    assert [i.status for i in Import.select()] == ["failed"]
    assert CustomerSession.select().count() == SessionEvent.select().count() == 0
    assert LoginAttempt.select().count() == 1 and temp_tables(db) == []


def test_a_dry_run_leaves_no_staging_table_behind(db, tmp_path):
    path = write_file(tmp_path, "sessions", 100)
    dry = importer.import_file(db, path, ImportOptions(dry_run=True))
    assert temp_tables(db) == [] and CustomerSession.select().count() == 0
    report = importer.import_file(db, path)
    assert (dry.sessions_created, report.sessions_created) == (100, 100)


def test_a_sign_in_waits_out_a_publish_longer_than_the_busy_timeout(sqlite_url, blocker, monkeypatch):
    from analyzer import db as database_module

    monkeypatch.setitem(database_module.SERVER_SQLITE_PRAGMAS, "busy_timeout", 200)  # as if a publish outlasted 10 s
    app = create_app(Settings(app_env="test", database_url=migrated(sqlite_url), secret_key="test-secret"))
    db = app.config["analyzer.db"]
    try:
        sign_in(webtest.TestApp(app))  # makes the admin
        form = webtest.TestApp(app).get("/login").forms[0]
        form["email"], form["password"] = "admin@example.com", PASSWORD
        answers = []
        thread = threading.Thread(target=lambda: answers.append(form.submit(expect_errors=True).status_int))
        blocker.execute("BEGIN IMMEDIATE")  # the publish
        locked = time.perf_counter()
        thread.start()
        time.sleep(1.0)
        blocker.execute("COMMIT")
        thread.join()
        assert answers == [303] and time.perf_counter() - locked >= 1.0
    finally:
        db.close()


def test_bookkeeping_inside_a_sign_in_keeps_its_long_wait(db):
    from analyzer.db import waiting_out_imports, write_if_free

    usual = db.execute_sql("PRAGMA busy_timeout").fetchone()
    with waiting_out_imports(db):
        assert write_if_free(db, lambda: None)
        assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (60000,)
    assert db.execute_sql("PRAGMA busy_timeout").fetchone() == usual

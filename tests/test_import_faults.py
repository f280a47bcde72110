"""An import on a bad day: killed, its database gone, or a full or read-only disk: nothing partial, and a re-run completes."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psycopg2
import pytest

import manage
from analyzer import db as dbmodule
from analyzer.db import open_database
from tests.conftest import ROOT, migrated, run_cli


def write_sessions(path, count):
    with open(path, "w", encoding="utf-8") as out:
        out.write("session_id,user_id,started_at,duration,pageviews,utm_source\n")
        out.writelines(f"s{i},c{i % 997},2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z,{i % 900},{1 + i % 9},google\n"
                       for i in range(count))
    return path


def stored(url):
    """Return (sessions, finished imports, other imports) as a fresh connection sees them."""
    db = open_database(url)
    try:
        return tuple(db.execute_sql(sql).fetchone()[0] for sql in (
            "SELECT COUNT(*) FROM customer_sessions", "SELECT COUNT(*) FROM imports WHERE status = 'done'",
            "SELECT COUNT(*) FROM imports WHERE status <> 'done'"))
    finally:
        db.close()


def start_import(url, path):
    """Start 'manage.py import PATH' and return it once it has read the header and begun writing."""
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "SECRET_KEY")}
    process = subprocess.Popen([sys.executable, "manage.py", "import", str(path)], cwd=ROOT, text=True,
                               env=env | {"DATABASE_URL": url, "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in process.stdout:
        if line.startswith("Columns:"):
            return process
    raise AssertionError(process.stderr.read())


def test_an_import_killed_with_sigkill_leaves_nothing_and_a_rerun_completes(db_url, tmp_path):
    migrated(db_url)
    path = write_sessions(tmp_path / "big.csv", 150_000)
    process = start_import(db_url, path)
    time.sleep(1.0)
    assert process.poll() is None, "the import ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert stored(db_url) == (0, 0, 0)
    if db_url.startswith("sqlite:"):
        with sqlite3.connect(db_url.split(":///", 1)[1]) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert run_cli(ROOT, "import", str(path), env={"DATABASE_URL": db_url}, timeout=300).code == 0
    assert stored(db_url) == (150_000, 1, 0)


def test_the_database_going_away_mid_import_fails_it_as_a_unit_and_a_rerun_completes(pg_url, tmp_path):
    migrated(pg_url)
    path = write_sessions(tmp_path / "big.csv", 150_000)
    process = start_import(pg_url, path)
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        while process.poll() is None:  # the import's connection, busy or between statements of its transaction
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")
            if cursor.fetchall():
                break
            time.sleep(0.01)
    admin.close()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, out + err
    assert err.startswith("Error: the database failed during the command (") and "run the command again" in err
    assert "Traceback" not in err
    assert stored(pg_url) == (0, 0, 0)
    assert run_cli(ROOT, "import", str(path), env={"DATABASE_URL": pg_url}, timeout=300).code == 0
    assert stored(pg_url) == (150_000, 1, 0)


@pytest.mark.parametrize("pragma,reason", [("max_page_count", "database or disk is full"),
                                           ("query_only", "attempt to write a readonly database")])
def test_a_full_or_read_only_sqlite_disk_is_a_clear_error_and_nothing_is_corrupted(tmp_path, monkeypatch, capsys,
                                                                                      pragma, reason):
    url = migrated(f"sqlite:///{tmp_path / 'app.db'}")
    path = write_sessions(tmp_path / "some.csv", 20_000)
    with sqlite3.connect(tmp_path / "app.db") as check:
        pages = check.execute("PRAGMA page_count").fetchone()[0]
    monkeypatch.setitem(dbmodule.SQLITE_PRAGMAS, pragma, pages + 8 if pragma == "max_page_count" else 1)
    assert manage.main(["import", str(path)], environ={"DATABASE_URL": url}, out=lambda *_: None) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: the database failed during the command ({reason})"), err
    monkeypatch.delitem(dbmodule.SQLITE_PRAGMAS, pragma)
    assert stored(url) == (0, 0, 0)
    with sqlite3.connect(tmp_path / "app.db") as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert manage.main(["import", str(path)], environ={"DATABASE_URL": url}, out=lambda *_: None) == 0
    assert stored(url) == (20_000, 1, 0)

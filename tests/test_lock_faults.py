"""A migrate run killed on PostgreSQL: the server ends its statement and frees the lock; waiters say what happened."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

from analyzer.db import open_database
from analyzer.migrate import files as mfiles
from analyzer.migrate.lock import LOCK_KEY, LockTimeout, migration_lock
from tests.conftest import run_cli, write_migration


def lock_is_free(url):
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            return cursor.fetchone()[0]
    finally:
        connection.close()


def running(url, text):
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            # This test's database only: the other test worker may run its own slow migration meanwhile.
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND state = 'active' "
                           "AND pid <> pg_backend_pid() AND datname = current_database()", (f"%{text}%",))
            return cursor.fetchone()[0] > 0
    finally:
        connection.close()


def slow_run(project, pg_url):
    """Start manage.py migrate run on a migration that sleeps 60 s; return the process once its statement runs."""
    directory = project / "migrations"
    write_migration(directory, f"{mfiles.next_number(mfiles.scan(directory)):03d}_slow",
                    'migrator.sql("SELECT pg_sleep(60)")')
    env = {"DATABASE_URL": pg_url}
    assert run_cli(project, "migrate", "sum", env=env).code == 0
    # A shell's background job ignores SIGINT, and a child inherits that: the run must hear the test's Ctrl-C.
    process = subprocess.Popen([sys.executable, "manage.py", "migrate", "run"], cwd=project, env=os.environ | env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while not running(pg_url, "pg_sleep(60)"):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    return process


def test_a_killed_migrate_run_frees_the_lock_within_seconds(project, pg_url):
    env = {"DATABASE_URL": pg_url}
    process = slow_run(project, pg_url)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    killed = time.monotonic()
    while not lock_is_free(pg_url):
        assert time.monotonic() - killed < 5, "the killed run's statement still holds the migration lock"
        time.sleep(0.1)
    assert not running(pg_url, "pg_sleep(60)")
    result = run_cli(project, "migrate", "status", env=env)
    assert result.code == 1 and "_slow" in result.out  # nothing of it applied; run it again when fixed



def test_ctrl_c_cancels_the_running_statement_at_once_and_applies_nothing(project, pg_url):
    # It waited for the statement to end: up to MIGRATE_PG_STATEMENT_TIMEOUT (15 minutes) for a slow one.
    env = {"DATABASE_URL": pg_url}
    process = slow_run(project, pg_url)
    process.send_signal(signal.SIGINT)
    pressed = time.monotonic()
    stderr = process.communicate(timeout=20)[1]
    assert time.monotonic() - pressed < 5 and process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    # What was stopped is named when the Ctrl-C lands inside the migration's call (not while its error is built).
    assert last == "Interrupted." or (last.startswith("Interrupted. Nothing of ") and "_slow was changed" in last), last
    assert not running(pg_url, "pg_sleep(60)") and lock_is_free(pg_url)
    result = run_cli(project, "migrate", "status", env=env)
    assert result.code == 1 and "_slow" in result.out  # nothing of it applied

def test_the_wait_message_says_when_the_holder_is_gone_and_how_to_free_the_lock(pg_url):
    gone = subprocess.Popen(["true"])
    gone.wait()
    holder = psycopg2.connect(pg_url)
    holder.autocommit = True
    with holder.cursor() as cursor:
        cursor.execute("SELECT set_config('application_name', %s, false), pg_backend_pid()",
                       (f"migrate: {socket.gethostname()} pid {gone.pid} since 2026-01-01 00:00:00 UTC",))
        holder_pid = cursor.fetchone()[1]
        cursor.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    sleeper = threading.Thread(target=lambda: _sleep_quietly(holder))
    sleeper.start()
    db = open_database(pg_url)
    said = []
    try:
        while not running(pg_url, "pg_sleep(20)"):
            time.sleep(0.05)
        with pytest.raises(LockTimeout) as timeout:
            with migration_lock(db, 0.3, on_wait=said.append):
                pass
    finally:
        db.close()
        admin = psycopg2.connect(pg_url)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (holder_pid,))
        admin.close()
        sleeper.join()
    expected = (f"migrate on {socket.gethostname()} pid {gone.pid}, which is gone: its last statement is still "
                "running on the server (")
    assert said[0].startswith(f"Waiting for the migration lock, held by {expected}")
    assert f"To free the lock now, run SELECT pg_terminate_backend({holder_pid}); on the database" in said[0]
    assert expected in str(timeout.value)


def _sleep_quietly(connection):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(20)")
    except psycopg2.Error:
        pass
    connection.close()

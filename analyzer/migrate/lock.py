"""One migration command at a time per database: a PostgreSQL advisory lock, a file lock for SQLite."""

import datetime as dt
import fcntl
import os
import re
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from analyzer.db import is_sqlite
from analyzer.errors import AppError

LOCK_KEY = 4242_0001
POLL_S = 0.2


class LockTimeout(AppError):
    """Another migration command held the lock for longer than we were willing to wait."""

    exit_code = 3


HOLDER = """
SELECT a.pid, a.application_name, a.client_addr, a.backend_start, a.state,
       EXTRACT(EPOCH FROM clock_timestamp() - a.query_start)
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
LABEL = re.compile(r"migrate: (\S+) pid (\d+) since")


def _gone_process(application_name):
    """Return 'migrate on HOST pid N' when the lock holder is a migrate process of this host that no longer exists."""
    match = LABEL.match(application_name)
    if not match or match.group(1) != socket.gethostname():
        return None
    try:
        os.kill(int(match.group(2)), 0)
    except ProcessLookupError:
        return f"migrate on {match.group(1)} pid {match.group(2)}"
    except (PermissionError, OverflowError):
        pass
    return None


def holder_label():
    """Describe this process for whoever waits on the lock."""
    return f"{socket.gethostname()} pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


@contextmanager
def migration_lock(db, timeout_s, on_wait=None):
    """Hold the database's migration lock for the block, waiting at most TIMEOUT_S for it."""
    if is_sqlite(db):
        with _file_lock(db, timeout_s, on_wait):
            yield
    else:
        with _advisory_lock(db, timeout_s, on_wait):
            yield


def _wait(try_acquire, describe_holder, timeout_s, on_wait):
    deadline = time.monotonic() + timeout_s
    told = False
    while not try_acquire():
        if not told and on_wait:
            on_wait(f"Waiting for the migration lock, held by {describe_holder()} (up to {timeout_s:g} s)…")
            told = True
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"Another migration command holds the lock ({describe_holder()}); waited {timeout_s:g} s and changed "
                "nothing. Run again when it has finished, or wait longer with --lock-timeout SECONDS."
            )
        time.sleep(POLL_S)


@contextmanager
def _advisory_lock(db, timeout_s, on_wait):
    def try_acquire():
        return db.execute_sql("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]

    def describe_holder():
        row = db.execute_sql(HOLDER, (LOCK_KEY,)).fetchone()
        if not row:
            return "a process that has just released it"
        pid, app, addr, started, state, running_s = row
        gone = _gone_process(app or "")
        if gone:
            doing = (f"its last statement is still running on the server ({running_s:.0f} s so far) and keeps the "
                     "lock until it ends (at most MIGRATE_PG_STATEMENT_TIMEOUT)" if state == "active"
                     else "its server session is still open")
            return (f"{gone}, which is gone: {doing}. To free the lock now, run "
                    f"SELECT pg_terminate_backend({pid}); on the database")
        return f"{app or 'a session'} (server pid {pid}{', from ' + str(addr) if addr else ''}, connected {started:%Y-%m-%d %H:%M:%S %Z})"

    _wait(try_acquire, describe_holder, timeout_s, on_wait)
    db.execute_sql("SELECT set_config('application_name', %s, false)", (f"migrate: {holder_label()}"[:63],))
    if db.execute_sql("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 140000:
        # A killed migrate would leave its statement running, and the lock held, until the statement ended:
        # the server now checks every second that the client is still there, and ends the session if not.
        db.execute_sql("SET client_connection_check_interval = '1s'")
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


@contextmanager
def _file_lock(db, timeout_s, on_wait):
    database = db.database
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        yield
        return
    path = Path(f"{database}.migrate-lock")
    try:
        handle = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise AppError(f"Cannot open the migration lock file {path}: {exc.strerror}. It is made next to the SQLite "
                       f"database, as SQLite makes its journal: check that {path.parent} can be written and "
                       "DATABASE_URL. Nothing was changed.", exit_code=2) from None

    def try_acquire():
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def describe_holder():
        handle.seek(0)
        return handle.read().strip() or "another process"

    try:
        _wait(try_acquire, describe_holder, timeout_s, on_wait)
        handle.seek(0)
        handle.truncate()
        handle.write(holder_label())
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()

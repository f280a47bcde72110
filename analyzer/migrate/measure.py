"""Measure what each statement of a migration does: its time, the locks its backend holds, the tables it rewrites."""

import threading
import time
from dataclasses import dataclass, field

import psycopg2

from analyzer.db import is_sqlite
from analyzer.migrate.runner import inline_sql, is_read, patched_execute
from analyzer.migrate.snapshot import BOOKKEEPING_WRITE_RE, is_bookkeeping

SAMPLE_EVERY_S = 0.002
BLOCKS = {
    "AccessExclusiveLock": "reads and writes",
    "ExclusiveLock": "writes",
    "ShareRowExclusiveLock": "writes",
    "ShareLock": "writes",
}
"""The table lock modes that block other sessions' reads or writes, and what they block."""


# Only tables other sessions can see: a table the open transaction created blocks no one.
HELD_LOCKS = """
SELECT c.relname, l.mode
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = %s
  AND l.locktype = 'relation'
  AND l.granted
  AND c.relkind IN ('r', 'p', 'm')
  AND n.nspname = current_schema()
"""

PG_STORAGE = """
SELECT c.relname, c.relfilenode
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname = current_schema()
"""

SQLITE_STORAGE = "SELECT name, rootpage FROM sqlite_master WHERE type = 'table'"


@dataclass
class Lock:
    """A table lock a statement took, and how long it was held."""

    table: str
    mode: str
    held_ms: float = 0.0

    @property
    def blocks(self):
        """Return what the lock blocks ('reads and writes', 'writes'), or None."""
        return BLOCKS.get(self.mode)


@dataclass
class Statement:
    """One statement of a migration, as it ran."""

    sql: str
    ms: float
    locks: list = field(default_factory=list)
    rewrites: list = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


class Observer:
    """While active, record each statement a migration runs on DB (its locks too, on PostgreSQL)."""

    def __init__(self, db, url, transactional):
        self.db = db
        self.url = url
        self.transactional = transactional
        self.statements = []
        self._sampler = None
        self._patch = None
        self._storage = {}
        self._last_seen = {}

    def __enter__(self):
        original = self.db.execute_sql
        self._storage = self._read_storage(original)
        self._last_seen = dict(self._storage)
        if not is_sqlite(self.db):
            pid = original("SELECT pg_backend_pid()").fetchone()[0]
            self._sampler = _LockSampler(self.url, pid)
            self._sampler.start()

        def execute_sql(sql, params=None):
            text = inline_sql(self.db, sql, params)
            if is_read(text) or BOOKKEEPING_WRITE_RE.match(text) or text.upper().startswith("PRAGMA"):
                return original(sql, params)
            statement = Statement(text, 0.0, started=time.perf_counter())
            index = len(self.statements)
            self.statements.append(statement)
            if self._sampler:
                self._sampler.watch(index)
            try:
                result = original(sql, params)
            finally:
                statement.ended = time.perf_counter()
                statement.ms = round((statement.ended - statement.started) * 1000, 1)
                if self._sampler:
                    self._sampler.watch(None)
            if self._sampler and self.transactional:
                self._sampler.sample(index)
            statement.rewrites = self._new_rewrites(original)
            return result

        self._patch = patched_execute(self.db, execute_sql)
        self._patch.__enter__()
        return self

    def __exit__(self, *exc):
        self._patch.__exit__(*exc)
        finished = time.perf_counter()
        if self._sampler:
            self._sampler.finish()
            self._assign_locks(finished)

    def _assign_locks(self, finished):
        if not self.transactional:
            # Each statement commits on its own: its locks last at most as long as it runs.
            for index, keys in sorted(self._sampler.seen_in.items()):
                statement = self.statements[index]
                statement.locks += [Lock(table, mode, statement.ms) for table, mode in sorted(keys)]
            return
        first_seen = {}
        for index, keys in sorted(self._sampler.seen_in.items()):
            for key in keys:
                first_seen.setdefault(key, index)
        # In a transaction every lock is held until the commit, however early a statement took it.
        for (table, mode), index in sorted(first_seen.items(), key=lambda item: (item[1], item[0])):
            held = round((finished - self.statements[index].started) * 1000, 1)
            self.statements[index].locks.append(Lock(table, mode, held))

    def _read_storage(self, execute):
        query = SQLITE_STORAGE if is_sqlite(self.db) else PG_STORAGE
        return dict(execute(query).fetchall())

    def _new_rewrites(self, execute):
        """Return the tables of before the migration whose storage changed since it was last seen (each rebuild)."""
        # Last seen, not before the previous statement: a SQLite rebuild drops the table, then renames the copy.
        now = self._read_storage(execute)
        changed = [t for t, node in now.items() if t in self._storage and node != self._last_seen.get(t)
                   and not is_bookkeeping(t)]
        self._last_seen.update(now)
        return sorted(changed)


class _LockSampler(threading.Thread):
    """Poll pg_locks for one backend from a second connection while a statement runs."""

    def __init__(self, url, pid):
        super().__init__(daemon=True)
        self.connection = psycopg2.connect(url)
        self.connection.autocommit = True
        self.pid = pid
        self.seen_in = {}
        self._current = None
        self._statements_watched = 0  # a sample that outlives its statement is dropped
        self._active = threading.Event()
        self._stopped = threading.Event()
        self._guard = threading.Lock()

    def watch(self, index):
        """Sample on behalf of statement INDEX from now on (None: a pause between statements)."""
        self._current = index
        if index is None:
            self._active.clear()
        else:
            self._statements_watched += 1  # after _current: a sampler reading this count first sees the new index
            self._active.set()

    def run(self):
        while not self._stopped.is_set():
            if self._active.wait(0.05):
                self.sample_current()
                time.sleep(SAMPLE_EVERY_S)

    def sample_current(self):
        """Sample for the statement running now, unless the next one starts before the sample is back."""
        started, index = self._statements_watched, self._current
        if index is not None:
            self.sample(index, started)

    def sample(self, index, started=None):
        """Record the table locks the backend holds now as seen during statement INDEX."""
        with self._guard:
            with self.connection.cursor() as cur:
                cur.execute(HELD_LOCKS, (self.pid,))
                rows = cur.fetchall()
        if started is not None and started != self._statements_watched:
            return  # the locks may be the next statement's (an ALTER after a VALIDATE, say)
        self.seen_in.setdefault(index, set()).update(rows)

    def finish(self):
        """Stop sampling and close the second connection."""
        self._stopped.set()
        self._active.set()
        self.join()
        self.connection.close()

"""Bulk writes: sessions straight in (staged first on SQLite), events staged and grouped into sessions in SQL."""

import contextlib
import csv
import datetime as dt
import io
import queue
import sqlite3
import sys
import threading
from decimal import Decimal

import peewee as pw

from analyzer.errors import AppError

# Write datetimes and amounts to SQLite as text in the form Peewee reads back (explicit, not the deprecated defaults).
sqlite3.register_adapter(dt.datetime, str)
sqlite3.register_adapter(Decimal, str)

SESSION_COLUMNS = ("session_key", "customer_id", "started_at", "ended_at", "duration_s", "channel", "source",
                   "medium", "campaign", "device", "country", "landing_page", "exit_page", "page_views", "events",
                   "converted", "revenue", "import_id")
EVENT_COLUMNS = ("line", "customer_id", "ts", "event_type", "page", "file_session", "revenue", "purchase", "channel",
                 "source", "medium", "campaign", "device", "country")
ANALYZE_ROWS = 100_000  # a load this large refreshes PostgreSQL's planner statistics
STAGED_STATISTICS = 10  # statistics target of temporary tables: 3,000 rows sampled
GROWTH = 2  # a table this many times its size at its last ANALYZE is analyzed again
# PostgreSQL's row and page counts as of a table's last ANALYZE (rows -1 before the first), and its pages now.
TABLE_SIZE = """
SELECT reltuples, relpages, pg_relation_size(oid) / current_setting('block_size')::int
FROM pg_class
WHERE oid = to_regclass(%s)
"""
# A staged event's time, made by the database from its microseconds since 1970: writing each datetime as text took
# 1.2 µs, 40 % of making the CSV for COPY. The text is the one Peewee writes to SQLite; PostgreSQL's sum stays exact.
OCCURRED_AT = {
    "postgresql": "TIMESTAMP GENERATED ALWAYS AS (TIMESTAMP '1970-01-01' + (ts / 86400000000) * INTERVAL '1 day' "
                  "+ MOD(ts, 86400000000) * INTERVAL '1 microsecond') STORED",
    "sqlite": "TEXT GENERATED ALWAYS AS (datetime(ts / 1000000, 'unixepoch') "
              "|| CASE WHEN ts % 1000000 = 0 THEN '' ELSE printf('.%06d', ts % 1000000) END) STORED",
}
STAGE_EVENTS = f"INSERT INTO ingest_events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
BATCH = 5000
SWITCH_INTERVAL = 0.0001
IMPORT_LOCK = 0x53455353  # pg_advisory_xact_lock key of imports
EPOCH = dt.datetime(1970, 1, 1)
MICROSECOND = dt.timedelta(microseconds=1)


def is_postgres(db):
    """Tell whether the database is PostgreSQL."""
    return isinstance(db, pw.PostgresqlDatabase)


class Background:
    """Run PostgreSQL writes on a second thread, so the server works while the next batch is parsed.

    SQLite writes run inline: they need the GIL for every row, so a thread would only add hand-overs.
    """

    def __init__(self, threaded):
        self.error = None
        self.threaded = threaded
        self.thread = None

    def submit(self, function, *args):
        """Run or queue one write; raise the error of an earlier one."""
        if self.error is not None:
            raise self.error
        if not self.threaded:
            function(*args)
            return
        if self.thread is None:  # started by the first write: an undo, or a failure before it, leaves no thread
            self.queue = queue.Queue(maxsize=2)
            self.interval = sys.getswitchinterval()
            # The writer holds the GIL only briefly between round trips; hand it over fast (default 5 ms).
            sys.setswitchinterval(SWITCH_INTERVAL)
            self.thread = threading.Thread(target=self._work, name="ingest-writer", daemon=True)
            self.thread.start()
        self.queue.put((function, args))

    def wait(self):
        """Finish the queued writes; raise the first error."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
            sys.setswitchinterval(self.interval)
        if self.error is not None:
            raise self.error

    def _work(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    item[0](*item[1])
                except BaseException as exc:  # handed to the caller's thread by wait()
                    self.error = exc


# SQLite stages a file's sessions here, keeping the first row of each key. Columns without types keep the values as
# given: customer_sessions' own column types apply when they are published.
# other_customer: the first customer a later row of the key names, if it is not the first row's.
CREATE_STAGED_SESSIONS = (f"CREATE TEMP TABLE ingest_sessions (session_key PRIMARY KEY, "
                          f"{', '.join(SESSION_COLUMNS[1:-1])}, other_customer)")
STAGE_SESSION = (f"INSERT INTO ingest_sessions ({', '.join(SESSION_COLUMNS[:-1])}) "
                 f"VALUES ({', '.join('?' * (len(SESSION_COLUMNS) - 1))}) "
                 "ON CONFLICT (session_key) DO UPDATE SET other_customer = COALESCE(other_customer, "
                 "NULLIF(excluded.customer_id, ingest_sessions.customer_id))")
STAGED_CONFLICT = ("SELECT session_key, customer_id, other_customer FROM ingest_sessions "
                   "WHERE other_customer IS NOT NULL")

# The staged sessions whose keys are not stored yet, in file order.
PUBLISH_SESSIONS = f"""
INSERT INTO customer_sessions ({', '.join(SESSION_COLUMNS)})
SELECT {', '.join(SESSION_COLUMNS[:-1])}, ?
FROM ingest_sessions s
WHERE NOT EXISTS (SELECT 1 FROM customer_sessions c WHERE c.session_key = s.session_key)
ORDER BY s.rowid
"""


class SessionWriter:
    """Write sessions, skipping session keys that already exist; count what was written.

    PostgreSQL COPYs them straight in as IMPORT_ID's; SQLite stages them in a temporary table, which takes no lock on
    the main file, until publish().
    """

    def __init__(self, db, import_id=None):
        self.db = db
        self.import_id = import_id
        self.batch = []
        self.staged = 0
        self.stored_before = 0  # rows whose session an earlier import wrote
        self.extra_rows = 0  # further rows of a session this file already gave
        self.conflict = None  # (key, customer, another customer) of a session this file gives two customers
        self.connection = db.connection()
        self.background = Background(is_postgres(db))
        if is_postgres(db):
            begin_import(db)
            # The table's statistics predate this transaction's rows: without this the planner would
            # scan the whole table for every batch's key check, which grows quadratically.
            db.execute_sql("SET LOCAL enable_seqscan = off")
        else:
            db.execute_sql(CREATE_STAGED_SESSIONS)

    def add(self, line, session):
        """Queue one session: a tuple in SESSION_COLUMNS order without import_id (LINE as in EventStager.add)."""
        self.batch.append(session)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self):
        """Write the queued sessions on the background thread, or stage them on SQLite."""
        if not self.batch:
            return
        self.staged += len(self.batch)
        if is_postgres(self.db):
            first = {}
            for row in self.batch:
                kept = first.setdefault(row[0], row)
                if kept[1] != row[1] and self.conflict is None:
                    self.conflict = (row[0], kept[1], row[1])
            self.extra_rows += len(self.batch) - len(first)
            tail = (self.import_id,)
            rows = [row + tail for row in first.values()]
            # The CSV for COPY is made here, so the writer thread mostly waits on the server, without the GIL.
            self.background.submit(self._copy_new, rows, csv_text(rows))
        else:
            self.connection.executemany(STAGE_SESSION, self.batch)
        self.batch = []

    def _copy_new(self, rows, text):
        """COPY the sessions (unique within their batch) whose keys are not stored yet."""
        stored = self._stored(rows)
        if stored:
            text = csv_text([row for row in rows if row[0] not in stored])
        cursor = self.connection.cursor()
        copy_text(cursor, "customer_sessions", SESSION_COLUMNS, text)
        cursor.close()

    def _stored(self, rows):
        """Return the stored keys among ROWS', counting them as extra rows of this file or as stored before."""
        cursor = self.connection.cursor()
        cursor.execute("SELECT session_key, import_id, customer_id FROM customer_sessions WHERE session_key = ANY(%s)",
                       ([r[0] for r in rows],))
        found = cursor.fetchall()
        cursor.close()
        customers = {r[0]: r[1] for r in rows}
        ours = [(key, customer) for key, import_id, customer in found if import_id == self.import_id]
        self.extra_rows += len(ours)
        clash = next(((key, customer) for key, customer in ours if customers[key] != customer), None)
        if clash and self.conflict is None:
            self.conflict = (clash[0], clash[1], customers[clash[0]])
        earlier = [key for key, import_id, _ in found if import_id != self.import_id]
        if earlier:  # a key an earlier batch of this file found stored too is an extra row, as on SQLite
            cursor = self.connection.cursor()
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_stored (session_key TEXT PRIMARY KEY) "
                           "ON COMMIT DROP")
            cursor.execute("INSERT INTO ingest_stored SELECT UNNEST(%s::TEXT[]) ON CONFLICT DO NOTHING", (earlier,))
            self.stored_before += cursor.rowcount
            self.extra_rows += len(earlier) - cursor.rowcount
            cursor.close()
        return {key for key, _, _ in found}

    def close(self):
        """Wait for the writes in flight."""
        self.background.wait()

    def finish(self):
        """Write or stage what is left."""
        self.flush()
        self.close()

    def publish(self, import_id):
        """Store the staged sessions as IMPORT_ID's; return (sessions written, rows already stored, extra rows)."""
        conflict = self.conflict if is_postgres(self.db) else self.db.execute_sql(STAGED_CONFLICT).fetchone()
        if conflict:
            key, customer, other = conflict
            raise AppError(f"Session {key!r} is given to two customers in this file ({customer!r}, then {other!r}): a "
                           "session has one customer. Fix the file, or choose another session id column; nothing was "
                           "written.")
        if is_postgres(self.db):  # written already
            self.db.execute_sql("SET LOCAL enable_seqscan = on")
            return count_sessions(self.db, import_id), self.stored_before, self.extra_rows
        keys = self.db.execute_sql("SELECT COUNT(*) FROM ingest_sessions").fetchone()[0]
        created = self.db.execute_sql(PUBLISH_SESSIONS, (import_id,)).rowcount
        self.drop()
        return created, keys - created, self.staged - keys

    def drop(self):
        """Drop the staging table, if any."""
        self.db.execute_sql("DROP TABLE IF EXISTS ingest_sessions")


class EventStager:
    """Stage events in a temporary table, then turn them into sessions and a timeline in SQL."""

    def __init__(self, db):
        self.db = db
        self.batch = []
        self.staged = 0
        self.connection = db.connection()
        self.background = Background(is_postgres(db))
        if is_postgres(db):
            begin_import(db)
        when = OCCURRED_AT["postgresql" if is_postgres(db) else "sqlite"]
        db.execute_sql(
            f"CREATE TEMP TABLE ingest_events (line INTEGER, customer_id VARCHAR(128), ts BIGINT, occurred_at {when}, "
            "event_type VARCHAR(64), page TEXT, file_session VARCHAR(255), revenue NUMERIC(14, 2), purchase INTEGER, "
            "channel VARCHAR(32), source VARCHAR(255), medium VARCHAR(255), campaign VARCHAR(255), "
            "device VARCHAR(16), country VARCHAR(2))" + (" ON COMMIT DROP" if is_postgres(db) else ""))

    def add(self, line, event):
        """Queue one event (a dict from rows.event_row)."""
        occurred, revenue = event["occurred_at"], event["revenue"]
        ts = (occurred - EPOCH) // MICROSECOND
        self.batch.append((line, event["customer_id"], ts, event["event_type"], event["page"],
                           event["file_session"], revenue, int(event["purchase"]), event["channel"],
                           event["source"], event["medium"], event["campaign"], event["device"], event["country"]))
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self):
        """Write the queued events to the staging table."""
        if not self.batch:
            return
        self.staged += len(self.batch)
        if is_postgres(self.db):
            self.background.submit(self._copy, csv_text(self.batch))
        else:
            self.background.submit(self.connection.executemany, STAGE_EVENTS, self.batch)
        self.batch = []

    def _copy(self, text):
        cursor = self.connection.cursor()
        copy_text(cursor, "ingest_events", EVENT_COLUMNS, text)
        cursor.close()

    def close(self):
        """Wait for the writes in flight."""
        self.background.wait()

    def finish(self):
        """Write the queued events and wait for them."""
        self.flush()
        self.close()

    def drop(self):
        """Drop the staging table, if any."""
        self.db.execute_sql("DROP TABLE IF EXISTS ingest_events")


def begin_import(db):
    """Make PostgreSQL imports take turns, so each sees every session the one before it wrote; plan for cached rows."""
    db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
    # An import's statements join the new rows to tables whose statistics they outgrew, so their estimated cost
    # often passes jit_above_cost: compiling them took 6.6 s of 24 hourly files' 62.6 s, and gained nothing.
    db.execute_sql("SET LOCAL jit = off")
    # The rows an import looks up by index are cached or on SSD, where a random read costs about a sequential one.
    # With the default 4, PostgreSQL read every session to find an hourly file's 900 continued ones (24 files:
    # 37.5 s, now 35.4-36.4 s; the one file unchanged).
    db.execute_sql("SET LOCAL random_page_cost = 1.1")


# The indexes that back no constraint (PostgreSQL) or that were created by a statement (SQLite), with that statement.
SECONDARY_INDEXES = {
    "postgres": """SELECT c.relname, pg_get_indexdef(i.indexrelid)
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = CAST(%s AS regclass)
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)""",
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
}
INDEX_MEMORY = "SET LOCAL maintenance_work_mem = '512MB'"
SORT_MEMORY = "SET LOCAL work_mem = '256MB'"  # the default 4 MB sorts an hourly file's events on disk


@contextlib.contextmanager
def indexes_built_after(db, table):
    """Inside a transaction, fill an empty TABLE without its secondary indexes and build each once at the end."""
    # 10M demo sessions kept nine B-trees current row by row for minutes; building them from the loaded rows sorts
    # each once. The drops are undone with the transaction if the load fails; on a table that has rows, nothing
    # changes (rebuilding its indexes would cost more than it saves).
    if db.execute_sql(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
        yield
        return
    indexes = db.execute_sql(SECONDARY_INDEXES["postgres" if is_postgres(db) else "sqlite"], (table,)).fetchall()
    for name, _ in indexes:
        db.execute_sql(f'DROP INDEX "{name}"')
    yield
    if is_postgres(db):
        db.execute_sql(INDEX_MEMORY)
    for _, definition in indexes:
        db.execute_sql(definition)


def count_sessions(db, import_id):
    """Return how many sessions an import wrote."""
    return db.execute_sql("SELECT COUNT(*) FROM customer_sessions WHERE import_id = " + str(int(import_id))).fetchone()[0]


def analyze(db, *tables):
    """Refresh PostgreSQL's planner statistics of TABLES after a large load (autovacuum may be off)."""
    # Without them, the planner took a 1M-session table for an empty one and sorted on disk.
    if is_postgres(db):
        db.execute_sql("ANALYZE " + ", ".join(tables))


def analyze_staged(db, *tables):
    """Give PostgreSQL statistics of an import's temporary TABLES from a small sample (row counts, distinct values)."""
    # Their joins need no fine histogram: 3,000 sampled rows instead of 30,000 took 50-70 ms off each hourly file.
    if is_postgres(db):
        db.execute_sql(f"SET LOCAL default_statistics_target = {STAGED_STATISTICS}")
        db.execute_sql("ANALYZE " + ", ".join(tables))
        db.execute_sql("SET LOCAL default_statistics_target TO DEFAULT")


def analyze_grown(db, table, written):
    """ANALYZE TABLE after WRITTEN rows when that is a large load or the table has doubled since its last ANALYZE."""
    # The planner scales the stored row count by the table's current size, so between two ANALYZEs only the
    # values' distribution ages; by doubling, many small imports (hourly files) analyze about log2(n) times.
    if not is_postgres(db) or not written:
        return
    rows, pages, now = db.execute_sql(TABLE_SIZE, (table,)).fetchone()
    if written >= ANALYZE_ROWS or rows < 0 or now >= GROWTH * max(pages, 1):
        db.execute_sql(f"ANALYZE {table}")


def csv_text(rows):
    """Return ROWS as CSV for COPY, where an unquoted empty field is NULL."""
    buffer = io.StringIO()
    # Python 3.11's writer quotes a field holding a character of the line terminator: with "\n" alone, a bare CR
    # went out unquoted, which COPY refuses ("unquoted carriage return found in data").
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def copy_text(cursor, table, names, text):
    """Load CSV text into TABLE with PostgreSQL's COPY."""
    # One read of the whole text: psycopg2 then sends it without taking the GIL back per 8 kB chunk.
    cursor.copy_expert(f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)", io.StringIO(text),
                       size=max(len(text), 1))

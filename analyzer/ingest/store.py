"""Bulk writes: sessions straight in, events staged and sessionized in SQL, rollups refreshed."""

import csv
import datetime as dt
import io
import queue
import sqlite3
import sys
import threading
from decimal import Decimal

import peewee as pw

# Write datetimes and amounts to SQLite as text in the form Peewee reads back (explicit, not the deprecated defaults).
sqlite3.register_adapter(dt.datetime, str)
sqlite3.register_adapter(Decimal, str)

SESSION_COLUMNS = ("session_key", "customer_id", "started_at", "ended_at", "duration_s", "channel", "source",
                   "medium", "campaign", "device", "country", "landing_page", "exit_page", "page_views", "events",
                   "converted", "revenue", "import_id")
EVENT_COLUMNS = ("line", "customer_id", "ts", "occurred_at", "event_type", "page", "file_session", "revenue",
                 "purchase", "channel", "source", "medium", "campaign", "device", "country")
BATCH = 5000
SWITCH_INTERVAL = 0.0001
IMPORT_LOCK = 0x53455353  # pg_advisory_xact_lock key of imports
EPOCH = dt.datetime(1970, 1, 1)
ONE_DAY = dt.timedelta(days=1)
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
        self.thread = None
        if threaded:
            self.queue = queue.Queue(maxsize=2)
            self.interval = sys.getswitchinterval()
            # The writer holds the GIL only briefly between round trips; hand it over fast (default 5 ms).
            sys.setswitchinterval(SWITCH_INTERVAL)
            self.thread = threading.Thread(target=self._work, name="ingest-writer", daemon=True)
            self.thread.start()

    def submit(self, function, *args):
        """Run or queue one write; raise the error of an earlier one."""
        if self.error is not None:
            raise self.error
        if self.thread is None:
            function(*args)
        else:
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


class SessionWriter:
    """Insert sessions in batches, skipping session keys that already exist; count what was written."""

    def __init__(self, db, import_id):
        self.db = db
        self.import_id = int(import_id)
        self.batch = []
        self.staged = 0
        self.connection = db.connection()
        self.background = Background(is_postgres(db))
        if is_postgres(db):
            # Imports take turns, so the duplicate check below sees every committed and pending key.
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
            # The table's statistics predate this transaction's rows: without this the planner would
            # scan the whole table for every batch's key check, which grows quadratically.
            db.execute_sql("SET LOCAL enable_seqscan = off")

    def add(self, line, session):
        """Queue one session: a tuple in SESSION_COLUMNS order without import_id (LINE as in EventStager.add)."""
        self.batch.append(session)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self):
        """Write the queued sessions on the background thread."""
        if not self.batch:
            return
        self.staged += len(self.batch)
        if is_postgres(self.db):
            # The CSV for COPY is made here, so the writer thread mostly waits on the server, without the GIL.
            first = {}
            for row in self.batch:
                first.setdefault(row[0], row)
            tail = (self.import_id,)
            rows = [row + tail for row in first.values()]
            self.background.submit(self._copy_new, rows, csv_text(rows))
        else:
            self.background.submit(self._insert, self.batch)
        self.batch = []

    def _insert(self, batch):
        marks = ", ".join("?" * (len(SESSION_COLUMNS) - 1))
        self.connection.executemany(f"INSERT OR IGNORE INTO customer_sessions ({', '.join(SESSION_COLUMNS)}) "
                                    f"VALUES ({marks}, {self.import_id})", batch)

    def _copy_new(self, rows, text):
        """COPY the sessions (unique within their batch) whose keys are not stored yet."""
        cursor = self.connection.cursor()
        cursor.execute("SELECT session_key FROM customer_sessions WHERE session_key = ANY(%s)", ([r[0] for r in rows],))
        stored = {key for key, in cursor.fetchall()}
        if stored:
            text = csv_text([row for row in rows if row[0] not in stored])
        copy_text(cursor, "customer_sessions", SESSION_COLUMNS, text)
        cursor.close()

    def close(self):
        """Wait for the writes in flight."""
        self.background.wait()

    def finish(self):
        """Write what is left and return (sessions written, duplicates skipped)."""
        self.flush()
        self.close()
        if is_postgres(self.db):
            self.db.execute_sql("SET LOCAL enable_seqscan = on")
        written = count_sessions(self.db, self.import_id)
        return written, self.staged - written


class EventStager:
    """Stage events in a temporary table, then turn them into sessions and a timeline in SQL."""

    def __init__(self, db):
        self.db = db
        self.batch = []
        self.staged = 0
        self.connection = db.connection()
        self.background = Background(is_postgres(db))
        when = "TIMESTAMP" if is_postgres(db) else "TEXT"
        db.execute_sql(
            f"CREATE TEMP TABLE ingest_events (line INTEGER, customer_id VARCHAR(128), ts BIGINT, occurred_at {when}, "
            "event_type VARCHAR(64), page TEXT, file_session VARCHAR(255), revenue NUMERIC(14, 2), purchase INTEGER, "
            "channel VARCHAR(32), source VARCHAR(255), medium VARCHAR(255), campaign VARCHAR(255), "
            "device VARCHAR(16), country VARCHAR(2))" + (" ON COMMIT DROP" if is_postgres(db) else ""))

    def add(self, line, event):
        """Queue one event (a dict from rows.event_row)."""
        occurred, revenue = event["occurred_at"], event["revenue"]
        ts = (occurred - EPOCH) // MICROSECOND
        self.batch.append((line, event["customer_id"], ts, occurred, event["event_type"], event["page"],
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
            self.background.submit(self.connection.executemany,
                                   f"INSERT INTO ingest_events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})", self.batch)
        self.batch = []

    def _copy(self, text):
        cursor = self.connection.cursor()
        copy_text(cursor, "ingest_events", EVENT_COLUMNS, text)
        cursor.close()

    def close(self):
        """Wait for the writes in flight."""
        self.background.wait()

    def finish(self, import_id, gap_s):
        """Sessionize the staged events; return (sessions written, events written, duplicate sessions)."""
        self.flush()
        self.close()
        db = self.db
        gap = int(gap_s * 1_000_000)
        db.execute_sql(
            "CREATE TEMP TABLE ingest_keyed AS SELECT e.*, "
            "  CASE WHEN file_session IS NOT NULL THEN customer_id || ':' || file_session "
            "       ELSE customer_id || ':' || CAST(MIN(ts) OVER (PARTITION BY customer_id, seq) AS VARCHAR(24)) END "
            "  AS session_key FROM ("
            "  SELECT b.*, SUM(brk) OVER (PARTITION BY customer_id ORDER BY ts, line ROWS UNBOUNDED PRECEDING) AS seq"
            "  FROM (SELECT i.*, CASE WHEN LAG(ts) OVER (PARTITION BY customer_id ORDER BY ts, line) IS NULL"
            f"        OR ts - LAG(ts) OVER (PARTITION BY customer_id ORDER BY ts, line) > {gap} THEN 1 ELSE 0 END AS brk"
            "        FROM ingest_events i) b) e")
        if is_postgres(db):
            db.execute_sql("CREATE INDEX ON ingest_keyed (session_key)")
        staged_sessions = db.execute_sql("SELECT COUNT(DISTINCT session_key) FROM ingest_keyed").fetchone()[0]
        db.execute_sql(
            "INSERT INTO customer_sessions (session_key, customer_id, started_at, ended_at, duration_s, channel, source,"
            " medium, campaign, device, country, landing_page, exit_page, page_views, events, converted, revenue,"
            " import_id) SELECT session_key, MIN(customer_id), MIN(occurred_at), MAX(occurred_at),"
            " CAST((MAX(ts) - MIN(ts)) / 1000000 AS INTEGER), MIN(first_channel), MIN(first_source), MIN(first_medium),"
            " MIN(first_campaign), MIN(first_device), MIN(first_country), MIN(first_page), MIN(last_page),"
            " SUM(CASE WHEN event_type = 'page_view' THEN 1 ELSE 0 END), COUNT(*), MAX(purchase) = 1, ROUND(SUM(revenue), 2),"
            f" {int(import_id)} FROM ("
            "  SELECT k.*, FIRST_VALUE(channel) OVER w AS first_channel, FIRST_VALUE(source) OVER w AS first_source,"
            "   FIRST_VALUE(medium) OVER w AS first_medium, FIRST_VALUE(campaign) OVER w AS first_campaign,"
            "   FIRST_VALUE(device) OVER w AS first_device, FIRST_VALUE(country) OVER w AS first_country,"
            "   FIRST_VALUE(page) OVER pages AS first_page, FIRST_VALUE(page) OVER exits AS last_page"
            "  FROM ingest_keyed k WINDOW w AS (PARTITION BY session_key ORDER BY ts, line"
            "   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING),"
            # Events without a page (a purchase, a custom event) neither land nor exit a session.
            "   pages AS (PARTITION BY session_key ORDER BY CASE WHEN page IS NULL THEN 1 ELSE 0 END, ts, line),"
            "   exits AS (PARTITION BY session_key ORDER BY CASE WHEN page IS NULL THEN 1 ELSE 0 END, ts DESC, line DESC)"
            "  ) s"
            " GROUP BY session_key HAVING COUNT(*) > 0 ON CONFLICT (session_key) DO NOTHING")
        written = count_sessions(db, import_id)
        db.execute_sql(
            "INSERT INTO session_events (session_id, occurred_at, event_type, page, revenue, import_id)"
            f" SELECT c.id, k.occurred_at, k.event_type, k.page, k.revenue, {int(import_id)} FROM ingest_keyed k"
            f" JOIN customer_sessions c ON c.session_key = k.session_key WHERE c.import_id = {int(import_id)}")
        events = db.execute_sql(f"SELECT COUNT(*) FROM session_events WHERE import_id = {int(import_id)}").fetchone()[0]
        db.execute_sql("DROP TABLE ingest_keyed")
        db.execute_sql("DROP TABLE ingest_events")
        return written, events, staged_sessions - written


def count_sessions(db, import_id):
    """Return how many sessions an import wrote."""
    return db.execute_sql("SELECT COUNT(*) FROM customer_sessions WHERE import_id = " + str(int(import_id))).fetchone()[0]


def refresh_rollups(db, first_day, last_day):
    """Recompute the daily rollups of the days from FIRST_DAY to LAST_DAY from customer_sessions."""
    if first_day is None:
        return
    day = "CAST(started_at AS DATE)" if is_postgres(db) else "date(started_at)"
    p = db.param
    db.execute_sql(f"DELETE FROM daily_rollups WHERE day BETWEEN {p} AND {p}", (first_day, last_day))
    db.execute_sql(
        "INSERT INTO daily_rollups (day, channel, device, country, sessions, bounces, conversions, revenue, page_views,"
        f" duration_s) SELECT {day}, channel, device, COALESCE(country, ''), COUNT(*),"
        " SUM(CASE WHEN page_views <= 1 THEN 1 ELSE 0 END), SUM(CASE WHEN converted THEN 1 ELSE 0 END),"
        " SUM(revenue), SUM(page_views), SUM(duration_s) FROM customer_sessions"
        f" WHERE started_at >= {p} AND started_at < {p} GROUP BY 1, 2, 3, 4",
        (first_day, last_day + ONE_DAY))


def csv_text(rows):
    """Return ROWS as CSV for COPY, where an unquoted empty field is NULL."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def copy_text(cursor, table, names, text):
    """Load CSV text into TABLE with PostgreSQL's COPY."""
    # One read of the whole text: psycopg2 then sends it without taking the GIL back per 8 kB chunk.
    cursor.copy_expert(f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)", io.StringIO(text),
                       size=max(len(text), 1))

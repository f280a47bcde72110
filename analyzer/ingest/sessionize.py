"""Group events into sessions in SQL: an import's new events together with the stored events of the sessions
they touch, or, on undo, the events an import leaves behind.

A session is recomputed from all of its events, so a file cut into parts adds up to the whole file in any
order: a later part extends a session, a part that fills a gap joins two sessions, and an undo splits them
again. The work is per customer and every join carries the customer (DESIGN.md, "Growing past one machine").
"""

from dataclasses import dataclass

from analyzer.db import byte_order
from analyzer.errors import AppError
from analyzer.ingest import store
from analyzer.ingest.rows import PURCHASE_TYPES
from analyzer.ingest.values import MAX_AMOUNT, MAX_INT

# An event's time in microseconds since 1970 (UTC), from a stored timestamp column.
TS_OF = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM {0}) * 1000000 AS BIGINT)",
    # SQLite stores 'YYYY-MM-DD HH:MM:SS[.ffffff]'; the microseconds are cut before strftime('%s'), which would
    # round them to milliseconds (23:59:59.9996 to the next second), and added back here.
    "sqlite": "(CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER) * 1000000"
              " + CAST(COALESCE(NULLIF(substr({0}, 21, 6), ''), '0') AS INTEGER))",
}
# Events of one customer at the same instant are ordered by what they are, not by file line, so that the
# landing and exit pages do not depend on how the file was cut.
# Texts compare byte by byte ({c}): PostgreSQL's en_US collation (Railway's default) put '/a' before '/B', SQLite after.
EVENT_ORDER = "ts, event_type{c}, COALESCE(page, ''){c}, revenue"
# Identical events (customer, file session id, time, type, page, value) come next to each other, the one kept first:
# a stored event before a new one. Events of two session ids are two events, however alike.
SAME_FIRST = EVENT_ORDER + ", COALESCE(file_session, ''){c}, CASE WHEN event_id IS NULL THEN 1 ELSE 0 END"
BY_ID = "CASE WHEN file_session IS NULL THEN 0 ELSE 1 END"
PURCHASE_MARKS = ", ".join(["{p}"] * len(PURCHASE_TYPES))

CREATE_TOUCHED = "CREATE TEMP TABLE ingest_touched (session_id INTEGER)"

CREATE_CUSTOMERS = f"""
CREATE TEMP TABLE ingest_customers AS
SELECT customer_id, {BY_ID} AS by_id, MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM ingest_events
GROUP BY customer_id, {BY_ID}
"""

# Sessions of the same customers whose time span reaches the new events' (in gap mode widened by the gap), with
# how their events were grouped (by the file's session id or by inactivity: a session's events are all grouped one
# way, so any one of its events tells) and whether they span a new event's time unwidened.
NEAR = """
CREATE TEMP TABLE ingest_near AS
SELECT s.id, c.by_id,
       CASE WHEN {ended} >= c.first_ts AND {started} <= c.last_ts THEN 1 ELSE 0 END AS spans,
       (SELECT CASE WHEN v.file_session IS NULL THEN 0 ELSE 1 END
        FROM session_events v
        WHERE v.session_id = s.id
        LIMIT 1) AS way
FROM ingest_customers c
JOIN customer_sessions s ON s.customer_id = c.customer_id
WHERE {ended} >= c.first_ts - (1 - c.by_id) * {p}
  AND {started} <= c.last_ts + (1 - c.by_id) * {p}
"""
# Those grouped the same way may hold an identical event, be continued or be joined. A session between two new
# events of its customer is taken too: recomputing it changes nothing.
TOUCH_BY_TIME = "INSERT INTO ingest_touched (session_id) SELECT id FROM ingest_near WHERE way = by_id"
# Those grouped the other way that span a new event's time may hold the same events.
OTHER_WAY = "SELECT 1 FROM ingest_near WHERE spans = 1 AND way <> by_id LIMIT 1"
# A new event identical to one stored the other way (customer, time, type, page, value) is already there.
DROP_STORED_OTHER_WAY = """
DELETE FROM ingest_events
WHERE (customer_id, occurred_at, event_type, COALESCE(page, ''), revenue) IN (
    SELECT v.customer_id, v.occurred_at, v.event_type, COALESCE(v.page, ''), v.revenue
    FROM session_events v
    WHERE v.session_id IN (SELECT id FROM ingest_near WHERE spans = 1 AND way <> by_id))
"""

# Sessions that carry the file's own session id of a new event.
TOUCH_BY_ID = """
INSERT INTO ingest_touched (session_id)
SELECT s.id
FROM customer_sessions s
WHERE s.session_key IN (SELECT customer_id || ':' || file_session FROM ingest_events WHERE file_session IS NOT NULL)
  AND EXISTS (SELECT 1 FROM session_events v WHERE v.session_id = s.id)
"""

# Undo: the sessions an import contributed events to.
TOUCH_BY_IMPORT = """
INSERT INTO ingest_touched (session_id)
SELECT DISTINCT session_id
FROM session_events
WHERE import_id = {p}
"""

# The events to group (a part of CREATE_KEYED): the new ones and the stored events of the touched sessions,
# except those of the import being undone.
WORK = """
SELECT NULL AS event_id, NULL AS old_session, e.customer_id, e.ts, e.occurred_at, e.event_type, e.page,
       e.file_session, e.revenue, e.purchase, e.channel, e.source, e.medium, e.campaign, e.device, e.country,
       {p} AS import_id
FROM ingest_events e
UNION ALL
SELECT v.id, v.session_id, v.customer_id, {ts}, v.occurred_at, v.event_type, v.page,
       v.file_session, v.revenue, CASE WHEN v.event_type IN ({purchases}) THEN 1 ELSE 0 END,
       v.channel, v.source, v.medium, v.campaign, v.device, v.country, v.import_id
FROM session_events v
WHERE v.session_id IN (SELECT session_id FROM ingest_touched)
  AND (v.import_id IS NULL OR v.import_id <> {p})
"""

# Each event's session key (the file's session id, or the customer's first event time after a gap), and
# whether it repeats the event before it (then it is left out, and deleted if it was stored).
CREATE_KEYED = """
CREATE TEMP TABLE ingest_keyed AS
SELECT g.*,
       CASE WHEN file_session IS NOT NULL THEN customer_id || ':' || file_session
            -- The start of a gap-mode session is the time of the latest break before or at this event.
            ELSE customer_id || ':' || CAST(MAX(CASE WHEN brk = 1 THEN ts END) OVER (
                     PARTITION BY customer_id{c}, {by_id} ORDER BY {same_first}
                     ROWS UNBOUNDED PRECEDING) AS VARCHAR(24))
       END AS session_key
FROM (SELECT w.*,
             CASE WHEN LAG(ts) OVER near IS NULL OR ts - LAG(ts) OVER near > {p} THEN 1 ELSE 0 END AS brk,
             CASE WHEN LAG(ts) OVER near = ts
                       AND LAG(event_type) OVER near = event_type
                       AND COALESCE(LAG(page) OVER near, '') = COALESCE(page, '')
                       AND LAG(revenue) OVER near = revenue
                       AND COALESCE(LAG(file_session) OVER near, '') = COALESCE(file_session, '')
                  THEN 1 ELSE 0 END AS dup
      FROM ({work}) w
      WINDOW near AS (PARTITION BY customer_id{c}, {by_id} ORDER BY {same_first})) g
"""

# Events without a page (a purchase, a custom event) neither land nor exit a session: the landing and exit pages are
# the pages of the first and last events with one, found by their position (fixed-width text before the page).
POSITIONED_PAGE = "CAST(1000000000 + position AS VARCHAR(10)) || page"
# A session whose events add up to more than its columns hold (events 68 years apart, purchases past
# 999,999,999,999.99): PostgreSQL would refuse the row and SQLite store it. Or one whose key two customers'
# events share: customer 'a:b' with session 'c' and customer 'a' with session 'b:c' are both 'a:b:c'.
UNSTORABLE = f"""
SELECT session_key, customer_id, last_customer, duration_s, revenue
FROM ingest_groups
WHERE duration_s > {MAX_INT} OR revenue >= {MAX_AMOUNT} OR customer_id <> last_customer
LIMIT 1
"""
CHANGE_IDS = ("Change the ids in the file, or leave out its session id column to group the events by inactivity "
              "(on the command line: import --split-by-gap); nothing was written.")
# The file's customer and session ids behind a session key.
IDS_OF_KEY = "SELECT DISTINCT customer_id, file_session FROM ingest_keyed WHERE session_key = {p} AND dup = 0"
# A new session whose key a stored session that it does not continue held already (a session of a sessions file):
# one of the rows there before the insert, whose ids are at most {p}.
TAKEN_KEY = """
SELECT g.session_key, g.customer_id, s.customer_id, s.import_id
FROM ingest_groups g
JOIN customer_sessions s ON s.session_key = g.session_key
WHERE g.session_key NOT IN (SELECT session_key FROM ingest_keepers)
  AND s.id <= {p}
LIMIT 1
"""
CREATE_GROUPS = f"""
CREATE TEMP TABLE ingest_groups AS
SELECT session_key, MIN(customer_id) AS customer_id, MAX(customer_id) AS last_customer,
       MIN(occurred_at) AS started_at, MAX(occurred_at) AS ended_at,
       (MAX(ts) - MIN(ts)) / 1000000 AS duration_s,
       MIN(first_channel) AS channel, MIN(first_source) AS source, MIN(first_medium) AS medium,
       MIN(first_campaign) AS campaign, MIN(first_device) AS device, MIN(first_country) AS country,
       SUBSTR(MIN({POSITIONED_PAGE}), 11) AS landing_page, SUBSTR(MAX({POSITIONED_PAGE}), 11) AS exit_page,
       SUM(CASE WHEN event_type = 'page_view' THEN 1 ELSE 0 END) AS page_views, COUNT(*) AS events,
       MAX(purchase) AS purchase, ROUND(SUM(revenue), 2) AS revenue, MIN(import_id) AS import_id,
       SUM(CASE WHEN event_id IS NULL THEN 1 ELSE 0 END) AS new_events
FROM (SELECT k.*,
             FIRST_VALUE(channel) OVER whole AS first_channel, FIRST_VALUE(source) OVER whole AS first_source,
             FIRST_VALUE(medium) OVER whole AS first_medium, FIRST_VALUE(campaign) OVER whole AS first_campaign,
             FIRST_VALUE(device) OVER whole AS first_device, FIRST_VALUE(country) OVER whole AS first_country,
             ROW_NUMBER() OVER whole AS position
      FROM ingest_keyed k
      WHERE k.dup = 0
      -- One window, so one sort of the events.
      WINDOW whole AS (PARTITION BY session_key ORDER BY {EVENT_ORDER}
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) s
GROUP BY session_key
"""

# A stored session lives on in the earliest group of its events; when several live on in one group (a
# late part joined them), the one that started first keeps its row and the others are merged into it.
CREATE_KEEPERS = """
CREATE TEMP TABLE ingest_keepers AS
SELECT session_key, old_session
FROM (SELECT c.session_key, c.old_session,
             ROW_NUMBER() OVER (PARTITION BY c.session_key ORDER BY c.first_ts, c.old_session) AS nth
      FROM (SELECT o.session_key, o.old_session, o.first_ts,
                   ROW_NUMBER() OVER (PARTITION BY o.old_session ORDER BY o.first_ts, o.session_key) AS nth_group
            FROM (SELECT session_key, old_session, MIN(ts) AS first_ts
                  FROM ingest_keyed
                  WHERE old_session IS NOT NULL
                    AND dup = 0
                  GROUP BY session_key, old_session) o) c
      WHERE c.nth_group = 1) k
WHERE nth = 1
"""

UPDATE_KEPT = """
UPDATE customer_sessions
SET session_key = g.session_key, started_at = g.started_at, ended_at = g.ended_at, duration_s = g.duration_s,
    channel = g.channel, source = g.source, medium = g.medium, campaign = g.campaign, device = g.device,
    country = g.country, landing_page = g.landing_page, exit_page = g.exit_page, page_views = g.page_views,
    events = g.events, converted = (g.purchase = 1), revenue = g.revenue, import_id = g.import_id
FROM ingest_groups g
JOIN ingest_keepers k ON k.session_key = g.session_key
WHERE customer_sessions.id = k.old_session
"""

INSERT_NEW = """
INSERT INTO customer_sessions (session_key, customer_id, started_at, ended_at, duration_s, channel, source, medium,
                               campaign, device, country, landing_page, exit_page, page_views, events, converted,
                               revenue, import_id)
SELECT g.session_key, g.customer_id, g.started_at, g.ended_at, g.duration_s, g.channel, g.source, g.medium,
       g.campaign, g.device, g.country, g.landing_page, g.exit_page, g.page_views, g.events, g.purchase = 1,
       g.revenue, g.import_id
FROM ingest_groups g
WHERE g.session_key NOT IN (SELECT session_key FROM ingest_keepers)
ON CONFLICT (session_key) DO NOTHING
"""

# The session rows the groups live in, looked up by key: the joins below then read these instead of every session.
CREATE_IDS = """
CREATE TEMP TABLE ingest_ids AS
SELECT id, session_key
FROM customer_sessions
WHERE session_key IN (SELECT session_key FROM ingest_groups)
"""

# Stored events whose group now lives in another session row.
MOVE_EVENTS = """
UPDATE session_events
SET session_id = c.id
FROM ingest_keyed k
JOIN ingest_ids c ON c.session_key = k.session_key
WHERE session_events.id = k.event_id
  AND k.dup = 0
  AND k.old_session <> c.id
"""

DELETE_REPEATED = """
DELETE FROM session_events
WHERE id IN (SELECT event_id FROM ingest_keyed WHERE dup = 1 AND event_id IS NOT NULL)
"""

# In session order, the indexes on session_id take each row next to the last one instead of at random: 1M events
# went in in 13.7 s instead of 17.2 s on PostgreSQL. Within a session, in the event order: the ids order events of
# the same instant for funnels and the timeline.
INSERT_EVENTS = """
INSERT INTO session_events (session_id, customer_id, occurred_at, event_type, page, revenue, import_id, file_session,
                            channel, source, medium, campaign, device, country)
SELECT c.id, k.customer_id, k.occurred_at, k.event_type, k.page, k.revenue, k.import_id, k.file_session,
       k.channel, k.source, k.medium, k.campaign, k.device, k.country
FROM ingest_keyed k
JOIN ingest_ids c ON c.session_key = k.session_key
WHERE k.event_id IS NULL
  AND k.dup = 0
ORDER BY c.id, k.ts, k.event_type{c}, COALESCE(k.page, ''){c}, k.revenue, COALESCE(k.file_session, ''){c}
"""

DELETE_IMPORT_EVENTS = """
DELETE FROM session_events
WHERE import_id = {p}
"""

# Touched sessions that no group lives on in: merged into another one, or left without events by an undo. (Picked
# from the touched ones, so that PostgreSQL looks them up by id instead of scanning every session for NOT IN.)
DELETE_GONE = """
DELETE FROM customer_sessions
WHERE id IN (SELECT t.session_id FROM ingest_touched t
             WHERE NOT EXISTS (SELECT 1 FROM ingest_keepers k WHERE k.old_session = t.session_id))
"""

COUNTS = """
SELECT SUM(CASE WHEN g.session_key IN (SELECT session_key FROM ingest_keepers) THEN 0 ELSE 1 END),
       SUM(CASE WHEN g.session_key IN (SELECT session_key FROM ingest_keepers) AND g.new_events > 0 THEN 1 ELSE 0 END),
       SUM(g.new_events)
FROM ingest_groups g
"""

TEMP_TABLES = ("ingest_ids", "ingest_keepers", "ingest_groups", "ingest_keyed", "ingest_customers", "ingest_touched")


@dataclass(frozen=True)
class Regrouped:
    """What grouping changed: sessions created and continued, and events added."""

    created: int
    continued: int
    events_added: int


class Sessionizer:
    """The statements of one database, with its placeholder and time arithmetic filled in."""

    def __init__(self, db, postgres):
        self.db = db
        self.postgres = postgres
        dialect = "postgresql" if postgres else "sqlite"
        ts, c = TS_OF[dialect], byte_order(db)
        p = db.param
        self.sql = {
            "near": NEAR.format(ended=ts.format("s.ended_at"), started=ts.format("s.started_at"), p=p),
            "keyed": CREATE_KEYED.format(
                p=p, c=c, by_id=BY_ID, same_first=SAME_FIRST.format(c=c),
                work=WORK.format(p=p, ts=ts.format("v.occurred_at"), purchases=PURCHASE_MARKS.format(p=p))),
            "touch_by_import": TOUCH_BY_IMPORT.format(p=p),
            "delete_import_events": DELETE_IMPORT_EVENTS.format(p=p),
            "groups": CREATE_GROUPS.format(c=c),
            "insert_events": INSERT_EVENTS.format(c=c),
        }

    def touch_by_events(self, gap_us):
        """Note the stored sessions that the staged events may continue or join."""
        self._run(CREATE_TOUCHED)
        self._run(CREATE_CUSTOMERS)
        self._analyze("ingest_customers")
        self._run(self.sql["near"], (gap_us, gap_us))
        if self.db.execute_sql(OTHER_WAY).fetchone():
            self._run(DROP_STORED_OTHER_WAY)
        self._run(TOUCH_BY_TIME)
        self._run("DROP TABLE ingest_near")
        self._run(TOUCH_BY_ID)
        # Before the rollups note the touched sessions: guessing, PostgreSQL read all of customer_firsts for them.
        self._analyze("ingest_touched")

    def touch_by_import(self, import_id):
        """Note the sessions that an import contributed events to."""
        self._run(CREATE_TOUCHED)
        self._run(self.sql["touch_by_import"], (import_id,))
        self._analyze("ingest_touched")

    def regroup(self, import_id, gap_us, drop_import=False):
        """Group the staged events with the touched sessions' events (without IMPORT_ID's when DROP_IMPORT)."""
        if self.postgres:
            self._run(store.SORT_MEMORY)
        self._run(self.sql["keyed"], (gap_us, import_id, *sorted(PURCHASE_TYPES), import_id))
        if self.postgres:
            self._run("CREATE INDEX ON ingest_keyed (session_key)")
        self._analyze("ingest_keyed (session_key, event_id, old_session, dup)")  # the columns joins use
        self._run(self.sql["groups"])
        self._refuse_unstorable()
        self._run(CREATE_KEEPERS)
        self._analyze("ingest_groups (session_key)")
        self._analyze("ingest_keepers")
        created, continued, added = self.db.execute_sql(COUNTS).fetchone()
        self._run(UPDATE_KEPT)
        last_id = self.db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM customer_sessions").fetchone()[0]
        if self.db.execute_sql(INSERT_NEW).rowcount != (created or 0):
            self._refuse_taken_key(last_id)
        self._run(CREATE_IDS)
        if self.postgres:
            self._run("CREATE INDEX ON ingest_ids (id)")  # the events' insert walks it in session order
        self._analyze("ingest_ids")
        self._run(DELETE_REPEATED)
        self._run(MOVE_EVENTS)
        if drop_import:
            self._run(self.sql["delete_import_events"], (import_id,))
        self._run(self.sql["insert_events"])
        self._run(DELETE_GONE)
        for table in TEMP_TABLES:
            self._run(f"DROP TABLE IF EXISTS {table}")
        store.analyze_grown(self.db, "customer_sessions", created or 0)
        store.analyze_grown(self.db, "session_events", added or 0)
        return Regrouped(int(created or 0), int(continued or 0), int(added or 0))

    def _refuse_unstorable(self):
        """Raise AppError naming a session that its columns cannot hold or that two customers' events share."""
        found = self.db.execute_sql(UNSTORABLE).fetchone()
        if not found:
            return
        key, customer, other, seconds, revenue = found
        if customer != other:
            ids = self.db.execute_sql(IDS_OF_KEY.format(p=self.db.param), (key,)).fetchall()
            named = " and ".join(f"customer {c!r} with session id {f!r}" for c, f in sorted(ids)[:2])
            raise AppError(f"The events of {named} would form one session, {key!r}: a session key is the customer "
                           f"id, ':' and the session id, so ids with ':' in them can meet. {CHANGE_IDS}")
        what = (f"its events are {int(seconds) // 86400:,} days apart (at most 68 years)" if seconds > MAX_INT else
                f"its purchases add up to {revenue:,} (at most 999,999,999,999.99)")
        raise AppError(f"Session {key!r} of customer {customer!r} cannot be stored: {what}; nothing was written.")

    def _refuse_taken_key(self, last_id):
        """Raise AppError naming a new session whose key a stored session (id up to LAST_ID) of other events holds."""
        found = self.db.execute_sql(TAKEN_KEY.format(p=self.db.param), (last_id,)).fetchone()
        if found is None:
            raise AppError(f"A new session's key is held by a stored session. {CHANGE_IDS}")
        key, customer, holder, import_id = found
        raise AppError(f"Session {key!r} of customer {customer!r} cannot be stored: a session of customer {holder!r} "
                       f"that import {import_id} wrote from another file has that key. {CHANGE_IDS}")

    def _analyze(self, table):
        # PostgreSQL has no statistics of a new temporary table; without them it guesses the join plans.
        store.analyze_staged(self.db, table)

    def _run(self, sql, params=None):
        self.db.execute_sql(sql, params)

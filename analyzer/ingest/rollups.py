"""Rollups per reporting day, recomputed from customer_sessions for whole days (changes.py adds a small change's part).

Five tables, each bounded by days x dimension values: daily_rollups (channel x device x country, all sessions and
those of new customers), breakdown_rollups (all sessions and each dimension's values, overall and within one value
of channel, device, country or customer type), cross_rollups (the same within one value of source, medium, campaign,
landing or exit page), customer_sketches (unique customers per day, overall and per value of each dimension) and
customer_firsts (each customer's first session, which makes that session's customer new).
"""

import datetime as dt
from collections import defaultdict

from analyzer import localtime, sketch
from analyzer.db import byte_order, is_sqlite
from analyzer.errors import AppError
from analyzer.ingest.store import SORT_MEMORY, analyze, analyze_staged
from analyzer.models import KEY_CHARS, ROLLUP_LAYOUT, CustomerSession, DailyRollup, RollupZone, rollup_key

CUBE_DIMENSIONS = ("channel", "device", "country", "customer_type")
MANY_VALUED = ("source", "medium", "campaign", "landing_page", "exit_page")
FILTER_DIMENSIONS = CUBE_DIMENSIONS + MANY_VALUED  # the order of their columns in rollup_staged
# A session continued by a later file ends on another page, and its customer leaves the old page's cell: those cells
# keep their customers' hashes however many, so that an import takes them out instead of counting the day again.
EXACT_DIMENSIONS = ("exit_page",)
TABLES = ("daily_rollups", "breakdown_rollups", "cross_rollups", "customer_sketches")

# The customers whose first session may have changed: those with a session in the window, and those whose
# recorded first session is gone (SQLite may have given its id to another session since).
AFFECTED_CUSTOMERS = """
CREATE TEMP TABLE rollup_customers AS
SELECT DISTINCT customer_id FROM customer_sessions
WHERE {plus}started_at >= {p} AND {plus}started_at < {p}
UNION
SELECT f.customer_id FROM customer_firsts f
WHERE NOT EXISTS (SELECT 1 FROM customer_sessions s
                  WHERE s.id = f.session_id AND s.customer_id = f.customer_id AND s.started_at = f.started_at)
"""
# Ranked within each customer, not joined back on the start time: SQLite would pick the started_at index for
# that join, and sessions that share a start time made it quadratic (25,000 at one instant took 150 s).
NEW_FIRSTS = """
CREATE TEMP TABLE rollup_firsts AS
SELECT customer_id, session_id, started_at
FROM (SELECT customer_id, id AS session_id, started_at,
             ROW_NUMBER() OVER (PARTITION BY customer_id{c} ORDER BY started_at, id) AS position
      FROM customer_sessions
      WHERE customer_id IN (SELECT customer_id FROM rollup_customers)) ranked
WHERE position = 1
"""
# First sessions that stop or start being first outside the window: their days change too.
MOVED_FIRSTS = """
SELECT f.started_at FROM customer_firsts f
WHERE f.customer_id IN (SELECT customer_id FROM rollup_customers)
  AND NOT EXISTS (SELECT 1 FROM rollup_firsts n
                  WHERE n.customer_id = f.customer_id AND n.session_id = f.session_id AND n.started_at = f.started_at)
  AND (f.started_at < {p} OR f.started_at >= {p})
UNION ALL
SELECT n.started_at FROM rollup_firsts n
WHERE NOT EXISTS (SELECT 1 FROM customer_firsts f
                  WHERE f.customer_id = n.customer_id AND f.session_id = n.session_id AND f.started_at = n.started_at)
  AND (n.started_at < {p} OR n.started_at >= {p})
"""
# Only the first sessions that changed are rewritten: most customers of an hourly file keep theirs.
WRITE_FIRSTS = (
    "CREATE INDEX rollup_firsts_customer ON rollup_firsts (customer_id)",
    """DELETE FROM customer_firsts
       WHERE customer_id IN (SELECT customer_id FROM rollup_customers)
         AND NOT EXISTS (SELECT 1 FROM rollup_firsts n
                         WHERE n.customer_id = customer_firsts.customer_id AND n.session_id = customer_firsts.session_id
                           AND n.started_at = customer_firsts.started_at)""",
    # Noted before they are inserted: an INSERT that read the table it fills made PostgreSQL, whose statistics said
    # the table was empty, scan it again for every row (a rebuild of 700,000 customers ran over five minutes).
    """CREATE TEMP TABLE rollup_missing AS
       SELECT customer_id, session_id, started_at FROM rollup_firsts n
       WHERE NOT EXISTS (SELECT 1 FROM customer_firsts f WHERE f.customer_id = n.customer_id)""",
    "INSERT INTO customer_firsts (customer_id, session_id, started_at) SELECT * FROM rollup_missing",
    "DROP TABLE rollup_missing",
)
# One row per session of the window with its reporting day and whether it is its customer's first; N is 1, or -1 for
# a session as it was before a change (its measures count negatively, so that grouping gives the difference).
STAGE = """
CREATE TEMP TABLE rollup_staged AS
SELECT {day} AS day, s.customer_id, s.channel, s.device, COALESCE(s.country, '') AS country,
       CASE WHEN {first} THEN 'new' ELSE 'returning' END AS customer_type,
       {n} * CASE WHEN {first} THEN 1 ELSE 0 END AS new,
       COALESCE(s.source, '') AS source, COALESCE(s.medium, '') AS medium, COALESCE(s.campaign, '') AS campaign,
       COALESCE(s.landing_page, '') AS landing_page, COALESCE(s.exit_page, '') AS exit_page, {n} AS n,
       {n} * CASE WHEN s.page_views <= 1 THEN 1 ELSE 0 END AS bounce,
       {n} * CASE WHEN s.converted THEN 1 ELSE 0 END AS conv,
       {n} * s.revenue AS revenue, {n} * s.page_views AS page_views, {n} * s.duration_s AS duration_s
FROM {sessions}
WHERE {plus}s.started_at >= {p} AND {plus}s.started_at < {p}
"""
STORED_SESSIONS = dict(sessions="customer_sessions s LEFT JOIN customer_firsts f ON f.session_id = s.id",
                       first="f.session_id IS NOT NULL", n="1")
# The sums per day, channel, device, country and customer type: daily_rollups and the rows of all sessions and of
# those four dimensions come from it; each many-valued dimension is grouped from the sessions with its value, and
# the pairs of many-valued dimensions from the sessions grouped by all five.
SUMS = """SUM(n) AS sessions, SUM(conv) AS conversions, SUM(revenue) AS revenue, SUM(bounce) AS bounces,
       SUM(page_views) AS page_views, SUM(duration_s) AS duration_s, SUM(new) AS new_sessions"""
GROUP_CUBE = f"""
CREATE TEMP TABLE rollup_cube AS
SELECT day, channel, device, country, customer_type, {SUMS}
FROM rollup_staged
GROUP BY day, channel, device, country, customer_type
"""
GROUP_DIMENSION = f"""
CREATE TEMP TABLE rollup_values AS
SELECT day, {{dimension}}, channel, device, country, customer_type, {SUMS}
FROM rollup_staged
GROUP BY day, {{dimension}}, channel, device, country, customer_type
"""
GROUP_PAGES = f"""
CREATE TEMP TABLE rollup_pages AS
SELECT day, {", ".join(MANY_VALUED)}, {SUMS}
FROM rollup_staged
GROUP BY day, {", ".join(MANY_VALUED)}
"""
# PostgreSQL's index entries take 2,704 bytes at most: a long value is keyed by its MD5 (models.rollup_key).
KEY = f"CASE WHEN LENGTH({{0}}) > {KEY_CHARS} THEN 'md5:' || MD5({{0}}) ELSE {{0}} END"
INSERT_DAILY = """
INSERT INTO {target} (day, channel, device, country, sessions, bounces, conversions, revenue, page_views,
                           duration_s, new_sessions, new_bounces, new_conversions, new_revenue, new_page_views,
                           new_duration_s)
SELECT {date}, channel, device, country, SUM(sessions), SUM(bounces), SUM(conversions), {revenue}, SUM(page_views),
       SUM(duration_s), SUM(new_sessions), SUM(CASE WHEN customer_type = 'new' THEN bounces ELSE 0 END),
       SUM(CASE WHEN customer_type = 'new' THEN conversions ELSE 0 END), {new_revenue},
       SUM(CASE WHEN customer_type = 'new' THEN page_views ELSE 0 END),
       SUM(CASE WHEN customer_type = 'new' THEN duration_s ELSE 0 END)
FROM rollup_cube
GROUP BY day, channel, device, country
"""
INSERT_BREAKDOWN = """
INSERT INTO {target} (day, dimension, value, filter_dimension, filter_value, sessions, conversions, revenue,
                               bounces, page_views, duration_s, new_sessions)
"""
# One per dimension and filter dimension; those of one source table go in one INSERT (a small import's rollups
# took 46 statements).
SELECT_BREAKDOWN = """
SELECT {date}, {p}, {value}, {p}, {filter_value}, SUM(sessions), SUM(conversions), {revenue}, SUM(bounces),
       SUM(page_views), SUM(duration_s), SUM(new_sessions)
FROM {source}
GROUP BY day{group}
"""
SKETCH_ROWS = f"""
SELECT day, customer_id, {", ".join(FILTER_DIMENSIONS)}
FROM rollup_staged
ORDER BY day
"""
INSERT_SKETCHES = "INSERT INTO customer_sketches (day, dimension, value, customers, sketch) VALUES {rows}"
SKETCHES_PER_INSERT = 100  # 500 parameters: under SQLite's oldest limit of 999
DELETE_DAYS = "DELETE FROM {table} WHERE day >= {p} AND day <= {p}"


def refresh_rollups(db, first_day, last_day):
    """Recompute the rollups after sessions started on the UTC days FIRST_DAY to LAST_DAY were added, changed or removed.

    For a bulk load and a rebuild (imports and undos go through changes.Change): call it in their transaction, with
    every UTC day on which a session was written, changed (before and after) or deleted. It also re-marks new
    customers on other days when a customer's first session moved.
    """
    if first_day is None:
        return
    claim_zone()
    tz = localtime.reporting_zone()[1]
    if not is_sqlite(db):
        # The default 4 MB would sort a large import's sessions on disk, several times over.
        db.execute_sql(SORT_MEMORY)
    first, last = localtime.local_days(first_day, last_day, tz)
    start, end = localtime.utc_window(first, last, tz)
    moved = _update_firsts(db, start, end, tz, _plus(db, start, end))
    refresh_days(db, moved | {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}, tz)


def refresh_days(db, days, tz):
    """Recompute the rollups of the reporting DAYS from customer_sessions and customer_firsts."""
    for run_first, run_last in _runs(sorted(days)):
        _recompute(db, run_first, run_last, tz)


def recount_customers(db, days, tz):
    """Recompute the unique customers (customer_sketches) of the reporting DAYS; customer_firsts must be current."""
    for run_first, run_last in _runs(sorted(days)):
        _recompute(db, run_first, run_last, tz, sums=False)


def rebuild_rollups(db):
    """Recompute every rollup from customer_sessions (after REPORT_TIMEZONE changed, or to repair them); return the span."""
    with db.atomic():
        for table in (*TABLES, "customer_firsts", "rollup_zone"):
            db.execute_sql(f"DELETE FROM {table}")
        claim_zone()
        span = CustomerSession.span()
        if span is None:
            return None
        first, last = span[0].date(), span[1].date()
        refresh_rollups(db, first, last)
        analyze(db, *TABLES, "customer_firsts")
        return first, last


def zone_problem():
    """Return what is wrong when the rollups hold the days of another zone than REPORT_TIMEZONE, else None."""
    stored, current = RollupZone.select(RollupZone.zone).scalar(), localtime.reporting_zone()[0]
    if stored is None or stored == current:
        return None
    return (f"The rollups hold the days of {stored}, but REPORT_TIMEZONE is now {current}: every figure would be "
            f"counted by {stored}'s days. Run: python manage.py rollups rebuild")


def refuse_another_zone():
    """Raise AppError when the rollups hold the days of another zone than REPORT_TIMEZONE."""
    problem = zone_problem()
    if problem:
        raise AppError(f"{problem}, then try again; nothing was written.")


def claim_zone():
    """Record the reporting zone with the first rollups; raise AppError when they hold another zone's days."""
    refuse_another_zone()
    if not RollupZone.select().exists():
        # Rollups written before the zone was recorded may lack the rows of the current layout.
        layout = 1 if DailyRollup.select().exists() else ROLLUP_LAYOUT
        RollupZone.create(zone=localtime.reporting_zone()[0], layout=layout)


def _update_firsts(db, start, end, tz, plus):
    p = db.param
    db.execute_sql(AFFECTED_CUSTOMERS.format(p=p, plus=plus), (start, end))
    write_new_firsts(db)
    analyze_staged(db, "rollup_customers", "rollup_firsts")
    moved = {localtime.local_day(_datetime(row[0]), tz)
             for row in db.execute_sql(MOVED_FIRSTS.format(p=p), (start, end, start, end))}
    for statement in (*WRITE_FIRSTS, "DROP TABLE rollup_firsts", "DROP TABLE rollup_customers"):
        db.execute_sql(statement)
    return moved


def write_new_firsts(db):
    """Note in rollup_firsts the first session of each customer of rollup_customers."""
    db.execute_sql(NEW_FIRSTS.format(c=byte_order(db)))


def _recompute(db, first, last, tz, sums=True):
    """Recompute the unique customers of the reporting days FIRST to LAST, and their sums too when SUMS."""
    p = db.param
    start, end = localtime.utc_window(first, last, tz)
    for table in TABLES if sums else ("customer_sketches",):
        db.execute_sql(DELETE_DAYS.format(table=table, p=p), (first, last))
    stage(db, start, end, tz, **STORED_SESSIONS, plus=_plus(db, start, end))
    if sums:
        group(db)
    _write_sketches(db)
    db.execute_sql("DROP TABLE rollup_staged")


def stage(db, start, end, tz, sessions, first, n, plus=""):
    """Create rollup_staged: the sessions (FROM clause SESSIONS, aliased s) of [START, END); PLUS as _plus gives."""
    p = db.param
    day_sql, day_params = localtime.bucket_sql(p, not is_sqlite(db), "day", start, end, tz, column="s.started_at")
    db.execute_sql(STAGE.format(day=day_sql, p=p, sessions=sessions, first=first, n=n, plus=plus),
                   (*day_params, start, end))


def _plus(db, start, end):
    """Return "+" (hiding the started_at index) when SQLite should scan the table for the sessions of [START, END)."""
    # So when the window spans a quarter or more of the stored sessions' time: the index reads each row at random,
    # and for 10M sessions that took 64 s against 8 s for a scan in table order (81 s against 14 s for the customers).
    span = CustomerSession.span() if is_sqlite(db) else None
    if span is None:
        return ""
    first, last = span
    return "+" if min(end, last) - max(start, first) >= (last - first) / 4 else ""


def group(db, prefix=""):
    """Insert the sums of rollup_staged per day and cell into the rollup tables, or those named PREFIX + table."""
    postgres = not is_sqlite(db)
    date = "CAST(day AS DATE)" if postgres else "day"
    # SQLite sums amounts as floating point: round the sums to cents as PostgreSQL's NUMERIC has them.
    money = "SUM({})" if postgres else "ROUND(SUM({}), 2)"
    db.execute_sql(GROUP_CUBE)
    db.execute_sql(INSERT_DAILY.format(target=prefix + "daily_rollups", date=date, revenue=money.format("revenue"),
                                       new_revenue=money.format("CASE WHEN customer_type = 'new' THEN revenue ELSE 0 END")))
    cube = ("", *CUBE_DIMENSIONS)
    # (table, the statement that creates it, the (dimension, filter dimension) pairs read from it)
    sources = [("rollup_cube", None, [(d, by) for d in cube for by in cube if not by or by != d])]
    for many in MANY_VALUED:
        sources.append(("rollup_values", GROUP_DIMENSION.format(dimension=many),
                        [(many, by) for by in cube] + [(d, many) for d in cube]))
    sources.append(("rollup_pages", GROUP_PAGES, [(d, by) for d in MANY_VALUED for by in MANY_VALUED if by != d]))
    for source, create, pairs in sources:
        if create:
            db.execute_sql(create)
        for target in ("breakdown_rollups", "cross_rollups"):
            chosen = [(d, by) for d, by in pairs if (by in MANY_VALUED) == (target == "cross_rollups")]
            if chosen:
                statement, params = _select_breakdowns(db, source, chosen, date, money)
                db.execute_sql(INSERT_BREAKDOWN.format(target=prefix + target) + statement, params)
        db.execute_sql(f"DROP TABLE {source}")


def _select_breakdowns(db, source, pairs, date, money):
    """Return the SELECT (and its parameters) of the sums of table SOURCE per day, dimension and filter PAIRS."""
    postgres = not is_sqlite(db)
    selects, params = [], []
    for dimension, by in pairs:
        selects.append(SELECT_BREAKDOWN.format(
            date=date, p=db.param, value=dimension or "''", source=source, revenue=money.format("revenue"),
            filter_value=(KEY.format(by) if postgres else by) if by in MANY_VALUED else by or "''",
            group="".join(f", {c}" for c in (dimension, by) if c)))
        params += (dimension, by)
    return "UNION ALL".join(selects), params


def _write_sketches(db):
    cursor = db.execute_sql(SKETCH_ROWS)
    day, batch = None, []
    while True:
        rows = cursor.fetchmany(10000)
        for row in rows:
            if row[0] != day and batch:
                _sketch_day(db, day, batch)
                batch = []
            day = row[0]
            batch.append(row)
        if not rows:
            break
    if batch:
        _sketch_day(db, day, batch)


def _sketch_day(db, day, rows):
    hashed = sketch.hashes([r[1] for r in rows])
    postgres = not is_sqlite(db)
    cells = [("", "", hashed)]
    for position, dimension in enumerate(FILTER_DIMENSIONS, start=2):
        # Gathered in one pass, not with a mask per value: a day of real data has thousands of landing pages.
        rows_of = defaultdict(list)
        for i, row in enumerate(rows):
            rows_of[row[position]].append(i)
        cells += [(dimension, rollup_key(value, postgres), hashed[rows_of[value]]) for value in sorted(rows_of)]
    day_value = dt.date.fromisoformat(str(day)[:10])
    insert_sketches(db, [sketch_row(day_value, dimension, value, chosen) for dimension, value, chosen in cells])


def sketch_row(day, dimension, value, hashed):
    """Return the customer_sketches row of one cell: its customers' HASHED ids counted and packed."""
    return day, dimension, value, len(sketch.unique(hashed)), sketch.pack(hashed, dimension in EXACT_DIMENSIONS)


def insert_sketches(db, rows):
    """Insert (day, dimension, value, customers, sketch) ROWS into customer_sketches, many to a statement."""
    with_values(db, INSERT_SKETCHES, rows)


def with_values(db, statement, rows):
    """Run STATEMENT, whose {rows} is a VALUES list, for ROWS of five values, SKETCHES_PER_INSERT at a time."""
    # psycopg2's executemany sends one statement per row: 5 of a rebuild's 60 s for 22,000 sketches.
    cursor = db.cursor()
    for start in range(0, len(rows), SKETCHES_PER_INSERT):
        batch = rows[start:start + SKETCHES_PER_INSERT]
        marks = ", ".join([f"({', '.join([db.param] * 5)})"] * len(batch))
        cursor.execute(statement.format(rows=marks), [value for row in batch for value in row])


def _runs(days):
    """Group sorted days into (first, last) runs of consecutive days."""
    runs = []
    for day in days:
        if runs and day == runs[-1][1] + localtime.ONE_DAY:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [tuple(run) for run in runs]


def as_date(value):
    """Return a stored date or timestamp (SQLite: text) as a date."""
    return dt.date.fromisoformat(str(value)[:10])


def _datetime(value):
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value

"""The rollups of an import or undo that changes a small part of its days: changed by the difference, not recomputed.

The sessions about to change are noted as they are (Change), the change is made, then they are noted as they
became, together with the first sessions of their customers; grouped with the old rows counted negatively, they
give what each rollup row gains or loses. Unique customers only grow that way: when an untouched session stops being
its customer's first, the sums still change by the difference and the unique customers of every day the change
touched are counted again; when a change takes a customer out of a day's cell otherwise (a continued session that
ends on another page), an exit page's cell, which keeps its customers' hashes, gives theirs up and any other cell is
counted again from the day's sessions; and a change that writes more than its days held recomputes them from the
start (rollups.refresh_rollups), which costs no more.
"""

from collections import defaultdict

import numpy as np

from analyzer import localtime, sketch
from analyzer.db import byte_order, is_sqlite
from analyzer.ingest import rollups, store
from analyzer.models import rollup_key

DIMENSION_COUNT = len(rollups.FILTER_DIMENSIONS)
DELTA_SHARE = 1.0  # a change that writes more than this share of the sessions its days held recomputes them
SESSION_COLUMNS = ("id, customer_id, started_at, channel, device, country, source, medium, campaign, landing_page, "
                   "exit_page, page_views, converted, revenue, duration_s")
OF_SESSION = ", ".join(f"s.{c}" for c in SESSION_COLUMNS.split(", "))
# Whether session s is its customer's first: one join, not an EXISTS that PostgreSQL runs per row or hashes whole.
WITH_FIRST = rollups.STORED_SESSIONS["sessions"]
IS_FIRST = f"CASE WHEN {rollups.STORED_SESSIONS['first']} THEN 1 ELSE 0 END"

BEFORE = f"""
CREATE TEMP TABLE rollup_before AS
SELECT {OF_SESSION}, {IS_FIRST} AS first
FROM {WITH_FIRST}
WHERE s.id IN ({{touched}})
"""
WRITTEN = """
CREATE TEMP TABLE rollup_written AS
SELECT id, customer_id, started_at FROM customer_sessions WHERE {written}
UNION
SELECT id, customer_id, started_at FROM customer_sessions WHERE id IN (SELECT id FROM rollup_before)
"""
CUSTOMERS = """
CREATE TEMP TABLE rollup_customers AS
SELECT customer_id FROM rollup_before
UNION
SELECT customer_id FROM rollup_written
"""
# The first session of each customer changed: the stored one, when the change left it alone, or one written; all
# sessions only of the customers without a stored first that the change left alone (touched, new, or missing from
# a database that has not had its rollups rebuilt). Ranking every session of each customer read 24,000 sessions
# for an hourly file's 8,400 customers at noon, and grows with their history.
FIRSTS = """
CREATE TEMP TABLE rollup_firsts AS
WITH kept AS (SELECT customer_id, session_id, started_at FROM customer_firsts
              WHERE customer_id IN (SELECT customer_id FROM rollup_customers)
                AND session_id NOT IN (SELECT id FROM rollup_before))
SELECT customer_id, session_id, started_at
FROM (SELECT customer_id, session_id, started_at,
             ROW_NUMBER() OVER (PARTITION BY customer_id{c} ORDER BY started_at, session_id) AS position
      FROM (SELECT customer_id, session_id, started_at FROM kept
            UNION ALL
            SELECT customer_id, id, started_at FROM rollup_written
            UNION ALL
            SELECT customer_id, id, started_at FROM customer_sessions
            WHERE customer_id IN (SELECT customer_id FROM rollup_customers c
                                  WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.customer_id = c.customer_id))
           ) candidates) ranked
WHERE position = 1
"""
# Untouched sessions that were their customer's first and are no longer, or the other way round: they change from
# new to returning or back (the first sessions before and after, but not both).
EXTRA = """
CREATE TEMP TABLE rollup_extra AS
SELECT id
FROM (SELECT session_id AS id FROM customer_firsts WHERE customer_id IN (SELECT customer_id FROM rollup_customers)
      UNION ALL
      SELECT session_id FROM rollup_firsts) firsts
GROUP BY id
HAVING COUNT(*) = 1
EXCEPT
SELECT id FROM rollup_written
EXCEPT
SELECT id FROM rollup_before
"""
# An untouched session that stops being its customer's first takes the customer out of its day's new customers, which
# a sketch cannot do: the sums still change by the difference, and the unique customers of the days are counted
# again. Known now, before the customers of every cell are gathered (a backfill of 500,000 sessions older than their
# customers' firsts held SQLite's write lock 13 s longer for them).
LOST_FIRST = "SELECT 1 FROM rollup_extra WHERE id IN (SELECT session_id FROM customer_firsts) LIMIT 1"
STAGED_DAYS = "SELECT DISTINCT day FROM rollup_staged"
IMAGES = f"""
CREATE TEMP TABLE rollup_images AS
SELECT {SESSION_COLUMNS}, -1 AS n, first FROM rollup_before
UNION ALL
SELECT {OF_SESSION}, -1 AS n, {IS_FIRST}
FROM {WITH_FIRST} WHERE s.id IN (SELECT id FROM rollup_extra)
UNION ALL
SELECT {SESSION_COLUMNS}, 1 AS n, CASE WHEN id IN (SELECT session_id FROM rollup_firsts) THEN 1 ELSE 0 END
FROM customer_sessions s WHERE id IN (SELECT id FROM rollup_written UNION ALL SELECT id FROM rollup_extra)
"""
# The start times of the sessions written and of those before the change, and how many were written.
SPAN = """
SELECT MIN(started_at), MAX(started_at), SUM(written)
FROM (SELECT started_at, 1 AS written FROM rollup_written
      UNION ALL
      SELECT started_at, 0 FROM rollup_before) s
"""
IMAGE_SPAN = "SELECT MIN(started_at), MAX(started_at) FROM rollup_images"
STORED = "SELECT COALESCE(SUM(sessions), 0) FROM daily_rollups WHERE day >= {p} AND day <= {p}"
STAGED_CELLS = f"SELECT day, customer_id, {', '.join(rollups.FILTER_DIMENSIONS)}, n FROM rollup_staged"
# A stored session's value of each dimension, as the cells of the sketches hold it ('': the cell of all sessions).
CELL_VALUES = {"": "''", "channel": "s.channel", "device": "s.device",
               "customer_type": f"CASE WHEN {rollups.STORED_SESSIONS['first']} THEN 'new' ELSE 'returning' END",
               **{d: f"COALESCE(s.{d}, '')" for d in ("country", *rollups.MANY_VALUED)}}
# The other sessions of the customers changed, on the days changed: they are in their cells already. (SQLite, which
# has no statistics, would otherwise read the days by start time instead of the customers' few sessions.)
OTHERS = f"""
SELECT {{day}}, s.customer_id, {", ".join(CELL_VALUES[d] for d in rollups.FILTER_DIMENSIONS)}
FROM {WITH_FIRST}
WHERE s.customer_id IN (SELECT customer_id FROM rollup_customers)
  AND {{plus}}s.started_at >= {{p}} AND {{plus}}s.started_at < {{p}}
  AND s.id NOT IN (SELECT id FROM rollup_images)
"""
# The customers of one day, with their sessions' values of the dimensions of the cells counted again.
OF_DAY = """
SELECT s.customer_id, {columns}
FROM {sessions}
WHERE s.started_at >= {p} AND s.started_at < {p}
"""
DELETE_SKETCH = "DELETE FROM customer_sketches WHERE day = {p} AND dimension = {p} AND value = {p}"
SKETCHES_OF_DAY = "SELECT dimension, value, customers, sketch FROM customer_sketches WHERE day = {p}"
UPDATE_SKETCHES = ("UPDATE customer_sketches SET customers = v.column1, sketch = v.column2 FROM (VALUES {rows}) AS v "
                   "WHERE customer_sketches.day = v.column3 AND customer_sketches.dimension = v.column4 "
                   "AND customer_sketches.value = v.column5")
BREAKDOWN_KEYS = ("day", "dimension", "value", "filter_dimension", "filter_value")
BREAKDOWN_SUMS = ("sessions", "conversions", "revenue", "bounces", "page_views", "duration_s", "new_sessions")
DELTA_TABLES = {"daily_rollups": ("day", "channel", "device", "country"),
                "breakdown_rollups": BREAKDOWN_KEYS, "cross_rollups": BREAKDOWN_KEYS}
SUMS = {"daily_rollups": ("sessions", "bounces", "conversions", "revenue", "page_views", "duration_s", "new_sessions",
                          "new_bounces", "new_conversions", "new_revenue", "new_page_views", "new_duration_s"),
        "breakdown_rollups": BREAKDOWN_SUMS, "cross_rollups": BREAKDOWN_SUMS}
TEMP_TABLES = ("rollup_images", "rollup_extra", "rollup_customers", "rollup_written", "rollup_before")


class Change:
    """Sessions an import or undo is about to write, change or delete, noted as they are before it."""

    def __init__(self, db, touched="SELECT id FROM customer_sessions WHERE 1 = 0", params=()):
        """Note the sessions whose ids TOUCHED (SQL, with PARAMS) selects, and the last session id."""
        self.db = db
        for table in TEMP_TABLES:
            db.execute_sql(f"DROP TABLE IF EXISTS {table}")
        db.execute_sql(BEFORE.format(touched=touched), params)
        self.last_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM customer_sessions").fetchone()[0]

    def apply(self, written=None, params=()):
        """Bring the rollups up to date after the change; WRITTEN (SQL condition, PARAMS) picks the sessions written."""
        db = self.db
        if written is None:
            written, params = f"id > {db.param}", (self.last_id,)  # the touched ones still there count too
        db.execute_sql(WRITTEN.format(written=written), params)
        first, last, count = db.execute_sql(SPAN).fetchone()
        if first is not None:
            rollups.claim_zone()
            tz = localtime.reporting_zone()[1]
            if not is_sqlite(db):
                db.execute_sql(store.SORT_MEMORY)
            first, last = rollups.as_date(first), rollups.as_date(last)
            days = localtime.local_days(first, last, tz)
            if count > DELTA_SHARE * db.execute_sql(STORED.format(p=db.param), days).fetchone()[0]:
                rollups.refresh_rollups(db, first, last)
            else:
                self._by_difference(tz)
        for table in TEMP_TABLES:
            db.execute_sql(f"DROP TABLE IF EXISTS {table}")

    def _by_difference(self, tz):
        """Change the rollups by the difference of the sessions before and after, or recompute their days."""
        db, p = self.db, self.db.param
        db.execute_sql(CUSTOMERS)
        db.execute_sql(FIRSTS.format(c=byte_order(db)))
        store.analyze_staged(db, "rollup_before", "rollup_written", "rollup_customers", "rollup_firsts")
        db.execute_sql(EXTRA)
        lost_first = db.execute_sql(LOST_FIRST).fetchone() is not None
        db.execute_sql(IMAGES)
        for statement in rollups.WRITE_FIRSTS:
            db.execute_sql(statement)
        db.execute_sql("DROP TABLE rollup_firsts")
        store.analyze_staged(db, "rollup_images (id)")
        first, last = db.execute_sql(IMAGE_SPAN).fetchone()
        first, last = localtime.local_days(rollups.as_date(first), rollups.as_date(last), tz)
        start, end = localtime.utc_window(first, last, tz)
        rollups.stage(db, start, end, tz, sessions="rollup_images s", first="s.first = 1", n="s.n")
        if lost_first:
            days = {rollups.as_date(day) for day, in db.execute_sql(STAGED_DAYS)}
            _add_deltas(db)
            rollups.recount_customers(db, days, tz)
            return
        cells = _cells(db.execute_sql(STAGED_CELLS), not is_sqlite(db))
        day_sql, day_params = localtime.bucket_sql(p, not is_sqlite(db), "day", start, end, tz, column="s.started_at")
        # Their untouched sessions have no n: counted as "before", where they stay.
        others = OTHERS.format(day=day_sql, p=p, plus="+" if is_sqlite(db) else "")
        known = _cells(db.execute_sql(others, (*day_params, start, end)), not is_sqlite(db))
        stored_sketches = {day: {(d, v): (c, bytes(b)) for d, v, c, b in
                                 db.execute_sql(SKETCHES_OF_DAY.format(p=p), (day,))}
                           for day in cells}
        if not all(sketch.mergeable(blob) for day in cells for _, blob in stored_sketches[day].values()):
            db.execute_sql("DROP TABLE rollup_staged")
            rollups.refresh_days(db, set(cells), tz)
            return
        lost = _lost_cells(cells, known)
        # A cell that keeps its hashes gives up those of the customers who left; any other is counted again.
        recount = {(day, cell) for day, found in lost.items() for cell in found
                   if not sketch.holds_hashes(stored_sketches[day].get(cell, (0, b""))[1])}
        _add_deltas(db)
        _add_customers(db, cells, known, stored_sketches, lost, recount)
        _recount_cells(db, recount, tz)


def _cells(rows, postgres):
    """Return {day: {(dimension, value): ({customers after}, {customers before})}} of rows (n 1 after, -1 before)."""
    # Column by column within each day and side: an hourly file's rollups read some 20,000 rows twice.
    groups = defaultdict(list)
    for row in rows:
        groups[row[0], 0 if len(row) > DIMENSION_COUNT + 2 and row[-1] > 0 else 1].append(row)
    out = defaultdict(lambda: defaultdict(lambda: (set(), set())))
    for (day, side), group in groups.items():
        columns = list(zip(*group))
        customers = columns[1]
        cells = out[rollups.as_date(day)]
        cells["", ""][side].update(customers)
        for dimension, values in zip(rollups.FILTER_DIMENSIONS, columns[2:]):
            of_value = defaultdict(set)
            for value, customer in zip(values, customers):
                of_value[value].add(customer)
            for value, customers_of_value in of_value.items():
                key = dimension, rollup_key(value, postgres)
                if key in cells:
                    cells[key][side].update(customers_of_value)
                else:  # the set itself, not a copy: the one side of a new cell
                    cells[key] = (customers_of_value, set()) if side == 0 else (set(), customers_of_value)
    return out


def _lost_cells(cells, known):
    """Return {day: {(dimension, value)}} of the cells that a customer leaves."""
    # Mostly exit pages: a session continued by the next file ends on another page.
    lost = {day: {cell for cell, (after, before) in day_cells.items() if not before <= after | known[day][cell][1]}
            for day, day_cells in cells.items()}
    return {day: found for day, found in lost.items() if found}


def _recount_cells(db, recount, tz):
    """Count the customers of each (day, cell) of RECOUNT again from the sessions of its day; store its sketch anew."""
    postgres = not is_sqlite(db)
    for day in sorted({day for day, _ in recount}):
        day_cells = {cell for cell_day, cell in recount if cell_day == day}
        dimensions = sorted({dimension for dimension, _ in day_cells})
        statement = OF_DAY.format(columns=", ".join(CELL_VALUES[d] for d in dimensions), p=db.param,
                                  sessions=WITH_FIRST if "customer_type" in dimensions else "customer_sessions s")
        of_value = defaultdict(set)
        for customer, *values in db.execute_sql(statement, localtime.utc_window(day, day, tz)):
            for dimension, value in zip(dimensions, values):
                of_value[dimension, value].add(customer)
        customers = {cell: set() for cell in day_cells}
        for (dimension, value), found in of_value.items():
            cell = (dimension, rollup_key(value, postgres))
            if cell in customers:
                customers[cell] |= found
        everyone = sorted(set().union(*customers.values()))
        hash_of = dict(zip(everyone, sketch.hashes(everyone)))  # each customer once, not once per cell
        cursor, rows = db.cursor(), []
        for (dimension, value), found in sorted(customers.items()):
            cursor.execute(DELETE_SKETCH.format(p=db.param), (day, dimension, value))
            if found:
                hashed = np.fromiter((hash_of[c] for c in found), dtype=np.uint64, count=len(found))
                rows.append(rollups.sketch_row(day, dimension, value, hashed))
        rollups.insert_sketches(db, rows)


def _add_deltas(db):
    """Add the sums of rollup_staged (the sessions after, less those before) to the rollups; drop it."""
    for table in DELTA_TABLES:
        db.execute_sql(f"CREATE TEMP TABLE delta_{table} AS SELECT * FROM {table} WHERE 1 = 0")
    rollups.group(db, "delta_")
    db.execute_sql("DROP TABLE rollup_staged")
    for table in DELTA_TABLES:
        _add_delta(db, table)


def _add_delta(db, table):
    """Add delta_TABLE's sums to TABLE's rows of the same key, insert the new keys, delete the rows left empty."""
    keys, sums = DELTA_TABLES[table], SUMS[table]
    delta = f"delta_{table}"
    match = " AND ".join(f"{table}.{k} = d.{k}" for k in keys)
    rounded = "{}" if not is_sqlite(db) else "ROUND({}, 2)"  # SQLite's amounts are floating point: back to cents
    assign = ", ".join(f"{c} = " + (rounded if "revenue" in c else "{}").format(f"{table}.{c} + d.{c}") for c in sums)
    db.execute_sql(f"UPDATE {table} SET {assign} FROM {delta} d WHERE {match}")
    columns = ", ".join((*keys, *sums))
    db.execute_sql(f"INSERT INTO {table} ({columns}) SELECT {', '.join(f'd.{c}' for c in (*keys, *sums))} "
                   f"FROM {delta} d WHERE d.sessions <> 0 AND NOT EXISTS (SELECT 1 FROM {table} WHERE {match})")
    # The rows the difference emptied, found from its own rows: a range of days scanned all of cross_rollups.
    same = " AND ".join(f"t.{k} = d.{k}" for k in keys)
    db.execute_sql(f"DELETE FROM {table} WHERE id IN (SELECT t.id FROM {delta} d JOIN {table} t ON {same} "
                   f"WHERE t.sessions = 0)")
    db.execute_sql(f"DROP TABLE {delta}")


def _add_customers(db, cells, known, stored_sketches, lost, recount):
    """Add the customers after the change to each cell's sketch (those of LOST cells leave), except RECOUNT's cells."""
    p = db.param
    updates, inserts, emptied = [], [], []
    everyone = sorted({c for day_cells in cells.values() for pair in day_cells.values() for c in pair[0] | pair[1]})
    hash_of = dict(zip(everyone, sketch.hashes(everyone)))

    def hashes(customers):
        return np.fromiter((hash_of[c] for c in customers), dtype=np.uint64, count=len(customers))

    for day, day_cells in cells.items():
        for (dimension, value), (after, before) in day_cells.items():
            cell, exact = (dimension, value), dimension in rollups.EXACT_DIMENSIONS
            if (day, cell) in recount:
                continue
            if cell in lost.get(day, ()):
                left = before - after - known[day][cell][1]
                count, blob = sketch.replaced(stored_sketches[day][cell][1], hashes(after), hashes(left), exact)
                if count:
                    updates.append((count, blob, day, dimension, value))
                else:
                    emptied.append((day, dimension, value))
                continue
            if not after:
                continue
            added = len(after - before - known[day][cell][1])
            if cell in stored_sketches[day]:
                count, blob = stored_sketches[day][cell]
                updates.append((count + added, sketch.merge(blob, hashes(after), exact), day, dimension, value))
            else:
                inserts.append((day, dimension, value, added, sketch.pack(hashes(after), exact)))
    rollups.with_values(db, UPDATE_SKETCHES, updates)  # an hourly file updates some 110 sketches
    if emptied:
        db.cursor().executemany(DELETE_SKETCH.format(p=p), emptied)
    rollups.insert_sketches(db, inserts)

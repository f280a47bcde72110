"""Figures computed straight from customer_sessions: the reference that every rollup answer must equal."""

from peewee import JOIN, SQL, Case, NodeList, Value, fn

from analyzer import localtime
from analyzer.analytics.figures import Totals, money
from analyzer.analytics.query import where_sessions
from analyzer.db import byte_order, fetch_large, is_sqlite
from analyzer.models import CustomerFirst, CustomerSession

S = CustomerSession
# Only the session ids: the unqualified started_at of a trend's buckets would be ambiguous beside the whole table.
F = CustomerFirst.select(CustomerFirst.session_id).alias("first_of")
NARROW = 20_000  # sessions of a range that SQLite reads by start time faster than through a filter's index


def totals(query):
    """Return the Totals of the sessions of QUERY (range and filters)."""
    row = where_sessions(_firsts(S.select(*_sums(), _unique_customers())), query).tuples().first()
    return _totals(row)


def customers(query, in_range=None):
    """Return the unique customers of QUERY's sessions; IN_RANGE is the range's sessions before filters, if known."""
    # SQLite has no statistics on ranges: it walks a filter's index even when the range holds a few sessions.
    by_time = in_range is not None and in_range <= NARROW and is_sqlite(_database())
    return where_sessions(S.select(_unique_customers()), query, by_time).scalar() or 0


def series(query, interval, customers=True, new=True):
    """Return {bucket start: Totals} of QUERY by INTERVAL in the query's reporting zone (empty buckets left out).

    Without CUSTOMERS (or NEW), the unique (or new) customers are left at 0: counting them is most of the read.
    """
    db = _database()
    start, end = query.window()
    sql, params = localtime.bucket_sql(db.param, not is_sqlite(db), interval, start, end, query.tz)
    bucket = SQL(sql, params)
    select = _firsts(S.select(bucket, *_sums(new), _unique_customers() if customers else Value(0)), new)
    select = select.group_by(bucket)
    return {localtime.bucket_start(row[0], interval): _totals(row[1:]) for row in where_sessions(select, query).tuples()}


def rows(query, dimension):
    """Return [(value, sessions, conversions, revenue)] of QUERY grouped by DIMENSION; a missing value is None."""
    return rows_of(query, [dimension])[dimension]


def rows_of(query, dimensions):
    """Return {dimension: rows(query, dimension)} of several DIMENSIONS, reading the sessions of QUERY once."""
    return scan(query, dimensions)[0]


def scan(query, dimensions, customers=False):
    """Return (rows_of(query, DIMENSIONS), the unique customers when CUSTOMERS else None), reading the rows once."""
    if len(dimensions) == 1 and not customers:
        key = _key(dimensions[0])
        select = S.select(Value(0), key, fn.COUNT(S.id), _count(S.converted == True), _revenue())  # noqa: E712
        select = _firsts(select, dimensions[0] == "customer_type")
        found = fetch_large(_database(), *where_sessions(select.group_by(key), query).sql())
    else:
        # The filtered sessions, once (both databases keep a CTE read more than once), grouped per dimension.
        keys = [_key(d).alias(f"k{n}") for n, d in enumerate(dimensions)]
        scoped = S.select(*keys, S.customer_id, _flag(S.converted == True).alias("conv"),  # noqa: E712
                          _amount().alias("amount"))
        scoped = where_sessions(_firsts(scoped, "customer_type" in dimensions), query)
        sql, params = scoped.sql()
        groups = _groupings(len(dimensions))
        if customers:
            groups.append(f"SELECT -1, NULL, COUNT(DISTINCT customer_id{byte_order(_database())}), 0, 0 FROM scoped")
        # Large-read settings: with 4 MB of work_mem, the bitmap of 140,000 sessions among 10M went lossy and
        # every row of its pages was checked again (1.5 s instead of 1.0 s).
        found = fetch_large(_database(), f"WITH scoped AS ({sql})\n" + "\nUNION ALL\n".join(groups), params)
    out, counted = {dimension: [] for dimension in dimensions}, None
    for n, value, sessions, conversions, revenue in found:
        if n == -1:
            counted = int(sessions)
        else:
            out[dimensions[n]].append((value or None, int(sessions), int(conversions or 0), money(revenue)))
    return out, counted


def _groupings(count):
    """Return the SELECTs that group the CTE scoped by each of its keys k0 … k(COUNT - 1): (key number, value, sums)."""
    sums = "COUNT(*), SUM(conv), SUM(amount)"
    if is_sqlite(_database()):
        return [f"SELECT {n}, k{n}, {sums} FROM scoped GROUP BY k{n}" for n in range(count)]
    # One pass, where a GROUP BY per key read the rows once each: at 1M demo sessions, nine breakdowns of
    # source=google's 450,000 took 0.85 s instead of 1.48 s. A key's own value is never NULL (COALESCE or CASE),
    # so in each row the one key grouped is the one that is not NULL.
    keys = [f"k{n}" for n in range(count)]
    which = " ".join(f"WHEN GROUPING({key}) = 0 THEN {n}" for n, key in enumerate(keys))
    sets = ", ".join(f"({key})" for key in keys)
    return [f"SELECT CASE {which} END, COALESCE({', '.join(keys)}), {sums} FROM scoped GROUP BY GROUPING SETS ({sets})"]


def _sums(new=True):
    return [fn.COUNT(S.id), _count(S.page_views <= 1), _count(S.converted == True), _revenue(),  # noqa: E712
            fn.SUM(S.page_views), fn.SUM(S.duration_s), _count(_first()) if new else Value(0)]


def _totals(row):
    sessions, bounces, conversions, revenue, page_views, duration, new, customers = row
    # PostgreSQL sums bigint columns as NUMERIC: counts become int again here.
    return Totals(int(sessions or 0), int(bounces or 0), int(conversions or 0), money(revenue), int(page_views or 0),
                  int(duration or 0), int(new or 0), int(customers or 0))


def _key(dimension):
    if dimension == "customer_type":
        return Case(None, [(_first(), "new")], "returning")
    return fn.COALESCE(getattr(S, dimension), "")


def _firsts(select, needed=True):
    """Join each session's row of customer_firsts, if it is its customer's first, when NEEDED."""
    # One join: a test of EXISTS for each session read made PostgreSQL probe customer_firsts 450,000 times.
    return select.join(F, JOIN.LEFT_OUTER, on=(F.c.session_id == S.id)) if needed else select


def _first():
    return F.c.session_id.is_null(False)


def _unique_customers():
    """Return COUNT(DISTINCT customer_id), comparing the ids byte by byte."""
    return fn.COUNT(NodeList((SQL("DISTINCT"), S.customer_id, SQL(byte_order(_database())))))


def _count(condition):
    return fn.SUM(_flag(condition))


def _flag(condition):
    return Case(None, [(condition, 1)], 0)


def _revenue():
    return fn.SUM(_amount())


def _amount():
    if is_sqlite(_database()):
        # SQLite keeps amounts as floating point: sum whole cents so both databases give the exact total.
        return fn.ROUND(S.revenue * 100).cast("INTEGER")
    return S.revenue


def _database():
    return S._meta.database

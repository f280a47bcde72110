"""Figures computed straight from customer_sessions: the reference that every rollup answer must equal."""

from peewee import SQL, Case, NodeList, Value, fn

from analyzer import localtime
from analyzer.analytics.figures import Totals, money
from analyzer.analytics.query import is_first_session, where_sessions
from analyzer.db import byte_order, fetch_large, is_sqlite
from analyzer.models import CustomerSession

S = CustomerSession
NARROW = 20_000  # sessions of a range that SQLite reads by start time faster than through a filter's index


def totals(query):
    """Return the Totals of the sessions of QUERY (range and filters)."""
    row = where_sessions(S.select(*_sums(), _unique_customers()), query).tuples().first()
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
    select = S.select(bucket, *_sums(new), _unique_customers() if customers else Value(0)).group_by(bucket)
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
        found = fetch_large(_database(), *where_sessions(select.group_by(key), query).sql())
    else:
        # The filtered sessions, once (both databases keep a CTE read more than once), grouped per dimension.
        keys = [_key(d).alias(f"k{n}") for n, d in enumerate(dimensions)]
        scoped = where_sessions(S.select(*keys, S.customer_id, _flag(S.converted == True).alias("conv"),  # noqa: E712
                                         _amount().alias("amount")), query)
        sql, params = scoped.sql()
        groups = [f"SELECT {n}, k{n}, COUNT(*), SUM(conv), SUM(amount) FROM scoped GROUP BY k{n}"
                  for n in range(len(dimensions))]
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


def _sums(new=True):
    return [fn.COUNT(S.id), _count(S.page_views <= 1), _count(S.converted == True), _revenue(),  # noqa: E712
            fn.SUM(S.page_views), fn.SUM(S.duration_s), _count(is_first_session()) if new else Value(0)]


def _totals(row):
    sessions, bounces, conversions, revenue, page_views, duration, new, customers = row
    # PostgreSQL sums bigint columns as NUMERIC: counts become int again here.
    return Totals(int(sessions or 0), int(bounces or 0), int(conversions or 0), money(revenue), int(page_views or 0),
                  int(duration or 0), int(new or 0), int(customers or 0))


def _key(dimension):
    if dimension == "customer_type":
        return Case(None, [(is_first_session(), "new")], "returning")
    return fn.COALESCE(getattr(S, dimension), "")


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

"""The session explorer: the dashboard's range and filters plus its own, any sort, keyset pages and a cheap total."""

import datetime as dt
import re
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation

import peewee as pw

from analyzer import localtime
from analyzer.analytics import rolled
from analyzer.analytics.query import where_sessions
from analyzer.db import is_sqlite
from analyzer.errors import shown
from analyzer.models import CustomerSession

S = CustomerSession
SORTS = ("started_at", "duration_s", "page_views", "revenue")
DEFAULT_SORT = "-started_at"
PAGE_SIZE = 50
EXACT_UP_TO = 100_000  # counted exactly up to here; past it the rollups or the planner's estimate say how many
WALK_MOST = 20_000  # sessions SQLite may read by start time to fill a page (about 60 ms) instead of a filter's index
STAMP = "%Y%m%dT%H%M%S.%f"


class CursorError(ValueError):
    """An 'after' cursor that this sort did not hand out."""


@dataclass(frozen=True)
class Options:
    """The explorer's own filters and its sort, on top of the dashboard's range and filters."""

    search: str | None = None  # a customer id or a session key, exactly
    converted: bool | None = None
    revenue_min: Decimal | None = None
    revenue_max: Decimal | None = None
    page_views_min: int | None = None
    page_views_max: int | None = None
    duration_min: int | None = None
    duration_max: int | None = None
    landing_contains: str | None = None
    sort: str = DEFAULT_SORT

    @property
    def narrowed(self):
        """Tell whether any of the explorer's own filters is set."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "sort")


@dataclass
class Page:
    """One page of sessions and the cursor of the next page (None on the last)."""

    rows: list
    next_cursor: str | None


@dataclass
class Total:
    """How many sessions match: exactly, as the planner's estimate, or only 'more than' a number."""

    value: int
    kind: str  # exact | estimate | at_least


def matching(query, options, first=(), by_time=False):
    """Return a select of the sessions in QUERY's range and filters that also pass OPTIONS (unordered), FIRST first."""
    select = where_sessions(S.select().where(*first) if first else S.select(), query, by_time)
    conditions = []
    if options.search is not None:
        conditions.append((S.customer_id == options.search) | (S.session_key == options.search))
    if options.converted is not None:
        conditions.append(S.converted == options.converted)
    for column, low, high in ((S.revenue, options.revenue_min, options.revenue_max),
                              (S.page_views, options.page_views_min, options.page_views_max),
                              (S.duration_s, options.duration_min, options.duration_max)):
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    if options.landing_contains:
        find = pw.fn.INSTR(S.landing_page, options.landing_contains) if is_sqlite(S._meta.database) else \
            pw.fn.STRPOS(S.landing_page, options.landing_contains)
        conditions.append(find > 0)
    return select.where(*conditions) if conditions else select


def ordered(query, options, first=(), by_time=False):
    """Return the matching sessions in the options' sort order (the session id breaks ties)."""
    column, descending = _sort(options.sort)
    if descending:
        return matching(query, options, first, by_time).order_by(column.desc(), S.id.desc())
    return matching(query, options, first, by_time).order_by(column, S.id)


def page(query, options, cursor=None, limit=PAGE_SIZE):
    """Return the Page after CURSOR; a cursor of another sort, or a malformed one, raises CursorError."""
    column, descending = _sort(options.sort)
    first, value = (), None
    if cursor:
        value, row_id = parse_cursor(cursor, options.sort)
        position = pw.Tuple(column, S.id)
        after = position < pw.Tuple(value, row_id) if descending else position > pw.Tuple(value, row_id)
        # The plain bound, ahead of the range's own, starts SQLite's index range at the cursor: SQLite bounds a range
        # by the first such term and never by a row value, and read every row before the 1,000th page (35-45 ms at
        # 1M sessions; under 1 ms with it).
        first = (column <= value if descending else column >= value, after)
    rows = list(ordered(query, options, first, _by_time(query, options, limit, value)).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, make_cursor(rows[-1], options.sort) if more else None)


def total(query, options):
    """Return the Total of matching sessions without counting millions of rows on every page."""
    if not options.narrowed:
        rolled_up = rolled.sessions(query, filtered=True)  # None when a filter is not rolled up
        if rolled_up is not None:
            return Total(rolled_up, "exact")
    db = S._meta.database
    estimate = None if is_sqlite(db) else _estimate(db, matching(query, options))
    if estimate is not None and estimate > 2 * EXACT_UP_TO:
        return Total(estimate, "estimate")
    capped = matching(query, options).select(S.id).order_by().limit(EXACT_UP_TO + 1)
    count = S.select(pw.fn.COUNT(pw.SQL("*"))).from_(capped.alias("capped")).scalar()
    if count <= EXACT_UP_TO:
        return Total(count, "exact")
    return Total(estimate, "estimate") if estimate and estimate > EXACT_UP_TO else Total(EXACT_UP_TO, "at_least")


def _by_time(query, options, limit, since=None):
    """Tell whether SQLite finds LIMIT sessions after SINCE faster by walking the start times than through an index."""
    # Without planner statistics, SQLite takes any filter's index and sorts every session it keeps: 3.8 s for
    # channel = paid search at 10M sessions. The day rollups say how many sessions the walk reads first.
    column, descending = _sort(options.sort)
    if not query.filters or options.narrowed or column is not S.started_at or not is_sqlite(S._meta.database):
        return False
    kept = rolled.series(query, "day", customers=False)  # None when a filter is not rolled up
    if kept is None:
        return False
    every = rolled.series(replace(query, filters=()), "day", customers=False)
    start = None if since is None else localtime.local_day(since, query.tz)
    walked = found = 0
    for day in sorted(every, reverse=descending):
        if start is not None and (day > start if descending else day < start):
            continue
        here = kept[day].sessions if day in kept else 0
        if found + here > limit:  # the page fills on this day: count its sessions up to there, spread evenly
            return walked + every[day].sessions * (limit + 1 - found) / here <= WALK_MOST
        walked, found = walked + every[day].sessions, found + here
    return False


def _estimate(db, select):
    """Return PostgreSQL's planner estimate of how many rows SELECT gives."""
    sql, params = select.select(S.id).order_by().sql()
    plan = db.execute_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
    return int(plan[0]["Plan"]["Plan Rows"])


def make_cursor(row, sort):
    """Encode a row's place in SORT as 'sort~value~id'."""
    name = sort.lstrip("-")
    value = getattr(row, name)
    text = value.strftime(STAMP) if name == "started_at" else f"{value:.2f}" if name == "revenue" else str(value)
    return f"{sort}~{text}~{row.id}"


def parse_cursor(cursor, sort):
    """Decode a cursor of SORT into (value, id); raise CursorError when it is not one."""
    bad = f"after: {shown(cursor)!r} is not a cursor from a previous page."
    parts = cursor.split("~")
    if len(parts) != 3:
        raise CursorError(bad)
    if parts[0] != sort:
        raise CursorError(f"{bad[:-1]} of this sort ({sort}): start from the first page.")
    name, text, row_id = sort.lstrip("-"), parts[1], parts[2]
    # What make_cursor writes, in ASCII digits: Decimal and int also read '1e-999999' (PostgreSQL's numeric
    # overflows on it) and other scripts' digits.
    shape = {"started_at": r".+", "revenue": r"-?[0-9]{1,16}\.[0-9]{2}"}.get(name, r"-?[0-9]{1,19}")
    if not re.fullmatch(shape, text) or not re.fullmatch(r"[0-9]{1,19}", row_id):
        raise CursorError(bad)
    try:
        if name == "started_at":
            value = dt.datetime.strptime(text, STAMP)
        elif name == "revenue":
            value = Decimal(text)
            if not value.is_finite():
                raise ValueError(text)
        else:
            value = int(text)
        position = int(row_id)
    except (ValueError, InvalidOperation):
        raise CursorError(bad) from None
    if not 0 < position < 2**63 or (name != "started_at" and abs(value) >= 10**15):
        raise CursorError(bad)
    return value, position


def _sort(sort):
    name = sort.lstrip("-")
    if name not in SORTS or sort.count("-") > 1:
        raise ValueError(f"sort={sort!r} is not valid: use one of {', '.join(SORTS)}, with a leading - for descending.")
    return getattr(S, name), sort.startswith("-")

"""The dashboard's figures: KPIs against a comparison range, a trend, breakdowns, and the span of the data."""

import datetime as dt
from dataclasses import dataclass
from functools import partial

from analyzer import localtime
from analyzer.analytics import figures, raw, rolled
from analyzer.analytics.figures import Totals
from analyzer.analytics.query import METRICS, same_date_a_year_before
from analyzer.models import CustomerSession

SKETCHED = ("customers",)


@dataclass(frozen=True)
class Metric:
    """One KPI: its value, the comparison range's, the relative change, and whether it is an estimate."""

    value: object
    previous: object
    change: float | None
    approximate: bool = False


@dataclass(frozen=True)
class Point:
    """One bucket of a trend: its start (a date, or an aware datetime for hours) and the two ranges' values."""

    t: object
    value: object
    previous: object
    approximate: bool = False


@dataclass(frozen=True)
class Row:
    """One value of a breakdown with its sessions, share of all sessions, conversions and revenue."""

    value: str | None
    sessions: int
    share: float
    conversions: int
    conversion_rate: float
    revenue: object


@dataclass(frozen=True)
class Breakdown:
    """The rows shown (sorted, at most the limit) and how many values there are in all."""

    rows: list
    total_rows: int


def stats(query, current=None):
    """Return {metric: Metric} for the query's range (its Totals CURRENT when already known) and comparison range."""
    current = _totals(query) if current is None else current
    before = query.previous()
    previous = _totals(before) if before else None
    out = {}
    for name in METRICS:
        value = figures.value(current, name)
        old = figures.value(previous, name) if previous else None
        approximate = name in SKETCHED and (current.approximate or bool(previous and previous.approximate))
        # The change of the unrounded amounts: cents of a few dollars per session moved it by half a point.
        change = figures.change(figures.value(current, name, cents=False),
                                figures.value(previous, name, cents=False) if previous else None)
        out[name] = Metric(value, old, change, approximate)
    return out


def timeseries(query, metric, interval=None):
    """Return the trend of METRIC by INTERVAL (default the query's), with the comparison range bucket by bucket."""
    interval = interval or query.interval
    current = _points(query, metric, interval)
    before = query.previous()
    previous = _points(before, metric, interval) if before else []
    points = []
    now = localtime.now(query.tz)
    # A year before, a day is compared with the same date (29 February with none), not with the day at its place.
    by_date = {t: rest for t, *rest in previous} if query.compare == "year" and interval == "day" else None
    for i, (t, value, approximate) in enumerate(current):
        if t > (now if isinstance(t, dt.datetime) else now.date()):
            break  # a bucket that has not begun: plotting it as zero would read as a collapse
        if by_date is not None:
            old, old_approximate = by_date.get(same_date_a_year_before(t), (None, False))
        else:
            old, old_approximate = previous[i][1:] if i < len(previous) else (None, False)
        points.append(Point(t, value, old, approximate or old_approximate))
    return points


def breakdown(query, dimension, limit=10, sort="sessions", label=None):
    """Return the values of DIMENSION in the query's range, sorted by SORT (descending; 'value' ascending).

    LABEL(dimension, value) is how a value reads where it is shown: sorting by 'value' follows it.
    """
    return breakdowns(query, [dimension], limit, {dimension: sort}, label)[dimension]


def breakdowns(query, dimensions, limit=10, sorts=None, label=None):
    """Return {dimension: Breakdown} of DIMENSIONS; those the rollups cannot answer are read from the rows together."""
    return _tables(_found(query, dimensions)[0], limit, sorts, label)


def overview(query, dimensions, limit=10, sorts=None, label=None):
    """Return stats(query) and breakdowns(query, …), counting unique customers in the breakdowns' read of the rows."""
    current = rolled.totals(query)
    wanted = current is not None and current.customers is None and current.sessions > 0
    found, customers = _found(query, dimensions, customers=wanted)
    if customers is not None:
        current.customers = customers
    return (stats(query, None if current is None else _completed(query, current)),
            _tables(found, limit, sorts, label))


def _found(query, dimensions, customers=False):
    """Return ({dimension: rows}, unique customers when CUSTOMERS and the rows had to be read, else None)."""
    found = rolled.rows(query, dimensions)
    unanswered = [dimension for dimension, rows in found.items() if rows is None]
    if not unanswered:
        return found, None
    rows, counted = raw.scan(query, unanswered, customers)
    found.update(rows)
    return found, counted


def _tables(found, limit, sorts, label):
    sorts = sorts or {}
    return {dimension: _table(rows, limit, sorts.get(dimension, "sessions"),
                              partial(label, dimension) if label else None) for dimension, rows in found.items()}


def _table(found, limit, sort, label):
    total = sum(r[1] for r in found)
    rows = [Row(value, sessions, sessions / total, conversions, conversions / sessions, revenue)
            for value, sessions, conversions, revenue in found if sessions]
    rows.sort(key=lambda r: (r.value is None, r.value or ""))
    if sort == "value" and label:  # as the page shows it: United Arab Emirates (AE) after Albania (AL)
        rows.sort(key=lambda r: (r.value is None, label(r.value).casefold()))
    elif sort != "value":
        rows.sort(key=lambda r: (getattr(r, sort), r.sessions), reverse=True)  # ties: the most sessions first
    return Breakdown(rows[:limit], len(rows))


def data_span():
    """Return the first and last reporting day with sessions, or None when there are none."""
    span = CustomerSession.span()
    if span is None:
        return None
    tz = localtime.reporting_zone()[1]
    return localtime.local_day(_naive(span[0]), tz), localtime.local_day(_naive(span[1]), tz)


def _totals(query):
    found = rolled.totals(query)
    return raw.totals(query) if found is None else _completed(query, found)


def _completed(query, found):
    """Fill in the unique customers that the rollups could not give (none without sessions: no read)."""
    if found.approximate and not query.filters and found.sessions:
        start = query.window()[0]
        if not CustomerSession.select().where(CustomerSession.started_at < start).exists():
            found.customers, found.approximate = found.new_customers, False  # nobody came before: all are new
    if found.customers is None:
        found.customers = raw.customers(query, rolled.sessions(query)) if found.sessions else 0
    return found


def _points(query, metric, interval):
    found = rolled.series(query, interval, customers=metric == "customers")
    if found is None:
        found = raw.series(query, interval, customers=metric == "customers", new=metric == "new_customers")
    starts = localtime.buckets(query.start, query.end, interval, query.tz)
    empty = Totals()
    sketched = metric in SKETCHED
    return [(max(t, query.start) if interval in ("week", "month") else t, figures.value(found.get(t, empty), metric),
             sketched and found.get(t, empty).approximate) for t in starts]


def _naive(value):
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value

"""Retention cohorts: customers grouped by the week or month of their first session, and who came back when."""

import datetime as dt
from dataclasses import dataclass

from analyzer import localtime
from analyzer.analytics import rolled
from analyzer.analytics.query import where_sessions
from analyzer.db import fetch_large, is_sqlite
from analyzer.errors import AppError
from analyzer.models import CustomerSession

INTERVALS = ("week", "month")
DEFAULT_PERIOD = "12mo"  # cohorts need months to say anything; the dashboard's 30 days would show one or two
ACTIVITIES = ("session", "conversion")
# The customers whose first session ever (customer_firsts, kept by the rollups) is in the window and, when filters
# pick sessions, one of the picked ones: how many per cohort (when the rollups cannot say), then how many of them were
# active in each period. One join of the window's sessions with the first sessions: joining the cohort's customers
# back to their sessions cost more (2.8 s for a year of 1M sessions on PostgreSQL, 6.9 s on SQLite). For activity
# by session, every customer is active in the cohort's own period (the first session is there), so only later
# sessions are joined. CROSS JOIN keeps SQLite to this order: each first session, then its customer's later sessions
# from the (customer_id, started_at) index alone; PostgreSQL plans it as any other join.
SIZES = """SELECT {cohort}, NULL, COUNT(*)
FROM customer_firsts AS f
WHERE f.started_at >= {p} AND f.started_at < {p}{picked}
GROUP BY 1
UNION ALL
"""
ACTIVE = """SELECT {cohort}, {period}, COUNT(DISTINCT f.id)
FROM customer_firsts AS f
CROSS JOIN customer_sessions AS s
WHERE s.customer_id = f.customer_id
AND f.started_at >= {p} AND f.started_at < {p}{picked}
AND s.started_at >= f.started_at AND s.started_at >= {p} AND s.started_at < {p}{activity}
GROUP BY 1, 2"""
PICKED = "\nAND f.session_id IN ({sessions})"


class RetentionError(AppError):
    """Retention asked for in a way that cannot be answered; the message says what to change."""


@dataclass
class Period:
    """One later period of a cohort: how many of its customers were active, and their share."""

    customers: int
    share: float


@dataclass
class Cohort:
    """The customers whose first session fell in one period, and their activity in it and every later period."""

    cohort: str
    name: str
    start: dt.date
    customers: int
    periods: list


def retention(query, interval="month", activity="session"):
    """Return the Cohorts of customers whose first session ever is in QUERY's range and passes its filters."""
    start, end = query.window()
    picked = where_sessions(CustomerSession.select(), query) if query.filters else None
    sizes = None
    if interval in INTERVALS:
        by_period = rolled.series(query, interval, customers=False)
        sizes = None if by_period is None else {k: t.new_customers for k, t in by_period.items() if t.new_customers}
    return cohorts(picked, start, end, interval, activity, query.tz, sizes)


def cohorts(sessions, start, end, interval="month", activity="session", tz=localtime.UTC, sizes=None):
    """Return the Cohorts of customers whose first session is between START and END (UTC) and among SESSIONS.

    SESSIONS is a select of CustomerSession, or None for every session. Weeks (Monday to Sunday) and months are
    those of the time zone TZ. SIZES, when the rollups gave them, is {period start: new customers} of those sessions.
    """
    if interval not in INTERVALS:
        raise RetentionError(f"interval must be one of {', '.join(INTERVALS)}; got {interval!r}.")
    if activity not in ACTIVITIES:
        raise RetentionError(f"activity must be one of {', '.join(ACTIVITIES)}; got {activity!r}.")
    db = CustomerSession._meta.database
    postgres = not is_sqlite(db)
    cohort, cohort_params = localtime.bucket_sql(db.param, postgres, interval, start, end, tz, "f.started_at")
    period, period_params = localtime.bucket_sql(db.param, postgres, interval, start, end, tz, "s.started_at")
    picked, picked_params = "", []
    if sessions is not None:
        picked_sql, picked_params = sessions.select(CustomerSession.id).order_by().sql()
        picked = PICKED.format(sessions=picked_sql)
    active_sql = f"\nAND s.converted = {db.param}" if activity == "conversion" else "\nAND s.id <> f.session_id"
    sql = ACTIVE.format(cohort=cohort, period=period, p=db.param, picked=picked, activity=active_sql)
    params = (cohort_params + period_params + [start, end] + picked_params + [start, end]
              + ([True] if activity == "conversion" else []))
    if sizes is None:
        sql = SIZES.format(cohort=cohort, p=db.param, picked=picked) + sql
        params = cohort_params + [start, end] + picked_params + params
    sizes, active = dict(sizes or {}), {}
    for first, later, count in fetch_large(db, sql, params):
        if later is None:
            sizes[_date(first)] = count
        else:
            active[_date(first), _date(later)] = count
    if activity == "session":
        active.update({(start_of, start_of): size for start_of, size in sizes.items()})
    last = _bucket(localtime.local_day(end - dt.timedelta(microseconds=1), tz), interval)
    out = []
    for first in sorted(sizes):
        size, periods, period = sizes[first], [], first
        while period <= last:
            count = active.get((first, period), 0)
            periods.append(Period(count, count / size))
            period = _next(period, interval)
        out.append(Cohort(label(first, interval), name(first, interval), first, size, periods))
    return out


def label(start, interval):
    """Return a period's key, as the API and the CSV give it: 2026-01 for a month, 2026-W02 for an ISO week."""
    if interval == "month":
        return f"{start:%Y-%m}"
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def name(start, interval):
    """Return a period's name on the page: 2026-01 for a month, 2026-01-05 (W02) for a week (its Monday)."""
    if interval == "month":
        return label(start, interval)
    return f"{start:%Y-%m-%d} (W{start.isocalendar()[1]:02d})"


def _bucket(day, interval):
    return day.replace(day=1) if interval == "month" else day - dt.timedelta(days=day.weekday())


def _next(period, interval):
    if interval == "week":
        return period + dt.timedelta(days=7)
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _date(text):
    """Return the first day of a bucket written as YYYY-MM-DD or YYYY-MM."""
    return dt.date.fromisoformat(text if len(text) == 10 else text + "-01")

"""Retention cohorts: customers grouped by the week or month of their first session, and who came back when."""

import datetime as dt
from dataclasses import dataclass

from analyzer import localtime
from analyzer.analytics.query import where_sessions
from analyzer.db import fetch_large, is_sqlite
from analyzer.errors import AppError
from analyzer.models import CustomerSession

INTERVALS = ("week", "month")
DEFAULT_PERIOD = "12mo"  # cohorts need months to say anything; the dashboard's 30 days would show one or two
ACTIVITIES = ("session", "conversion")
# The customers whose first session ever (customer_firsts, kept by the rollups) is one of the picked sessions, then
# every (cohort, later period) pair with how many of its customers were active in that period. The customers are
# told apart by customer_firsts' integer id: hashing and sorting a million text ids cost seconds.
COHORTS = """WITH cohort AS (
  SELECT f.id AS customer, f.customer_id, {first_bucket} AS cohort
  FROM ({picked}) AS picked
  JOIN customer_firsts AS f ON f.session_id = picked.id),
active AS (
  SELECT DISTINCT c.customer, c.cohort, {bucket} AS period
  FROM cohort AS c
  JOIN customer_sessions AS s ON s.customer_id = c.customer_id
  WHERE s.started_at >= {p}
  AND s.started_at < {p}{converted})
SELECT cohort, NULL AS period, COUNT(*)
FROM cohort
GROUP BY cohort
UNION ALL
SELECT cohort, period, COUNT(*)
FROM active
GROUP BY cohort, period"""


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
    start: dt.date
    customers: int
    periods: list


def retention(query, interval="month", activity="session"):
    """Return the Cohorts of customers whose first session ever is in QUERY's range and passes its filters."""
    start, end = query.window()
    return cohorts(where_sessions(CustomerSession.select(), query), start, end, interval, activity, query.tz)


def cohorts(sessions, start, end, interval="month", activity="session", tz=localtime.UTC):
    """Return the Cohorts of customers whose first session is among SESSIONS, active between START and END (UTC).

    Weeks (Monday to Sunday) and months are those of the time zone TZ.
    """
    if interval not in INTERVALS:
        raise RetentionError(f"interval must be one of {', '.join(INTERVALS)}; got {interval!r}.")
    if activity not in ACTIVITIES:
        raise RetentionError(f"activity must be one of {', '.join(ACTIVITIES)}; got {activity!r}.")
    db = CustomerSession._meta.database
    postgres = not is_sqlite(db)
    first_bucket, params = localtime.bucket_sql(db.param, postgres, interval, start, end, tz, "picked.started_at")
    picked_sql, picked_params = sessions.select(CustomerSession.id, CustomerSession.customer_id,
                                                CustomerSession.started_at).order_by().sql()
    bucket, bucket_params = localtime.bucket_sql(db.param, postgres, interval, start, end, tz, "s.started_at")
    sql = COHORTS.format(first_bucket=first_bucket, picked=picked_sql, bucket=bucket, p=db.param,
                         converted=f"\n  AND s.converted = {db.param}" if activity == "conversion" else "")
    params += picked_params + bucket_params + [start, end] + ([True] if activity == "conversion" else [])
    sizes, active = {}, {}
    for cohort, period, count in fetch_large(db, sql, params):
        if period is None:
            sizes[_date(cohort)] = count
        else:
            active[_date(cohort), _date(period)] = count
    last = _bucket(localtime.local_day(end - dt.timedelta(microseconds=1), tz), interval)
    out = []
    for first in sorted(sizes):
        size, periods, period = sizes[first], [], first
        while period <= last:
            count = active.get((first, period), 0)
            periods.append(Period(count, count / size))
            period = _next(period, interval)
        out.append(Cohort(label(first, interval), first, size, periods))
    return out


def label(start, interval):
    """Return a period's name: 2026-01 for a month, 2026-W02 for an ISO week."""
    if interval == "month":
        return f"{start:%Y-%m}"
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def _bucket(day, interval):
    return day.replace(day=1) if interval == "month" else day - dt.timedelta(days=day.weekday())


def _next(period, interval):
    if interval == "week":
        return period + dt.timedelta(days=7)
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _date(text):
    """Return the first day of a bucket written as YYYY-MM-DD or YYYY-MM."""
    return dt.date.fromisoformat(text if len(text) == 10 else text + "-01")

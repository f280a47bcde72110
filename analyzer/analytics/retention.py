"""Retention cohorts: customers grouped by the week or month of their first session, and who came back when."""

import datetime as dt
from dataclasses import dataclass

from analyzer.db import is_sqlite
from analyzer.errors import AppError
from analyzer.models import CustomerSession

INTERVALS = ("week", "month")
ACTIVITIES = ("session", "conversion")
BUCKET = {
    (True, "month"): "date({column}, 'start of month')",
    (True, "week"): "date({column}, '-6 days', 'weekday 1')",
    (False, "month"): "CAST(date_trunc('month', {column}) AS DATE)",
    (False, "week"): "CAST(date_trunc('week', {column}) AS DATE)",
}
# Each customer's first session ever; the cohort keeps those whose first session is one of the picked sessions.
# Then every (cohort, later period) pair with how many of its customers were active in that period.
COHORTS = """WITH firsts AS (
  SELECT customer_id, MIN(started_at) AS first_at
  FROM customer_sessions
  GROUP BY customer_id),
cohort AS (
  SELECT DISTINCT f.customer_id, {first_bucket} AS cohort
  FROM firsts AS f
  JOIN ({picked}) AS picked ON picked.customer_id = f.customer_id AND picked.started_at = f.first_at),
activity AS (
  SELECT DISTINCT customer_id, {bucket} AS period
  FROM customer_sessions
  WHERE started_at >= {p}
  AND started_at < {p}{converted})
SELECT cohort, NULL AS period, COUNT(*)
FROM cohort
GROUP BY cohort
UNION ALL
SELECT c.cohort, a.period, COUNT(*)
FROM cohort AS c
JOIN activity AS a ON a.customer_id = c.customer_id
GROUP BY c.cohort, a.period"""


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


def cohorts(sessions, start, end, interval="month", activity="session"):
    """Return the Cohorts of customers whose first session is among SESSIONS, active between START and END (UTC)."""
    if interval not in INTERVALS:
        raise RetentionError(f"interval must be one of {', '.join(INTERVALS)}; got {interval!r}.")
    if activity not in ACTIVITIES:
        raise RetentionError(f"activity must be one of {', '.join(ACTIVITIES)}; got {activity!r}.")
    db = CustomerSession._meta.database
    sqlite = is_sqlite(db)
    picked_sql, params = sessions.select(CustomerSession.customer_id, CustomerSession.started_at).order_by().sql()
    sql = COHORTS.format(first_bucket=BUCKET[sqlite, interval].format(column="f.first_at"), picked=picked_sql,
                         bucket=BUCKET[sqlite, interval].format(column="started_at"), p=db.param,
                         converted=f"\n  AND converted = {db.param}" if activity == "conversion" else "")
    params += [start, end] + ([True] if activity == "conversion" else [])
    sizes, active = {}, {}
    for cohort, period, count in db.execute_sql(sql, params).fetchall():
        if period is None:
            sizes[_date(cohort)] = count
        else:
            active[_date(cohort), _date(period)] = count
    last = _bucket(end - dt.timedelta(microseconds=1), interval)
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


def _bucket(moment, interval):
    day = moment.date()
    return day.replace(day=1) if interval == "month" else day - dt.timedelta(days=day.weekday())


def _next(period, interval):
    if interval == "week":
        return period + dt.timedelta(days=7)
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _date(value):
    """Return a date from what the driver gives back (SQLite: text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)

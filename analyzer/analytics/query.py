"""The query value behind every figure (range, comparison, filters, interval) and how it selects sessions."""

import datetime as dt
from dataclasses import dataclass, replace
from functools import reduce
from operator import and_

from peewee import SQL, NodeList, fn

from analyzer import localtime
from analyzer.models import CustomerFirst, CustomerSession

DIMENSIONS = ("channel", "source", "medium", "campaign", "landing_page", "exit_page", "device", "country",
              "customer_type")
METRICS = ("sessions", "customers", "new_customers", "avg_duration_s", "pages_per_session", "bounce_rate",
           "conversion_rate", "conversions", "revenue", "revenue_per_session", "avg_order_value")
COMPARES = ("previous", "year", "none")
INTERVALS = ("hour", "day", "week", "month")
CUSTOMER_TYPES = ("new", "returning")
NONE_VALUE = "(none)"  # the filter value that matches a missing source, medium, campaign, page or country
HOURLY_DAYS = 2  # hourly series only for ranges of up to this many days


@dataclass(frozen=True)
class Filter:
    """Sessions whose DIMENSION is one of VALUES (or, with NEGATE, none of them)."""

    dimension: str
    values: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class Query:
    """Inclusive reporting days START to END, the comparison range, the filters (all must hold) and the interval."""

    start: dt.date
    end: dt.date
    compare: str
    compare_start: dt.date | None
    compare_end: dt.date | None
    filters: tuple[Filter, ...]
    interval: str
    period: str | None
    zone: str = "UTC"

    @property
    def days(self):
        """Return how many days the range has."""
        return (self.end - self.start).days + 1

    @property
    def tz(self):
        """Return the tzinfo of the query's reporting zone."""
        return localtime.zone(self.zone)

    def window(self):
        """Return the naive UTC [start, end) of the range."""
        return localtime.utc_window(self.start, self.end, self.tz)

    def previous(self):
        """Return the comparison range as a query with the same filters, or None without one."""
        if self.compare_start is None:
            return None
        return replace(self, start=self.compare_start, end=self.compare_end, compare="none", compare_start=None,
                       compare_end=None, period=None)

    def filter_of(self, dimension):
        """Return the filter on DIMENSION, or None."""
        return next((f for f in self.filters if f.dimension == dimension), None)

    def customer_types(self):
        """Return the customer types (new, returning) whose sessions the filters keep."""
        item = self.filter_of("customer_type")
        return set(CUSTOMER_TYPES) if item is None else kept_types(item)


def make_query(start, end, compare="previous", filters=(), interval=None, period=None, zone=None):
    """Build a Query, deriving the comparison range and, unless given, the interval that suits the range."""
    compare_start, compare_end = comparison_range(start, end, compare)
    return Query(start, end, compare, compare_start, compare_end, tuple(filters),
                 interval or default_interval(start, end), period, zone or localtime.reporting_zone()[0])


def comparison_range(start, end, compare):
    """Return the (start, end) compared with: the equal-length range just before, or a year earlier."""
    if compare == "previous":
        length = end - start
        return start - length - localtime.ONE_DAY, start - localtime.ONE_DAY
    if compare == "year":
        return _year_before(start), _year_before(end)
    return None, None


def default_interval(start, end):
    """Return hours for up to two days, days up to a year, weeks up to three years, else months."""
    days = (end - start).days + 1
    if days <= HOURLY_DAYS:
        return "hour"
    if days <= 366:
        return "day"
    return "week" if days <= 3 * 366 else "month"


def where_sessions(select, query, by_time=False):
    """Restrict a select over CustomerSession to the query's range and filters (BY_TIME: found by start time)."""
    start, end = query.window()
    conditions = [CustomerSession.started_at >= start, CustomerSession.started_at < end]
    conditions += [filter_condition(f, by_time) for f in query.filters]
    return select.where(reduce(and_, conditions))


def kept_types(item):
    """Return the customer types that a customer_type filter keeps."""
    return set(item.values) ^ (set(CUSTOMER_TYPES) if item.negate else set())


def filter_condition(item, unindexed=False):
    """Return the Peewee condition of one filter over CustomerSession (UNINDEXED: SQLite may not use its index)."""
    if item.dimension == "customer_type":
        wanted = kept_types(item)
        if wanted == {"new"}:
            return is_first_session()
        if wanted == {"returning"}:
            return ~is_first_session()
        return CustomerSession.id.is_null(False) if wanted else CustomerSession.id.is_null()
    column = getattr(CustomerSession, item.dimension)
    if unindexed:  # SQLite's unary + keeps the value and hides the column's index from the planner
        column = NodeList((SQL("+"), column), glue="")
    named = [v for v in item.values if v != NONE_VALUE]
    matches = column.in_(named) if named else None
    if NONE_VALUE in item.values:
        missing = column.is_null() | (column == "")
        matches = missing if matches is None else (matches | missing)
    if item.negate:
        # "is not X" keeps the sessions where the dimension is missing.
        return ~matches if NONE_VALUE in item.values else (column.is_null() | ~matches)
    return matches


def is_first_session():
    """Return the condition that a session is its customer's first (which makes the customer new)."""
    # EXISTS looks each session up in the unique index; IN (SELECT …) made PostgreSQL scan the whole table per
    # row once the ids did not fit work_mem.
    return fn.EXISTS(CustomerFirst.select(SQL("1")).where(CustomerFirst.session_id == CustomerSession.id))


def same_date_a_year_before(day):
    """Return DAY's date a year earlier, or None for 29 February."""
    return None if (day.month, day.day) == (2, 29) else day.replace(year=day.year - 1)


def _year_before(day):
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)

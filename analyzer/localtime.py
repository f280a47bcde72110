"""Reporting days: the calendar of REPORT_TIMEZONE, mapped onto the naive UTC times sessions are stored in."""

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analyzer.errors import shown

UTC = dt.timezone.utc
# Files of the zone database that stand for the server's own setting, not a place: names no report should use.
HOST_ZONES = ("localtime", "posixrules")
ONE_DAY = dt.timedelta(days=1)
ONE_MINUTE = dt.timedelta(minutes=1)
PREFIX = {"day": 10, "month": 7}  # SQLite: a bucket's text is the stored time's first characters
_reporting = {"name": "UTC", "tz": UTC}


def configure(name):
    """Make NAME (REPORT_TIMEZONE) the zone whose days every rollup, range and series uses."""
    _reporting.update(name=name, tz=zone(name))


def reporting_zone():
    """Return the name and tzinfo of the reporting time zone."""
    return _reporting["name"], _reporting["tz"]


def zone(name):
    """Return the tzinfo of an IANA name such as Europe/Berlin; raise ValueError for an unknown one."""
    name = name.strip()
    try:
        if name in HOST_ZONES or name.startswith(("posix/", "right/")):
            raise ValueError(name)
        return UTC if name.upper() == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {shown(name)!r} (use an IANA name such as Europe/Berlin)") from None


def now(tz):
    """Return the current time in TZ (aware)."""
    return dt.datetime.now(UTC).astimezone(tz)


def day_start(day, tz):
    """Return the naive UTC time at which the reporting day DAY begins."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def utc_window(first_day, last_day, tz):
    """Return the naive UTC [start, end) of the reporting days FIRST_DAY to LAST_DAY (inclusive)."""
    return day_start(first_day, tz), day_start(last_day + ONE_DAY, tz)


def local_day(moment, tz):
    """Return the reporting day of a naive UTC time."""
    return local_time(moment, tz).date()


def local_time(moment, tz):
    """Return a naive UTC time as the clock of TZ shows it (aware)."""
    return moment.replace(tzinfo=UTC).astimezone(tz)


def local_days(first_utc_day, last_utc_day, tz):
    """Return the first and last reporting day touched by the UTC days FIRST_UTC_DAY to LAST_UTC_DAY."""
    start = dt.datetime.combine(first_utc_day, dt.time())
    end = dt.datetime.combine(last_utc_day + ONE_DAY, dt.time()) - dt.timedelta(microseconds=1)
    return local_day(start, tz), local_day(end, tz)


def offsets(start, end, tz):
    """Return [(until, minutes)]: the UTC offset in minutes of TZ in force until each naive UTC time, covering [start, end)."""
    return _offsets(start, end, tz)


@lru_cache(maxsize=256)
def _offsets(start, end, tz):
    segments = []
    here, current = start, _minutes(start, tz)
    while here < end:
        step = min(here + ONE_DAY, end)
        if step < end and _minutes(step, tz) != current:
            # The offset changes within this day: find the first minute of the new one.
            low = 0
            high = int((step - here) / ONE_MINUTE)
            while high - low > 1:
                middle = (low + high) // 2
                if _minutes(here + middle * ONE_MINUTE, tz) == current:
                    low = middle
                else:
                    high = middle
            change = here + high * ONE_MINUTE
            segments.append((change, current))
            here, current = change, _minutes(change, tz)
        else:
            here = step
    segments.append((end, current))
    return tuple(segments)


def _minutes(moment, tz):
    return int(moment.replace(tzinfo=UTC).astimezone(tz).utcoffset().total_seconds() // 60)


def bucket_sql(param, postgres, interval, start, end, tz, column="started_at"):
    """Return (sql, params): COLUMN's bucket in TZ as text, 'YYYY-MM-DD' ('YYYY-MM' for months, 'YYYY-MM-DD HH|offset' for hours).

    The zone's offsets over [start, end) come from zoneinfo, so both databases bucket alike without time zone support.
    """
    segments = offsets(start, end, tz)
    parts, params = [], []
    for index, (until, minutes) in enumerate(segments):
        if postgres:
            shifted = f"{column} + {param} * INTERVAL '1 minute'"
            text = {"hour": f"TO_CHAR({shifted}, 'YYYY-MM-DD HH24')", "day": f"TO_CHAR({shifted}, 'YYYY-MM-DD')",
                    "week": f"TO_CHAR(DATE_TRUNC('week', {shifted}), 'YYYY-MM-DD')",
                    "month": f"TO_CHAR({shifted}, 'YYYY-MM')"}[interval]
            shift = minutes
        elif minutes == 0 and interval in PREFIX:  # a stored time starts with its UTC day: no date arithmetic
            text, shift = f"SUBSTR({column}, 1, {PREFIX[interval]})", None
        else:  # without the microseconds, which SQLite rounds to milliseconds (23:59:59.9996 into the next day)
            moment = f"SUBSTR({column}, 1, 19)"
            text = {"hour": f"strftime('%Y-%m-%d %H', {moment}, {param})", "day": f"date({moment}, {param})",
                    "week": f"date({moment}, {param}, 'weekday 0', '-6 days')",
                    "month": f"strftime('%Y-%m', {moment}, {param})"}[interval]
            shift = f"{minutes:+d} minutes"
        if interval == "hour":
            text = f"{text} || {param}"
            values = [shift, f"|{minutes}"]
        else:
            values = [] if shift is None else [shift]
        if index < len(segments) - 1:
            parts.append(f"WHEN {column} < {param} THEN {text}")
            params += [until, *values]
        else:
            parts.append(f"ELSE {text}" if len(segments) > 1 else text)
            params += values
    sql = f"CASE {' '.join(parts)} END" if len(segments) > 1 else parts[0]
    return sql, params


def bucket_start(key, interval):
    """Return the start of a bucket from its bucket_sql text: a date, or an aware datetime for hours."""
    if interval == "hour":
        stamp, minutes = key.split("|")
        offset = dt.timezone(dt.timedelta(minutes=int(minutes)))
        return dt.datetime.strptime(stamp, "%Y-%m-%d %H").replace(tzinfo=offset)
    if interval == "month":
        return dt.date.fromisoformat(key + "-01")
    return dt.date.fromisoformat(key)


def buckets(first_day, last_day, interval, tz):
    """Return the bucket starts of the reporting days FIRST_DAY to LAST_DAY, in order (as bucket_start gives them)."""
    if interval == "hour":
        start, end = utc_window(first_day, last_day, tz)
        hours = []
        while start < end:
            local = start.replace(tzinfo=UTC).astimezone(tz)
            hours.append(local.replace(minute=0, second=0, microsecond=0,
                                       tzinfo=dt.timezone(local.utcoffset())))
            start += dt.timedelta(hours=1)
        return list(dict.fromkeys(hours))
    days = [first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    return list(dict.fromkeys(bucket_of(day, interval) for day in days))


def bucket_of(day, interval):
    """Return the start of the day, week (Monday) or month bucket holding DAY."""
    if interval == "week":
        return day - dt.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day

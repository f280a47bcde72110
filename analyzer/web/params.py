"""One parser of URL parameters into a Query for pages, API and CSV, and the way back to a URL."""

import datetime as dt
import difflib
import re
from dataclasses import replace
from urllib.parse import urlencode

from analyzer import localtime
from analyzer.errors import shown
from analyzer.analytics import dashboard
from analyzer.ingest.rows import UNKNOWN
from analyzer.ingest.values import DEVICE_WORDS, country_code
from analyzer.analytics.query import (COMPARES, CUSTOMER_TYPES, DIMENSIONS, HOURLY_DAYS, INTERVALS, METRICS, NONE_VALUE,
                                      Filter, default_interval, make_query)

PERIODS = ("today", "yesterday", "7d", "30d", "90d", "month", "last_month", "12mo", "all")
DEFAULT_PERIOD = "30d"
MAX_YEARS = 10
# The first day is 1970-12-31 so that every session imported (from 1971-01-01 UTC) has its day in any zone.
FIRST_DAY, LAST_DAY = dt.date(1970, 12, 31), dt.date(9990, 12, 31)
SORTS = ("sessions", "conversions", "conversion_rate", "revenue", "value")
SINGLE = ("period", "from", "to", "compare", "interval")  # one value each; a filter may repeat: its values add up
# Every parameter a page or API route reads: none of them is taken for a near miss of another (interval_by).
KNOWN = frozenset(SINGLE + DIMENSIONS + tuple(f"sort_{d}" for d in DIMENSIONS) + (
    "metric", "sort", "format", "limit", "after", "before", "q", "converted", "revenue_min", "revenue_max",
    "pages_min", "pages_max", "duration_min", "duration_max", "activity", "interval_by", "step", "steps", "per", "by",
    "funnel", "back", "key", "id", "next", "add_dim", "add_not", "add_value", "current", "saved", "deleted",
    "imported", "undone", "name", "map", "kind", "year", "timezone", "dry_run", "token", "landing"))
DEVICES = frozenset(DEVICE_WORDS.values())
# Read once each: of two different values one would be dropped without a word (converted=yes&converted=no).
ONE_VALUE = SINGLE + ("metric", "sort", "limit", "after", "before", "q", "converted", "revenue_min", "revenue_max",
                      "pages_min", "pages_max", "duration_min", "duration_max", "landing", "per", "by", "activity",
                      "format") + tuple(f"sort_{d}" for d in DIMENSIONS)
# The names whose being ignored would change the figures: a near miss of one of them is refused.
FIGURE_NAMES = SINGLE + DIMENSIONS + ("q", "converted", "revenue_min", "revenue_max", "pages_min", "pages_max",
                                      "duration_min", "duration_max", "landing", "per", "by", "activity", "step")
NUMBERED = re.compile(r"(value|step|kind|match|direct)[0-9]+")  # the funnel builder's fields
ESCAPED = re.compile(r"(\\[|\\]|\|)")  # in a filter's values: an escaped '|' or '\', or the separator


class QueryError(ValueError):
    """A parameter that cannot be read; the message tells the user what to send instead."""


def parse_query(params, today=None, fit=False):
    """Read range, comparison, filters and interval from URL parameters (FIT: a page's all time takes months)."""
    params = _decoded(params)
    _refuse_misspelled(params)
    for name in ONE_VALUE:
        given = sorted(set(_all(params, name))) if name in params else []
        if len(given) > 1:
            raise QueryError(f"{name} is given {len(given)} different values ({shown(', '.join(given))}): give one.")
    zone_name, tz = localtime.reporting_zone()
    today = today or localtime.now(tz).date()
    period = params.get("period") or None
    given_from, given_to = params.get("from") or None, params.get("to") or None
    if period and (given_from or given_to):
        raise QueryError("Give either period or from and to, not both.")
    if given_from or given_to:
        if not given_from:
            raise QueryError("to needs a from date too (from=YYYY-MM-DD&to=YYYY-MM-DD).")
        start = _date("from", given_from)
        end = _date("to", given_to) if given_to else today
        if start > end and not given_to:
            raise QueryError(f"from ({start}) is after today ({end}), where a range without to ends: give a to date "
                             "after it, or an earlier from.")
        if start > end:
            raise QueryError(f"from ({start}) is after to ({end}): swap them.")
    else:
        period = period or DEFAULT_PERIOD
        start, end = period_range(period, today)
    # All time is as long as the data is: only a range the user writes has a limit.
    longer = too_long(start, end)
    if longer and period != "all":
        raise QueryError(f"The range {start} to {end} is longer than {MAX_YEARS} years: choose a shorter one.")
    compare = params.get("compare") or "previous"
    if compare not in COMPARES:
        raise QueryError(f"compare={shown(compare)!r} is not valid: use {', '.join(COMPARES)}.")
    interval = params.get("interval") or None
    if interval is not None:
        if interval not in INTERVALS:
            raise QueryError(f"interval={shown(interval)!r} is not valid: use {', '.join(INTERVALS)}.")
        if interval == "hour" and (end - start).days + 1 > HOURLY_DAYS:
            raise QueryError(f"interval=hour works for ranges of up to {HOURLY_DAYS} days; use day, week or month.")
        if longer and interval != "month" and not fit:
            raise QueryError(f"interval={interval} works for ranges of up to {MAX_YEARS} years; use month.")
        if longer:  # a page's all time over ten years: its length depends on the data, so months, not an error
            interval = "month"
    filters = _filters(params)
    try:
        return make_query(start, end, compare, filters, interval, period, zone_name)
    except OverflowError:  # the previous period of a very long all time would start before year 1
        raise QueryError(f"The range {start} to {end} has no previous period of its length: use compare=none.")


def intervals_for(query):
    """Return the intervals a trend of QUERY's range can have: hours up to two days, only months past ten years."""
    if too_long(query.start, query.end):
        return ["month"]
    return [name for name in INTERVALS if name != "hour" or query.days <= HOURLY_DAYS]


def too_long(start, end):
    """Tell whether the days START to END span more than MAX_YEARS years."""
    return end.year - start.year > MAX_YEARS or (end - start).days > MAX_YEARS * 366


def period_range(period, today):
    """Return the (first, last) day of a named period ending today."""
    year_ago = today.replace(year=today.year - 1) if (today.month, today.day) != (2, 29) else today.replace(
        year=today.year - 1, day=28)
    first_of_month = today.replace(day=1)
    spans = {
        "today": (today, today),
        "yesterday": (today - localtime.ONE_DAY,) * 2,
        "7d": (today - dt.timedelta(days=6), today),
        "30d": (today - dt.timedelta(days=29), today),
        "90d": (today - dt.timedelta(days=89), today),
        "month": (first_of_month, today),
        "last_month": ((first_of_month - localtime.ONE_DAY).replace(day=1), first_of_month - localtime.ONE_DAY),
        "12mo": (year_ago + localtime.ONE_DAY, today),
    }
    if period == "all":
        span = dashboard.data_span()
        return span if span else (today, today)
    if period not in spans:
        raise QueryError(f"period={shown(period)!r} is not valid: use {', '.join(PERIODS)}, or from and to.")
    return spans[period]


def parse_metric(params, default="sessions"):
    """Return the metric parameter; raise QueryError for an unknown one."""
    metric = _decoded(params).get("metric") or default
    if metric not in METRICS:
        raise QueryError(f"Unknown metric {shown(metric)!r}: use one of {', '.join(METRICS)}.")
    return metric


def parse_dimension(name):
    """Return NAME when it is a dimension; raise QueryError otherwise."""
    if name not in DIMENSIONS:
        raise QueryError(f"Unknown dimension {shown(name)!r}: use one of {', '.join(DIMENSIONS)}.")
    return name


def parse_limit(params, default=10, most=1000):
    """Return the limit parameter (1 to MOST)."""
    raw = _decoded(params).get("limit") or str(default)
    limit = record_id(raw.strip()) or 0  # not int(): it also reads '1_000', '+5' and other scripts' digits
    if not 1 <= limit <= most:
        raise QueryError(f"limit={shown(raw)!r} is not valid: use a whole number from 1 to {most}.")
    return limit


def parse_sort(params, default="sessions"):
    """Return the sort parameter of a breakdown."""
    sort = _decoded(params).get("sort") or default
    if sort not in SORTS:
        raise QueryError(f"sort={shown(sort)!r} is not valid: use one of {', '.join(SORTS)}.")
    return sort


def query_string(query, **changes):
    """Return the URL parameters (without '?') of QUERY with CHANGES (Query fields) applied."""
    if ("start" in changes or "end" in changes) and "period" not in changes:
        changes["period"] = None
    query = replace(query, **changes)
    pairs = [("period", query.period)] if query.period else [("from", query.start.isoformat()),
                                                             ("to", query.end.isoformat())]
    if query.compare != "previous":
        pairs.append(("compare", query.compare))
    range_changed = {"start", "end", "period"} & set(changes) and "interval" not in changes
    if not range_changed and query.interval != default_interval(query.start, query.end):
        pairs.append(("interval", query.interval))
    return "&".join(part for part in (urlencode(pairs), filters_text(query.filters)) if part)


def filters_text(filters):
    """Return the URL parameters (without '?') of FILTERS."""
    return urlencode([(("-" if f.negate else "") + f.dimension, join_values(f.values)) for f in filters])


def join_values(values):
    """Write a filter's VALUES as one parameter: joined by '|', a '|' or '\\' inside a value escaped by a '\\'."""
    return "|".join(value.replace("\\", "\\\\").replace("|", "\\|") for value in values)


def split_values(text):
    """Read a filter parameter back into its values: '|' separates them, '\\|' and '\\\\' are a '|' and a '\\'."""
    values, part = [], ""
    for piece in ESCAPED.split(text):
        if piece == "|":
            values.append(part)
            part = ""
        else:
            part += piece[1] if piece in ("\\|", "\\\\") else piece
    return values + [part]


def with_filter(query, dimension, values, negate=False):
    """Return QUERY filtered by DIMENSION (replacing an earlier filter on it)."""
    return replace(query, filters=filters_with(query.filters, dimension, values, negate))


def filters_with(filters, dimension, values, negate=False):
    """Return FILTERS with the one on DIMENSION replaced by 'is (not) VALUES', or that one added last."""
    return tuple(f for f in filters if f.dimension != dimension) + (Filter(dimension, tuple(values), negate),)


def without_filter(query, dimension):
    """Return QUERY without its filter on DIMENSION."""
    return replace(query, filters=tuple(f for f in query.filters if f.dimension != dimension))


def _filters(params):
    found = {}
    for name in params.keys():
        negate = name.startswith("-")
        dimension = name[1:] if negate else name
        if dimension not in DIMENSIONS:
            if negate:
                raise QueryError(f"Unknown dimension {shown(dimension)!r} in {shown(name)!r}: "
                                 f"use one of {', '.join(DIMENSIONS)}.")
            continue
        values = [v for raw in _all(params, name) for v in split_values(raw) if v != ""]
        if not values:
            continue
        if dimension == "country":  # a code in any case, or a name as the chips write it: Germany, Germany (DE)
            values = [_country(v) for v in values]
        if dimension in ("channel", "device"):  # stored in lower case, whatever the file wrote
            values = [v if v == NONE_VALUE else UNKNOWN if v.lower() == f"({UNKNOWN})" else v.lower() for v in values]
        if dimension == "device":  # stored as one of a few words: phone is mobile; any other word matches nothing
            values = [_device(v) for v in values]
        if dimension == "customer_type" and set(values) - set(CUSTOMER_TYPES):
            raise QueryError("customer_type is new or returning.")
        if dimension in found:
            raise QueryError(f"{dimension} is filtered twice ({shown(name)!r}): use one parameter with values joined "
                             "by '|'.")
        found[dimension] = Filter(dimension, tuple(dict.fromkeys(values)), negate)
    return tuple(found[d] for d in DIMENSIONS if d in found)


def _refuse_misspelled(params):
    """Refuse a parameter whose name is a near miss of one the app reads: ignored, it would change the figures."""
    for raw in params.keys():
        name = raw[1:] if raw.startswith("-") else raw
        if name in KNOWN or NUMBERED.fullmatch(name) or name.startswith("utm_") or len(name) < 4:
            continue  # utm_campaign is a shared link's tag; 'top' is no typo of 'to' worth a 400
        close = difflib.get_close_matches(name, FIGURE_NAMES, n=1, cutoff=0.8)
        if close:
            raise QueryError(f"Unknown parameter {shown(raw)!r}: did you mean {close[0]!r}? (Left as it is, it would "
                             "be ignored and the figures would not be the ones asked for.)")


def _country(text):
    """Return the country code a filter value means: a code in any case, or an English name."""
    if text == NONE_VALUE:
        return text
    for candidate in (text, text.upper()):  # upper case too, so that reading a value twice gives the same code
        try:
            found = country_code(candidate)
        except ValueError:
            continue
        if found:
            return found
    raise QueryError(f"country {shown(text)!r} is not a country: give its two-letter code (DE) or its English name "
                     "(Germany).")


def _device(word):
    """Return the stored device a filter value means (phone: mobile), or raise QueryError."""
    if word == NONE_VALUE or word in DEVICES:
        return word
    if word in DEVICE_WORDS:
        return DEVICE_WORDS[word]
    raise QueryError(f"device {shown(word)!r} is not a device: use one of {', '.join(sorted(DEVICES))}.")


def _all(params, name):
    return params.getall(name) if hasattr(params, "getall") else [params[name]]


def _decoded(params):
    # Bottle hands query values over as Latin-1 text; decode() gives the UTF-8 the browser sent.
    return params.decode() if hasattr(params, "decode") and hasattr(params, "getall") else params


def record_id(text):
    """Return TEXT as a record's id (up to nine digits), or None."""
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 10 else None


def swapped(params):
    """Return PARAMS' from and to the other way round when both are dates and from is after to, else None."""
    try:
        start, end = _date("from", params.get("from") or ""), _date("to", params.get("to") or "")
    except QueryError:
        return None
    return (end, start) if start > end else None


def _date(name, text):
    try:
        day = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise QueryError(f"{name}={shown(text)!r} is not a date from {FIRST_DAY} to {LAST_DAY}: use YYYY-MM-DD.")
    return day

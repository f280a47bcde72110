"""The explorer's own URL parameters: search, converted, revenue, page views, duration, landing page, sort."""

import re
from decimal import Decimal
from urllib.parse import parse_qsl

from analyzer.analytics import explorer
from analyzer.errors import shown
from analyzer.web import params

DEFAULT_PERIOD = "all"  # a list of sessions starts with all of them; the dashboard's links carry their range
MAX_NUMBER = 10**12
YES, NO = ("yes", "true", "1"), ("no", "false", "0")


def parse_options(query):
    """Read the explorer's own filters and sort from URL parameters; raise QueryError on bad input."""
    converted = (query.get("converted") or "").strip().lower()
    if converted and converted not in YES + NO:
        raise params.QueryError(f"converted={shown(converted)!r} is not valid: use yes or no.")
    search = (query.get("q") or "").strip()
    landing = query.get("landing") or ""
    if len(search) > 128:
        raise params.QueryError("The search is too long: a customer id or session key has at most 128 characters.")
    if len(landing) > 500:
        raise params.QueryError("landing is too long: a landing page filter has at most 500 characters.")
    sort = query.get("sort") or explorer.DEFAULT_SORT
    if sort.lstrip("-") not in explorer.SORTS or sort.count("-") > 1:
        raise params.QueryError(f"sort={shown(sort)!r} is not valid: use one of {', '.join(explorer.SORTS)}, "
                                "with a leading - for descending.")
    options = explorer.Options(
        search=search or None, converted=None if not converted else converted in YES,
        revenue_min=_number(query, "revenue_min", Decimal), revenue_max=_number(query, "revenue_max", Decimal),
        page_views_min=_number(query, "pages_min", int), page_views_max=_number(query, "pages_max", int),
        duration_min=_number(query, "duration_min", int), duration_max=_number(query, "duration_max", int),
        landing_contains=landing or None, sort=sort)
    for low, high, name in ((options.revenue_min, options.revenue_max, "revenue"),
                            (options.page_views_min, options.page_views_max, "pages"),
                            (options.duration_min, options.duration_max, "duration")):
        if low is not None and high is not None and low > high:
            raise params.QueryError(f"{name}_min ({low}) is above {name}_max ({high}): swap them.")
    return options


def option_pairs(options):
    """Return the URL parameters that say OPTIONS."""
    values = {"q": options.search, "converted": None if options.converted is None else "yes" if options.converted
              else "no", "revenue_min": options.revenue_min, "revenue_max": options.revenue_max,
              "pages_min": options.page_views_min, "pages_max": options.page_views_max,
              "duration_min": options.duration_min, "duration_max": options.duration_max,
              "landing": options.landing_contains,
              "sort": options.sort if options.sort != explorer.DEFAULT_SORT else None}
    return [(name, str(value)) for name, value in values.items() if value is not None]


def _number(query, name, kind):
    text = (query.get(name) or "").strip()
    if not text:
        return None
    # Plain ASCII digits: Decimal also reads '1e-999999999' (PostgreSQL's numeric overflows on it), int other
    # scripts' digits.
    shape = r"-?[0-9]+(\.[0-9]+)?" if kind is Decimal else r"-?[0-9]+"
    if not re.fullmatch(shape, text):
        raise params.QueryError(f"{name}={shown(text)!r} is not a {'whole ' if kind is int else ''}number.")
    whole, _, decimals = text.lstrip("-").partition(".")
    if len(whole) > 16:  # a number all the same, past any stored value
        raise params.QueryError(f"{name}={shown(text)!r} is out of range: use 0 to {MAX_NUMBER:,}.")
    if len(decimals) > 16:
        raise params.QueryError(f"{name}={shown(text)!r} has more than 16 decimals.")
    value = kind(text)
    if not 0 <= value <= MAX_NUMBER:
        raise params.QueryError(f"{name}={shown(text)!r} is out of range: use 0 to {MAX_NUMBER:,}.")
    return value


def with_default_range(query, period=DEFAULT_PERIOD):
    """Ask for PERIOD when QUERY (the request's parameters) names no range; return QUERY."""
    if not any(query.get(name) for name in ("period", "from", "to")):
        query["period"] = period
    return query


def view_fields(view):
    """Return the (name, value) pairs of VIEW's URL (range, comparison, filters), for a form's hidden fields."""
    return parse_qsl(view.link().partition("?")[2], keep_blank_values=True)

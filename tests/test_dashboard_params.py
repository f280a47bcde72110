"""The URL contract of the dashboard and its API: ranges, periods, comparison, filters, interval, errors."""

import datetime as dt
import re
from urllib.parse import parse_qsl

import pytest
from bottle import FormsDict

from analyzer import localtime
from analyzer.analytics import explorer, funnels
from analyzer.analytics.query import Filter
from analyzer.web import explore_params
from analyzer.web.params import (QueryError, parse_dimension, parse_limit, parse_metric, parse_query, parse_sort,
                                 query_string, with_filter, without_filter)

TODAY = dt.date(2026, 3, 31)


def parse(params):
    return parse_query(params, today=TODAY)


def test_from_and_to_are_inclusive_days_compared_with_the_period_just_before():
    query = parse({"from": "2026-03-01", "to": "2026-03-10"})
    assert (query.start, query.end, query.compare) == (dt.date(2026, 3, 1), dt.date(2026, 3, 10), "previous")
    assert (query.compare_start, query.compare_end) == (dt.date(2026, 2, 19), dt.date(2026, 2, 28))
    assert query.days == 10 and query.interval == "day" and query.period is None


@pytest.mark.parametrize("period, start, end", [
    ("today", "2026-03-31", "2026-03-31"), ("yesterday", "2026-03-30", "2026-03-30"),
    ("7d", "2026-03-25", "2026-03-31"), ("30d", "2026-03-02", "2026-03-31"), ("90d", "2026-01-01", "2026-03-31"),
    ("month", "2026-03-01", "2026-03-31"), ("last_month", "2026-02-01", "2026-02-28"),
    ("12mo", "2025-04-01", "2026-03-31"),
])
def test_periods_end_today_in_the_reporting_zone(period, start, end):
    query = parse({"period": period})
    assert (query.start.isoformat(), query.end.isoformat(), query.period) == (start, end, period)


def test_no_range_means_the_last_30_days():
    assert parse({}).period == "30d"


def test_compare_year_and_none():
    year = parse({"from": "2024-02-29", "to": "2024-03-01", "compare": "year"})
    assert (year.compare_start, year.compare_end) == (dt.date(2023, 2, 28), dt.date(2023, 3, 1))
    none = parse({"period": "7d", "compare": "none"})
    assert (none.compare_start, none.compare_end, none.previous()) == (None, None, None)


def test_filters_are_named_after_dimensions_with_pipes_and_a_leading_minus_for_is_not():
    query = parse({"channel": "paid search", "device": "mobile|tablet", "-country": "de", "customer_type": "new",
                   "metric": "revenue"})
    assert query.filters == (Filter("channel", ("paid search",), False), Filter("device", ("mobile", "tablet"), False),
                             Filter("country", ("DE",), True), Filter("customer_type", ("new",), False))



def test_a_pipe_or_backslash_inside_a_filter_value_is_escaped_and_survives_the_round_trip():
    values = ("spring|sale", "/search?q=a|b", "C:\\dir\\", "\\|", "plain")
    query = with_filter(parse({}), "campaign", values)
    text = dict(parse_qsl(query_string(query)))["campaign"]
    assert text == "spring\\|sale|/search?q=a\\|b|C:\\\\dir\\\\|\\\\\\||plain"
    assert parse({"campaign": text}).filters == (Filter("campaign", values, False),)
    assert parse({"landing_page": "C:\\dir|/a"}).filters[0].values == ("C:\\dir", "/a")  # a lone \ stays as it is


def test_filter_values_are_read_as_the_data_stores_them():
    # 'Germany' and 'Paid Search' matched nothing, silently: countries are stored as codes, channels in lower case.
    q = parse({"country": "Germany|de|Germany (DE)|(none)", "channel": "Paid Search", "-device": "Mobile|Phone"})
    assert q.filters == (Filter("channel", ("paid search",)), Filter("device", ("mobile",), True),
                         Filter("country", ("DE", "(none)")))
    # As the tables write an unknown channel or device, which matched nothing.
    q = parse({"channel": "(unknown)|Direct", "device": "(Unknown)"})
    assert q.filters == (Filter("channel", ("unknown", "direct")), Filter("device", ("unknown",)))


@pytest.mark.parametrize("params, message", [
    ({"country": "XX"}, "country 'XX' is not a country"),  # matched nothing, silently: the importer refuses it
    ({"device": "phablet"}, "device 'phablet' is not a device: use one of bot, desktop, mobile, other, tablet, tv, "
                            "unknown."),
    ({"chanel": "email"}, "Unknown parameter 'chanel': did you mean 'channel'?"),  # ignored: unfiltered figures
    ({"-chanel": "email"}, "Unknown parameter '-chanel': did you mean 'channel'?"),
    ({"revenue_mn": "50"}, "did you mean 'revenue_min'?"),
    ({"convertd": "yes"}, "did you mean 'converted'?"),
])
def test_a_filter_that_would_match_nothing_or_be_ignored_is_refused(params, message):
    with pytest.raises(QueryError, match=re.escape(message)):
        parse(params)


def test_parameters_far_from_any_the_app_reads_are_ignored():
    # utm_campaign is as close to campaign as chanel is to channel: a shared link's tags are no typos.
    assert parse({"utm_source": "newsletter", "utm_campaign": "x", "fbclid": "x1", "top": "1", "currency": "EUR",
                  "channel": "email"}).filters == (Filter("channel", ("email",)),)


def test_a_parameter_read_once_given_two_values_is_refused():
    params = FormsDict()
    for value in ("yes", "no"):  # the last one won
        params.append("converted", value)
    with pytest.raises(QueryError, match="converted is given 2 different values"):
        parse_query(params)


def test_interval_defaults_to_hours_for_two_days_and_days_for_a_year():
    assert parse({"period": "yesterday"}).interval == "hour"
    assert parse({"period": "12mo"}).interval == "day"
    assert parse({"period": "12mo", "interval": "month"}).interval == "month"


@pytest.mark.parametrize("params, message", [
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from='2026-02-30' is not a date"),
    ({"from": "yesterday"}, "is not a date"),
    ({"from": "2026-03-10", "to": "2026-03-01"}, "from (2026-03-10) is after to (2026-03-01)"),
    ({"from": "9990-12-31"}, "from (9990-12-31) is after today ("),  # it said "after to" of a to never given
    ({"from": "2010-01-01", "to": "2026-03-01"}, "longer than 10 years"),
    ({"to": "2026-03-01"}, "to needs a from date"),
    ({"period": "5d"}, "period='5d' is not valid"),
    ({"period": "7d", "from": "2026-03-01"}, "either period or from and to"),
    ({"compare": "last"}, "compare='last' is not valid"),
    ({"interval": "minute"}, "interval='minute' is not valid"),
    ({"period": "30d", "interval": "hour"}, "interval=hour works for ranges of up to 2 days"),
    ({"-browser": "chrome"}, "Unknown dimension 'browser'"),
    ({"customer_type": "vip"}, "customer_type is new or returning"),
    ({"country": "DE|Narnia"}, "country 'Narnia' is not a country: give its two-letter code"),
])
def test_bad_parameters_raise_a_message_for_the_user(params, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(params)


def test_a_range_parameter_given_two_values_is_refused_and_a_filter_given_twice_adds_its_values():
    twice = (("compare", ("year", "none")), ("from", ("2026-03-01", "2026-03-02")), ("period", ("7d", "30d")))
    for name, values in twice:
        params = FormsDict()
        for value in values:
            params.append(name, value)
        with pytest.raises(QueryError, match=f"{name} is given 2 different values .*: give one"):
            parse(params)
        params.append(name, values[0])  # the same value again is the same question
        with pytest.raises(QueryError):
            parse(params)
    same = FormsDict()
    for value in ("month", "month"):
        same.append("interval", value)
    assert parse(same).interval == "month"
    params = FormsDict()
    params.append("channel", "email")
    params.append("channel", "direct|email")
    assert parse(params).filters == (Filter("channel", ("email", "direct")),)


def test_metric_dimension_limit_and_sort_are_checked():
    assert parse_metric({"metric": "bounce_rate"}) == "bounce_rate" and parse_metric({}) == "sessions"
    assert parse_dimension("landing_page") == "landing_page"
    assert (parse_limit({}), parse_limit({"limit": "50"}), parse_sort({"sort": "revenue"})) == (10, 50, "revenue")
    for call in (lambda: parse_metric({"metric": "visits"}), lambda: parse_dimension("browser"),
                 lambda: parse_limit({"limit": "0"}), lambda: parse_limit({"limit": "ten"}),
                 lambda: parse_sort({"sort": "share"})):
        with pytest.raises(QueryError):
            call()


def test_an_unknown_dimension_is_repeated_at_most_80_characters():
    # /breakdown/<3,000 characters> answered a 400 repeating all of them, page and API alike.
    with pytest.raises(QueryError) as failure:
        parse_dimension("x" * 3000)
    assert str(failure.value).startswith(f"Unknown dimension {'x' * 79 + '…'!r}: use one of channel, ")


LONG = "Q" * 5000


@pytest.mark.parametrize("call", [
    lambda: parse_query(FormsDict(period=LONG)), lambda: parse_query(FormsDict(compare=LONG)),
    lambda: parse_query(FormsDict(interval=LONG)), lambda: parse_query(FormsDict({"from": LONG})),
    lambda: parse_query(FormsDict(country=LONG)), lambda: parse_query(FormsDict(device=LONG)),
    lambda: parse_metric({"metric": LONG}), lambda: parse_sort({"sort": LONG}), lambda: parse_limit({"limit": LONG}),
    lambda: explore_params.parse_options(FormsDict(sort=LONG)),
    lambda: explore_params.parse_options(FormsDict(revenue_min=LONG)),
    lambda: funnels.check_options(LONG, None), lambda: funnels.check_options("session", LONG),
    lambda: explorer.parse_cursor(LONG, "started_at"), lambda: localtime.zone("Europe/" + LONG),
])
def test_a_refused_value_is_repeated_at_most_80_characters(call):
    # Only the breakdown's dimension was cut: period=<5,000 characters> made a dashboard error page 55,200 px wide.
    with pytest.raises(Exception) as failure:
        call()
    assert "Q" * 80 not in str(failure.value) and "…" in str(failure.value)


@pytest.mark.parametrize("text", ["1_0", "+5", "\u0661\u0660", "\uff11", "5.0", "1e2"])
def test_a_limit_is_written_in_ascii_digits(text):
    # int() read these: limit=1_000 gave a thousand rows, as the other numbers of a URL refuse it.
    with pytest.raises(QueryError, match="is not valid: use a whole number from 1 to 1000"):
        parse_limit({"limit": text})


def test_query_string_round_trips_and_builds_changed_views():
    query = parse({"from": "2026-03-01", "to": "2026-03-10", "compare": "year", "channel": "paid search",
                   "-device": "mobile|tablet", "interval": "week"})
    text = query_string(query)
    assert parse(dict(parse_qsl(text))) == query
    moved = dict(parse_qsl(query_string(query, period="7d")))
    assert moved == {"period": "7d", "compare": "year", "channel": "paid search", "-device": "mobile|tablet"}
    chip = dict(parse_qsl(query_string(with_filter(query, "country", ["DE"]))))
    assert chip["country"] == "DE" and chip["channel"] == "paid search"
    assert "channel" not in dict(parse_qsl(query_string(without_filter(query, "channel"))))


def test_periods_follow_the_reporting_zone():
    localtime.configure("Pacific/Auckland")
    try:
        query = parse_query({"period": "today"})
    finally:
        localtime.configure("UTC")
    expected = dt.datetime.now(localtime.UTC).astimezone(localtime.zone("Pacific/Auckland")).date()
    assert query.start == expected and query.zone == "Pacific/Auckland"


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("interval", ["hour", "day", "week", "month"])
def test_sqlite_buckets_equal_the_calendar_to_the_microsecond(interval, zone):
    import sqlite3
    tz = localtime.zone(zone)
    stored = [dt.datetime(2026, 1, 1), dt.datetime(2025, 12, 31, 22, 59, 59, 999600), dt.datetime(2024, 2, 29, 12),
              dt.datetime(2025, 12, 31, 23, 59, 59, 999999), dt.datetime(2026, 3, 29, 0, 59, 59, 999500),
              dt.datetime(2026, 3, 29, 1, 30, 5), dt.datetime(2026, 10, 25, 0, 59, 59, 999999)]
    sql, params = localtime.bucket_sql("?", False, interval, dt.datetime(2024, 1, 1), dt.datetime(2027, 1, 1), tz,
                                       column="t")
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE s (t DATETIME)")
    con.executemany("INSERT INTO s VALUES (?)", [(str(moment),) for moment in stored])
    found = [localtime.bucket_start(row[0], interval) for row in con.execute(f"SELECT {sql} FROM s", params)]
    local = [moment.replace(tzinfo=localtime.UTC).astimezone(tz) for moment in stored]
    day = [moment.date() for moment in local]
    expected = {"hour": [moment.replace(minute=0, second=0, microsecond=0) for moment in local],
                "day": day, "week": [d - dt.timedelta(days=d.weekday()) for d in day],
                "month": [d.replace(day=1) for d in day]}[interval]
    if interval == "hour":  # instants: an hour of the fall-back night compares unequal across zone objects
        found, expected = [t.timestamp() for t in found], [t.timestamp() for t in expected]
    assert found == expected


@pytest.mark.parametrize("asked, metric, sorts, interval_given", [
    ({"period": "30d"}, "sessions", {}, False),
    ({"from": "2026-01-01", "to": "2026-03-10", "compare": "year", "interval": "week", "-channel": "direct|a\\|b",
      "country": "DE"}, "revenue", {"source": "revenue", "device": "value"}, True),
    ({"period": "7d", "device": "mobile|tablet", "interval": "week"}, "customers", {"country": "sessions"}, True),
])
def test_a_breakdown_rows_filter_link_is_the_one_the_view_would_write_whole(asked, metric, sorts, interval_given):
    from analyzer.web.dashboard import View

    view = View(parse(FormsDict(asked)), metric, sorts, interval_given)
    for dimension in ("channel", "country", "device", "landing_page"):
        for value in ("direct", "DE", "a|b&c=d", ""):
            for negate in (False, True):
                old, values = view.query.filter_of(dimension), (value,)
                if negate and old is not None and old.negate:  # exclusions of one dimension add up
                    values = old.values + tuple(v for v in values if v not in old.values)
                whole = view.link(filters=with_filter(view.query, dimension, values, negate).filters)
                assert view.with_filter(dimension, value, negate) == whole

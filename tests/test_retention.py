"""Retention cohorts equal a plain computation over the stored sessions, on SQLite and PostgreSQL."""

import csv
import datetime as dt
import io
import random
from dataclasses import replace

import pytest

from analyzer import localtime
from analyzer.analytics import retention
from analyzer.ingest.rollups import rebuild_rollups
from analyzer.models import CustomerSession
from analyzer.web import params
from tests.conftest import migrated, sign_in
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)

T0 = dt.datetime(2025, 12, 1)


def random_sessions(rng, count=250, customers=60):
    """Store random sessions over about five months; return them."""
    rows = []
    for number in range(count):
        started = T0 + dt.timedelta(seconds=rng.randrange(0, 150 * 86400, 3600))
        rows.append(CustomerSession.create(session_key=f"s{number}", customer_id=f"c{rng.randrange(customers)}",
                                           started_at=started, channel=rng.choice(["direct", "email"]),
                                           converted=rng.random() < 0.3))
    return rows


def bucket(moment, interval):
    day = moment.date()
    return day.replace(day=1) if interval == "month" else day - dt.timedelta(days=day.weekday())


def plain_cohorts(rows, start, end, interval, activity, keep):
    """Group customers by the period of their first session (when it is kept) and count them per later period."""
    first = {}
    for row in sorted(rows, key=lambda r: r.started_at):
        first.setdefault(row.customer_id, row)
    members = {c: bucket(r.started_at, interval) for c, r in first.items()
               if start <= r.started_at < end and keep(r)}
    active = {(r.customer_id, bucket(r.started_at, interval)) for r in rows
              if start <= r.started_at < end and (activity == "session" or r.converted)}
    out = {}
    for customer, cohort in members.items():
        out.setdefault(cohort, [0, {}])[0] += 1
    for customer, period in active:
        if customer in members:
            counts = out[members[customer]][1]
            counts[period] = counts.get(period, 0) + 1
    return {cohort: (size, counts) for cohort, (size, counts) in out.items()}


def periods_of(start, count, interval):
    got, period = [], start
    for _ in range(count):
        got.append(period)
        period = period + dt.timedelta(days=7) if interval == "week" else (
            (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1))
    return got


@pytest.mark.parametrize("interval", retention.INTERVALS)
@pytest.mark.parametrize("activity", retention.ACTIVITIES)
@pytest.mark.parametrize("filtered", [True, False])
@pytest.mark.parametrize("through", ["rows", "rollups"])
def test_cohorts_equal_a_plain_computation(client, interval, activity, filtered, through):
    rows = random_sessions(random.Random(f"{interval}{activity}"))
    # A session exactly at each edge: the first one in, the last one out.
    start, end = dt.datetime(2026, 1, 1), dt.datetime(2026, 4, 1)
    rows.append(CustomerSession.create(session_key="edge-in", customer_id="edge-a", started_at=start))
    rows.append(CustomerSession.create(session_key="edge-out", customer_id="edge-b", started_at=end))
    rebuild_rollups(CustomerSession._meta.database)  # customer_firsts: each customer's first session
    picked = CustomerSession.select().where((CustomerSession.started_at >= start) & (CustomerSession.started_at < end)
                                            & (CustomerSession.channel == "direct"))
    if through == "rows":
        got = retention.cohorts(picked if filtered else None, start, end, interval, activity)
    else:  # the page's way: the cohort sizes are the rollups' new customers of each period
        chosen = {"channel": "direct"} if filtered else {}
        query = params.parse_query({"from": "2026-01-01", "to": "2026-03-31", **chosen})
        assert query.window() == (start, end)
        got = retention.retention(query, interval, activity)
    keep = (lambda r: r.channel == "direct") if filtered else (lambda r: True)
    expected = plain_cohorts(rows, start, end, interval, activity, keep)
    assert [c.start for c in got] == sorted(expected)
    assert any(c.start == bucket(start, interval) for c in got)
    last = bucket(end - dt.timedelta(seconds=1), interval)
    for cohort in got:
        size, counts = expected[cohort.start]
        assert cohort.customers == size
        periods = [p for p in periods_of(cohort.start, 60, interval) if p <= last]
        assert [p.customers for p in cohort.periods] == [counts.get(p, 0) for p in periods]
        assert [p.share for p in cohort.periods] == pytest.approx([counts.get(p, 0) / size for p in periods])
        if activity == "session":
            assert cohort.periods[0].share == 1.0
        assert cohort.cohort == retention.label(cohort.start, interval)
        assert cohort.name == retention.name(cohort.start, interval)


def test_labels_name_months_and_iso_weeks():
    assert retention.label(dt.date(2026, 1, 1), "month") == "2026-01"
    assert retention.label(dt.date(2025, 12, 29), "week") == "2026-W01"


def test_names_give_a_weeks_monday_and_iso_week_and_a_month_as_its_label():
    assert retention.name(dt.date(2026, 3, 2), "week") == "2026-03-02 (W10)"
    assert retention.name(dt.date(2025, 12, 29), "week") == "2025-12-29 (W01)"
    assert retention.name(dt.date(2026, 1, 1), "month") == "2026-01"


def first_sessions(*days):
    """Store one customer per day of DAYS, first seen at noon UTC that day."""
    for number, day in enumerate(days):
        CustomerSession.create(session_key=f"k{number}", customer_id=f"c{number}",
                               started_at=dt.datetime.combine(day, dt.time(12)))
    rebuild_rollups(CustomerSession._meta.database)


def row_names(page):
    return [row.th.text for row in page.html.select("table.retention tbody tr")]


def test_weekly_cohorts_are_named_by_their_monday_and_iso_week_on_the_page(client):
    first_sessions(dt.date(2026, 3, 4), dt.date(2026, 3, 9), dt.date(2026, 3, 15))
    page = client.get("/retention?from=2026-03-02&to=2026-03-15&interval=week")
    assert row_names(page) == ["2026-03-02 (W10)", "2026-03-09 (W11)"]


def test_the_week_across_the_year_end_is_named_by_its_december_monday_and_sorts_in_order(client):
    first_sessions(dt.date(2026, 1, 4), dt.date(2025, 12, 22), dt.date(2025, 12, 31), dt.date(2026, 1, 5))
    page = client.get("/retention?from=2025-12-22&to=2026-01-11&interval=week")
    assert row_names(page) == ["2025-12-22 (W52)", "2025-12-29 (W01)", "2026-01-05 (W02)"]


def test_weekly_csv_and_api_keep_the_iso_week_as_the_cohort(client):
    first_sessions(dt.date(2025, 12, 31))
    url = "/retention?from=2025-12-29&to=2026-01-04&interval=week"
    assert row_names(client.get(url)) == ["2025-12-29 (W01)"]
    rows = list(csv.DictReader(io.StringIO(client.get(url + "&format=csv").text)))
    assert [r["cohort"] for r in rows] == ["2026-W01"]
    query = params.parse_query({"from": "2025-12-29", "to": "2026-01-04"})
    assert [(c.cohort, c.name) for c in retention.retention(query, "week")] == [("2026-W01", "2025-12-29 (W01)")]


def test_weekly_cohorts_are_named_by_the_monday_of_the_reporting_zone(settings, serve):
    # 03:00 UTC on Monday 2 March is still Sunday 1 March in New York: the week of Monday 23 February.
    migrated(settings.database_url)
    app = serve(replace(settings, report_timezone="America/New_York"))
    try:
        sign_in(app)
        CustomerSession.create(session_key="a", customer_id="late", started_at=dt.datetime(2026, 3, 2, 3))
        rebuild_rollups(CustomerSession._meta.database)
        page = app.get("/retention?from=2026-02-23&to=2026-03-08&interval=week")
    finally:
        localtime.configure("UTC")
    assert row_names(page) == ["2026-02-23 (W09)"]


def test_monthly_cohorts_keep_their_names_on_the_page(client):
    first_sessions(dt.date(2025, 12, 31), dt.date(2026, 1, 1))
    page = client.get("/retention?from=2025-12-01&to=2026-01-31&interval=month")
    query = params.parse_query({"from": "2025-12-01", "to": "2026-01-31"})
    assert row_names(page) == [c.name for c in retention.retention(query, "month")] == ["2025-12", "2026-01"]


def test_unknown_interval_or_activity_says_what_is_allowed(client):
    with pytest.raises(retention.RetentionError, match="interval must be one of week, month; got 'day'"):
        retention.cohorts(CustomerSession.select(), T0, T0, "day")
    with pytest.raises(retention.RetentionError, match="activity must be one of session, conversion"):
        retention.cohorts(CustomerSession.select(), T0, T0, "week", "purchase")


def test_cohorts_use_the_weeks_and_months_of_the_reporting_time_zone(client):
    from zoneinfo import ZoneInfo
    # 03:00 UTC on 1 February is still 31 January in New York.
    CustomerSession.create(session_key="a", customer_id="late", started_at=dt.datetime(2026, 2, 1, 3, 0))
    CustomerSession.create(session_key="b", customer_id="late", started_at=dt.datetime(2026, 2, 10))
    rebuild_rollups(CustomerSession._meta.database)
    start, end = dt.datetime(2026, 1, 1, 5), dt.datetime(2026, 3, 1, 5)  # New York's January and February
    got = retention.cohorts(CustomerSession.select(), start, end, "month", "session", ZoneInfo("America/New_York"))
    assert [(c.cohort, c.customers, [p.customers for p in c.periods]) for c in got] == [("2026-01", 1, [1, 1])]
    utc = retention.cohorts(CustomerSession.select(), dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 1), "month")
    assert [(c.cohort, [p.customers for p in c.periods]) for c in utc] == [("2026-02", [1])]


def test_a_returning_only_filter_says_why_there_are_no_cohorts(client):
    CustomerSession.create(session_key="a", customer_id="back", started_at=dt.datetime(2026, 1, 5))
    CustomerSession.create(session_key="b", customer_id="back", started_at=dt.datetime(2026, 2, 5))
    rebuild_rollups(CustomerSession._meta.database)
    for url in ("/retention?period=all&customer_type=returning", "/retention?period=all&-customer_type=new"):
        text = " ".join(client.get(url).html.select_one("p.empty").text.split())
        # "Try a longer range" could never help: no first session is a returning customer's.
        assert "only returning customers' sessions. Remove that filter" in text, url
        assert "longer range" not in text, url
    assert "longer range" in client.get("/retention?from=2025-01-01&to=2025-01-31").html.select_one("p.empty").text

"""Every dashboard figure equals a plain computation over the stored sessions, on random data with random filters.

The data goes in through the importer and out through its undo, so the rollups are the ones a user gets; the
reference below reads the rows back and computes everything in Python.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer import localtime
from analyzer.analytics import dashboard, figures, raw, rolled
from analyzer.analytics.query import DIMENSIONS, METRICS, NONE_VALUE, Filter, make_query, where_sessions
from analyzer.config import Settings
from analyzer.db import init_database, is_sqlite
from analyzer.ingest import importer, rollups
from analyzer.models import ROLLUP_LAYOUT, CustomerSession, DailyRollup, RollupZone, rollup_key
from tests.conftest import migrated

ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata")
FIRST = dt.datetime(2026, 3, 1)  # the window holds the spring DST change of Europe and the US
CHOICES = {"channel": ["Direct", "Paid Search", "Email"], "device": ["mobile", "desktop", "tablet"],
           "country": ["DE", "US", ""], "source": ["google", "newsletter", ""], "medium": ["cpc", "email", ""],
           "campaign": ["spring", ""], "landing_page": ["/", "/sale", ""], "exit_page": ["/", "/cart", ""]}
SAMPLE = {"customer": 1, "minutes": 30, "duration": 60, "page_views": 2, "cents": 500, "converted": True,
          **{name: values[0] for name, values in CHOICES.items()}}
HEADER = ("session_id,customer_id,started_at,duration_s,channel,source,medium,campaign,device,country,"
          "landing_page,exit_page,page_views,converted,revenue\n")


@pytest.fixture
def db(db_url):
    """A migrated database bound to the models; the reporting zone is reset afterwards."""
    database = init_database(Settings(database_url=migrated(db_url)))
    yield database
    database.close()
    localtime.configure("UTC")


session = st.fixed_dictionaries({
    "customer": st.integers(0, 7),
    "minutes": st.integers(0, 45 * 24 * 60),
    "duration": st.integers(0, 4000),
    "page_views": st.integers(0, 4),
    "cents": st.integers(0, 30000),
    "converted": st.booleans(),
    **{name: st.sampled_from(values) for name, values in CHOICES.items()},
})
a_filter = st.builds(lambda dimension, picks, negate: Filter(dimension, tuple(dict.fromkeys(picks)), negate),
                     st.sampled_from(DIMENSIONS), st.lists(st.integers(0, 2), min_size=1, max_size=2), st.booleans())
a_query = st.fixed_dictionaries({
    "first": st.integers(0, 44), "days": st.integers(1, 30), "compare": st.sampled_from(["previous", "year", "none"]),
    "filters": st.lists(a_filter, max_size=2, unique_by=lambda f: f.dimension),
})


def write_csv(path, rows, prefix):
    lines = [HEADER]
    for number, row in enumerate(rows):
        started = FIRST + dt.timedelta(minutes=row["minutes"])
        lines.append(",".join([
            f"{prefix}-{number}", f"c{row['customer']}", started.strftime("%Y-%m-%dT%H:%M:%SZ"), str(row["duration"]),
            *(row[name] for name in ("channel", "source", "medium", "campaign", "device", "country", "landing_page",
                                     "exit_page")),
            str(row["page_views"]), "true" if row["converted"] else "false", f"{row['cents'] / 100:.2f}"]) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def concrete(query_spec, zone):
    start = FIRST.date() + dt.timedelta(days=query_spec["first"])
    filters = []
    for item in query_spec["filters"]:
        choices = {"customer_type": ["new", "returning", "new"]}.get(item.dimension) or [
            v or NONE_VALUE for v in CHOICES.get(item.dimension, [])]
        if item.dimension == "channel":
            choices = ["direct", "paid search", "email"]
        filters.append(Filter(item.dimension, tuple(dict.fromkeys(choices[i % len(choices)] for i in item.values)), item.negate))
    return make_query(start, start + dt.timedelta(days=query_spec["days"] - 1), query_spec["compare"], filters,
                      zone=zone)


def stored():
    rows = list(CustomerSession.select().dicts())
    first = {}
    for row in sorted(rows, key=lambda r: (r["started_at"], r["id"])):
        first.setdefault(row["customer_id"], row["id"])
    for row in rows:
        row["customer_type"] = "new" if first[row["customer_id"]] == row["id"] else "returning"
    return rows


def matches(row, item):
    value = row[item.dimension]
    hit = value in item.values or (NONE_VALUE in item.values and value in (None, ""))
    return hit != item.negate


def selected(rows, query):
    tz = query.tz
    return [r for r in rows if query.start <= localtime.local_day(r["started_at"], tz) <= query.end
            and all(matches(r, f) for f in query.filters)]


def reference_totals(rows):
    return figures.Totals(len(rows), sum(r["page_views"] <= 1 for r in rows), sum(r["converted"] for r in rows),
                          sum((Decimal(r["revenue"]) for r in rows), Decimal("0.00")),
                          sum(r["page_views"] for r in rows), sum(r["duration_s"] for r in rows),
                          sum(r["customer_type"] == "new" for r in rows), len({r["customer_id"] for r in rows}))


def reference_bucket(row, interval, tz):
    if interval == "hour":
        local = row["started_at"].replace(tzinfo=localtime.UTC).astimezone(tz)
        return local.replace(minute=0, second=0, microsecond=0, tzinfo=dt.timezone(local.utcoffset()))
    return localtime.bucket_of(localtime.local_day(row["started_at"], tz), interval)


def check(query, rows):
    """Compare every KPI, each interval's trend and every breakdown with the reference."""
    now, before = selected(rows, query), selected(rows, query.previous()) if query.previous() else None
    got = dashboard.stats(query)
    for name in METRICS:
        expected = figures.value(reference_totals(now), name)
        assert got[name].value == expected, name
        assert got[name].previous == (figures.value(reference_totals(before), name) if before is not None else None)
        exact = [figures.value(reference_totals(rows), name, cents=False) if rows is not None else None
                 for rows in (now, before)]
        assert got[name].change == (float((exact[0] - exact[1]) / exact[1])
                                    if exact[0] is not None and exact[1] else None), name
        assert raw.totals(query) == reference_totals(now)
    # A range of few sessions: SQLite reads it by start time instead of through a filter's index.
    assert raw.customers(query, in_range=0) == raw.customers(query) == len({r["customer_id"] for r in now})
    intervals = ["day", "week", "month"] + (["hour"] if query.days <= 2 else [])
    for interval in intervals:
        for metric in ("sessions", "customers", "new_customers", "revenue", "bounce_rate"):
            by_bucket = defaultdict(list)
            for row in now:
                by_bucket[reference_bucket(row, interval, query.tz)].append(row)
            points = dashboard.timeseries(query, metric, interval)
            assert len(points) == len(localtime.buckets(query.start, query.end, interval, query.tz))
            for bucket, point in zip(localtime.buckets(query.start, query.end, interval, query.tz), points):
                assert point.value == figures.value(reference_totals(by_bucket.get(bucket, [])), metric), (
                    interval, metric, bucket)
    together = dashboard.breakdowns(query, DIMENSIONS, limit=1000)  # the page's way: the rows read once for all
    for dimension in DIMENSIONS:
        groups = defaultdict(list)
        for row in now:
            groups[row[dimension] or None].append(row)
        result = dashboard.breakdown(query, dimension, limit=1000)
        assert result.total_rows == len(groups)
        assert {r.value: (r.sessions, r.conversions, r.revenue) for r in result.rows} == {
            value: (len(g), sum(r["converted"] for r in g), sum((Decimal(r["revenue"]) for r in g), Decimal("0.00")))
            for value, g in groups.items()}
        assert [r.sessions for r in result.rows] == sorted((r.sessions for r in result.rows), reverse=True)
        assert together[dimension] == result
    assert dashboard.overview(query, DIMENSIONS, limit=1000) == (got, together)  # the page's way: one read for both


# 12 examples let a wrong customer type breakdown through in most runs (it was found once in about 30); that case
# has its own test below. 25 examples: 40 took the whole suite past 10 minutes on a slow machine.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone=st.sampled_from(ZONES), first=st.lists(session, min_size=1, max_size=25),
       second=st.lists(session, max_size=15), queries=st.lists(a_query, min_size=1, max_size=3))
def test_figures_equal_the_rows_after_import_and_undo(db, tmp_path, zone, first, second, queries):
    for table in ("session_events", "customer_sessions", "imports", "daily_rollups", "breakdown_rollups",
                  "cross_rollups", "customer_sketches", "customer_firsts", "rollup_zone"):
        db.execute_sql(f"DELETE FROM {table}")
    localtime.configure(zone)
    one = importer.import_file(db, write_csv(tmp_path / "one.csv", first, "a"))
    importer.import_file(db, write_csv(tmp_path / "two.csv", second, "b"))  # earlier sessions move "new" back
    for spec in queries:
        check(concrete(spec, zone), stored())
    importer.undo(db, one.import_id)
    for spec in queries:
        check(concrete(spec, zone), stored())


@pytest.mark.parametrize("negate", [False, True])
def test_a_filter_on_both_customer_types_keeps_new_and_returning_apart(db, tmp_path, negate):
    # Found by the random test above: the breakdown by customer type counted every session as new.
    rows = [{"customer": customer, "minutes": minutes, "duration": 60, "page_views": 2, "cents": 100, "converted": True,
             "channel": "Direct", "source": "", "medium": "", "campaign": "", "device": device, "country": "DE",
             "landing_page": "/", "exit_page": "/"}
            for customer, minutes, device in [(1, 0, "mobile"), (1, 60, "tablet"), (2, 120, "tablet"),
                                              (2, 180, "desktop")]]
    importer.import_file(db, write_csv(tmp_path / "types.csv", rows, "t"))
    both = Filter("customer_type", () if negate else ("returning", "new"), negate)
    for filters in [(both,), (both, Filter("device", ("mobile",), True))]:
        query = make_query(FIRST.date(), FIRST.date(), "none", filters, zone="UTC")
        types = {r.value: r.sessions for r in dashboard.breakdown(query, "customer_type").rows}
        assert types == {"new": 1 if len(filters) == 2 else 2, "returning": 2}, filters
        check(query, stored())


def test_two_filters_with_a_channel_equal_the_rows_at_every_edge_of_the_range(db, tmp_path):
    # On SQLite the cube is then read one day at a time: the first and last day of the range must count.
    rows = [{"customer": n % 5, "minutes": minutes, "duration": 60 + n, "page_views": n % 3, "cents": 150 * n,
             "converted": n % 2 == 0, "channel": channel, "source": "google", "medium": "cpc", "campaign": "",
             "device": device, "country": country, "landing_page": "/", "exit_page": "/cart"}
            for n, (minutes, channel, device, country) in enumerate([
                (0, "Paid Search", "mobile", "DE"), (24 * 60 - 1, "Paid Search", "desktop", "DE"),
                (24 * 60, "Paid Search", "mobile", "DE"), (5 * 24 * 60 + 3, "Paid Search", "mobile", "US"),
                (9 * 24 * 60 + 59, "Email", "mobile", "DE"), (10 * 24 * 60 - 1, "Paid Search", "tablet", "DE"),
                (10 * 24 * 60, "Paid Search", "mobile", "DE"), (3 * 24 * 60, "Direct", "mobile", "DE")])]
    importer.import_file(db, write_csv(tmp_path / "edges.csv", rows, "e"))
    start = FIRST.date() + dt.timedelta(days=1)
    for filters in [(Filter("channel", ("paid search",)), Filter("country", ("DE",))),
                    (Filter("channel", ("paid search", "email")), Filter("device", ("mobile", "tablet")))]:
        query = make_query(start, start + dt.timedelta(days=8), "previous", filters, zone="UTC")
        assert dashboard.stats(query)["sessions"].value == len(selected(stored(), query))
        check(query, stored())


def test_sqlite_reads_two_filters_by_start_time_and_the_cube_by_day_and_channel(db):
    if not is_sqlite(db):
        pytest.skip("SQLite's planner only: PostgreSQL has statistics on ranges")
    query = make_query(FIRST.date(), FIRST.date() + dt.timedelta(days=29), "none",
                       (Filter("channel", ("paid search",)), Filter("country", ("DE",))), zone="UTC")

    def plan(select):
        sql, params = select.sql()
        return " ".join(row[-1] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))

    assert "customersession_started_at" in plan(where_sessions(CustomerSession.select(), query, by_time=True))
    assert "(day=? AND channel=?)" in plan(DailyRollup.select().where(*rolled._cube_conditions(query)))


@pytest.mark.parametrize("zone, day, hours", [("Europe/Berlin", dt.date(2026, 3, 29), 23),
                                               ("America/Los_Angeles", dt.date(2026, 11, 1), 25)])
def test_a_dst_day_is_one_reporting_day_of_its_own_length(db, tmp_path, zone, day, hours):
    localtime.configure(zone)
    tz = localtime.zone(zone)
    start, end = localtime.utc_window(day, day, tz)
    assert (end - start) == dt.timedelta(hours=hours)
    moments = [start - dt.timedelta(minutes=1), start, start + dt.timedelta(hours=2, minutes=30), end - dt.timedelta(
        seconds=1), end]
    lines = [HEADER] + [f"s{n},c{n},{m:%Y-%m-%dT%H:%M:%SZ},60,Direct,,,,mobile,DE,/,/,2,false,1.00\n"
                        for n, m in enumerate(moments)]
    (tmp_path / "dst.csv").write_text("".join(lines), encoding="utf-8")
    importer.import_file(db, tmp_path / "dst.csv")
    query = make_query(day - dt.timedelta(days=1), day + dt.timedelta(days=1), "none", zone=zone)
    assert [p.value for p in dashboard.timeseries(query, "sessions", "day")] == [1, 3, 1]
    one_day = make_query(day, day, "none", zone=zone)
    hourly = dashboard.timeseries(one_day, "sessions", "hour")
    assert len(hourly) == hours and sum(p.value for p in hourly) == 3
    assert len({p.t.utcoffset() for p in hourly}) == 2
    assert dashboard.stats(one_day)["sessions"].value == 3
    localtime.configure("UTC")
    rollups.rebuild_rollups(db)
    assert dashboard.stats(make_query(day, day, "none", zone="UTC"))["sessions"].value == len(
        [m for m in moments if m.date() == day])


def test_rollups_rebuild_recomputes_the_days_of_a_new_zone_and_repairs_damage(db, db_url, tmp_path):
    import manage

    moments = [dt.datetime(2026, 3, 8, 7, 30), dt.datetime(2026, 3, 8, 9, 0), dt.datetime(2026, 3, 9, 3, 0)]
    lines = [HEADER] + [f"s{n},c{n % 2},{m:%Y-%m-%dT%H:%M:%SZ},60,Direct,,,,mobile,DE,/,/,2,true,2.50\n"
                        for n, m in enumerate(moments)]
    (tmp_path / "three.csv").write_text("".join(lines), encoding="utf-8")
    importer.import_file(db, tmp_path / "three.csv")
    db.execute_sql("UPDATE daily_rollups SET sessions = sessions + 5")  # damage that the rebuild repairs
    out = []
    code = manage.main(["rollups", "rebuild"], environ={"DATABASE_URL": db_url, "REPORT_TIMEZONE": "America/Los_Angeles"},
                       out=out.append)
    assert code == 0 and out[-1].startswith("Rebuilt the rollups of 2026-03-07 to 2026-03-09, days of the reporting "
                                            "time zone America/Los_Angeles, in ")
    localtime.configure("America/Los_Angeles")
    days = {str(day)[:10]: sessions for day, sessions in db.execute_sql(
        "SELECT day, SUM(sessions) FROM daily_rollups GROUP BY day ORDER BY day")}
    assert days == {"2026-03-07": 1, "2026-03-08": 2}  # 07:30 UTC is still the 7th in Los Angeles (UTC-8)
    query = make_query(dt.date(2026, 3, 7), dt.date(2026, 3, 8), "none", zone="America/Los_Angeles")
    assert dashboard.stats(query)["revenue"].value == Decimal("7.50")
    assert dashboard.stats(query)["new_customers"].value == 2


def test_first_sessions_are_inserted_by_statements_that_do_not_read_the_table_they_fill():
    # With statistics that said customer_firsts was empty, PostgreSQL rescanned it for every row inserted: a rebuild
    # of 700,000 customers had not finished after five minutes (31 s once the missing rows were noted first).
    inserts = [s for s in rollups.WRITE_FIRSTS if s.lstrip().startswith("INSERT INTO customer_firsts")]
    assert inserts and all(s.count("customer_firsts") == 1 for s in inserts)


def test_unique_customers_merged_from_large_days_are_marked_approximate_and_within_one_percent(db, tmp_path):
    lines = [HEADER] + [f"s{day}-{n},c{(n * 7 + day * 300) % 2000},2026-03-0{day}T{n % 24:02d}:10:00Z,60,Direct,,,,"
                        f"mobile,DE,/,/,2,false,0.00\n" for day in (2, 3) for n in range(1500)]
    earlier = "s0,c0,2026-02-20T10:00:00Z,60,Direct,,,,mobile,DE,/,/,2,false,0.00\n"  # someone came before
    (tmp_path / "large.csv").write_text("".join(lines) + earlier, encoding="utf-8")
    importer.import_file(db, tmp_path / "large.csv")
    exact = len({line.split(",")[1] for line in lines[1:]})
    query = make_query(dt.date(2026, 3, 2), dt.date(2026, 3, 8), "none")
    merged = dashboard.stats(query)["customers"]
    assert merged.approximate and abs(merged.value - exact) / exact < 0.01
    # From the first day of the data on, every customer of the range is new: the count is exact.
    whole = dashboard.stats(make_query(dt.date(2026, 2, 20), dt.date(2026, 3, 8), "none"))
    assert (whole["customers"].value, whole["customers"].approximate) == (exact, False)
    assert whole["new_customers"].value == exact
    daily = dashboard.timeseries(query, "customers", "day")
    assert [(p.value, p.approximate) for p in daily[:3]] == [(1500, False), (1500, False), (0, False)]
    weekly = dashboard.timeseries(query, "customers", "week")
    assert weekly[0].approximate and weekly[0].value == merged.value


@pytest.mark.parametrize("estimate, shown", [(4502, 4504), (4600, 4600), (5100, 5000)])
def test_an_estimate_of_unique_customers_stays_between_the_new_customers_and_the_sessions(estimate, shown):
    totals = figures.Totals(sessions=5000, new_customers=4504, customers=estimate, approximate=True)
    assert rolled._bounded(totals).customers == shown
    exact = figures.Totals(sessions=5000, new_customers=4504, customers=4502)  # never changed: it cannot be wrong
    assert rolled._bounded(exact).customers == 4502


def test_the_change_of_money_per_session_is_that_of_the_amounts_not_of_their_cents():
    # 3040.97 over 1,776 sessions against 2927.60 over 1,640 is -4.08 %; from the cents (1.71 and 1.79) -4.47 %.
    now = figures.Totals(sessions=1776, revenue=Decimal("3040.97"), conversions=40)
    before = figures.Totals(sessions=1640, revenue=Decimal("2927.60"), conversions=39)
    exact = float((Decimal("3040.97") / 1776 - Decimal("2927.60") / 1640) / (Decimal("2927.60") / 1640))
    assert figures.value(now, "revenue_per_session") == Decimal("1.71")
    assert figures.change(figures.value(now, "revenue_per_session", cents=False),
                          figures.value(before, "revenue_per_session", cents=False)) == exact
    assert round(exact, 4) == -0.0408


def test_a_year_before_each_day_is_compared_with_its_own_date_and_29_february_with_none(db, tmp_path):
    days = [dt.datetime(2023, 2, 27, 12), dt.datetime(2023, 3, 1, 12), dt.datetime(2023, 3, 1, 13),
            dt.datetime(2024, 2, 28, 12), dt.datetime(2024, 2, 29, 12), dt.datetime(2024, 3, 1, 12)]
    rows = [{"customer": n, "minutes": int((when - FIRST).total_seconds() // 60), "duration": 60, "page_views": 1,
             "cents": 0, "converted": False, "channel": "Direct", "source": "", "medium": "", "campaign": "",
             "device": "mobile", "country": "DE", "landing_page": "/", "exit_page": "/"} for n, when in enumerate(days)]
    importer.import_file(db, write_csv(tmp_path / "leap.csv", rows, "l"))
    query = make_query(dt.date(2024, 2, 27), dt.date(2024, 3, 1), "year", zone="UTC")
    points = [(p.t.isoformat(), p.value, p.previous) for p in dashboard.timeseries(query, "sessions", "day")]
    assert points == [("2024-02-27", 0, 1), ("2024-02-28", 1, 0), ("2024-02-29", 1, None), ("2024-03-01", 1, 2)]


@pytest.mark.parametrize("sort", ["revenue", "conversions", "conversion_rate"])
def test_rows_that_tie_on_the_sorted_column_come_most_sessions_first(sort):
    # Sorted by revenue, two one-session countries without sales came before the UK's 512 sessions without sales.
    found = [("AE", 1, 0, Decimal("0")), ("AL", 2, 0, Decimal("0")), ("GB", 512, 0, Decimal("0")),
             ("US", 40, 2, Decimal("90.00"))]
    rows = dashboard._table(found, 10, sort, None).rows
    assert [r.value for r in rows] == ["US", "GB", "AL", "AE"]


def test_filters_on_many_valued_dimensions_are_read_from_the_rollups_unless_built_before_they_held_them(db, tmp_path):
    rows = [{"customer": n % 4, "minutes": n * 300, "duration": 30 + n, "page_views": n % 4, "cents": 99 * n,
             "converted": n % 3 == 0, "channel": "Paid Search", "device": "mobile", "country": "DE",
             **{name: CHOICES[name][n % len(CHOICES[name])] for name in ("source", "medium", "campaign", "landing_page",
                                                                        "exit_page")}}
            for n in range(30)]
    importer.import_file(db, write_csv(tmp_path / "pages.csv", rows, "p"))
    start = FIRST.date()
    cases = [(Filter(dimension, values, negate),) for dimension in ("source", "medium", "campaign", "landing_page",
                                                                    "exit_page")
             for values, negate in [((CHOICES[dimension][0],), False), ((CHOICES[dimension][0], NONE_VALUE), False),
                                    ((NONE_VALUE,), True)]]
    cases += [(Filter("source", ("google",)), Filter("country", ("DE",))),  # a pair: the sums, not every breakdown
              (Filter("landing_page", ("/sale",)), Filter("exit_page", (NONE_VALUE,), True)),
              (Filter("customer_type", ("new",)), Filter("medium", ("cpc", NONE_VALUE)))]
    for filters in cases:
        query = make_query(start, start + dt.timedelta(days=3), "previous", filters, zone="UTC")
        assert rolled.answerable(query)
        check(query, stored())
        read = (dashboard.overview(query, DIMENSIONS, limit=1000), dashboard.timeseries(query, "customers"))
        RollupZone.update(layout=1).execute()  # as rollups built before cross_rollups: the rows are read
        assert not rolled.answerable(query)
        assert (dashboard.overview(query, DIMENSIONS, limit=1000), dashboard.timeseries(query, "customers")) == read
        RollupZone.update(layout=ROLLUP_LAYOUT).execute()


def test_rollups_recorded_after_they_were_written_are_not_taken_for_the_current_layout_until_rebuilt(db, tmp_path):
    importer.import_file(db, write_csv(tmp_path / "one.csv", [SAMPLE], "a"))
    assert RollupZone.get().layout == ROLLUP_LAYOUT
    RollupZone.delete().execute()  # as a database whose rollups predate the record of their zone
    importer.import_file(db, write_csv(tmp_path / "two.csv", [{**SAMPLE, "customer": 2}], "b"))
    assert RollupZone.get().layout == 1
    rollups.rebuild_rollups(db)
    assert RollupZone.get().layout == ROLLUP_LAYOUT


def test_a_value_too_long_for_an_index_entry_is_keyed_by_its_hash_and_filters_like_any_other(db, tmp_path):
    # 2,000 characters of CJK text are 6,000 bytes: past the 2,704 that a PostgreSQL index entry holds.
    long_page = "/" + "".join(chr(0x4E00 + (n * 7919) % 20000) for n in range(1999))
    rows = [{**SAMPLE, "customer": n, "minutes": 60 * n, "landing_page": page, "exit_page": page}
            for n, page in enumerate([long_page, long_page, "/sale"])]
    importer.import_file(db, write_csv(tmp_path / "long.csv", rows, "l"))
    keys = {value for value, in db.execute_sql("SELECT filter_value FROM cross_rollups WHERE filter_dimension = "
                                                "'landing_page'")}
    assert keys == ({long_page, "/sale"} if is_sqlite(db) else {rollup_key(long_page, True), "/sale"})
    start = FIRST.date()
    for negate in (False, True):
        query = make_query(start, start, "none", [Filter("landing_page", (long_page,), negate)], zone="UTC")
        assert rolled.answerable(query)
        check(query, stored())
        assert dashboard.stats(query)["customers"].value == (1 if negate else 2)

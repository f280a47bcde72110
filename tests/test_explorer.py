"""The session explorer page: links, sorts, pages, the add-filter form, totals, and the streamed CSV of its list."""

import datetime as dt
import csv
import io
import time

import peewee as pw
import pytest

from analyzer.analytics import explorer
from analyzer.ingest import rollups
from analyzer.models import CustomerSession
from tests.test_details import berlin  # noqa: F401  (fixture)
from tests.test_explore_api import FROM, TO, expected_keys, in_range, stored, stored_rows  # noqa: F401
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)


def test_the_page_lists_links_sorts_and_pages(stored, monkeypatch):
    monkeypatch.setattr(explorer.page, "__defaults__", (None, 20))
    first = stored.get(f"/sessions?from={FROM}&to={TO}&sort=-revenue")
    keys = [a["title"] for a in first.html.select("table.sessions tbody td:first-child a")]
    expected = expected_keys(stored_rows(), in_range, "-revenue")
    assert keys == expected[:20]
    assert first.html.select_one("table.sessions tbody td:first-child a")["href"] == f"/sessions/{expected[0]}"
    second = stored.get(first.html.select_one("a[rel=next]")["href"])
    assert [a["title"] for a in second.html.select("table.sessions tbody td:first-child a")] == expected[20:40]
    assert f"{len(expected):,} matches, highest revenue first" in first.html.select_one("h1").text
    one = stored.get(f"/sessions?from={FROM}&to={TO}&q={expected[0]}").html.select_one("h1").text
    assert "1 match, newest first" in one
    header = {a.text.strip(): a["href"] for a in first.html.select("table.sessions thead a")}
    assert "sort=revenue" in header["Revenue ↓"] and "sort=-page_views" in header["Pages"]


def test_the_add_filter_form_adds_a_chip(stored):
    response = stored.get(f"/sessions?from={FROM}&to={TO}&add_dim=channel&add_value=email&add_not=1", status=303)
    page = stored.get(response.location)
    chip = page.html.select_one(".chips .chip")
    assert "Channel" in chip.text and "is not" in chip.text and "email" in chip.text
    keys = [a["title"] for a in page.html.select("table.sessions tbody td:first-child a")]
    assert keys == expected_keys(stored_rows(), lambda r: in_range(r) and r.channel != "email", "-started_at")[:50]


def test_total_comes_from_the_rollups_or_is_counted_up_to_the_cap_or_else_estimated(stored, monkeypatch):
    from analyzer.web import params
    query = params.parse_query({"from": FROM, "to": TO})
    filtered = params.parse_query({"from": FROM, "to": TO, "channel": "email"})
    expected = sum(1 for r in stored_rows() if in_range(r) and r.channel == "email")
    monkeypatch.setattr(explorer, "EXACT_UP_TO", 5)
    assert explorer.total(query, explorer.Options()) == explorer.Total(sum(map(in_range, stored_rows())), "exact")
    assert explorer.total(filtered, explorer.Options()) == explorer.Total(expected, "exact")
    # The rollups cannot say: counted up to the cap, then the planner's estimate or "at least".
    landing = params.parse_query({"from": FROM, "to": TO, "landing_page": "/products/a"})
    counted = sum(1 for r in stored_rows() if in_range(r) and r.landing_page == "/products/a")
    monkeypatch.setattr(explorer, "EXACT_UP_TO", counted)
    assert explorer.total(landing, explorer.Options()) == explorer.Total(counted, "exact")
    monkeypatch.setattr(explorer, "EXACT_UP_TO", 5)
    narrowed = explorer.total(query, explorer.Options(converted=False))
    assert narrowed.kind in ("estimate", "at_least") and narrowed.value >= 5


def test_a_page_walks_the_start_times_only_when_the_rollups_say_it_fills_soon(stored, monkeypatch):
    from analyzer.web import params
    sqlite = explorer.is_sqlite(CustomerSession._meta.database)
    email = params.parse_query({"from": FROM, "to": TO, "channel": "email"})
    monkeypatch.setattr(explorer, "WALK_MOST", 10**9)
    assert explorer._by_time(email, explorer.Options(), 5) is sqlite
    assert not explorer._by_time(email, explorer.Options(sort="-revenue"), 5)
    assert not explorer._by_time(email, explorer.Options(converted=True), 5)
    monkeypatch.setattr(explorer, "WALK_MOST", 0)
    assert not explorer._by_time(email, explorer.Options(), 5)
    # A channel whose sessions all sit at the far end of the range: newest first, the walk would read them all.
    for n in range(3):
        CustomerSession.create(session_key=f"sms{n}", customer_id="c-sms", started_at=dt.datetime(2026, 2, 4, 9, n),
                               channel="sms")
    rollups.rebuild_rollups(CustomerSession._meta.database)
    sms = params.parse_query({"from": FROM, "to": TO, "channel": "sms"})
    later = sum(1 for r in stored_rows() if in_range(r) and r.started_at >= dt.datetime(2026, 2, 5))
    monkeypatch.setattr(explorer, "WALK_MOST", later)
    assert not explorer._by_time(sms, explorer.Options(), 2)
    assert explorer._by_time(sms, explorer.Options(sort="started_at"), 2) is sqlite  # oldest first: at once
    hidden = explorer.ordered(sms, explorer.Options(), by_time=True).sql()[0]
    assert '+"t1"."channel"' in hidden  # the walk reaches the query: SQLite cannot use the channel's index
    for most in (0, 10**9):  # either way, the same sessions in the same order
        monkeypatch.setattr(explorer, "WALK_MOST", most)
        listed = [r.session_key for r in explorer.page(email, explorer.Options(), limit=500).rows]
        assert listed == expected_keys(stored_rows(), lambda r: in_range(r) and r.channel == "email", "-started_at")


def test_csv_export_is_exactly_the_filtered_sorted_list_and_formula_safe(stored):
    response = stored.get(f"/export.csv?from={FROM}&to={TO}&sort=-duration_s&landing=%3D")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    keep = lambda r: in_range(r) and "=" in (r.landing_page or "")  # noqa: E731
    assert [r["session_key"] for r in rows] == expected_keys(stored_rows(), keep, "-duration_s")
    assert rows and all(r["landing_page"] == "'=cmd|' /C calc'!A0" for r in rows)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="sessions-')


def test_csv_export_without_parameters_has_every_session(stored):
    rows = list(csv.DictReader(io.StringIO(stored.get("/export.csv").text)))
    assert sorted(r["session_key"] for r in rows) == sorted(s.session_key for s in stored_rows())
    assert {r["revenue"] for r in rows} <= {"0.00", "12.50", "99.99", "5.00"}


def test_an_export_reads_through_a_small_page_cache_on_sqlite_and_gives_the_connection_its_own_back(stored):
    from analyzer.db import is_sqlite
    from analyzer.ingest import export

    db = CustomerSession._meta.database
    if not is_sqlite(db):
        pytest.skip("a SQLite connection's page cache")
    own = db.execute_sql("PRAGMA cache_size").fetchone()[0]
    sizes = []
    for _, rows in export.stream_sessions(rows_per_chunk=1):
        if rows:  # the header goes out before the read
            sizes.append(db.execute_sql("PRAGMA cache_size").fetchone()[0])
    assert sizes and set(sizes) == {export.EXPORT_CACHE_SIZE}
    assert db.execute_sql("PRAGMA cache_size").fetchone()[0] == own != export.EXPORT_CACHE_SIZE
    given_up = export.stream_sessions(rows_per_chunk=1)
    next(given_up), next(given_up)  # the header, then the first row
    db.close()  # a download given up this way: its connection goes back before the stream ends
    given_up.close()
    assert db.is_closed()  # not taken again just to set the cache back
    db.connect()
    assert db.execute_sql("PRAGMA cache_size").fetchone()[0] == own  # the server's pool closed the one at 8 MB


def test_a_postgresql_export_given_up_cancels_its_copy_and_the_connection_goes_on(stored, monkeypatch):
    from analyzer.db import is_sqlite
    from analyzer.ingest import export

    db = CustomerSession._meta.database
    if is_sqlite(db):
        pytest.skip("PostgreSQL's COPY")
    monkeypatch.setattr(export, "CHUNK_BYTES", 1)  # a chunk per row
    # The server sends COPY's rows in 8 KB packets: the first hundred rows go out at once, then each row takes 1 s.
    slow = CustomerSession.select().where(pw.SQL("pg_sleep(CASE WHEN id > 100 THEN 1 ELSE 0 END) IS NOT NULL"))
    given_up = export.stream_sessions(slow)
    first, rows = next(given_up)
    assert rows == 1 and first.startswith(export.HEADER.encode() + b"k")
    began = time.monotonic()
    given_up.close()  # the client went away: the 30 s of the last rows are not waited for
    assert time.monotonic() - began < 2
    assert db.execute_sql("SELECT count(*) FROM customer_sessions").fetchone()[0] == 130
    running = db.execute_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND query LIKE %s AND state = 'active'", ("COPY%",))
    assert running.fetchone()[0] == 0
    assert len(b"".join(chunk for chunk, _ in export.stream_sessions()).splitlines()) == 131


def test_a_download_given_up_ends_the_export_before_its_connection_closes(stored):
    from analyzer.ingest import export
    from analyzer.web.explore import stream_csv

    db = CustomerSession._meta.database
    db.close()
    body = stream_csv(db, export.stream_sessions(rows_per_chunk=1))
    assert next(body).startswith(export.HEADER.encode())
    body.close()  # what the server does when the client goes away: no error, nothing left open
    assert db.is_closed()
    db.connect()
    assert db.execute_sql("SELECT count(*) FROM customer_sessions").fetchone()[0] == 130


def test_a_database_error_before_the_first_rows_is_a_503_page(stored, monkeypatch):
    import sqlite3

    from analyzer.ingest import export

    def failing(query=None):
        raise sqlite3.OperationalError("disk I/O error")
        yield  # a generator, as the real one

    monkeypatch.setattr(export, "stream_sessions", failing)
    page = stored.get("/export.csv", status=503)
    assert "The database cannot be reached right now" in page.text and page.content_type == "text/html"


def test_the_csv_link_carries_the_filters(stored):
    page = stored.get(f"/sessions?from={FROM}&to={TO}&channel=email&q=c3&sort=revenue")
    link = page.html.find("a", string="Download CSV")["href"]
    assert link.startswith("/export.csv?") and "channel=email" in link and "q=c3" in link and "sort=revenue" in link


@pytest.mark.parametrize("query, message", [
    ("after=garbage", "after: 'garbage' is not a cursor from a previous page."),
    ("pages_min=5&pages_max=2", "pages_min (5) is above pages_max (2)"),
    ("from=2026-13-01", "from='2026-13-01' is not a date"),
])
def test_bad_parameters_are_a_400_page_with_the_message(stored, query, message):
    assert message in stored.get(f"/sessions?{query}", status=400).html.get_text()


def test_a_bad_cursor_offers_the_first_page_of_the_same_list(stored):
    page = stored.get(f"/sessions?from={FROM}&to={TO}&channel=email&sort=revenue&after=garbage", status=400)
    first = page.html.find("a", string="Open the first page of this list")["href"]
    assert "after" not in first and "channel=email" in first and "sort=revenue" in first and f"from={FROM}" in first
    assert stored.get(first).status_int == 200


def test_clearing_the_search_and_filters_keeps_the_range_chips_and_sort(stored):
    page = stored.get(f"/sessions?from={FROM}&to={TO}&channel=email&q=nobody&converted=yes&sort=-revenue")
    cleared = stored.get(page.html.find("a", string="Clear")["href"])
    assert cleared.request.params.getall("sort") == ["-revenue"]
    assert "highest revenue first" in cleared.html.select_one("h1").text
    keys = [a["title"] for a in cleared.html.select("table.sessions tbody td:first-child a")]
    assert keys == expected_keys(stored_rows(), lambda r: in_range(r) and r.channel == "email", "-revenue")[:50]


def test_the_list_shows_start_times_in_the_reporting_zone_whose_days_the_range_has(berlin):
    # 23:30 UTC on the 28th is the 29th in Berlin: the range and the times it lists are of the same day.
    page = berlin.get("/sessions?from=2026-03-29&to=2026-03-29").html
    assert page.select_one("table.sessions th a").text.strip() == "Started (Europe/Berlin) ↓"
    started = {a["title"]: a.text for a in page.select("table.sessions tbody td:first-child a")}
    assert started == {"spring": "2026-03-29 03:30:00", "winter": "2026-03-29 00:30:00"}
    summer = berlin.get("/sessions?from=2026-07-15&to=2026-07-15").html
    assert [a.text for a in summer.select("table.sessions tbody td:first-child a")] == ["2026-07-15 12:00:00"]


def test_a_time_in_the_hour_summer_time_repeats_names_its_offset(berlin):
    # Berlin's clocks go back from 03:00 CEST to 02:00 CET at 01:00 UTC on 25 October 2026: 02:30 comes twice.
    for key, hour in [("first", 0), ("second", 1)]:
        CustomerSession.create(session_key=key, customer_id="t", started_at=dt.datetime(2026, 10, 25, hour, 30),
                               channel="direct")
    rollups.rebuild_rollups(CustomerSession._meta.database)
    page = berlin.get("/sessions?from=2026-10-25&to=2026-10-25").html
    started = [a.text for a in page.select("table.sessions tbody td:first-child a")]
    assert started == ["2026-10-25 02:30:00 CET", "2026-10-25 02:30:00 CEST"]

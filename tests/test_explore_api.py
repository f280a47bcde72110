"""GET /api/v1/sessions: the dashboard's range and filters, the explorer's own filters, every sort, keyset pages."""

import datetime as dt
import random
from decimal import Decimal

import pytest

from analyzer.ingest import rollups
from analyzer.models import CustomerSession
from tests.test_details import read_headers
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)

T0 = dt.datetime(2026, 2, 1)
CHANNELS = ["direct", "paid search", "email"]
LANDINGS = ["/", "/products/a", "/blog/x", "=cmd|' /C calc'!A0", None]


@pytest.fixture
def stored(client):
    """Store 130 random sessions over 20 days, with ties in every sort column; return the signed-in client."""
    rng = random.Random(5)
    for number in range(130):
        CustomerSession.create(
            session_key=f"k{number:03d}", customer_id=f"c{rng.randrange(25)}",
            started_at=T0 + dt.timedelta(hours=rng.randrange(0, 20 * 24, 3)), channel=rng.choice(CHANNELS),
            device=rng.choice(["mobile", "desktop"]), duration_s=rng.choice([0, 30, 60, 600]),
            page_views=rng.randrange(0, 6), converted=rng.random() < 0.3, landing_page=rng.choice(LANDINGS),
            revenue=Decimal(rng.choice(["0", "0", "12.50", "99.99", "5"])))
    rollups.rebuild_rollups(CustomerSession._meta.database)  # as every import and the demo keep them
    return client


def expected_keys(rows, keep, sort):
    name = sort.lstrip("-")
    picked = [r for r in rows if keep(r)]
    picked.sort(key=lambda r: (getattr(r, name), r.id), reverse=sort.startswith("-"))
    return [r.session_key for r in picked]


def walk_api(client, headers, path):
    """Follow the 'next' cursors of an API list to the end; return the session keys in order."""
    keys, cursor = [], None
    while True:
        body = client.get(path + (f"&after={cursor}" if cursor else ""), headers=headers).json
        keys += [s["session_key"] for s in body["sessions"]]
        cursor = body["next"]
        if cursor is None:
            return keys


FROM, TO = "2026-02-04", "2026-02-15"


def in_range(row):
    return dt.datetime(2026, 2, 4) <= row.started_at < dt.datetime(2026, 2, 16)


@pytest.mark.parametrize("sort", ["-started_at", "started_at", "duration_s", "-duration_s", "page_views",
                                  "-page_views", "revenue", "-revenue"])
def test_every_sort_pages_through_exactly_the_filtered_list(stored, sort):
    headers = read_headers(stored)
    path = f"/api/v1/sessions?from={FROM}&to={TO}&-channel=email&sort={sort}&limit=7"
    keep = lambda r: in_range(r) and r.channel != "email"  # noqa: E731
    assert walk_api(stored, headers, path) == expected_keys(stored_rows(), keep, sort)


def stored_rows():
    return list(CustomerSession.select())


def test_explorer_filters_combine(stored):
    headers = read_headers(stored)
    path = (f"/api/v1/sessions?from={FROM}&to={TO}&channel=paid search|direct&converted=no&revenue_min=5"
            "&revenue_max=99.99&pages_min=1&pages_max=4&duration_min=30&duration_max=600&landing=/&limit=3")

    def keep(r):
        return (in_range(r) and r.channel in ("paid search", "direct") and not r.converted
                and 5 <= r.revenue <= Decimal("99.99") and 1 <= r.page_views <= 4 and 30 <= r.duration_s <= 600
                and "/" in (r.landing_page or ""))
    expected = expected_keys(stored_rows(), keep, "-started_at")
    assert expected and walk_api(stored, headers, path) == expected


def test_search_finds_a_customer_or_a_session_key_exactly(stored):
    headers = read_headers(stored)
    customer = stored_rows()[0].customer_id
    keys = walk_api(stored, headers, f"/api/v1/sessions?q={customer}&limit=50")
    assert keys == expected_keys(stored_rows(), lambda r: r.customer_id == customer, "-started_at")
    assert walk_api(stored, headers, "/api/v1/sessions?q=k007") == ["k007"]
    assert walk_api(stored, headers, "/api/v1/sessions?q=k00") == []


@pytest.mark.parametrize("query, message", [
    ("after=garbage", "after: 'garbage' is not a cursor from a previous page."),
    ("sort=revenue&after=-started_at~20260201T000000.000000~1", "is not a cursor from a previous page of this sort"),
    ("sort=revenue&after=revenue~NaN~1", "is not a cursor"),
    ("sort=page_views&after=page_views~1~0", "is not a cursor"),
    ("sort=price", "sort='price' is not valid"),
    ("converted=maybe", "converted='maybe' is not valid"),
    ("revenue_min=ten", "revenue_min='ten' is not a number"),
    ("revenue_min=Infinity", "is not a number"),
    ("pages_min=1.5", "pages_min='1.5' is not a whole number"),
    ("pages_min=99999999999999999999", "pages_min='99999999999999999999' is out of range: use 0 to"),  # "not a whole
    ("revenue_min=1.12345678901234567", "revenue_min='1.12345678901234567' has more than 16 decimals."),  # number"
    ("pages_min=5&pages_max=2", "pages_min (5) is above pages_max (2)"),
    ("duration_min=-1", "out of range"),
    ("revenue_min=1e-999999999", "revenue_min='1e-999999999' is not a number"),  # PostgreSQL: numeric overflow
    ("pages_min=%EF%BC%91", "is not a whole number"),  # a fullwidth 1
    ("sort=-revenue&after=-revenue~1e-999999~5", "is not a cursor"),
    ("sort=page_views&after=page_views~%EF%BC%91~1", "is not a cursor"),
    ("landing=" + "x" * 501, "landing is too long: a landing page filter has at most 500 characters."),
    ("from=2026-13-01", "from='2026-13-01' is not a date"),
])
def test_bad_parameters_are_a_400_with_a_message(stored, query, message):
    body = stored.get(f"/api/v1/sessions?{query}", headers=read_headers(stored), status=400).json
    assert message in body["error"]


def test_all_time_longer_than_ten_years_opens_everywhere_and_a_written_range_still_has_the_limit(client):
    # Explorer, export and "all time" are the app's own links: data from 2015 and 2026 must not make them a 400.
    for key, started in (("old", dt.datetime(2015, 8, 1, 9)), ("new", dt.datetime(2026, 3, 1, 9))):
        CustomerSession.create(session_key=key, customer_id=key, started_at=started, channel="direct")
    rollups.rebuild_rollups(CustomerSession._meta.database)
    headers = read_headers(client)
    for path in ("/sessions", "/?period=all", "/funnels?period=all", "/retention?period=all", "/export.csv",
                 "/trend?period=all", "/?period=all&interval=month&compare=year"):
        assert client.get(path).status_int == 200, path
    assert "old" in client.get("/export.csv").text
    listed = client.get("/api/v1/sessions", headers=headers).json["sessions"]
    assert [s["session_key"] for s in listed] == ["new", "old"]
    stats = client.get("/api/v1/stats?period=all", headers=headers).json
    assert (stats["from"], stats["to"], stats["metrics"]["sessions"]["value"]) == ("2015-08-01", "2026-03-01", 2)
    refused = client.get("/api/v1/timeseries?period=all&interval=day", headers=headers, status=400).json["error"]
    assert refused == "interval=day works for ranges of up to 10 years; use month."
    refused = client.get("/api/v1/stats?from=2015-08-01&to=2026-03-01", headers=headers, status=400).json["error"]
    assert "longer than 10 years" in refused

"""The dashboard page at / through the real WSGI app: every figure equals the analytics and the API, filters
and chips, the range and comparison controls, CSV of each panel, empty states, errors and escaping."""

import csv
import datetime as dt
import io
import math
from decimal import Decimal
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import webtest

from analyzer import localtime
from analyzer.accounts import tokens, users
from analyzer.analytics import dashboard
from analyzer.analytics.query import DIMENSIONS, METRICS
from analyzer.config import Settings
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions
from analyzer.models import CustomerSession
from analyzer.web import chart, create_app, params, present
from tests.conftest import PASSWORD, migrated, sign_in, with_demo

XSS = '"><script>alert(1)</script>'


def served(url):
    """Yield the app on the (migrated) database at URL."""
    made = create_app(Settings(app_env="test", database_url=url, secret_key="k"))
    yield made
    made.config["analyzer.db"].close()


@pytest.fixture
def app(request, db_url):
    """The app on SQLite, then on PostgreSQL: for what the databases compute; with the demo data if asked for."""
    yield from served(with_demo(db_url, 600, 60, 3) if "demo_data" in request.fixturenames else migrated(db_url))


@pytest.fixture
def ui_app(sqlite_url):
    """The app on SQLite only, with 300 demo sessions: for how the page behaves, the same on both databases."""
    yield from served(with_demo(sqlite_url, 300, 60, 3))


def signed_in(app):
    """A browser signed in as an analyst."""
    testapp = webtest.TestApp(app)
    sign_in(testapp, "ana@example.com", "analyst")
    return testapp


@pytest.fixture
def client(app):
    return signed_in(app)


@pytest.fixture
def ui(ui_app):
    return signed_in(ui_app)


@pytest.fixture
def demo_data():
    """600 demo sessions over the last 60 days, loaded through the importer like any file (by the app fixture)."""


def import_sessions(app, tmp_path, rows):
    """Import ROWS (dicts of session columns) as a sessions CSV through the importer."""
    path = tmp_path / "sessions.csv"
    names = sorted({key for row in rows for key in row})
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, names)
        writer.writeheader()
        writer.writerows(rows)
    return importer.import_file(app.config["analyzer.db"], path, ImportOptions(kind="sessions"))


def query_of(url):
    """Return the Query that the URL's parameters give."""
    return params.parse_query({k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()})


def kpis(page):
    """Return {metric: (value text, change text)} as the page shows them."""
    found = {}
    for card in page.html.select("a.kpi"):
        change = card.select_one(".kpi-change")
        text = change.contents[0].strip() if change else None
        found[card["data-metric"]] = (card.select_one(".kpi-value").text.strip(), text)
    return found


def table(page, dimension):
    """Return the rows of a breakdown table as [(label, sessions, conversion rate, revenue)]."""
    rows = []
    for tr in page.html.select(f"#by-{dimension} tbody tr"):
        cells = tr.select("td")
        rows.append((tr.select_one("a.filter").text, cells[0].contents[0].strip(), cells[1].text, cells[2].text))
    return rows


def chips(page):
    """Return the filter chips as they read: 'Channel is not direct or email'."""
    return [" ".join(chip.select_one(f".chip-{part}").text for part in ("dim", "op", "value"))
            for chip in page.html.select("a.chip")]


def read_csv(response):
    assert response.content_type == "text/csv"
    return list(csv.reader(io.StringIO(response.text)))


def api(client, path, **query):
    """Call the JSON API with a read token."""
    user = users.User.get_or_none(users.User.email == "reader@example.com") or users.create(
        "reader@example.com", PASSWORD, "viewer", cheap=True)
    token = tokens.create(user, "read", "test")[0]
    return client.get(path, params=query, headers={"Authorization": f"Bearer {token}"}).json


# --- the page and its navigation --------------------------------------------------------------------------


def test_signed_in_users_land_on_the_dashboard_and_the_navigation_links_the_sessions(client, demo_data):
    page = client.get("/")
    assert page.html.select_one("h1").text == "Dashboard"
    menu = {a.text: a["href"] for a in page.html.select("nav.menu a")}
    assert menu["Dashboard"] == "/" and menu["Sessions"] == "/sessions"
    assert page.html.select_one('nav.menu a[aria-current="page"]').text == "Dashboard"
    sessions = page.click("Sessions", href="^/sessions$")
    assert "600 in all, newest first" in sessions.text


@pytest.mark.parametrize("url", ["/", "/?period=7d&compare=year", "/?period=all&-channel=direct",
                                 "/?period=90d&device=mobile|tablet&compare=none"])
def test_every_kpi_on_the_page_is_the_figure_of_the_same_query(client, demo_data, url):
    page = client.get(url)
    query = query_of(url)
    stats = dashboard.stats(query)
    shown = kpis(page)
    assert list(shown) == list(METRICS)
    changes = present.changes(stats, query.compare != "none")
    for name in METRICS:
        metric = stats[name]
        value = ("≈ " if metric.approximate else "") + present.figure(name, metric.value, "USD")
        change = changes[name][0] or None
        assert shown[name] == (value, change), name


def test_every_figure_on_the_page_equals_the_api_and_a_plain_count_of_the_rows(client, demo_data):
    filters = {"period": "all", "-channel": "direct", "device": "mobile|desktop"}
    page = client.get("/", params={**filters, "metric": "revenue"})
    body = api(client, "/api/v1/stats", **filters)["metrics"]
    changes = present.changes({name: dashboard.Metric(m["value"], m["previous"], m["change"], m["approximate"])
                               for name, m in body.items()})
    assert kpis(page) == {name: (("≈ " if m["approximate"] else "") + present.figure(name, m["value"], "USD"),
                                 changes[name][0] or None)
                          for name, m in body.items()}
    rows = CustomerSession.select().where(CustomerSession.channel != "direct",
                                          CustomerSession.device.in_(["mobile", "desktop"]))
    assert kpis(page)["sessions"][0] == f"{rows.count():,}"
    assert kpis(page)["revenue"][0] == present.money(sum((r.revenue for r in rows), Decimal(0)), "USD")
    points = api(client, "/api/v1/timeseries", metric="revenue", **filters)["points"]
    shown = [[td.text for td in tr.select("td")] for tr in page.html.select("#trend table tbody tr")]
    assert [row[1:] for row in shown] == [[present.money(p["value"], "USD"), present.money(p["previous"], "USD")]
                                         for p in points]
    for dimension in DIMENSIONS:
        found = api(client, f"/api/v1/breakdown/{dimension}", limit="10", **filters)["rows"]
        assert table(page, dimension) == [
            (present.dimension_value(dimension, r["value"]), present.count(r["sessions"]),
             present.percent(r["conversion_rate"]), present.money(r["revenue"], "USD")) for r in found], dimension


def test_the_bounce_rate_going_down_is_green_and_revenue_going_down_is_red():
    down = dashboard.Metric(Decimal("0.40"), Decimal("0.50"), -0.2, False)
    assert present.change("bounce_rate", down) == ("▼ 20.0 %", "good", "Down 20.0 % against the comparison period.")
    assert present.change("revenue", down)[:2] == ("▼ 20.0 %", "bad")
    assert present.change("sessions", dashboard.Metric(12, 10, 0.2, False))[:2] == ("▲ 20.0 %", "good")


def test_a_figure_without_previous_data_says_so_instead_of_an_infinite_percentage(client, app, tmp_path):
    yesterday = dt.date.today() - dt.timedelta(days=1)
    import_sessions(app, tmp_path, [{"session_key": "s1", "customer_id": "c1", "started_at": f"{yesterday} 10:00:00",
                                     "page_views": "3", "converted": "1", "revenue": "12.50"}])
    page = client.get("/?period=7d")
    shown = kpis(page)
    assert shown["sessions"] == ("1", "no previous data")
    assert shown["revenue"] == ("$12.50", "no previous data")
    assert "∞" not in page.text and "inf" not in page.text
    assert shown["avg_order_value"] == ("$12.50", "no previous data")
    empty = kpis(client.get("/?from=2020-01-01&to=2020-01-31"))
    assert empty["sessions"] == ("0", None) and empty["bounce_rate"] == ("—", None)  # nothing to compare


def test_every_card_with_a_value_says_no_previous_data_when_the_comparison_period_has_no_sessions(
        client, app, tmp_path):
    yesterday = dt.date.today() - dt.timedelta(days=1)
    import_sessions(app, tmp_path, [{"session_key": "s1", "customer_id": "c1", "started_at": f"{yesterday} 10:00:00",
                                     "page_views": "3"}])
    shown = kpis(client.get("/?period=7d"))
    # Revenue and revenue per session (0 now) showed no comparison line while the other cards said this.
    assert shown["revenue"] == ("$0.00", "no previous data")
    assert shown["revenue_per_session"] == ("$0.00", "no previous data")
    assert shown["conversions"] == ("0", "no previous data")
    assert shown["avg_order_value"] == ("—", None)  # no order: no value to compare


def test_a_figure_that_was_zero_in_a_comparison_period_with_sessions_says_up_from_zero(client, app, tmp_path):
    yesterday = dt.date.today() - dt.timedelta(days=1)
    import_sessions(app, tmp_path, [
        {"session_key": "before", "customer_id": "c1", "started_at": f"{yesterday - dt.timedelta(days=8)} 10:00:00",
         "page_views": "3", "converted": "0"},
        {"session_key": "now", "customer_id": "c1", "started_at": f"{yesterday} 10:00:00", "page_views": "1",
         "converted": "1", "revenue": "12.50"}])
    shown = kpis(client.get("/?period=7d"))
    # The comparison period had a session: "no previous data" said its data was missing.
    assert shown["conversions"] == ("1", "up from 0") and shown["revenue"] == ("$12.50", "up from 0")
    assert shown["bounce_rate"] == ("100.0 %", "up from 0") and shown["sessions"] == ("1", "±0 %")
    card = client.get("/?period=7d").html.select_one('a.kpi[data-metric="bounce_rate"] .kpi-change')
    assert "bad" in card["class"] and card["title"].endswith("Before: 0.0 %")


def test_no_comparison_shows_no_changes(ui):
    page = ui.get("/?compare=none")
    assert page.html.select(".kpi-change") == []
    assert page.html.select(".previous-line") == []
    assert "vs" not in page.html.select_one(".range-text").text


# --- the controls -----------------------------------------------------------------------------------------


def test_range_links_keep_the_filters_and_the_metric_and_mark_the_current_one(ui):
    page = ui.get("/?period=30d&channel=email&metric=revenue")
    links = {a.text: a["href"] for a in page.html.select("nav.ranges a")}
    assert list(links) == ["Today", "Yesterday", "7 days", "30 days", "90 days", "This month", "Last month",
                           "12 months", "All time"]
    for href in links.values():
        assert "channel=email" in href and "metric=revenue" in href
    assert page.html.select_one('nav.ranges a[aria-current]').text == "30 days"
    week = page.click("7 days")
    assert query_of(week.request.url).period == "7d"
    assert week.html.select_one(".chip-value").text == "email"


def test_the_custom_range_form_submits_from_and_to_with_the_filters_and_the_comparison(ui):
    # The comparison is chosen with its buttons; the form keeps it (the drop-down beside them said the same).
    page = ui.get("/?period=30d&-device=tablet&metric=bounce_rate&compare=year")
    form = [f for f in page.forms.values() if "from" in f.fields][0]
    form["from"], form["to"] = "2026-01-01", "2026-01-31"
    result = form.submit()
    query = query_of(result.request.url)
    assert (query.start, query.end, query.compare) == (dt.date(2026, 1, 1), dt.date(2026, 1, 31), "year")
    assert [(f.dimension, f.values, f.negate) for f in query.filters] == [("device", ("tablet",), True)]
    assert result.html.select_one("a.kpi.active")["data-metric"] == "bounce_rate"


def test_comparison_links_switch_the_comparison(ui):
    page = ui.get("/?period=30d")
    year = page.click("Year before")
    query = query_of(year.request.url)
    assert query.compare == "year"
    assert f"vs {present.span(query.compare_start, query.compare_end)}" in year.text


def test_clicking_a_kpi_charts_it(ui):
    page = ui.get("/?period=30d")
    assert page.html.select_one("#trend-title").text.startswith("Sessions")
    revenue = ui.get(page.html.select_one('a.kpi[data-metric="revenue"]')["href"])
    assert revenue.html.select_one("#trend-title").text.startswith("Revenue")
    assert revenue.html.select_one('a.kpi[aria-current="true"]')["data-metric"] == "revenue"


def test_the_trend_table_and_csv_hold_the_series_of_the_same_query(client, demo_data):
    url = "/?period=30d&metric=conversions&interval=week"
    page = client.get(url)
    query = query_of(url)
    series = dashboard.timeseries(query, "conversions", "week")
    rows = [[td.text for td in tr.select("td")] for tr in page.html.select("#trend table tbody tr")]
    # A bucket past the comparison range's last (a 30-day range ending on a Monday has six weeks, the one
    # before it five) has no previous value: a dash on the page, an empty cell in the CSV.
    assert rows == [[present.moment(p.t, "week"), present.count(p.value),
                     "—" if p.previous is None else present.count(p.previous)] for p in series]
    assert len(page.html.select("#trend g.pt")) == len(series)
    data = read_csv(client.get(page.html.find("a", string="CSV", href=lambda h: h.startswith("/trend"))["href"]))
    assert data[0] == ["t", "conversions", "previous", "approximate"]
    assert data[1:] == [[p.t.isoformat(), str(p.value), "" if p.previous is None else str(p.previous), "false"]
                        for p in series]
    assert "interval=week" in page.html.select_one('a.kpi[data-metric="revenue"]')["href"]
    opened = client.get(page.html.find("a", string="Open this chart")["href"])
    assert opened.html.find("a", string="Open this chart") is None  # the page it would open
    assert opened.html.find("a", string="CSV", href=lambda h: h.startswith("/trend")) is not None


def test_a_week_past_the_comparison_ranges_last_shows_a_dash_not_zero(client, demo_data):
    today = localtime.now(localtime.reporting_zone()[1]).date()
    monday = today - dt.timedelta(days=today.weekday())
    start = monday - dt.timedelta(days=29)  # a Sunday: six weeks, against the five of the 30 days before
    page = client.get(f"/?from={start}&to={monday}&metric=conversions&interval=week")
    rows = [[td.text for td in tr.select("td")] for tr in page.html.select("#trend table tbody tr")]
    assert len(rows) == 6 and rows[-1][0] == present.moment(monday, "week")
    assert rows[-1][2] == "—" and all(row[2] != "—" for row in rows[:-1])
    data = read_csv(client.get(page.html.find("a", string="CSV", href=lambda h: h.startswith("/trend"))["href"]))
    assert data[-1][0] == monday.isoformat() and data[-1][2] == ""


def test_hours_are_offered_only_for_ranges_of_up_to_two_days(ui):
    assert "Hours" in [a.text for a in ui.get("/?period=yesterday").html.select("#trend nav a")]
    assert "Hours" not in [a.text for a in ui.get("/?period=7d").html.select("#trend nav a")]


# --- breakdowns and filters -------------------------------------------------------------------------------


def test_every_breakdown_table_holds_the_top_ten_of_the_same_query(client, demo_data):
    url = "/?period=all&-channel=direct"
    page = client.get(url)
    query = query_of(url)
    for dimension in DIMENSIONS:
        found = dashboard.breakdown(query, dimension, 10, "sessions")
        assert table(page, dimension) == [
            (present.dimension_value(dimension, r.value), present.count(r.sessions), present.percent(r.conversion_rate),
             present.money(r.revenue, "USD")) for r in found.rows], dimension


def test_a_breakdown_sorts_by_its_columns_and_shows_all_on_its_own_page(client, demo_data):
    page = client.get("/?period=all")
    by_revenue = client.get(page.html.select_one("#by-landing_page thead a[href*='sort_landing_page=revenue']")["href"])
    revenues = [Decimal(r[3].strip("$").replace(",", "")) for r in table(by_revenue, "landing_page")]
    assert revenues == sorted(revenues, reverse=True)
    assert table(by_revenue, "channel") == table(page, "channel")  # the other tables keep their order
    everything = page.click("Show all", href="/breakdown/exit_page")
    total = dashboard.breakdown(query_of("/?period=all"), "exit_page", None, "sessions")
    assert len(table(everything, "exit_page")) == total.total_rows > 10
    # The page takes the API's sort too, and its range, comparison and interval links stay on it.
    api_sorted = client.get("/breakdown/landing_page?period=all&sort=revenue")
    assert table(api_sorted, "landing_page") == table(by_revenue, "landing_page")
    for tried in ("/breakdown/landing_page?period=all&channel=email", "/trend?period=all&channel=email"):
        links = [a["href"] for a in client.get(tried).html.select(".ranges a, .compare a, a.chip, #trend .segmented a")]
        assert links and all(link.startswith(tried.partition("?")[0] + "?") for link in links), (tried, links)


def test_clicking_a_row_filters_by_it_and_its_chip_removes_the_filter(client, demo_data):
    page = client.get("/?period=all")
    filtered = client.get(page.html.select_one('#by-channel a.filter[href$="channel=email"]')["href"])
    query = query_of(filtered.request.url)
    assert [(f.dimension, f.values, f.negate) for f in query.filters] == [("channel", ("email",), False)]
    chip = filtered.html.select_one("a.chip")
    assert chips(filtered) == ["Channel is email"]
    assert kpis(filtered)["sessions"][0] == f"{CustomerSession.select().where(CustomerSession.channel == 'email').count():,}"
    assert [r[0] for r in table(filtered, "channel")] == ["email"]
    removed = client.get(chip["href"])
    assert query_of(removed.request.url).filters == ()
    assert removed.html.select("a.chip") == []


def test_exclude_links_add_is_not_filters_that_add_up_and_combine_with_others(client, demo_data):
    page = client.get("/?period=all&device=mobile")
    exclude = page.html.select_one('#by-channel a.exclude[href*="-channel=direct"]')["href"]
    once = client.get(exclude)
    again = client.get(once.html.select_one('#by-channel a.exclude[href*="email"]')["href"])
    query = query_of(again.request.url)
    assert {(f.dimension, f.values, f.negate) for f in query.filters} == {
        ("device", ("mobile",), False), ("channel", ("direct", "email"), True)}
    assert chips(again) == ["Channel is not direct or email", "Device is mobile"]
    expected = CustomerSession.select().where((CustomerSession.device == "mobile")
                                              & CustomerSession.channel.not_in(["direct", "email"])).count()
    assert kpis(again)["sessions"][0] == f"{expected:,}"
    assert again.html.find("a", string="Clear all")["href"] == "/?period=all"


def test_a_value_with_a_pipe_filters_and_excludes_exactly_its_own_sessions(client, app, tmp_path):
    today = dt.date.today()
    import_sessions(app, tmp_path, [
        {"session_key": f"p{i}", "customer_id": "c", "started_at": f"{today} 0{i}:00:00", "campaign": campaign,
         "landing_page": page} for i, (campaign, page) in enumerate([
            ("spring|sale", "/search?q=a|b"), ("spring", "/search?q=a"), ("sale", "/b"), ("other", "/")])])
    for dimension, value in (("campaign", "spring|sale"), ("landing_page", "/search?q=a|b")):
        page = client.get(f"/breakdown/{dimension}?period=7d")
        row = next(tr for tr in page.html.select("tbody tr") if tr.select_one("a.filter").text == value)
        only = client.get(row.select_one("a.filter")["href"])
        assert kpis(only)["sessions"][0] == "1" and [r[0] for r in table(only, dimension)] == [value]
        assert only.html.select_one(".chip-value").text == value
        others = client.get(row.select_one("a.exclude")["href"])
        assert kpis(others)["sessions"][0] == "3" and value not in [r[0] for r in table(others, dimension)]


def test_countries_show_their_names(ui):
    labels = [r[0] for r in table(ui.get("/?period=all"), "country")]
    assert "United States (US)" in labels and "Germany (DE)" in labels


def test_each_breakdown_downloads_as_csv_with_every_row(client, demo_data):
    page = client.get("/?period=all&device=desktop")
    data = read_csv(client.get(page.html.select_one("#by-landing_page a.csv")["href"]))
    found = dashboard.breakdown(query_of("/?period=all&device=desktop"), "landing_page", None, "sessions")
    assert data[0] == ["landing_page", "name", "sessions", "share", "conversions", "conversion_rate", "revenue"]
    assert [(r[0], int(r[2]), Decimal(r[6])) for r in data[1:]] == [(r.value or "", r.sessions, r.revenue)
                                                                     for r in found.rows]


def test_the_kpis_download_as_csv(client, demo_data):
    data = read_csv(client.get("/?period=all&format=csv"))
    stats = dashboard.stats(query_of("/?period=all"))
    assert data[0] == ["metric", "label", "value", "previous", "change", "approximate"]
    assert [r[0] for r in data[1:]] == list(METRICS)
    assert data[1][2] == str(stats["sessions"].value)


# --- empty states and errors ------------------------------------------------------------------------------


def test_without_any_data_the_page_says_how_to_import_or_load_the_demo(client):
    page = client.get("/")
    assert "No sessions yet" in page.text
    assert [p.text for p in page.html.select("pre.command")] == ["python manage.py import sessions.csv",
                                                                 "python manage.py demo"]
    assert page.html.find("a", string="Upload a file on the import page")["href"] == "/imports"
    for path in ("/funnels", "/retention"):  # they said "try a longer range", which no range could satisfy
        other = client.get(path)
        assert "No sessions yet" in other.text and "This page fills in" in other.text, path
    assert client.get("/retention?format=csv").text.startswith("cohort,")


def test_without_any_data_the_csv_of_every_panel_is_still_a_csv_of_zeros(client):
    kpis_csv = read_csv(client.get("/?format=csv"))
    assert kpis_csv[0] == ["metric", "label", "value", "previous", "change", "approximate"]
    assert kpis_csv[1][:3] == ["sessions", "Sessions", "0"]
    assert read_csv(client.get("/trend?format=csv"))[0] == ["t", "sessions", "previous", "approximate"]
    assert read_csv(client.get("/breakdown/country?format=csv")) == [
        ["country", "name", "sessions", "share", "conversions", "conversion_rate", "revenue"]]


def test_a_range_without_data_says_so_and_offers_all_time(client, app, tmp_path):
    import_sessions(app, tmp_path, [{"session_key": "old", "customer_id": "c", "started_at": "2024-05-02 10:00:00"}])
    page = client.get("/?period=7d")
    assert "No sessions in this range" in page.text
    assert "Your data runs from Thu 2 May 2024 to Thu 2 May 2024." in " ".join(page.text.split())
    everything = page.click("Show all time")
    assert kpis(everything)["sessions"][0] == "1"


def test_all_time_over_ten_years_charts_by_month_and_says_so(client, app, tmp_path):
    import_sessions(app, tmp_path, [{"session_key": "a", "customer_id": "c", "started_at": "2012-05-02 10:00:00"},
                                    {"session_key": "b", "customer_id": "c", "started_at": "2026-05-02 10:00:00"}])
    note = "By month: over more than ten years, shorter buckets would be too many to chart."
    for path in ("/", "/trend"):
        page = client.get(f"{path}?period=all&interval=day")
        assert note in page.text and "by month" in page.html.select_one("#trend-title").text, path
    assert note not in client.get("/?period=all").text  # months were not asked against
    # A CSV of days was silently a CSV of months; like the API, it now says to ask for months.
    refused = client.get("/trend?period=all&interval=day&format=csv", status=400)
    assert "interval=day works for ranges of up to 10 years; use month." in refused.text
    assert client.get("/trend?period=all&interval=month&format=csv").text.startswith("t,")
    page = client.get("/trend?period=all&interval=day")
    for link in {a["href"] for a in page.html.select("a[href*='format=csv']")}:
        assert client.get(link).status_int == 200, link  # the page's own CSV links ask for what it shows
    cohorts = "By month: over more than ten years, weekly cohorts would be too many to show."
    assert cohorts in client.get("/retention?period=all&interval=week").text
    assert cohorts not in client.get("/retention?period=all").text


@pytest.mark.parametrize("url,message", [
    ("/?from=2026-02-30&to=2026-03-01", "from='2026-02-30' is not a date"),
    ("/?from=2026-03-05&to=2026-03-01", "is after to"),
    ("/?period=fortnight", "period='fortnight' is not valid"),
    ("/?compare=sometimes", "compare='sometimes' is not valid"),
    ("/?metric=happiness", "Unknown metric 'happiness'"),
    ("/?sort_channel=mood", "sort='mood' is not valid"),
    ("/?period=7d&interval=hour", "interval=hour works for ranges of up to 2 days"),
    ("/trend?metric=nope", "Unknown metric 'nope'"),
    ("/breakdown/country?from=x", "from='x' is not a date"),
])
def test_a_bad_address_gets_a_friendly_message_not_a_500(ui, url, message):
    page = ui.get(url, status=400)
    assert message in page.html.select_one(".problem p").text
    assert page.html.find("a", string="Open this page's default view")["href"] == url.split("?")[0]
    assert "Traceback" not in page.text


def test_dates_the_wrong_way_round_offer_the_swap_with_the_filters_kept(ui):
    page = ui.get("/sessions?from=2026-03-20&to=2026-03-01&channel=email", status=400)
    assert "from (2026-03-20) is after to (2026-03-01): swap them." in page.text
    swap = page.html.find("a", string="Show 2026-03-01 to 2026-03-20 instead")["href"]
    assert swap == "/sessions?from=2026-03-01&to=2026-03-20&channel=email"
    assert ui.get(swap).status_code == 200
    for url in ("/?from=2030-01-01&to=", "/?from=2026-02-30&to=2026-02-01"):  # no swap that would fail again
        assert not ui.get(url, status=400).html.find("a", string=lambda text: text and text.startswith("Show "))


def test_only_the_intervals_a_range_can_have_are_offered(ui):
    from analyzer.models import CustomerSession
    CustomerSession.create(session_key="old", customer_id="c", started_at="2012-01-01 10:00:00")
    CustomerSession.create(session_key="new", customer_id="c", started_at="2026-03-01 10:00:00")
    page = ui.get("/?period=all")
    assert [a.text for a in page.html.select("#trend .segmented a")] == ["Months"]
    retention = ui.get("/retention?period=all&interval=week")
    assert [a.text for a in retention.html.select("nav[aria-label='Cohort size'] a")] == ["Monthly"]
    assert ui.get("/?period=all&interval=day").html.select_one("#trend .segmented a[aria-current]").text == "Months"


@pytest.mark.parametrize("path", ["/?landing_page=%ff%fe", "/sessions?q=%ff", "/retention?%ff=1", "/export.csv?x=%C3",
                                  "/trend?channel=%ff", "/breakdown/country?source=%ff"])
def test_bytes_that_are_not_utf8_in_the_address_are_a_400_page_that_says_so(ui, path):
    assert "not UTF-8" in ui.get(path, status=400).text


@pytest.mark.parametrize("path", ["/?channel=%00", "/sessions?landing=%00", "/sessions/%00", "/customers/%00",
                                  "/funnels?channel=%00", "/export.csv?channel=%00", "/?format=csv&channel=%00"])
def test_a_nul_in_the_address_is_a_400_page_that_says_so(ui, path):
    assert "a NUL character (%00)" in ui.get(path, status=400).text


def test_an_unknown_breakdown_is_a_400_page_that_lists_the_dimensions(ui):
    page = ui.get("/breakdown/mood", status=400)
    assert page.html.h1.text == "400 · Bad request"
    assert page.html.select_one(".error p").text == f"Unknown dimension 'mood': use one of {', '.join(DIMENSIONS)}."
    assert page.html.find("a", string="Back to the dashboard")["href"] == "/"
    assert "Traceback" not in page.text


def test_an_unknown_breakdown_is_named_escaped(ui):
    hostile = '"><img src=x onerror=alert(1)>'
    page = ui.get(f"/breakdown/{quote(hostile)}", status=400)
    assert "<img" not in page.text
    assert page.html.select_one(".error p").text.startswith(f"Unknown dimension {hostile!r}")


def test_hostile_filter_values_and_data_come_back_escaped(client, app, tmp_path):
    today = dt.date.today()
    import_sessions(app, tmp_path, [{"session_key": "x1", "customer_id": "c", "started_at": f"{today} 01:00:00",
                                     "source": XSS, "campaign": "=HYPERLINK(\"http://evil\")", "landing_page": XSS},
                                    {"session_key": "x2", "customer_id": "c", "started_at": f"{today} 02:00:00",
                                     "campaign": "-5"},
                                    {"session_key": "x3", "customer_id": "c", "started_at": f"{today} 03:00:00",
                                     "campaign": "'=x"}])
    for url in (f"/?period=7d&source={XSS}", f"/?period=7d&-campaign={XSS}|<b>", "/?period=7d",
                f"/breakdown/source?period=7d&landing_page={XSS}", f"/trend?period=7d&source={XSS}"):
        page = client.get(url)
        assert "<script>" not in page.text, url
    page = client.get("/", params={"period": "7d", "source": XSS})
    assert page.html.select_one(".chip-value").text == XSS
    assert kpis(page)["sessions"][0] == "1"
    data = read_csv(client.get("/breakdown/campaign?period=7d&format=csv"))
    assert {row[0] for row in data[1:]} == {"'=HYPERLINK(\"http://evil\")", "-5", "''=x"}  # as the export guards


def test_revenue_is_written_in_the_currency_setting(sqlite_url, ui):
    settings = Settings(app_env="test", database_url=sqlite_url, secret_key="k", currency="EUR")
    euro = webtest.TestApp(create_app(settings))
    sign_in(euro, "eve@example.com", "viewer")
    revenue = dashboard.stats(query_of("/?period=all"))["revenue"].value
    assert kpis(euro.get("/?period=all"))["revenue"][0] == present.money(revenue, "EUR")
    assert present.money(Decimal("1234567.891"), "EUR") == "€1,234,567.89"
    assert present.money(Decimal("1234.5"), "JPY") == "¥1,235"
    assert present.money(Decimal("-3"), "CHF") == "−CHF 3.00"


# --- the chart and the figures' formats -------------------------------------------------------------------


def test_the_chart_scales_to_a_round_top_and_breaks_the_line_where_a_bucket_has_no_data():
    series = [dashboard.Point(dt.date(2026, 3, d), value, before)
              for d, value, before in ((1, 10, 4), (2, None, 5), (3, 35, None))]
    drawn = chart.build(series, lambda v: present.figure("sessions", v, "USD"), lambda t: t.isoformat(),
                        lambda t: str(t.day))
    assert [label for _, label in drawn.grid] == ["0", "10", "20", "30", "40"]
    assert drawn.line.count("M") == 2 and drawn.area == ""  # two pieces, no shaded area under a broken line
    assert [(p.x, p.value, p.previous) for p in drawn.points] == [(0.0, "10", "4"), (50.0, "—", "5"), (100.0, "35", None)]
    assert drawn.points[1].y is None and drawn.points[2].y_previous is None
    assert [(x, label) for x, label, _, _ in drawn.x_labels] == [(0.0, "1"), (50.0, "2"), (100.0, "3")]


@pytest.mark.parametrize("value,whole,expected", [
    (3, True, (4, 4)), (3, False, (3, 6)), (47, True, (50, 5)), (60, True, (60, 6)), (61, True, (80, 4)),
    (0.49, False, (0.5, 5)), (1000, True, (1000, 5)), (1.7, False, (2, 4)), (1.7, True, (4, 4)),
])
def test_the_axis_ends_at_a_round_number_cut_into_round_steps(value, whole, expected):
    top, ticks = chart.scale(value, whole)
    assert (top, ticks) == pytest.approx(expected)
    step = top / ticks
    assert round(step / 10 ** math.floor(math.log10(step)), 9) in (1, 2, 5)


@pytest.mark.parametrize("value,expected", [(40, (40, 4)), (250, (300, 5)), (1000, (1200, 4)), (5000, (5400, 6))])
def test_a_duration_axis_steps_in_round_seconds_minutes_or_hours(value, expected):
    top, ticks = chart.scale(value, steps=chart.DURATION_STEPS)
    assert (top, ticks) == expected and top // ticks in chart.DURATION_STEPS


def test_the_trend_of_the_average_duration_has_whole_minutes_on_its_axis(ui):
    page = ui.get("/trend?period=all&metric=avg_duration_s")
    labels = [text.text for text in page.html.select("svg.chart text.y-label")]
    assert labels[0] == "0s" and len(labels) >= 5
    assert all(label.endswith("m 00s") for label in labels[1:]), labels


@pytest.mark.parametrize("name,value,expected", [
    ("revenue", 200.0, "$200"), ("revenue", 2.5, "$2.50"), ("bounce_rate", 0.3, "30 %"), ("bounce_rate", 0.025, "2.5 %"),
    ("pages_per_session", 1.5, "1.5"), ("sessions", 40.0, "40"), ("avg_duration_s", 120.0, "2m 00s"),
])
def test_the_axis_writes_round_values_without_needless_decimals(name, value, expected):
    assert present.axis(name, value, "USD") == expected


def test_breakdown_values_read_as_names():
    assert present.dimension_value("country", "DE") == "Germany (DE)"
    assert present.dimension_value("country", "XK") == "Kosovo (XK)"  # not in ISO 3166, yet the importer takes it
    assert present.dimension_value("country", "QQ") == "QQ"
    assert present.dimension_value("customer_type", "returning") == "Returning"
    assert present.dimension_value("channel", "unknown") == present.dimension_value("device", "unknown") == "(unknown)"
    assert present.dimension_value("source", None) == present.dimension_value("campaign", "") == "(none)"


@pytest.mark.parametrize("name,value,expected", [
    ("sessions", 1234567, "1,234,567"), ("avg_duration_s", 42.4, "42s"), ("avg_duration_s", 185, "3m 05s"),
    ("avg_duration_s", 3725, "1h 02m"), ("pages_per_session", 3.456, "3.46"), ("bounce_rate", 0.4567, "45.7 %"),
    ("revenue", Decimal("1234.5"), "$1,234.50"), ("avg_order_value", None, "—"),
])
def test_figures_read_with_thousands_separators_units_and_currency(name, value, expected):
    assert present.figure(name, value, "USD") == expected


def test_the_hour_the_clocks_go_through_twice_is_labelled_with_the_zone_each_time():
    localtime.configure("America/Los_Angeles")
    try:
        hours = localtime.buckets(dt.date(2026, 11, 1), dt.date(2026, 11, 1), "hour", localtime.reporting_zone()[1])
        labels = [present.moment(t, "hour") for t in hours]
    finally:
        localtime.configure("UTC")
    assert len(labels) == 25 and len(set(labels)) == 25
    assert labels[:4] == ["Sun 1 Nov 00:00", "Sun 1 Nov 01:00 PDT", "Sun 1 Nov 01:00 PST", "Sun 1 Nov 02:00"]


def test_a_range_that_holds_today_says_its_figures_are_so_far(ui):
    assert "today so far" in ui.get("/?period=7d").html.select_one(".range-text").text
    assert "today so far" not in ui.get("/?period=last_month").html.select_one(".range-text").text


def test_countries_sorted_by_name_follow_the_names_shown_and_kosovo_has_its_name(client, app, tmp_path):
    yesterday = dt.date.today() - dt.timedelta(days=1)
    import_sessions(app, tmp_path, [{"session_key": f"s{n}", "customer_id": f"c{n}",
                                     "started_at": f"{yesterday} 10:00:00", "country": code}
                                    for n, code in enumerate(["AE", "AL", "XK", "DE"])])
    page = client.get("/breakdown/country?period=7d&sort_country=value")
    names = [label for label, *_ in table(page, "country")]
    # Sorted by code, United Arab Emirates (AE) came first; Kosovo was a bare XK.
    assert names == ["Albania (AL)", "Germany (DE)", "Kosovo (XK)", "United Arab Emirates (AE)"]

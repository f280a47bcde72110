"""The session page, the customer page and their API routes, on SQLite and PostgreSQL."""

import dataclasses
import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from analyzer import localtime
from analyzer.accounts import tokens
from analyzer.ingest import rollups
from analyzer.models import CustomerSession, SessionEvent
from tests.conftest import migrated, sign_in
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)

T0 = dt.datetime(2026, 3, 1, 9, 0)
BEFORE_SUMMER_TIME = dt.datetime(2026, 3, 28, 23, 30)  # UTC; Berlin's clocks go from 02:00 to 03:00 at 01:00 UTC


@pytest.fixture
def history(client):
    """Customer c/1 with three sessions (the middle one with a timeline), and customer other with one."""
    rows = [
        dict(session_key="k-1", customer_id="c/1", started_at=T0, channel="organic search", device="mobile",
             country="DE", landing_page="/", page_views=1, duration_s=10),
        dict(session_key="k 2/x", customer_id="c/1", started_at=T0 + dt.timedelta(days=2), channel="paid search",
             device="desktop", country="FR", landing_page="/products/a?b=1&c", exit_page="/checkout/thank-you",
             page_views=3, events=4, duration_s=3725, converted=True, revenue=Decimal("42.50"), source="google",
             medium="cpc", campaign="spring <sale>", ended_at=T0 + dt.timedelta(days=2, seconds=3725)),
        dict(session_key="k-3", customer_id="c/1", started_at=T0 + dt.timedelta(days=9), channel="paid search",
             device="desktop", converted=True, revenue=Decimal("7.50")),
        dict(session_key="k-4", customer_id="other", started_at=T0 + dt.timedelta(days=1), channel="direct"),
    ]
    for row in rows:
        CustomerSession.create(**row)
    middle = CustomerSession.get(CustomerSession.session_key == "k 2/x")
    start = middle.started_at
    SessionEvent.insert_many([
        dict(session=middle.id, occurred_at=start + dt.timedelta(seconds=3700), event_type="purchase",
             page="/checkout/thank-you", revenue=Decimal("42.50")),
        dict(session=middle.id, occurred_at=start, event_type="page_view", page="/products/a?b=1&c"),
        dict(session=middle.id, occurred_at=start + dt.timedelta(seconds=75), event_type="add_to_cart", page="/cart"),
        dict(session=middle.id, occurred_at=start + dt.timedelta(seconds=75), event_type="page_view", page="/cart"),
    ]).execute()
    return client


@pytest.fixture
def berlin(settings, serve):
    """The app with REPORT_TIMEZONE=Europe/Berlin and customer b's sessions either side of summer time, signed in."""
    migrated(settings.database_url)
    try:
        app = serve(dataclasses.replace(settings, report_timezone="Europe/Berlin"))
        sign_in(app)
        start = BEFORE_SUMMER_TIME
        for key, started, ended in [("winter", start, start + dt.timedelta(minutes=105)),
                                    ("spring", start + dt.timedelta(hours=2), None),
                                    ("summer", dt.datetime(2026, 7, 15, 10, 0), None)]:
            CustomerSession.create(session_key=key, customer_id="b", started_at=started, ended_at=ended,
                                   channel="direct")
        winter = CustomerSession.get(CustomerSession.session_key == "winter")
        SessionEvent.insert_many([dict(session=winter.id, occurred_at=moment, event_type="page_view", page="/")
                                  for moment in (winter.started_at, winter.ended_at)]).execute()
        rollups.rebuild_rollups(CustomerSession._meta.database)  # in Berlin's days, as every import keeps them
        yield app
    finally:
        localtime.configure("UTC")


def fields_of(page):
    """Return the session page's fields: {label: value}."""
    return dict(zip([d.get_text(strip=True) for d in page.html.select("dl.fields dt")],
                    [d.get_text(strip=True) for d in page.html.select("dl.fields dd")]))


def read_headers(client):
    from analyzer.models import User
    return {"Authorization": f"Bearer {tokens.create(User.get(), 'read', 'test')[0]}"}


def test_session_page_shows_every_field_the_timeline_and_the_place_in_history(history):
    page = history.get("/sessions/k%202%2Fx")
    text = page.html.get_text(" ", strip=True)
    assert "Session 2 of 3 of customer c/1" in text
    fields = dict(zip([d.get_text(strip=True) for d in page.html.select("dl.fields dt")],
                      [d.get_text(strip=True) for d in page.html.select("dl.fields dd")]))
    assert fields["Channel"] == "paid search" and fields["Campaign"] == "spring <sale>"
    assert fields["Duration"] == "1:02:05 (3,725 s)" and fields["Revenue"] == "$42.50"
    assert fields["Ended (UTC)"] == "2026-03-03 10:02:05" and fields["Country"] == "France (FR)"
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in page.html.select("table.timeline tbody tr")]
    assert rows == [["+0:00", "09:00:00", "page_view", "/products/a?b=1&c", ""],
                    ["+1:15", "09:01:15", "add_to_cart", "/cart", ""],
                    ["+1:15", "09:01:15", "page_view", "/cart", ""],
                    ["+1:01:40", "10:01:40", "purchase", "/checkout/thank-you", "$42.50"]]
    assert page.html.select_one("a[rel=prev]")["href"] == "/sessions/k-1"
    assert page.html.select_one("a[rel=next]")["href"] == "/sessions/k-3"
    links = {a["href"] for a in page.html.select("dl.fields a")}
    # The dashboard over the 30 days up to the session's day: the default range may not hold it.
    days = "/?from=2026-02-02&to=2026-03-03&"
    assert {days + "channel=paid+search", days + "country=FR", days + "landing_page=%2Fproducts%2Fa%3Fb%3D1%26c",
            "/customers/c%2F1"} <= links
    assert "<sale>" not in page.text  # escaped


def test_the_dashboard_link_of_a_landing_page_with_a_pipe_filters_by_that_page(history):
    CustomerSession.create(session_key="k-pipe", customer_id="p", started_at=T0, channel="direct",
                           landing_page="/search?q=a|b")
    link = history.get("/sessions/k-pipe").html.select_one('a[title="Filter the dashboard by this landing page"]')
    dashboard = history.get(link["href"])
    assert dashboard.html.select_one(".chip-value").text == "/search?q=a|b"
    assert dashboard.html.select_one('a.kpi[data-metric="sessions"] .kpi-value').text.strip() == "1"


def test_the_place_in_a_long_history_has_thousands_separators(history):
    CustomerSession.insert_many([dict(session_key=f"many-{n}", customer_id="many", channel="direct",
                                      started_at=T0 + dt.timedelta(minutes=n)) for n in range(1001)]).execute()
    text = history.get("/sessions/many-1000").html.get_text(" ", strip=True)
    assert "Session 1,001 of 1,001 of customer many" in text


def test_first_and_latest_sessions_say_so(history):
    assert "This is their first session." in history.get("/sessions/k-1").text
    assert "This is their latest session." in history.get("/sessions/k-3").text
    assert "Session 1 of 1 of" in history.get("/sessions/k-4").html.get_text(" ", strip=True)


def test_unknown_session_and_customer_are_404_pages(history):
    assert "There is no session with this key." in history.get("/sessions/nope", status=404).text
    assert "There is no customer with this id." in history.get("/customers/nope", status=404).text
    assert "There is no page at this address." in history.get("/nowhere", status=404).text


def test_customer_page_shows_figures_channels_and_sessions_newest_first(history):
    page = history.get("/customers/c%2F1")
    figures = {f.select_one("span").text: f.select_one("strong").text for f in page.html.select(".figure")}
    assert figures == {"First seen (UTC)": "2026-03-01 09:00", "Last seen (UTC)": "2026-03-10 09:00", "Sessions": "3",
                       "Conversions": "2", "Lifetime revenue": "$50.00", "Average order value": "$25.00"}
    assert [li.a.text for li in page.html.select("ul.channels li")] == ["paid search", "organic search"]
    assert page.html.select_one("ul.channels li a")["href"] == "/?from=2026-03-01&to=2026-03-10&channel=paid+search"
    keys = [tr.select("td")[1].text for tr in page.html.select("table.sessions tbody tr")]
    assert keys == ["k-3", "k 2/x", "k-1"]


def test_customer_sessions_are_paginated_with_a_cursor(history, monkeypatch):
    from analyzer.analytics import customers
    monkeypatch.setattr(customers, "PAGE_SIZE", 2)
    monkeypatch.setattr(customers.customer_sessions, "__defaults__", (None, 2))
    first = history.get("/customers/c%2F1")
    assert [tr.select("td")[1].text for tr in first.html.select("table.sessions tbody tr")] == ["k-3", "k 2/x"]
    second = history.get(first.html.find("a", string="Older »")["href"])
    assert [tr.select("td")[1].text for tr in second.html.select("table.sessions tbody tr")] == ["k-1"]
    assert second.html.find("a", string="Older »") is None
    assert "not a cursor" in history.get("/customers/c%2F1?after=garbage", status=400).text


def test_a_customer_or_session_called_dot_or_dot_dot_is_linked_through_the_query(history, monkeypatch):
    from analyzer.analytics import customers
    monkeypatch.setattr(customers.customer_sessions, "__defaults__", (None, 1))
    for name in (".", ".."):  # a browser resolves /customers/.. to /
        CustomerSession.create(session_key=name, customer_id=name, started_at=T0, channel="direct")
        CustomerSession.create(session_key=name + "b", customer_id=name, started_at=T0 + dt.timedelta(days=1),
                               channel="direct")
        session = history.get("/sessions/" + name + "b")
        customer_link = session.html.select_one("dl.fields a[href^='/customers']")["href"]
        assert customer_link == "/customers/?" + urlencode({"id": name})
        customer = history.get(customer_link)
        assert f"Customer {name}" in customer.text
        older = customer.html.find("a", string="Older »")["href"]
        assert older.startswith("/customers/?" + urlencode({"id": name}) + "&after=")
        link = history.get(older).html.select_one("table.sessions tbody a")["href"]
        assert link == "/sessions/?" + urlencode({"key": name})
        assert f"Session {name}" in history.get(link).text
        found = history.get("/api/v1/sessions?" + urlencode({"q": name}), headers=read_headers(history)).json
        assert sorted(s["session_key"] for s in found["sessions"]) == [name, name + "b"]  # the README's way on the API
    history.get("/customers/?id=nobody", status=404)
    history.get("/sessions/", status=404)


def test_api_session_has_fields_and_events_in_time_order(history):
    body = history.get("/api/v1/sessions/k%202%2Fx", headers=read_headers(history)).json
    assert body["session_key"] == "k 2/x" and body["customer_id"] == "c/1" and body["revenue"] == "42.50"
    assert body["started_at"] == "2026-03-03T09:00:00Z" and body["converted"] is True
    assert body["events"] == [
        {"occurred_at": "2026-03-03T09:00:00Z", "event_type": "page_view", "page": "/products/a?b=1&c", "revenue": "0.00"},
        {"occurred_at": "2026-03-03T09:01:15Z", "event_type": "add_to_cart", "page": "/cart", "revenue": "0.00"},
        {"occurred_at": "2026-03-03T09:01:15Z", "event_type": "page_view", "page": "/cart", "revenue": "0.00"},
        {"occurred_at": "2026-03-03T10:01:40Z", "event_type": "purchase", "page": "/checkout/thank-you",
         "revenue": "42.50"}]
    assert history.get("/api/v1/sessions/nope", headers=read_headers(history), status=404).json == {
        "error": "There is no session with this key."}


def test_api_customer_has_figures_and_paginated_sessions(history):
    headers = read_headers(history)
    body = history.get("/api/v1/customers/c%2F1?limit=2", headers=headers).json
    assert {k: body[k] for k in ("customer_id", "first_seen", "last_seen", "sessions_count", "conversions", "revenue",
                                 "avg_order_value", "channels")} == {
        "customer_id": "c/1", "first_seen": "2026-03-01T09:00:00Z", "last_seen": "2026-03-10T09:00:00Z",
        "sessions_count": 3, "conversions": 2, "revenue": "50.00", "avg_order_value": "25.00",
        "channels": [{"channel": "paid search", "sessions": 2}, {"channel": "organic search", "sessions": 1}]}
    assert [s["session_key"] for s in body["sessions"]] == ["k-3", "k 2/x"]
    rest = history.get(f"/api/v1/customers/c%2F1?limit=2&after={body['next']}", headers=headers).json
    assert [s["session_key"] for s in rest["sessions"]] == ["k-1"] and rest["next"] is None
    assert history.get("/api/v1/customers/c%2F1?after=zz", headers=headers, status=400).json["error"].startswith("after:")
    error = history.get("/api/v1/customers/c%2F1?after=%C3%BC", headers=headers, status=400).json["error"]
    assert error == "after: 'ü' is not a cursor from a previous page."  # was 'Ã¼', the UTF-8 bytes read as Latin-1
    for limit in ("x", "0", "-1", "501"):  # the same rule as /api/v1/sessions
        error = history.get(f"/api/v1/customers/c%2F1?limit={limit}", headers=headers, status=400).json["error"]
        assert error == f"limit='{limit}' is not valid: use a whole number from 1 to 500."
    assert history.get("/api/v1/customers/nobody", headers=headers, status=404)
    assert history.get("/api/v1/customers/other", headers=headers).json["avg_order_value"] is None


def test_unknown_api_addresses_and_methods_answer_json(history):
    body = history.get("/api/v1/nothing-here", status=404).json
    assert body == {"error": "There is no API route at this address: /api/v1/openapi.json lists them."}
    assert history.get("/api/v1/sessions/a%0Ab", headers=read_headers(history), status=404).json["error"]
    assert history.delete("/api/v1/sessions", status=405).json["error"].startswith("This API route does not take")


def test_durations_from_an_hour_on_are_written_as_hours_minutes_seconds_in_every_list(history):
    # The session list and the customer page wrote 3,725 s as "62:05", the session page as "1:02:05".
    listed = history.get("/sessions?period=all&sort=-duration_s")
    assert "1:02:05" in listed.html.select_one("tbody tr").get_text(" ", strip=True)
    customer = history.get("/customers/c%2F1")
    cells = [td.get_text(strip=True) for td in customer.html.select("tbody td")]
    assert "1:02:05" in cells and "0:10" in cells and "62:05" not in cells


def test_an_unknown_channel_or_device_reads_unknown_in_brackets_in_the_session_list(client):
    # Issue 10: "(unknown)" in lists and breakdowns; the session list wrote a bare "unknown", like a value.
    CustomerSession.create(session_key="u1", customer_id="c", started_at=T0, channel="unknown", device="unknown")
    row = client.get("/sessions?period=all").html.select_one("tbody tr")
    cells = [td.get_text(strip=True) for td in row.select("td")]
    assert cells[2] == "(unknown)" and cells[4] == "(unknown)", cells


def test_the_session_route_answers_what_its_openapi_schema_says(history):
    import jsonschema_rs

    from analyzer.web.openapi import DOCUMENT

    body = history.get("/api/v1/sessions/k%202%2Fx", headers=read_headers(history)).json
    # Its schema was an allOf of Session (events: a count) and the events list: no answer could match it.
    jsonschema_rs.validate(DOCUMENT["components"]["schemas"]["SessionWithEvents"], body)
    assert [e["event_type"] for e in body["events"]] == ["page_view", "add_to_cart", "page_view", "purchase"]


def test_a_key_or_id_with_a_line_break_is_reached_by_its_address(client):
    # An import stores such ids (a quoted CSV field may hold a line break); their pages and API routes answered 404.
    CustomerSession.create(session_key="k\n1", customer_id="c\r\n1", started_at=T0, channel="direct")
    headers = read_headers(client)
    assert client.get("/api/v1/sessions/k%0A1", headers=headers).json["customer_id"] == "c\r\n1"
    assert client.get("/api/v1/customers/c%0D%0A1", headers=headers).json["sessions_count"] == 1
    assert client.get("/sessions/k%0A1").status_int == client.get("/customers/c%0D%0A1").status_int == 200


def test_the_session_page_shows_its_times_in_the_reporting_zone_across_summer_time(berlin):
    page = berlin.get("/sessions/winter")
    assert page.html.select_one("h1 small").text == "2026-03-29 00:30:00 Europe/Berlin"
    fields = fields_of(page)
    # 23:30 UTC is half past midnight in winter time (+1 h); 01:15 UTC is after the clocks went forward (+2 h).
    assert (fields["Started (Europe/Berlin)"], fields["Ended (Europe/Berlin)"]) == ("2026-03-29 00:30:00",
                                                                                    "2026-03-29 03:15:00")
    assert [th.text for th in page.html.select("table.timeline th")][1] == "Time (Europe/Berlin)"
    assert [tr.select("td")[1].text for tr in page.html.select("table.timeline tbody tr")] == ["00:30:00", "03:15:00"]
    assert page.html.select_one("a[rel=next]").text == "Next session (2026-03-29 03:30) »"
    assert fields_of(berlin.get("/sessions/summer"))["Started (Europe/Berlin)"] == "2026-07-15 12:00:00"
    api = berlin.get("/api/v1/sessions/winter", headers=read_headers(berlin)).json
    assert (api["started_at"], api["events"][1]["occurred_at"]) == ("2026-03-28T23:30:00Z", "2026-03-29T01:15:00Z")


def test_the_customer_page_shows_its_times_in_the_reporting_zone_across_summer_time(berlin):
    page = berlin.get("/customers/b")
    figures = {f.select_one("span").text: f.select_one("strong").text for f in page.html.select(".figure")}
    assert figures["First seen (Europe/Berlin)"] == "2026-03-29 00:30"
    assert figures["Last seen (Europe/Berlin)"] == "2026-07-15 12:00"
    assert page.html.select_one("table.sessions th").text == "Started (Europe/Berlin)"
    started = [tr.select_one("td").text for tr in page.html.select("table.sessions tbody tr")]
    assert started == ["2026-07-15 12:00:00", "2026-03-29 03:30:00", "2026-03-29 00:30:00"]


def test_the_imports_and_account_pages_show_their_times_in_the_reporting_zone(berlin):
    # They still said "Started (UTC)" and gave the token times with no zone beside pages in Berlin's time.
    from analyzer.models import ApiToken, Import, User
    Import.create(file_name="a.csv", checksum="x", kind="events", file_format="csv", status="done",
                  started_at=BEFORE_SUMMER_TIME)
    imports = berlin.get("/imports").html
    assert "Started (Europe/Berlin)" in [th.text for th in imports.select("table th")]
    assert "2026-03-29 00:30" in [td.text for td in imports.select("table tbody td")]
    tokens.create(User.get(), "read", "laptop")
    ApiToken.update(created_at=BEFORE_SUMMER_TIME + dt.timedelta(hours=2)).execute()
    account = berlin.get("/account").html
    assert [th.text for th in account.select("table th")][3:5] == ["Created (Europe/Berlin)", "Last used (Europe/Berlin)"]
    assert "2026-03-29 03:30" in [td.text for td in account.select("table tbody td")]


def test_the_pages_say_utc_when_the_reporting_zone_is_utc(history):
    session = history.get("/sessions/k%202%2Fx").html
    assert session.select_one("h1 small").text == "2026-03-03 09:00:00 UTC"
    assert "Started (UTC)" in [term.text for term in session.select("dl.fields dt")]
    assert "Time (UTC)" in [th.text for th in session.select("table.timeline th")]
    customer = history.get("/customers/c%2F1").html
    assert customer.select_one("table.sessions th").text == "Started (UTC)"
    assert customer.select_one("table.sessions tbody td").text == "2026-03-10 09:00:00"
    listed = history.get("/sessions?period=all").html
    assert listed.select_one("table.sessions th a").text.startswith("Started (UTC)")
    assert listed.select_one("table.sessions tbody td a").text == "2026-03-10 09:00:00"

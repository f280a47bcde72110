"""The dashboard's JSON API through the real WSGI app: the contract of issue 9, its numbers and its errors."""

import datetime as dt

import pytest
import webtest

from analyzer.accounts import tokens, users
from analyzer.analytics import dashboard
from analyzer.config import Settings
from analyzer.web import create_app, params
from tests.conftest import with_demo

PASSWORD = "a long test password 7"


@pytest.fixture
def api(db_url):
    """The app on a migrated database with 1,500 demo sessions, and the headers of a read token."""
    settings = Settings(app_env="test", database_url=with_demo(db_url, 1500, 60, 5), secret_key="k")
    app = create_app(settings)
    db = app.config["analyzer.db"]
    with db.connection_context():
        user = users.create("analyst@example.com", PASSWORD, "analyst", cheap=True)
        headers = {"Authorization": f"Bearer {tokens.create(user, 'read')[0]}"}
    client = webtest.TestApp(app)
    yield client, headers, db
    if not db.is_closed():
        db.close()


def test_stats_has_every_metric_with_previous_change_and_money_as_strings(api):
    client, headers, db = api
    body = client.get("/api/v1/stats", {"period": "30d", "channel": "organic search|direct"}, headers=headers).json
    today = dt.date.today()
    assert (body["from"], body["to"]) == ((today - dt.timedelta(days=29)).isoformat(), today.isoformat())
    assert (body["compare_from"], body["compare_to"]) == ((today - dt.timedelta(days=59)).isoformat(),
                                                          (today - dt.timedelta(days=30)).isoformat())
    assert set(body["metrics"]) == {"sessions", "customers", "new_customers", "avg_duration_s", "pages_per_session",
                                    "bounce_rate", "conversion_rate", "conversions", "revenue",
                                    "revenue_per_session", "avg_order_value"}
    with db.connection_context():
        expected = dashboard.stats(params.parse_query({"period": "30d", "channel": "organic search|direct"}))
    sessions = body["metrics"]["sessions"]
    assert (sessions["value"], sessions["previous"]) == (expected["sessions"].value, expected["sessions"].previous)
    assert sessions["change"] == round((sessions["value"] - sessions["previous"]) / sessions["previous"], 6)
    revenue = body["metrics"]["revenue"]
    assert revenue["value"] == f"{expected['revenue'].value:.2f}" and revenue["value"].count(".") == 1
    assert 0 < body["metrics"]["bounce_rate"]["value"] < 1
    assert body["metrics"]["customers"]["approximate"] is False  # small data: the sketches hold exact hash sets


def test_timeseries_points_per_day_with_the_previous_period(api):
    client, headers, _ = api
    body = client.get("/api/v1/timeseries", {"period": "7d", "metric": "revenue", "interval": "day"},
                      headers=headers).json
    assert [p["t"] for p in body["points"]] == [(dt.date.today() - dt.timedelta(days=6 - n)).isoformat()
                                                for n in range(7)]
    assert all(isinstance(p["value"], str) and isinstance(p["previous"], str) for p in body["points"])
    hourly = client.get("/api/v1/timeseries", {"period": "yesterday", "metric": "sessions"}, headers=headers).json
    assert hourly["interval"] == "hour" and len(hourly["points"]) == 24
    assert hourly["points"][0]["t"].endswith("T00:00:00+00:00")
    # Today stops at the hour under way: the hours to come are not drawn as zeros.
    hours = {dt.datetime.now(dt.timezone.utc).hour + 1}
    today = client.get("/api/v1/timeseries", {"period": "today", "metric": "sessions"}, headers=headers).json
    hours.add(dt.datetime.now(dt.timezone.utc).hour + 1)  # the clock may pass an hour between the two reads
    assert len(today["points"]) in hours


def test_breakdown_rows_are_sorted_limited_and_share_the_total(api):
    client, headers, _ = api
    body = client.get("/api/v1/breakdown/device", {"period": "90d"}, headers=headers).json
    assert [r["value"] for r in body["rows"]] == ["mobile", "desktop", "tablet"] and body["total_rows"] == 3
    assert abs(sum(r["share"] for r in body["rows"]) - 1) < 1e-5
    top = client.get("/api/v1/breakdown/landing_page", {"period": "90d", "limit": "2", "sort": "revenue"},
                     headers=headers).json
    assert len(top["rows"]) == 2 and top["total_rows"] == 7
    assert float(top["rows"][0]["revenue"]) >= float(top["rows"][1]["revenue"])
    types = client.get("/api/v1/breakdown/customer_type", {"period": "90d", "-device": "tablet"}, headers=headers).json
    assert {r["value"] for r in types["rows"]} == {"new", "returning"}


@pytest.mark.parametrize("path, query, message", [
    ("/api/v1/stats", {"from": "2026-13-01", "to": "2026-12-31"}, "from='2026-13-01' is not a date"),
    ("/api/v1/stats", {"from": "2026-03-02", "to": "2026-03-01"}, "is after to"),
    ("/api/v1/stats", {"from": "2000-01-01", "to": "2026-03-01"}, "longer than 10 years"),
    ("/api/v1/timeseries", {"metric": "visits"}, "Unknown metric 'visits'"),
    ("/api/v1/breakdown/browser", {}, "Unknown dimension 'browser'"),
    ("/api/v1/breakdown/device", {"limit": "-1"}, "limit='-1' is not valid"),
])
def test_bad_input_is_a_400_with_a_message(api, path, query, message):
    client, headers, _ = api
    response = client.get(path, query, headers=headers, status=400)
    assert response.content_type == "application/json" and message in response.json["error"]


@pytest.mark.parametrize("path", ["/api/v1/stats?channel=%C3", "/api/v1/sessions?%ff=1",
                                  "/api/v1/breakdown/device?q=%ff%fe", "/api/v1/funnel?step=event:%C3",
                                  "/api/v1/sessions/%FF", "/api/v1/customers/%C3%28"])
def test_bytes_that_are_not_utf8_in_the_address_are_a_json_400(api, path):
    client, headers, _ = api
    response = client.get(path, headers=headers, status=400)
    assert response.content_type == "application/json" and "not UTF-8" in response.json["error"]


@pytest.mark.parametrize("path", ["/api/v1/stats?channel=%00", "/api/v1/stats?source=a%00b",
                                  "/api/v1/breakdown/source?channel=direct&country=DE&device=%00",
                                  "/api/v1/sessions?q=%00", "/api/v1/sessions/%00", "/api/v1/customers/%00",
                                  "/api/v1/retention?%00=1"])
def test_a_nul_in_the_address_is_a_json_400_on_both_databases(api, path):
    client, headers, _ = api
    response = client.get(path, headers=headers, status=400)  # PostgreSQL refuses a NUL in any text: it was a 500
    assert response.content_type == "application/json" and "a NUL character (%00)" in response.json["error"]


def test_the_dashboard_api_needs_a_read_token(api):
    client, _, _ = api
    assert client.get("/api/v1/stats", status=401).json["error"]

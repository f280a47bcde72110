"""GET /api/v1/funnel and GET /api/v1/retention: the contract's shapes, the analytics' figures, clear 400s."""

import random

import pytest

from analyzer.analytics import funnels, retention
from analyzer.ingest.rollups import rebuild_rollups
from analyzer.models import CustomerSession
from analyzer.web import params
from tests.test_details import read_headers
from tests.test_funnels import STEP_SETS, figures, random_stream
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)


RANGE = "from=2026-01-05&to=2026-01-25"


@pytest.fixture
def events(client):
    random_stream(random.Random(11), sessions=80)
    rebuild_rollups(CustomerSession._meta.database)  # as an import would
    return client


def test_api_funnel_matches_the_analytics_and_the_contract(events):
    headers = read_headers(events)
    steps = "&".join(f"step={s}" for s in STEP_SETS[0])
    body = events.get(f"/api/v1/funnel?{RANGE}&channel=direct|email&{steps}", headers=headers).json
    query = params.parse_query({"from": "2026-01-05", "to": "2026-01-25", "channel": "direct|email"})
    expected = funnels.funnel(query, funnels.parse_steps(STEP_SETS[0]))
    assert [(s["sessions"], s["median_seconds_from_previous"]) for s in body["steps"]] == figures(expected.steps)
    assert set(body["steps"][0]) == {"step", "sessions", "conversion_from_previous", "conversion_from_first",
                                     "median_seconds_from_previous"}
    assert [s["step"] for s in body["steps"]] == STEP_SETS[0]
    assert body["steps"][0]["sessions"] > 0 and body["steps"][1]["conversion_from_previous"] == round(
        body["steps"][1]["sessions"] / body["steps"][0]["sessions"], 6)  # fractions to 6 decimals, as the README says


def test_api_funnel_breakdown_has_one_list_per_value(events):
    body = events.get(f"/api/v1/funnel?{RANGE}&step=event:page_view&step=event:purchase&by=device&per=customer",
                      headers=read_headers(events)).json
    assert body["by"] == "device" and body["per"] == "customer"
    assert {row["value"] for row in body["breakdown"]} == {"mobile", "desktop"}
    for row in body["breakdown"]:
        query = params.parse_query({"from": "2026-01-05", "to": "2026-01-25", "device": row["value"]})
        alone = funnels.funnel(query, funnels.parse_steps(["event:page_view", "event:purchase"]), "customer")
        assert [s["sessions"] for s in row["steps"]] == [s.sessions for s in alone.steps]


@pytest.mark.parametrize("query, message", [
    ("step=event:a", "2 to 8 steps; 1 given"),
    ("&".join(f"step=event:s{i}" for i in range(1, 10)), "A funnel has 2 to 8 steps; 9 given."),
    ("", "2 to 8 steps; 0 given"),
    ("step=click:a&step=event:b", "write event:TYPE or page:PATH"),
    ("step=event:a&step=event:b&by=country", "by must be one of channel, device"),
    ("step=event:a&step=event:b&per=visit", "per must be one of session, customer"),
    ("step=event:a&step=event:b&from=2026-02-01&to=2026-01-01", "is after to"),
])
def test_api_funnel_bad_input_is_400(events, query, message):
    assert message in events.get(f"/api/v1/funnel?{query}", headers=read_headers(events), status=400).json["error"]


def test_retention_api_matches_the_analytics(events):
    body = events.get("/api/v1/retention?from=2026-01-01&to=2026-01-31&interval=week",
                      headers=read_headers(events)).json
    query = params.parse_query({"from": "2026-01-01", "to": "2026-01-31"})
    expected = retention.retention(query, "week")
    assert body["interval"] == "week" and body["activity"] == "session"
    assert body["cohorts"] == [{"cohort": c.cohort, "customers": c.customers,
                                "periods": [{"customers": p.customers, "share": round(p.share, 6)} for p in c.periods]}
                               for c in expected]
    assert body["cohorts"] and all(c["periods"][0]["share"] == 1.0 for c in body["cohorts"])
    assert "interval" in events.get("/api/v1/retention?interval=day", headers=read_headers(events),
                                    status=400).json["error"]

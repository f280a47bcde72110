"""Funnels: the figures equal a plain computation over the stored events, on SQLite and PostgreSQL."""

import datetime as dt
import random
import statistics

import pytest

from analyzer.analytics import funnels
from analyzer.models import CustomerSession, SessionEvent
from analyzer.web import params
from tests.test_web import client, migrate, serve, settings  # noqa: F401  (fixtures)

T0 = dt.datetime(2026, 1, 5, 0, 0)
TYPES = ["page_view", "page_view", "page_view", "add_to_cart", "begin_checkout", "purchase"]
PAGES = ["/", "/products/a", "/products/b", "/Products/c", "/cart", "/checkout", "/blog/products"]
CHANNELS = ["direct", "paid search", "email"]
DEVICES = ["mobile", "desktop"]


def random_stream(rng, sessions=60, customers=15):
    """Store random sessions with events on a coarse clock (so ties happen); return the sessions and events."""
    stored = []
    for number in range(sessions):
        start = T0 + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 20, 30))
        session = CustomerSession.create(session_key=f"s{number}", customer_id=f"c{rng.randrange(customers)}",
                                         started_at=start, channel=rng.choice(CHANNELS), device=rng.choice(DEVICES))
        events = []
        for _ in range(rng.randrange(0, 9)):
            at = start + dt.timedelta(seconds=rng.choice([0, 0, 10, 30, 60, 95, 240]) * rng.randrange(0, 4))
            events.append(dict(session=session.id, occurred_at=at, event_type=rng.choice(TYPES),
                               page=rng.choice(PAGES)))
        for event in events:
            event["id"] = SessionEvent.create(**event).id
        stored.append((session, events))
    return stored


def matches(event, step):
    """Tell whether a stored event dict matches STEP, the plain way."""
    if step.kind == "page" and event["event_type"] != "page_view":
        return False
    text = event["event_type"] if step.kind == "event" else event["page"]
    return {"exact": text == step.value, "prefix": text.startswith(step.value),
            "contains": step.value in text}[step.match]


def plain_waits(events, steps):
    """Return, per step reached, the seconds since the previous step, in event order.

    A step's match is its first matching event after the previous step's; a 'directly' step's is the first event
    that comes right after any event that could be the previous step, and it is timed from that event.
    """
    ordered = sorted(events, key=lambda e: (e["occurred_at"], e["id"]))
    waits, candidates, first = [], set(), None
    for step in steps:
        if step.direct:
            found = [i for i in range(len(ordered)) if i - 1 in candidates and matches(ordered[i], step)]
        else:
            start = 0 if first is None else first + 1
            found = [i for i in range(start, len(ordered)) if matches(ordered[i], step)]
        if not found:
            break
        before = found[0] - 1 if step.direct else first
        waits.append(None if before is None else
                     (ordered[found[0]]["occurred_at"] - ordered[before]["occurred_at"]).total_seconds())
        candidates, first = set(found), found[0]
    return waits


def plain_funnel(stored, steps, unit, keep):
    """Compute each step's count and median wait from the rows, unit by unit."""
    units = {}
    for session, events in stored:
        if keep(session):
            units.setdefault(session.id if unit == "session" else session.customer_id, []).extend(events)
    reached = [plain_waits(events, steps) for events in units.values()]
    out = []
    for k in range(len(steps)):
        waits = [w[k] for w in reached if len(w) > k]
        out.append((len(waits), statistics.median(waits) if k and waits else None))
    return out


def figures(results):
    return [(r.sessions, r.median_seconds_from_previous) for r in results]


STEP_SETS = [
    ["event:page_view", "page:/products/*", "event:add_to_cart", "event:begin_checkout", "event:purchase"],
    ["page:/", ">page:/products/a", "event:purchase"],
    ["page:*products*", "event:add_to_cart", ">event:begin_checkout", "page:/checkout"],
    ["event:add_to_cart", "event:add_to_cart"],
    ["event:page_view", ">event:page_view", ">event:add_to_cart", "event:purchase"],
    ["page:/products/*", ">event:add_to_cart", "event:begin_checkout", ">event:purchase"],
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_funnel_equals_a_plain_computation_on_random_event_streams(client, seed):
    rng = random.Random(seed)
    stored = random_stream(rng)
    first, last = T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=12)
    keep = lambda s: first <= s.started_at < last and s.channel != "email"  # noqa: E731
    selected = CustomerSession.select().where((CustomerSession.started_at >= first)
                                              & (CustomerSession.started_at < last)
                                              & (CustomerSession.channel != "email"))
    for texts in STEP_SETS:
        steps = funnels.parse_steps(texts)
        for unit in funnels.UNITS:
            result = funnels.compute(selected, steps, unit, by="device")
            assert figures(result.steps) == pytest.approx(plain_funnel(stored, steps, unit, keep), abs=0.1), texts
            for device, rows in result.groups.items():
                expected = plain_funnel(stored, steps, unit, lambda s, d=device: keep(s) and s.device == d)
                assert figures(rows) == pytest.approx(expected, abs=0.1), (texts, device)


def test_conversions_and_drop_off_follow_from_the_counts(client):
    stored = random_stream(random.Random(9), sessions=120)
    result = funnels.compute(CustomerSession.select(), funnels.parse_steps(funnels.DEFAULT_STEPS))
    first = result.steps[0].sessions
    assert first == sum(1 for _, events in stored if any(e["event_type"] == "page_view" for e in events))
    assert result.steps[0].conversion_from_previous is None and result.steps[0].conversion_from_first == 1.0
    for previous, step in zip(result.steps, result.steps[1:]):
        assert step.conversion_from_previous == pytest.approx(step.sessions / previous.sessions)
        assert step.conversion_from_first == pytest.approx(step.sessions / first)
        assert step.drop_off == pytest.approx(1 - step.sessions / previous.sessions)



def test_after_a_step_no_one_reached_the_shares_are_unknown_not_zero(client):
    stored = random_stream(random.Random(4), sessions=5)
    steps = funnels.parse_steps(["event:never", "event:page_view", "event:purchase"])
    result = funnels.compute(CustomerSession.select(), steps)
    assert [s.sessions for s in result.steps][0] == 0 and stored
    assert [(s.conversion_from_previous, s.conversion_from_first, s.drop_off) for s in result.steps] == [
        (None, None, None), (None, None, None), (None, None, None)]


def test_page_steps_are_case_sensitive_and_match_page_views_only(client):
    session = CustomerSession.create(session_key="x", customer_id="c", started_at=T0)
    SessionEvent.insert_many([
        dict(session=session.id, occurred_at=T0, event_type="page_view", page="/Products/c"),
        dict(session=session.id, occurred_at=T0, event_type="add_to_cart", page="/products/a"),
    ]).execute()
    counts = lambda texts: [s.sessions for s in funnels.compute(CustomerSession.select(),  # noqa: E731
                                                                funnels.parse_steps(texts)).steps]
    assert counts(["page:/Products/*", "event:add_to_cart"]) == [1, 1]
    assert counts(["page:/products/*", "event:add_to_cart"]) == [0, 0]
    assert counts(["page:*ducts/c*", "event:add_to_cart"]) == [1, 1]
    assert counts(["event:page_view", "page:/products/a"]) == [1, 0]


def test_a_page_prefix_matches_percent_underscore_and_backslash_literally(client):
    session = CustomerSession.create(session_key="x", customer_id="c", started_at=T0)
    SessionEvent.insert_many([dict(session=session.id, occurred_at=T0, event_type="page_view", page=page)
                              for page in ("/sale-50x/a", "/p\\q/b", "/a_b%/c")]).execute()
    count = lambda prefix: funnels.compute(CustomerSession.select(),  # noqa: E731
                                           funnels.parse_steps([f"page:{prefix}*", "event:x"])).steps[0].sessions
    prefixes = ("/sale_50", "/sale%", "/sale-50x/", "/p\\q", "/p_q", "/a_b%", "/a%")
    assert [count(p) for p in prefixes] == [0, 0, 1, 1, 0, 1, 0]


def test_pages_are_missing_when_the_range_has_sessions_but_no_page_view_with_a_page(client):
    early = CustomerSession.create(session_key="a", customer_id="c", started_at=T0, channel="direct")
    late = CustomerSession.create(session_key="b", customer_id="c", started_at=T0 + dt.timedelta(days=10),
                                  channel="email")
    SessionEvent.insert_many([
        dict(session=early.id, occurred_at=T0, event_type="page_view", page=None),
        dict(session=early.id, occurred_at=T0, event_type="page_view", page=""),
        dict(session=early.id, occurred_at=T0, event_type="add_to_cart", page="/cart"),
        dict(session=late.id, occurred_at=late.started_at, event_type="page_view", page="/"),
    ]).execute()
    query = lambda **given: params.parse_query({"from": "2026-01-04", "to": "2026-01-25", **given})  # noqa: E731
    assert funnels.pages_missing(query()) is False
    assert funnels.pages_missing(query(to="2026-01-10")) is True
    assert funnels.pages_missing(query(channel="direct")) is True
    assert funnels.pages_missing(query(channel="social")) is False  # no session at all: nothing is missing


def test_one_event_never_counts_for_two_steps(client):
    session = CustomerSession.create(session_key="x", customer_id="c", started_at=T0)
    SessionEvent.create(session=session.id, occurred_at=T0, event_type="add_to_cart", page="/p")
    steps = funnels.parse_steps(["event:add_to_cart", "event:add_to_cart"])
    assert [s.sessions for s in funnels.compute(CustomerSession.select(), steps).steps] == [1, 0]
    SessionEvent.create(session=session.id, occurred_at=T0, event_type="add_to_cart", page="/p")
    assert [s.sessions for s in funnels.compute(CustomerSession.select(), steps).steps] == [1, 1]


def test_directly_after_counts_a_later_occurrence_of_the_previous_step(client):
    session = CustomerSession.create(session_key="x", customer_id="c", started_at=T0)
    for seconds, kind, page in ((0, "page_view", "/products/a"), (10, "page_view", "/blog"),
                                (20, "page_view", "/products/b"), (50, "add_to_cart", "/products/b")):
        SessionEvent.create(session=session.id, occurred_at=T0 + dt.timedelta(seconds=seconds), event_type=kind,
                            page=page)
    for unit in funnels.UNITS:
        steps = funnels.compute(CustomerSession.select(), funnels.parse_steps(["page:/products/*",
                                                                               ">event:add_to_cart"]), unit).steps
        assert [(s.sessions, s.median_seconds_from_previous) for s in steps] == [(1, None), (1, 30.0)]


@pytest.mark.parametrize("texts, message", [
    (["event:a"], "2 to 8 steps; 1 given"),
    (["event:a"] * 9, "2 to 8 steps; 9 given"),
    ([">event:a", "event:b"], "first step cannot be 'followed directly by'"),
    (["click:a", "event:b"], "write event:TYPE or page:PATH"),
    (["event:", "event:b"], "must have 1 to 2,000 characters"),
    (["page:*", "event:b"], "step 'page:\\*': a page step needs a page or the start of one .* for any page, use "
                           "'event:page_view'"),
    (["page:/" + "x" * 2000, "event:b"], "step 'page:/" + "x" * 73 + "…': the page after 'page:' must have 1 to 2,000"),
    (["page:/a\nevent:purchase", "event:b"], "remove the line break or control character from the page"),
    (["event:a\tb", "event:b"], "remove the line break or control character from the event"),
])
def test_bad_steps_say_what_to_change(texts, message):
    with pytest.raises(funnels.FunnelError, match=message):
        funnels.parse_steps(texts)


def test_spaces_around_a_step_value_are_not_part_of_it():
    assert funnels.parse_step(" > event : purchase ") == funnels.Step("event", "purchase", direct=True)
    assert funnels.parse_step("page: /products/* ") == funnels.Step("page", "/products/", "prefix")
    assert funnels.parse_step("page:/" + "x" * 1999).value == "/" + "x" * 1999


def test_step_text_round_trips():
    for text in ["event:purchase", "page:/products/*", "page:*cart*", ">page:/checkout"]:
        assert funnels.parse_step(text).text == text


@pytest.mark.parametrize("seed", range(20))
def test_the_median_of_counted_values_is_the_median_of_the_values(seed):
    rng = random.Random(seed)
    pairs = [(rng.choice([0.0, 1.5, 30.0, 59.0, 240.0, rng.random()]), rng.randrange(1, 4))
             for _ in range(rng.randrange(1, 9))]
    values = [value for value, n in pairs for _ in range(n)]
    assert funnels._median(pairs) == statistics.median(values)

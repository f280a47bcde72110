"""Funnels: how many sessions (or customers) go through an ordered list of steps, and how fast."""

import statistics
from dataclasses import dataclass

import peewee as pw

from analyzer.analytics.query import where_sessions
from analyzer.db import fetch_large, is_sqlite
from analyzer.errors import AppError
from analyzer.models import CustomerSession

MIN_STEPS, MAX_STEPS = 2, 8
UNITS = ("session", "customer")
BREAKDOWNS = ("channel", "device")
MAX_VALUE = 500
DEFAULT_STEPS = ("event:page_view", "page:/products/*", "event:add_to_cart", "event:begin_checkout", "event:purchase")
DEFAULT_LABELS = ("Landing", "Product view", "Add to cart", "Checkout", "Purchase")

# The filtered sessions, once: every step reads them.
SCOPE = "scope AS ({sessions})"
# Events are ordered by (occurred_at, id): a step's match is the unit's first matching event after the previous
# step's match, so one event never counts for two steps. SQLite: first the time of that event, then its id.
FIRST_TIME = """s1t AS (
  SELECT scope.{unit} AS unit, scope.grp AS grp, MIN(e.occurred_at) AS at
  FROM session_events AS e
  JOIN scope ON scope.id = e.session_id
  WHERE {match}
  GROUP BY scope.{unit}, scope.grp)"""
FIRST_EVENT = """s1 AS (
  SELECT t.unit, t.grp, t.at, MIN(e.id) AS id, 0.0 AS wait
  FROM s1t AS t
  {events}
  WHERE e.occurred_at = t.at
  AND {match}
  GROUP BY t.unit, t.grp, t.at)"""
NEXT_TIME = """s{k}t AS (
  SELECT t.unit, t.grp, t.at AS prev_at, t.id AS prev_id, MIN(e.occurred_at) AS at
  FROM s{prev} AS t
  {events}
  WHERE e.occurred_at >= t.at
  AND (e.occurred_at > t.at OR e.id > t.id)
  AND {match}{direct}
  GROUP BY t.unit, t.grp, t.at, t.id)"""
NEXT_EVENT = """s{k} AS (
  SELECT t.unit, t.grp, t.at, MIN(e.id) AS id, {wait} AS wait
  FROM s{k}t AS t
  {events}
  WHERE e.occurred_at = t.at
  AND (e.occurred_at > t.prev_at OR e.id > t.prev_id)
  AND {match}
  GROUP BY t.unit, t.grp, t.at, t.prev_at)"""
# PostgreSQL: each step in one pass, its candidate events ranked per unit. (SQLite sorts every candidate for a
# window function; finding the earliest time, then the event at that time, is faster there.)
RANKED_FIRST = """s1 AS (
  SELECT unit, grp, at, id, 0.0 AS wait
  FROM (SELECT scope.{unit} AS unit, scope.grp AS grp, e.occurred_at AS at, e.id AS id,
               ROW_NUMBER() OVER (PARTITION BY scope.{unit}, scope.grp ORDER BY e.occurred_at, e.id) AS nth
        FROM session_events AS e
        JOIN scope ON scope.id = e.session_id
        WHERE {match}) AS m
  WHERE nth = 1)"""
RANKED_NEXT = """s{k} AS (
  SELECT unit, grp, at, id, {wait} AS wait
  FROM (SELECT t.unit, t.grp, t.at AS prev_at, e.occurred_at AS at, e.id AS id,
               ROW_NUMBER() OVER (PARTITION BY t.unit, t.grp ORDER BY e.occurred_at, e.id) AS nth
        FROM s{prev} AS t
        {events}
        WHERE e.occurred_at >= t.at
        AND (e.occurred_at > t.at OR e.id > t.id)
        AND {match}{direct}) AS m
  WHERE nth = 1)"""
# A unit's events: a session's own (its id is the unit), or those of every picked session of the customer.
EVENTS = {
    "session": "JOIN session_events AS e ON e.session_id = t.unit",
    "customer": "JOIN scope ON scope.customer_id = t.unit AND scope.grp = t.grp\n"
                "  JOIN session_events AS e ON e.session_id = scope.id",
}
# "Followed directly by": no other event of the unit between the previous step's event and this one.
DIRECT = {
    "session": """
  AND NOT EXISTS (
    SELECT 1
    FROM session_events AS x
    WHERE x.session_id = t.unit
    AND (x.occurred_at, x.id) > (t.at, t.id)
    AND (x.occurred_at, x.id) < (e.occurred_at, e.id))""",
    "customer": """
  AND NOT EXISTS (
    SELECT 1
    FROM scope AS between_scope
    JOIN session_events AS x ON x.session_id = between_scope.id
    WHERE between_scope.customer_id = t.unit
    AND between_scope.grp = t.grp
    AND (x.occurred_at, x.id) > (t.at, t.id)
    AND (x.occurred_at, x.id) < (e.occurred_at, e.id))""",
}
# Each step's units with the seconds since the previous step: rows, not a join of the steps.
STEP_ROWS = "SELECT {k}, grp, wait FROM s{k}"
EPOCH = {True: "(julianday({column}) - 2440587.5) * 86400.0", False: "CAST(EXTRACT(EPOCH FROM {column}) AS FLOAT)"}


class FunnelError(AppError):
    """A funnel that cannot be computed as asked; the message says what to change."""


@dataclass(frozen=True)
class Step:
    """One step: an event type or a page (exact, prefix or contains), optionally right after the previous step."""

    kind: str  # event | page
    value: str
    match: str = "exact"  # exact | prefix | contains
    direct: bool = False

    @property
    def text(self):
        """Return the step in the API's notation: event:TYPE, page:PATH, page:/p/*, page:*part*, >… for directly."""
        value = {"exact": self.value, "prefix": self.value + "*", "contains": f"*{self.value}*"}[self.match]
        return f"{'>' if self.direct else ''}{self.kind}:{value}"


@dataclass
class StepResult:
    """One step's figures."""

    step: str
    sessions: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    median_seconds_from_previous: float | None

    @property
    def drop_off(self):
        """Return the share of the previous step's units that did not reach this one."""
        return None if self.conversion_from_previous is None else 1 - self.conversion_from_previous


@dataclass
class Funnel:
    """The steps' figures overall, and per value of the breakdown dimension when one was asked for."""

    steps: list
    unit: str
    by: str | None
    groups: dict  # value -> [StepResult], most units at step 1 first


def parse_step(text):
    """Return the Step written as TEXT (event:TYPE or page:PATH, '*' for prefix or contains, leading '>' for directly)."""
    raw = text.strip()
    direct = raw.startswith(">")
    kind, sep, value = raw.lstrip(">").strip().partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("event", "page"):
        raise FunnelError(f"step {text!r}: write event:TYPE or page:PATH (a trailing * matches a prefix).")
    match = "exact"
    if len(value) > 2 and value.startswith("*") and value.endswith("*"):
        match, value = "contains", value[1:-1]
    elif value.endswith("*"):
        match, value = "prefix", value[:-1]
    if not value or len(value) > MAX_VALUE:
        raise FunnelError(f"step {text!r}: the {kind} after '{kind}:' must have 1 to {MAX_VALUE} characters.")
    return Step(kind, value, match, direct)


def parse_steps(texts):
    """Return the Steps of a list of step texts, checking there are 2 to 8 and the first is not 'directly'."""
    texts = [t for t in texts if t.strip()]
    if not MIN_STEPS <= len(texts) <= MAX_STEPS:
        raise FunnelError(f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps; {len(texts)} given.")
    steps = [parse_step(t) for t in texts]
    if steps[0].direct:
        raise FunnelError("The first step cannot be 'followed directly by': nothing comes before it.")
    return steps


def funnel(query, steps, unit="session", by=None):
    """Return the Funnel of STEPS over the sessions in QUERY's range that pass its filters."""
    return compute(where_sessions(CustomerSession.select(), query), steps, unit, by)


def compute(sessions, steps, unit="session", by=None):
    """Return the Funnel of STEPS over the sessions that SESSIONS (a select of CustomerSession) picks."""
    if unit not in UNITS:
        raise FunnelError(f"per must be one of {', '.join(UNITS)}; got {unit!r}.")
    if by not in (None, *BREAKDOWNS):
        raise FunnelError(f"by must be one of {', '.join(BREAKDOWNS)}; got {by!r}.")
    overall = _figures(_waits(_rows(sessions, steps, unit, None), len(steps)), steps)
    groups = {}
    if by:
        by_group = {}
        for k, value, wait in _rows(sessions, steps, unit, by):
            by_group.setdefault(value, []).append((k, value, wait))
        ordered = sorted(by_group.items(), key=lambda item: (-sum(1 for r in item[1] if r[0] == 1), item[0]))
        groups = {value: _figures(_waits(rows, len(steps)), steps) for value, rows in ordered}
    return Funnel(overall, unit, by, groups)


def _rows(sessions, steps, unit, by):
    """Return (step number, group, seconds since the previous step) for every unit at every step it reached."""
    db = CustomerSession._meta.database
    sqlite = is_sqlite(db)
    grp = getattr(CustomerSession, by) if by else pw.Value("")
    scope_select = sessions.select(CustomerSession.id, CustomerSession.customer_id, grp.alias("grp")).order_by()
    scope_sql, params = scope_select.sql()
    column = "customer_id" if unit == "customer" else "id"
    events = EVENTS[unit]
    wait = f"{EPOCH[sqlite].format(column='{at}')} - {EPOCH[sqlite].format(column='{prev_at}')}"
    parts = [SCOPE.format(sessions=scope_sql)]
    for k, step in enumerate(steps, 1):
        match, values = _match(step, sqlite, db.param, pinned=True)
        direct = DIRECT[unit] if step.direct else ""
        if not sqlite:  # PostgreSQL: one ranked pass per step (pinning changes nothing there)
            parts.append(RANKED_FIRST.format(unit=column, match=match) if k == 1 else
                         RANKED_NEXT.format(k=k, prev=k - 1, events=events, match=match, direct=direct,
                                            wait=wait.format(at="at", prev_at="prev_at")))
            params.extend(values)
            continue
        if k == 1:
            parts += [FIRST_TIME.format(unit=column, match=_match(step, sqlite, db.param)[0]),
                      FIRST_EVENT.format(events=events, match=match)]
        else:
            parts += [NEXT_TIME.format(k=k, prev=k - 1, events=events, match=match, direct=direct),
                      NEXT_EVENT.format(k=k, events=events, match=match,
                                        wait=wait.format(at="t.at", prev_at="t.prev_at"))]
        params.extend(values * 2)
    selects = "\nUNION ALL\n".join(STEP_ROWS.format(k=k) for k in range(1, len(steps) + 1))
    sql = f"WITH {', '.join(parts)}\n{selects}"
    return fetch_large(db, sql, params)


def _match(step, sqlite, param, pinned=False):
    """Return (SQL condition on event e, its parameters) for STEP; text compares case-sensitively on both databases.

    PINNED: the unit's events are found by their session; SQLite must not look them up by type instead.
    """
    # A unary + keeps SQLite from using the (event_type, occurred_at) index: without statistics it took that for
    # every unit's next step and read every later event of the type, which was quadratic (22 s for 5,000 sessions).
    plus = "+" if pinned and sqlite else ""
    column = f"{plus}e.event_type" if step.kind == "event" else f"{plus}e.page"
    guard = "" if step.kind == "event" else f"{plus}e.event_type = 'page_view' AND "
    if step.match == "exact":
        return f"{guard}{column} = {param}", [step.value]
    if step.match == "prefix":
        return f"{guard}SUBSTR({column}, 1, {param}) = {param}", [len(step.value), step.value]
    find = "INSTR" if sqlite else "STRPOS"
    return f"{guard}{find}({column}, {param}) > 0", [step.value]


def _waits(rows, count):
    """Return, per step, the list of seconds each unit took from the previous step."""
    waits = [[] for _ in range(count)]
    for k, _, wait in rows:
        waits[k - 1].append(wait)
    return waits


def _figures(waits, steps):
    """Turn each step's waits into its count, conversions and median time from the previous step."""
    results = []
    first = len(waits[0])
    for k, step in enumerate(steps):
        count, previous = len(waits[k]), len(waits[k - 1]) if k else None
        results.append(StepResult(
            step=step.text, sessions=count,
            conversion_from_previous=(count / previous if previous else 0.0) if k else None,
            conversion_from_first=(count / first if first else 0.0) if k else (1.0 if count else None),
            median_seconds_from_previous=round(statistics.median(waits[k]), 1) if k and waits[k] else None))
    return results

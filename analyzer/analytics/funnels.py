"""Funnels: how many sessions (or customers) go through an ordered list of steps, and how fast."""

from dataclasses import dataclass

import peewee as pw

from analyzer.analytics.query import where_sessions
from analyzer.db import fetch_large, is_sqlite
from analyzer.errors import AppError, shown
from analyzer.models import CustomerSession, SessionEvent

MIN_STEPS, MAX_STEPS = 2, 8
UNITS = ("session", "customer")
BREAKDOWNS = ("channel", "device")
MAX_VALUE = 2000  # as long as a stored page
DEFAULT_STEPS = ("event:page_view", "page:/products/*", "event:add_to_cart", "event:begin_checkout", "event:purchase")
DEFAULT_LABELS = ("Landing", "Product view", "Add to cart", "Checkout", "Purchase")

# The filtered sessions, once: every step reads them.
SCOPE = "scope AS ({sessions})"
# Events are ordered by (occurred_at, id): a step's match is the unit's first matching event after the previous
# step's match, so one event never counts for two steps.
# SQLite: each unit's next match is a correlated LIMIT 1 (for a session, an ordered read of its events' index that
# stops at the first match); grouping every candidate event per unit into temporary B-trees was 2-3x slower.
UNIT_ROWS = {
    "session": "SELECT id AS unit, grp FROM scope",
    "customer": "SELECT DISTINCT customer_id AS unit, grp FROM scope",
}
OWN_EVENTS = {
    "session": "FROM session_events AS e\n          WHERE e.session_id = t.unit",
    "customer": "FROM scope AS own\n          JOIN session_events AS e ON e.session_id = own.id\n"
                "          WHERE own.customer_id = t.unit AND own.grp = t.grp",
}
FIRST_MATCH = """s1 AS (
  SELECT found.unit, found.grp, e.occurred_at AS at, e.id AS id, 0.0 AS wait
  FROM (SELECT t.unit, t.grp, (
          SELECT e.id
          {own}
          AND {match}
          ORDER BY e.occurred_at, e.id
          LIMIT 1) AS next
        FROM ({units}) AS t) AS found
  JOIN session_events AS e ON e.id = found.next)"""
NEXT_MATCH = """s{k} AS (
  SELECT found.unit, found.grp, e.occurred_at AS at, e.id AS id, {wait} AS wait
  FROM (SELECT t.unit, t.grp, t.at AS prev_at, (
          SELECT e.id
          {own}
          AND e.occurred_at >= t.at
          AND (e.occurred_at > t.at OR e.id > t.id)
          AND {match}
          ORDER BY e.occurred_at, e.id
          LIMIT 1) AS next
        FROM s{prev} AS t) AS found
  JOIN session_events AS e ON e.id = found.next)"""
# PostgreSQL: each step in one pass, the earliest of its candidate events per unit. DISTINCT ON lets the planner
# count the units (a ROW_NUMBER filter it guessed at 0.5 % of them and chose a nested loop of a million index reads).
RANKED_FIRST = """s1 AS (
  SELECT DISTINCT ON (scope.{unit}, scope.grp) scope.{unit} AS unit, scope.grp AS grp, e.occurred_at AS at, e.id AS id,
         0.0 AS wait
  FROM session_events AS e
  JOIN scope ON scope.id = e.session_id
  WHERE {match}
  ORDER BY scope.{unit}, scope.grp, e.occurred_at, e.id)"""
RANKED_NEXT = """s{k} AS (
  SELECT DISTINCT ON (t.unit, t.grp) t.unit, t.grp, e.occurred_at AS at, e.id AS id, {wait} AS wait
  FROM s{prev} AS t
  {events}
  WHERE e.occurred_at >= t.at
  AND (e.occurred_at > t.at OR e.id > t.id)
  AND {match}
  ORDER BY t.unit, t.grp, e.occurred_at, e.id)"""
# A unit's events: a session's own (its id is the unit), or those of every picked session of the customer.
EVENTS = {
    "session": "JOIN session_events AS e ON e.session_id = t.unit",
    "customer": "JOIN scope ON scope.customer_id = t.unit AND scope.grp = t.grp\n"
                "  JOIN session_events AS e ON e.session_id = scope.id",
}
# "Directly after": the unit's next event after a candidate of the previous step, which may be a later occurrence of
# that step than its earliest match. So the step before a direct step keeps every event that could be it (c{k}),
# and a direct step's match is the earliest of its own candidates, timed from the event right before it. Each event's
# successor in its unit comes from one ordered pass (a lookup per candidate read the range's sessions each time).
SUCCESSORS = """following AS (
  SELECT e.id AS id, LEAD(e.id) OVER (PARTITION BY scope.{unit}, scope.grp ORDER BY e.occurred_at, e.id) AS next
  FROM session_events AS e
  JOIN scope ON scope.id = e.session_id)"""
CANDIDATES_FIRST = """c1 AS (
  SELECT scope.{unit} AS unit, scope.grp AS grp, e.occurred_at AS at, e.id AS id
  FROM session_events AS e
  JOIN scope ON scope.id = e.session_id
  WHERE {match})"""
CANDIDATES_AFTER = """c{k} AS (
  SELECT t.unit, t.grp, e.occurred_at AS at, e.id AS id
  FROM s{prev} AS t
  {events}
  WHERE e.occurred_at >= t.at
  AND (e.occurred_at > t.at OR e.id > t.id)
  AND {match})"""
CANDIDATES_DIRECT = """c{k} AS (
  SELECT p.unit, p.grp, e.occurred_at AS at, e.id AS id, {wait} AS wait
  FROM c{prev} AS p
  JOIN following AS f ON f.id = p.id
  JOIN session_events AS e ON e.id = f.next
  WHERE {match})"""
EARLIEST = {
    True: """s{k} AS (
  SELECT unit, grp, at, id, wait
  FROM (SELECT c.*, ROW_NUMBER() OVER (PARTITION BY c.unit, c.grp ORDER BY c.at, c.id) AS nth FROM c{k} AS c) AS ranked
  WHERE nth = 1)""",
    False: """s{k} AS (
  SELECT DISTINCT ON (c.unit, c.grp) c.unit, c.grp, c.at, c.id, c.wait
  FROM c{k} AS c
  ORDER BY c.unit, c.grp, c.at, c.id)""",
}
# Each step's units counted by group and seconds since the previous step: rows, not a join of the steps.
STEP_ROWS = "SELECT {k}, grp, wait, COUNT(*) FROM s{k} GROUP BY grp, wait"
EVENT_TYPES_SHOWN = 40
# The distinct types by one probe of the (event_type, occurred_at) index each, not a read of every event.
EVENT_TYPES = f"""
WITH RECURSIVE kinds(event_type) AS (
  SELECT MIN(event_type) FROM session_events
  UNION ALL
  SELECT (SELECT MIN(e.event_type) FROM session_events e WHERE e.event_type > kinds.event_type)
  FROM kinds WHERE kinds.event_type IS NOT NULL
)
SELECT event_type FROM kinds WHERE event_type IS NOT NULL LIMIT {EVENT_TYPES_SHOWN + 1}
"""
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


def event_types():
    """Return the stored event types in order, at most EVENT_TYPES_SHOWN + 1 (an index probe each)."""
    db = CustomerSession._meta.database
    return [row[0] for row in db.execute_sql(EVENT_TYPES)]


def absent_event_types(steps, stored):
    """Return the event types that STEPS name exactly and none of the STORED ones (event_types()) is."""
    if len(stored) > EVENT_TYPES_SHOWN:  # not all of them are known
        return []
    named = [s.value for s in steps if s.kind == "event" and s.match == "exact"]
    return [v for v in dict.fromkeys(named) if v not in stored]


def pages_missing(query):
    """Return whether QUERY's range holds sessions that pass its filters but none has a page view with a page."""
    scope = where_sessions(CustomerSession.select(CustomerSession.id), query)
    if not scope.exists():
        return False
    # A session's events come at or after its start: the (event_type, occurred_at) index reads the range's events
    # only, not every page view ever stored.
    found = (SessionEvent.select(SessionEvent.id)
             .where(SessionEvent.event_type == "page_view", SessionEvent.occurred_at >= query.window()[0],
                    SessionEvent.page.is_null(False), SessionEvent.page != "", SessionEvent.session.in_(scope))
             .limit(1))
    return not found.exists()


def parse_step(text):
    """Return the Step written as TEXT (event:TYPE or page:PATH, '*' for prefix or contains, leading '>' for directly)."""
    raw = text.strip()
    typed = repr(shown(raw))
    direct = raw.startswith(">")
    kind, sep, value = raw.lstrip(">").strip().partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if not sep or kind not in ("event", "page"):
        raise FunnelError(f"step {typed}: write event:TYPE or page:PATH (a trailing * matches a prefix).")
    match, value = split_match(value)
    if not value and kind == "page" and match != "exact":
        raise FunnelError(f"step {typed}: a page step needs a page or the start of one ('page:/products/*'); for any "
                          "page, use 'event:page_view'.")
    if not value or len(value) > MAX_VALUE:
        raise FunnelError(f"step {typed}: the {kind} after '{kind}:' must have 1 to {MAX_VALUE:,} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):  # a saved funnel keeps one step per line
        raise FunnelError(f"step {typed}: remove the line break or control character from the {kind}.")
    return Step(kind, value, match, direct)


def split_match(value):
    """Return (match, value without its stars) for a step's value: *TEXT* is contains, TEXT* prefix, else exact."""
    if len(value) > 2 and value.startswith("*") and value.endswith("*"):
        return "contains", value[1:-1]
    if value.endswith("*"):
        return "prefix", value[:-1]
    return "exact", value


def parse_steps(texts):
    """Return the Steps of a list of step texts, checking there are 2 to 8 and the first is not 'directly'."""
    texts = [t for t in texts if t.strip()]
    if not MIN_STEPS <= len(texts) <= MAX_STEPS:
        raise FunnelError(f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps; {len(texts)} given.")
    steps = [parse_step(t) for t in texts]
    if steps[0].direct:
        raise FunnelError("The first step cannot be 'followed directly by': nothing comes before it.")
    return steps


def check_options(unit, by):
    """Raise FunnelError unless UNIT is one of UNITS and BY is None or one of BREAKDOWNS."""
    if unit not in UNITS:
        raise FunnelError(f"per must be one of {', '.join(UNITS)}; got {shown(unit)!r}.")
    if by not in (None, *BREAKDOWNS):
        raise FunnelError(f"by must be one of {', '.join(BREAKDOWNS)}; got {shown(by)!r}.")


def funnel(query, steps, unit="session", by=None):
    """Return the Funnel of STEPS over the sessions in QUERY's range that pass its filters."""
    return compute(where_sessions(CustomerSession.select(), query), steps, unit, by)


def compute(sessions, steps, unit="session", by=None):
    """Return the Funnel of STEPS over the sessions that SESSIONS (a select of CustomerSession) picks."""
    check_options(unit, by)
    overall = _figures(_waits(_rows(sessions, steps, unit, None), len(steps)), steps)
    groups = {}
    if by:
        by_group = {}
        for row in _rows(sessions, steps, unit, by):
            by_group.setdefault(row[1], []).append(row)
        ordered = sorted(by_group.items(), key=lambda item: (-sum(r[3] for r in item[1] if r[0] == 1), item[0]))
        groups = {value: _figures(_waits(rows, len(steps)), steps) for value, rows in ordered}
    return Funnel(overall, unit, by, groups)


def _rows(sessions, steps, unit, by):
    """Return (step number, group, seconds since the previous step, units) for the units at every step they reached."""
    db = CustomerSession._meta.database
    sqlite = is_sqlite(db)
    grp = getattr(CustomerSession, by) if by else pw.Value("")
    scope_select = sessions.select(CustomerSession.id, CustomerSession.customer_id, grp.alias("grp")).order_by()
    scope_sql, params = scope_select.sql()
    column = "customer_id" if unit == "customer" else "id"
    wait = f"{EPOCH[sqlite].format(column='{at}')} - {EPOCH[sqlite].format(column='{prev_at}')}"
    if sqlite:  # julianday's doubles miss by some microseconds, differently by date: equal waits must count together
        wait = f"ROUND({wait}, 3)"
    parts = [SCOPE.format(sessions=scope_sql)]
    if any(step.direct for step in steps):
        parts.append(SUCCESSORS.format(unit=column))
    for k, step in enumerate(steps, 1):
        match, values = _match(step, sqlite, db.param)
        if step.direct:
            parts.append(CANDIDATES_DIRECT.format(k=k, prev=k - 1, match=match,
                                                  wait=wait.format(at="e.occurred_at", prev_at="p.at")))
            parts.append(EARLIEST[sqlite].format(k=k))
        elif sqlite:
            parts.append(FIRST_MATCH.format(own=OWN_EVENTS[unit], match=match, units=UNIT_ROWS[unit]) if k == 1 else
                         NEXT_MATCH.format(k=k, prev=k - 1, own=OWN_EVENTS[unit], match=match,
                                           wait=wait.format(at="e.occurred_at", prev_at="found.prev_at")))
        else:
            parts.append(RANKED_FIRST.format(unit=column, match=match) if k == 1 else
                         RANKED_NEXT.format(k=k, prev=k - 1, events=EVENTS[unit], match=match,
                                            wait=wait.format(at="e.occurred_at", prev_at="t.at")))
        params.extend(values)
        if not step.direct and k < len(steps) and steps[k].direct:
            parts.append(CANDIDATES_FIRST.format(unit=column, match=match) if k == 1 else
                         CANDIDATES_AFTER.format(k=k, prev=k - 1, events=EVENTS[unit], match=match))
            params.extend(values)
    selects = "\nUNION ALL\n".join(STEP_ROWS.format(k=k) for k in range(1, len(steps) + 1))
    sql = f"WITH {', '.join(parts)}\n{selects}"
    return fetch_large(db, sql, params)


def _match(step, sqlite, param):
    """Return (SQL condition on event e, its parameters) for STEP; text compares case-sensitively on both databases."""
    # A unary + keeps SQLite from using the (event_type, occurred_at) index: without statistics it took that for
    # every unit's next step and read every later event of the type, which was quadratic (22 s for 5,000 sessions).
    plus = "+" if sqlite else ""
    column = f"{plus}e.event_type" if step.kind == "event" else f"{plus}e.page"
    guard = "" if step.kind == "event" else f"{plus}e.event_type = 'page_view' AND "
    if step.match == "exact":
        return f"{guard}{column} = {param}", [step.value]
    if step.match == "prefix" and sqlite:
        return f"{guard}SUBSTR({column}, 1, {param}) = {param}", [len(step.value), step.value]
    if step.match == "prefix":  # PostgreSQL estimates a LIKE prefix from the pages' statistics, a SUBSTR at 0.5 %
        escaped = step.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{guard}{column} LIKE {param}", [escaped + "%"]
    find = "INSTR" if sqlite else "STRPOS"
    return f"{guard}{find}({column}, {param}) > 0", [step.value]


def _waits(rows, count):
    """Return, per step, the (seconds from the previous step, units) pairs of its units."""
    waits = [[] for _ in range(count)]
    for k, _, wait, units in rows:
        waits[k - 1].append((wait, units))
    return waits


def _median(pairs):
    """Return the median of the values that PAIRS of (value, how many times) hold, as statistics.median would."""
    total = sum(n for _, n in pairs)
    wanted, seen, found = sorted({(total - 1) // 2, total // 2}), 0, []
    for value, n in sorted(pairs):
        seen += n
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return sum(found) / len(found)


def _figures(waits, steps):
    """Turn each step's waits into its count, conversions and median time from the previous step."""
    results = []
    counts = [sum(n for _, n in pairs) for pairs in waits]
    first = counts[0]
    for k, step in enumerate(steps):
        count, previous = counts[k], counts[k - 1] if k else None
        results.append(StepResult(
            step=step.text, sessions=count,
            # A share of nobody is no share: null, not 0 % with a 100 % drop-off.
            conversion_from_previous=count / previous if k and previous else None,
            conversion_from_first=(count / first if first else None) if k else (1.0 if count else None),
            median_seconds_from_previous=round(_median(waits[k]), 1) if k and waits[k] else None))
    return results

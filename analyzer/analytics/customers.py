"""One session with its events and its place in the customer's history, and one customer's figures."""

from dataclasses import dataclass
from decimal import Decimal

import peewee as pw

from analyzer.analytics.sessions import PAGE_SIZE, Page, make_cursor, parse_cursor
from analyzer.models import CustomerSession, SessionEvent


@dataclass
class SessionView:
    """A session, its events in time order, and where it sits among its customer's sessions."""

    session: CustomerSession
    events: list
    number: int
    of: int
    previous: CustomerSession | None
    next: CustomerSession | None


@dataclass
class Customer:
    """What we know about one customer: when seen, how often, what they bought, where they came from."""

    customer_id: str
    first_seen: object
    last_seen: object
    sessions: int
    conversions: int
    revenue: Decimal
    avg_order_value: Decimal | None
    channels: list  # [(channel, sessions)], most sessions first


def find_session(key):
    """Return the SessionView of the session with KEY, or None."""
    session = CustomerSession.get_or_none(CustomerSession.session_key == key)
    if session is None:
        return None
    events = list(SessionEvent.select()
                  .where(SessionEvent.session == session.id)
                  .order_by(SessionEvent.occurred_at, SessionEvent.id))
    mine = CustomerSession.customer_id == session.customer_id
    before = ((CustomerSession.started_at < session.started_at)
              | ((CustomerSession.started_at == session.started_at) & (CustomerSession.id < session.id)))
    after = ((CustomerSession.started_at > session.started_at)
             | ((CustomerSession.started_at == session.started_at) & (CustomerSession.id > session.id)))
    previous = (CustomerSession.select().where(mine & before)
                .order_by(CustomerSession.started_at.desc(), CustomerSession.id.desc()).first())
    following = (CustomerSession.select().where(mine & after)
                 .order_by(CustomerSession.started_at, CustomerSession.id).first())
    number = CustomerSession.select().where(mine & before).count() + 1
    total = CustomerSession.select().where(mine).count()
    return SessionView(session, events, number, total, previous, following)


def find_customer(customer_id):
    """Return the Customer with CUSTOMER_ID, or None when they have no session."""
    mine = CustomerSession.customer_id == customer_id
    row = (CustomerSession
           .select(pw.fn.MIN(CustomerSession.started_at).alias("first_seen"),
                   pw.fn.MAX(CustomerSession.started_at).alias("last_seen"),
                   pw.fn.COUNT(CustomerSession.id).alias("sessions"),
                   pw.fn.SUM(pw.Case(None, [(CustomerSession.converted, 1)], 0)).alias("conversions"),
                   pw.fn.SUM(CustomerSession.revenue).alias("revenue"))
           .where(mine).dicts().get())
    if not row["sessions"]:
        return None
    channels = [(r.channel, r.sessions) for r in
                CustomerSession.select(CustomerSession.channel, pw.fn.COUNT(CustomerSession.id).alias("sessions"))
                .where(mine).group_by(CustomerSession.channel)
                .order_by(pw.SQL("sessions").desc(), CustomerSession.channel)]
    revenue = Decimal(row["revenue"] or 0).quantize(Decimal("0.01"))
    conversions = int(row["conversions"] or 0)
    average = (revenue / conversions).quantize(Decimal("0.01")) if conversions else None
    return Customer(customer_id, _datetime(row["first_seen"]), _datetime(row["last_seen"]), row["sessions"],
                    conversions, revenue, average, channels)


def customer_sessions(customer_id, cursor=None, limit=PAGE_SIZE):
    """Return a Page of the customer's sessions, newest first, after CURSOR; a bad cursor raises ValueError."""
    query = (CustomerSession.select().where(CustomerSession.customer_id == customer_id)
             .order_by(CustomerSession.started_at.desc(), CustomerSession.id.desc()))
    if cursor:
        position = parse_cursor(cursor)
        if position is None:
            raise ValueError(f"after: {cursor!r} is not a cursor from a previous page.")
        started_at, row_id = position
        query = query.where((CustomerSession.started_at < started_at)
                            | ((CustomerSession.started_at == started_at) & (CustomerSession.id < row_id)))
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, make_cursor(rows[-1]) if more else None)


def _datetime(value):
    """Return a datetime from what an aggregate gives back (SQLite hands MIN/MAX of a datetime back as text)."""
    return CustomerSession.started_at.python_value(value)

"""Reading single sessions: the newest first, a page at a time."""

import datetime as dt
from dataclasses import dataclass

from analyzer.models import CustomerSession

PAGE_SIZE = 50


@dataclass
class Page:
    """One page of sessions and the cursor of the next (older) page."""

    rows: list
    next_cursor: str | None


def recent_sessions(cursor=None, limit=PAGE_SIZE):
    """Return sessions newest first, starting after CURSOR (keyset pagination); a bad cursor raises ValueError."""
    query = CustomerSession.select().order_by(CustomerSession.started_at.desc(), CustomerSession.id.desc())
    position = parse_cursor(cursor)
    if cursor and position is None:
        raise ValueError(f"after: {cursor[:80]!r} is not a cursor from a previous page.")
    if position:
        started_at, row_id = position
        query = query.where(
            (CustomerSession.started_at < started_at)
            | ((CustomerSession.started_at == started_at) & (CustomerSession.id < row_id))
        )
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, make_cursor(rows[-1]) if more else None)


def count_sessions():
    """Return how many sessions are stored."""
    return CustomerSession.select().count()


def make_cursor(row):
    """Encode a row's position as 'YYYYMMDDTHHMMSS.ffffff_ID'."""
    return f"{row.started_at:%Y%m%dT%H%M%S.%f}_{row.id}"


def parse_cursor(cursor):
    """Decode a cursor; anything malformed means 'from the start'."""
    if not cursor:
        return None
    try:
        stamp, row_id = cursor.rsplit("_", 1)
        position = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f"), int(row_id)
    except ValueError:
        return None
    return position if 0 < position[1] < 2**63 else None

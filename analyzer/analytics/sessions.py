"""A page of sessions newest first and its cursor: the position of its last row by start time and id."""

import datetime as dt
from dataclasses import dataclass

PAGE_SIZE = 50


@dataclass
class Page:
    """One page of sessions and the cursor of the next (older) page."""

    rows: list
    next_cursor: str | None


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

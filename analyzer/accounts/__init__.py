"""Users, roles, passwords, sign-in sessions, throttling and API tokens (no HTTP here)."""

import datetime as dt


def now():
    """Return the current time as naive UTC, as the database stores it."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

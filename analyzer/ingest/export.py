"""Our own session export: a CSV that imports back exactly, safe to open in a spreadsheet."""

import csv
import datetime as dt

from analyzer.ingest.store import SESSION_COLUMNS
from analyzer.models import CustomerSession

COLUMNS = SESSION_COLUMNS[:-1]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_sessions(handle, query=None):
    """Write sessions (all, or QUERY) as CSV to an open text file; return how many."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    query = query if query is not None else CustomerSession.select().order_by(CustomerSession.started_at, CustomerSession.id)
    for session in query.iterator():
        writer.writerow([cell(getattr(session, name)) for name in COLUMNS])
        count += 1
    return count


def cell(value):
    """Return a value as export text; text that a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) and not _number(text) else text


def uncell(text):
    """Undo cell()'s formula guard when reading our own export back."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def is_own_export(headers):
    """Tell whether a header row is exactly our export's."""
    return tuple(h.strip() for h in headers) == COLUMNS


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False

"""Our own session export: a CSV that imports back exactly, safe to open in a spreadsheet."""

import csv
import datetime as dt
import io

from analyzer.db import is_sqlite
from analyzer.ingest.store import SESSION_COLUMNS
from analyzer.models import CustomerSession

COLUMNS = SESSION_COLUMNS[:-1]
CONVERTED, REVENUE = COLUMNS.index("converted"), COLUMNS.index("revenue")
CHUNK_ROWS = 2000
DECLARE = "DECLARE session_export NO SCROLL CURSOR FOR {sql}"
FETCH = "FETCH FORWARD %s FROM session_export"
CLOSE = "CLOSE session_export"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_sessions(handle, query=None):
    """Write sessions (all, or QUERY, a select of CustomerSession) as CSV to an open text file; return how many."""
    count = 0
    for text, rows in stream_sessions(query):
        handle.write(text)
        count += rows
    return count


def stream_sessions(query=None, rows_per_chunk=CHUNK_ROWS):
    """Yield (CSV text, rows in it) chunks of the sessions QUERY picks, in its order, in constant memory."""
    query = query if query is not None else CustomerSession.select().order_by(CustomerSession.started_at,
                                                                              CustomerSession.id)
    sql, params = query.select(*[getattr(CustomerSession, name) for name in COLUMNS]).sql()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    db = CustomerSession._meta.database
    for rows in _batches(db, sql, params, rows_per_chunk):
        writer.writerows(_cells(row) for row in rows)
        yield _take(buffer), len(rows)
    if buffer.tell():
        yield _take(buffer), 0


def _batches(db, sql, params, size):
    """Yield lists of up to SIZE rows of SQL; PostgreSQL reads them through a server-side cursor."""
    if is_sqlite(db):
        cursor = db.execute_sql(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows
        return
    with db.atomic():  # the cursor lives as long as this transaction
        db.execute_sql(DECLARE.format(sql=sql), params)
        while rows := db.execute_sql(FETCH, (size,)).fetchall():
            yield rows
        db.execute_sql(CLOSE)


def _cells(row):
    values = [cell(v) for v in row]
    values[CONVERTED] = "true" if row[CONVERTED] else "false"  # SQLite gives 0 or 1
    values[REVENUE] = f"{row[REVENUE]:.2f}"  # SQLite gives a float: 42.5 means 42.50
    return values


def _take(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


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

"""Our own session export: a CSV that imports back exactly, safe to open in a spreadsheet."""

import csv
import datetime as dt
import io

import peewee as pw

from analyzer.db import SQLITE_PRAGMAS, is_sqlite
from analyzer.ingest.store import SESSION_COLUMNS
from analyzer.models import CustomerSession

COLUMNS = SESSION_COLUMNS[:-1]
# Text that cell() may guard; the database writes the other columns as text itself (see _columns).
TEXT = tuple(i for i, name in enumerate(COLUMNS) if name not in (
    "started_at", "ended_at", "duration_s", "page_views", "events", "converted", "revenue"))
CHUNK_ROWS = 2000
EXPORT_CACHE_SIZE = -8192  # PRAGMA cache_size while an export reads: 8 MB (a negative size is in KiB)
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
    db = CustomerSession._meta.database
    sql, params = query.select(*_columns(is_sqlite(db))).sql()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for rows in _batches(db, sql, params, rows_per_chunk):
        writer.writerows(_cells(row) for row in rows)
        yield _take(buffer), len(rows)
    if buffer.tell():
        yield _take(buffer), 0


def _batches(db, sql, params, size):
    """Yield lists of up to SIZE rows of SQL; PostgreSQL reads them through a server-side cursor."""
    if is_sqlite(db):
        # One pass over every session gains nothing from the 64 MB page cache, which it would fill: read through 8 MB.
        db.execute_sql(f"PRAGMA cache_size = {EXPORT_CACHE_SIZE}")
        try:
            cursor = db.execute_sql(sql, params)
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            if not db.is_closed():  # a download given up is closed after its connection
                db.execute_sql(f"PRAGMA cache_size = {SQLITE_PRAGMAS['cache_size']}")
        return
    with db.atomic():  # the cursor lives as long as this transaction
        db.execute_sql(DECLARE.format(sql=sql), params)
        while rows := db.execute_sql(FETCH, (size,)).fetchall():
            yield rows
        db.execute_sql(CLOSE)


def _columns(sqlite):
    """Return the export's columns as the database should send them: times, flag and money already as text."""
    S = CustomerSession
    text = {
        "converted": pw.Case(None, [(S.converted, "true")], "false"),
        "revenue": pw.fn.printf("%.2f", S.revenue) if sqlite else pw.Cast(S.revenue, "TEXT"),
    }
    if not sqlite:  # SQLite stores times as this text already; PostgreSQL's text of a timestamp is the same
        text.update(started_at=pw.Cast(S.started_at, "TEXT"), ended_at=pw.Cast(S.ended_at, "TEXT"))
    return [text.get(name, getattr(S, name)) for name in COLUMNS]


def _cells(row):
    """Return a row as cell() would write it, guarding only the text columns: the csv module writes None as ''."""
    values = list(row)
    for index in TEXT:
        value = values[index]
        if value and value[0] in FORMULA_START and not _number(value):
            values[index] = "'" + value
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

"""Our own session export: a CSV that imports back exactly, safe to open in a spreadsheet."""

import queue
import re
import threading

import peewee as pw
import psycopg2

from analyzer.db import is_sqlite, sqlite_pragma
from analyzer.ingest.store import SESSION_COLUMNS
from analyzer.models import CustomerSession

COLUMNS = SESSION_COLUMNS[:-1]
HEADER = ",".join(COLUMNS) + "\n"
# Text a spreadsheet could run as a formula gets a leading quote; the other columns are times, numbers and flags.
TEXT = tuple(name for name in COLUMNS if name not in (
    "started_at", "ended_at", "duration_s", "page_views", "events", "converted", "revenue"))
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_AT = frozenset(COLUMNS.index(name) for name in TEXT)
NUMBER = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"  # text like this starts with + or - and stays as is
# Characters that make a line's cells worth a look wherever they are; = + - @ only at a cell's start (see _line).
NEEDS_CARE = re.compile(r'["\n\r\t\']')
# Text that already starts with quotes before a formula's first character gets one more, which uncell() takes off.
QUOTED_FORMULA = "^'+[-=+@\t\r]"
CHUNK_ROWS = 2000
CHUNK_BYTES = 64 * 1024
EXPORT_CACHE_SIZE = -8192  # PRAGMA cache_size while an export reads: 8 MB (a negative size is in KiB)
COPY = "COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
QUEUED_CHUNKS = 8


def write_sessions(handle, query=None):
    """Write sessions (all, or QUERY, a select of CustomerSession) as CSV to an open binary file; return how many."""
    count = 0
    for data, rows in stream_sessions(query):
        handle.write(data)
        count += rows
    return count


def stream_sessions(query=None, rows_per_chunk=CHUNK_ROWS):
    """Yield (CSV bytes, rows in them) chunks of the sessions QUERY picks, in its order, in constant memory.

    PostgreSQL writes the CSV itself (COPY, chunks of about 64 KB); on SQLite (chunks of ROWS_PER_CHUNK rows) a line
    is built cell by cell only when one of its cells may need a guard or quotes.
    """
    query = query if query is not None else CustomerSession.select().order_by(CustomerSession.started_at,
                                                                              CustomerSession.id)
    db = CustomerSession._meta.database
    header = HEADER.encode()  # sent with the first rows: an error before them is still an error page, not a cut file
    for data, rows in _sqlite_lines(db, query, rows_per_chunk) if is_sqlite(db) else _copy(db, query):
        yield header + data, rows
        header = b""
    if header:
        yield header, 0


def _sqlite_lines(db, query, size):
    """Yield chunks of SIZE lines of QUERY's sessions on SQLite, read through an 8 MB page cache (one pass)."""
    S = CustomerSession
    cells = {
        "ended_at": pw.fn.IFNULL(S.ended_at, ""), "converted": pw.Case(None, [(S.converted, "true")], "false"),
        "revenue": pw.fn.printf("%.2f", S.revenue),
        **{name: pw.Cast(getattr(S, name), "TEXT") for name in ("duration_s", "page_views", "events")},
        **{name: pw.fn.IFNULL(getattr(S, name), "") for name in TEXT},
    }
    sql, params = query.select(*[cells.get(name, getattr(S, name)) for name in COLUMNS]).sql()
    # A download given up may end after its connection went back to the server's pool, which then closes it.
    with sqlite_pragma(db, "cache_size", EXPORT_CACHE_SIZE):
        cursor = db.execute_sql(sql, params)
        while rows := cursor.fetchmany(size):
            yield ("\n".join([_line(row) for row in rows]) + "\n").encode(), len(rows)


def _line(row):
    """Return the CSV line of a row of text cells, guarded and quoted as COPY writes them on PostgreSQL."""
    line = ",".join(row)
    if (line.count(",") == len(COLUMNS) - 1 and not NEEDS_CARE.search(line) and line[0] not in "=+-@"
            and ",=" not in line and ",+" not in line and ",-" not in line and ",@" not in line):
        return line  # no cell holds a comma, a quote, a line break, or starts as a formula (or a number) does
    return ",".join(_text_cell(cell) if index in TEXT_AT else cell for index, cell in enumerate(row))


def _text_cell(text):
    """Return a text cell guarded against formulas, in quotes when it holds , " CR or LF."""
    guarded = guard(text)
    if any(char in guarded for char in ',"\n\r'):
        return '"' + guarded.replace('"', '""') + '"'
    return guarded


def _copy(db, query):
    """Yield the chunks of PostgreSQL's COPY … TO STDOUT of QUERY, which a thread reads into a short queue."""
    S = CustomerSession
    cells = {
        "started_at": _postgres_time(S.started_at), "ended_at": _postgres_time(S.ended_at),
        "converted": pw.Case(None, [(S.converted, "true")], "false"), "revenue": pw.Cast(S.revenue, "TEXT"),
        **{name: _postgres_text(getattr(S, name)) for name in TEXT},
    }
    sql, params = query.select(*[cells.get(name, getattr(S, name)) for name in COLUMNS]).sql()
    with db.atomic():
        connection = db.connection()
        with connection.cursor() as cursor:
            copy = COPY.format(sql=cursor.mogrify(sql, params).decode())
        pipe = _Pipe()
        reader = threading.Thread(target=pipe.fill, args=(connection, copy), name="csv-export", daemon=True)
        reader.start()
        finished = False
        try:
            while (item := pipe.chunks.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
            finished = True
        finally:
            if not finished:  # the download was given up (or COPY failed): a cancel on an idle session does nothing
                pipe.stop(connection)
            reader.join()


class _Pipe:
    """The file COPY writes to, one row a call: rows gathered into chunks for the stream, until the stream stops."""

    def __init__(self):
        self.chunks = queue.Queue(QUEUED_CHUNKS)
        self.stopped = threading.Event()
        self.buffer, self.size = [], 0

    def fill(self, connection, copy):
        """Run COPY on CONNECTION, then queue what is left, and None; or the error, unless the stream stopped."""
        try:
            with connection.cursor() as cursor:
                cursor.copy_expert(copy, self, CHUNK_BYTES)
            self._put((b"".join(self.buffer), len(self.buffer)))
            self._put(None)
        except Exception as exc:  # the stream raises it: no error may leave it waiting
            self._put(exc)

    def write(self, data):
        """Take one row from COPY."""
        if self.stopped.is_set():
            return
        self.buffer.append(data)
        self.size += len(data)
        if self.size >= CHUNK_BYTES:
            self._put((b"".join(self.buffer), len(self.buffer)))
            self.buffer, self.size = [], 0

    def _put(self, item):
        while not self.stopped.is_set():
            try:
                self.chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def stop(self, connection):
        """Stop the stream: a COPY still running is cancelled, and what it still sends is dropped."""
        if not self.stopped.is_set():
            self.stopped.set()
            try:
                connection.cancel()
            except psycopg2.Error:  # the connection is gone already, and COPY with it
                pass


def _postgres_time(column):
    """Return the PostgreSQL expression of a time as SQLite stores it: microseconds only when there are some."""
    whole = column == pw.fn.DATE_TRUNC("second", column)
    return pw.Case(None, [(whole, pw.fn.TO_CHAR(column, "YYYY-MM-DD HH24:MI:SS"))],
                   pw.fn.TO_CHAR(column, "YYYY-MM-DD HH24:MI:SS.US"))


def _postgres_text(column):
    """Return the PostgreSQL expression of a text cell, guarded; COPY writes NULL and '' alike, unquoted."""
    starts, guarded = pw.fn.LEFT(column, 1), pw.Value("'").concat(column)
    return pw.Case(None, [(column.is_null() | (column == ""), None), (starts.not_in(FORMULA_START + ("'",)), column),
                          (column.regexp(QUOTED_FORMULA), guarded), (starts == "'", column),
                          (column.regexp(f"^{NUMBER}$"), column)], guarded)


def guard(text):
    """Return TEXT with a leading quote if a spreadsheet would run it as a formula (a plain number stays as is)."""
    if text.startswith("'"):  # quotes before a formula's first character get one more, which uncell() takes off
        return "'" + text if text.lstrip("'").startswith(FORMULA_START) else text
    return "'" + text if text.startswith(FORMULA_START) and not is_number(text) else text


def is_number(text):
    """Tell whether TEXT is a plain number (which a leading + or - does not make a formula)."""
    return re.fullmatch(NUMBER, text) is not None


def uncell(text):
    """Undo the export's formula guard when reading our own export back."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START) else text


def is_own_export(headers):
    """Tell whether a header row is exactly our export's."""
    return tuple(h.strip() for h in headers) == COLUMNS

"""Import one file as a unit: detect, validate every row, write all of it or nothing, record it, undo it."""

import datetime as dt
import json
import time
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial

from analyzer import localtime
from analyzer.db import DATABASE_ERRORS, write_transaction
from analyzer.errors import AppError
from analyzer.ingest import changes, columns, export, readers, rollups, rows, sessionize, store, values
from analyzer.ingest.options import ImportOptions, apply_mapping, unused_columns, warnings_of
from analyzer.models import CustomerSession, Import

MAX_REPORTED = 100
DRY_RUN_ID = 0  # what a dry run's rows carry until it rolls them back; real import ids start at 1
SHOWN_COLUMNS = 30  # the columns a "no column for" message lists, each cut at 60 characters
REQUIRED = {"sessions": ("started_at",), "events": ("customer_id", "occurred_at")}


@dataclass
class Report:
    """What an import read, wrote and skipped, and the bad rows that stopped it."""

    file_name: str
    kind: str
    file_format: str
    mapping: dict
    import_id: int | None = None
    rows_read: int = 0
    sessions_created: int = 0
    sessions_continued: int = 0
    events_added: int = 0
    rows_identical: int = 0
    extra_rows: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    headers: list = field(default_factory=list)
    fields: list = field(default_factory=list)
    unused_columns: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    time_notes: list = field(default_factory=list)  # how local times that do not exist or happen twice were read
    value_notes: list = field(default_factory=list)  # how other values were read (TRUE/FALSE revenue, 'view')
    errors: list = field(default_factory=list)
    error_count: int = 0
    started: float = 0.0  # time.perf_counter() when the import began

    @property
    def notes(self):
        """Return what reading the rows found that changes how they count: the time notes, then the value notes."""
        return self.time_notes + self.value_notes

    def counts(self):
        """Return what the import did as (label, number) pairs, each count by its own name."""
        pairs = [("rows read", self.rows_read), ("sessions created", self.sessions_created)]
        if self.kind == "events":
            pairs += [("sessions continued", self.sessions_continued), ("events added", self.events_added),
                      ("rows already there (identical)", self.rows_identical)]
        else:
            pairs.append(("rows whose session is already there", self.rows_identical))
        if self.extra_rows:
            pairs.append(("extra rows of a session", self.extra_rows))
        return pairs

    def summary(self):
        """Return the counts as one line: '12 rows read, 3 sessions created, …'."""
        return ", ".join(f"{number:,} {_singular(label) if number == 1 else label}" for label, number in self.counts())

    @property
    def rows_per_second(self):
        """Return the rows read per second."""
        return self.rows_read / self.seconds if self.seconds else 0.0


def _singular(label):
    """Return a count's label for one: '1 row read', '1 extra row of a session'."""
    words = label.split(" ")
    plural = next(n for n, word in enumerate(words) if word in ("rows", "sessions", "events"))
    words[plural] = words[plural][:-1]
    return " ".join(words)


class ImportRejected(AppError):
    """An import stopped by bad rows; nothing of it was written."""

    def __init__(self, report):
        lines = [f"line {e.line}, column {e.column!r}, value {e.value!r}: {e.reason}" for e in report.errors]
        more = report.error_count - len(report.errors)
        super().__init__(
            f"{report.file_name}: {report.error_count:,} bad row field(s); nothing of this file was written.\n  "
            + "\n  ".join(lines) + (f"\n  … and {more} more." if more > 0 else "")
            + "\nFix these rows (or the column mapping) and import the file again.")
        self.report = report


class AlreadyUndone(AppError):
    """An undo of an import that is undone already, by an earlier undo or by one that ran at the same time."""


def import_file(db, path, options=ImportOptions(), progress=None, announce=None):
    """Import a session or event export as OPTIONS say; return a Report."""
    started = time.perf_counter()
    rollups.refuse_another_zone()
    source, records, headers, mapping, components, report = _read_header(path, options)
    report.started = started
    kind, year, gap_minutes, dry_run, created_by = (report.kind, options.year, options.gap_minutes, options.dry_run,
                                                    options.created_by)
    zone = _timezone(options.timezone)
    if announce:
        announce(report)
    conv = rows.Converter(headers, mapping, zone, own_export=export.is_own_export(headers))
    if kind == "sessions":
        convert = partial(rows.session_row, conv, components, checksum=source.checksum, year=year)
    else:
        convert = partial(rows.event_row, conv)
    postgres = store.is_postgres(db)
    # PostgreSQL: one transaction, rows COPY'd straight in. SQLite: this one writes temporary tables only, which
    # takes no lock on the main file, so a slow file (or a bad one) never keeps other requests from writing.
    with db.atomic() as transaction:
        record = _start_record(source, kind, created_by, report) if postgres else None
        writer = _stage(db, records, source, convert, report, progress)
        report.time_notes = _time_notes(conv.local_problems, options.timezone)
        report.value_notes = _value_notes(conv)
        if report.error_count:
            transaction.rollback()  # on SQLite this drops the staging table too
        elif postgres:
            _publish(db, transaction, writer, record, gap_minutes, report)
    if not postgres and not report.error_count:
        try:
            with write_transaction(db) as transaction:  # the main file's write lock, held only while publishing
                record = _start_record(source, kind, created_by, report)
                _publish(db, transaction, writer, record, gap_minutes, report)
        except BaseException:
            # What stopped the publish is what the user must hear of, not a staging table that it left locked.
            with suppress(*DATABASE_ERRORS):
                writer.drop()
            raise
        writer.drop()  # a rolled-back publish (a dry run) leaves it on the connection
    report.seconds = time.perf_counter() - started
    if report.error_count:
        if not dry_run:
            _record_failure(source, kind, report, created_by)
        raise ImportRejected(report)
    if dry_run:
        report.import_id = None
    return report


def report_of(record):
    """Return the Report of a finished import as its record keeps it: counts, warnings and notes, no mapping."""
    kept = json.loads(record.notes or "{}")
    # The time notes and the value notes are kept as one list.
    return Report(record.file_name, record.kind, record.file_format, {}, import_id=record.id,
                  rows_read=record.rows_read, sessions_created=record.sessions_written,
                  sessions_continued=record.sessions_continued, events_added=record.events_written,
                  rows_identical=record.rows_identical, extra_rows=record.extra_rows, seconds=kept.get("seconds", 0.0),
                  unused_columns=kept.get("unused_columns", []), warnings=kept.get("warnings", []),
                  value_notes=kept.get("notes", []))


def describe(path, options=ImportOptions()):
    """Return the Report of what the file's header gives under OPTIONS (kind, mapping, warnings); no row is read."""
    _, records, _, _, _, report = _read_header(path, options, require=False)
    records.close()
    return report


def _read_header(path, options, require=True):
    """Read the file's header: return (source, records, headers, mapping, components, Report of the columns).

    Without REQUIRE, a file that lacks a required column is described anyway, so that one can be chosen for it.
    """
    source = readers.inspect(path, options.file_format, options.name)
    records = readers.records(source)
    headers = next(records)
    if not headers:
        if next(records, None) is None:
            raise AppError(f"{source.name} holds no records (an empty JSON array or file): there is nothing to "
                           "import; nothing was written.")
        raise AppError(f"{source.name}: none of the first records is a JSON object with fields; nothing was written.")
    kind = options.kind or columns.detect_kind(headers)
    if kind not in REQUIRED:
        raise AppError(f"Unknown kind {kind!r}: use sessions or events.")
    mapping, components = columns.map_columns(headers, kind)
    if options.split_by_gap:
        mapping.pop("session_id", None)
    apply_mapping(headers, kind, mapping, components, options.mapping)
    _require(source, headers, kind, mapping, options.year, require)
    report = Report(source.name, kind, source.format,
                    {f: headers[i] for f, i in mapping.items()} | {f: "+".join(headers[i] for i in ix)
                                                                   for f, ix in components.items()})
    report.headers = list(headers)
    report.fields = list(columns.EVENT_ALIASES if kind == "events" else columns.SESSION_ALIASES)
    report.unused_columns = unused_columns(headers, mapping, components)
    report.warnings = warnings_of(kind, mapping)
    report.dry_run = options.dry_run
    return source, records, headers, mapping, components, report


def undo(db, import_id):
    """Remove exactly the rows an import wrote and mark it undone; return the Import."""
    rollups.refuse_another_zone()
    with write_transaction(db):
        # Read under the lock: a second undo of the import (a double-click) waits for the first, then finds it undone.
        if store.is_postgres(db):
            store.begin_import(db)
        record = _finished(import_id)
        if record.kind == "events":
            gap_minutes = json.loads(record.notes or "{}").get("gap_minutes", 30)
            change = _regroup(db, import_id, gap_minutes, store.EventStager(db), undo=True)[1]
        else:
            change = changes.Change(db, f"SELECT id FROM customer_sessions WHERE import_id = {db.param}", (import_id,))
            CustomerSession.delete().where(CustomerSession.import_id == import_id).execute()
        change.apply()
        record.status, record.finished_at = "undone", _now()
        record.save()
    return record


def _finished(import_id):
    """Return the finished import IMPORT_ID, or raise AppError saying why it cannot be undone."""
    # An id past 64 bits names no import; SQLite would refuse to bind it (OverflowError).
    record = Import.get_or_none(Import.id == import_id) if 0 < import_id < 1 << 63 else None
    if record is None:
        raise AppError(f"There is no import {import_id}; see python manage.py import --list.")
    if record.status != "done":
        error = AlreadyUndone if record.status == "undone" else AppError
        state = {"undone": "was undone", "failed": "failed", "running": "is still running"}.get(record.status,
                                                                                             f"is {record.status}")
        raise error(f"Import {import_id} {state}; only a finished import can be undone.")
    return record


def _start_record(source, kind, created_by, report):
    """Create the import's record and note its id in REPORT; a dry run gets none."""
    if report.dry_run:  # no imports row: on PostgreSQL even a rolled-back insert uses up an id
        report.import_id = DRY_RUN_ID
        return None
    record = Import.create(file_name=source.name[:255], checksum=source.checksum, kind=kind, file_format=source.format,
                           created_by=created_by, started_at=_now())
    report.import_id = record.id
    return record


def _stage(db, records, source, convert, report, progress):
    """Read every record into a session writer or an event stager; return it."""
    writer = store.SessionWriter(db, report.import_id) if report.kind == "sessions" else store.EventStager(db)
    try:
        _read(records, source, report, progress, convert, writer.add)
    except BaseException:
        writer.close()
        raise
    if report.error_count:
        writer.close()
    else:
        writer.finish()
    return writer


def _publish(db, transaction, writer, record, gap_minutes, report):
    """Store the staged rows as the import's, bring the rollups up to date and finish RECORD.

    A dry run rolls all of it back.
    """
    if report.kind == "sessions":
        change = changes.Change(db)
        report.sessions_created, report.rows_identical, report.extra_rows = writer.publish(report.import_id)
        store.analyze_grown(db, "customer_sessions", report.sessions_created)  # an events import: in the regrouping
        written = (f"import_id = {db.param}", (report.import_id,))
    else:
        regrouped, change = _regroup(db, report.import_id, gap_minutes, writer)
        report.sessions_created, report.sessions_continued = regrouped.created, regrouped.continued
        report.events_added, report.rows_identical = regrouped.events_added, writer.staged - regrouped.events_added
        written = (None, ())
    if report.dry_run:
        transaction.rollback()
        return
    change.apply(*written)
    record.status, record.finished_at = "done", _now()
    record.rows_read, record.sessions_written = report.rows_read, report.sessions_created
    record.sessions_continued, record.events_written = report.sessions_continued, report.events_added
    record.rows_identical, record.extra_rows = report.rows_identical, report.extra_rows
    record.notes = json.dumps({"gap_minutes": gap_minutes, "unused_columns": report.unused_columns,
                               "warnings": report.warnings, "notes": report.notes,
                               "seconds": round(time.perf_counter() - report.started, 3)})
    record.save()
    if report.rows_read >= store.ANALYZE_ROWS:  # in the transaction: an import that ends is whole, statistics included
        store.analyze(db, "customer_firsts", *rollups.TABLES)


def _read(records, source, report, progress, convert, add):
    """Convert every record, noting the bad ones; add the good ones while none is bad."""
    for line, row in records:
        report.rows_read += 1
        if isinstance(row, readers.BadRecord):
            _note(report, [rows.FieldError(line, "(whole line)", "", row)])
            continue
        try:
            item = convert(line, row)
        except rows.Rejected as bad:
            _note(report, bad.problems)
            continue
        if not report.error_count:
            add(line, item)
        if progress and report.rows_read % 10000 == 0:
            progress(report.rows_read, source.fraction())


def _regroup(db, import_id, gap_minutes, stager, undo=False):
    """Group the staged events with the sessions they touch, or on UNDO the sessions left by the import.

    Return what grouping changed and the rollups' Change, to apply.
    """
    grouper = sessionize.Sessionizer(db, store.is_postgres(db))
    gap = gap_minutes * 60_000_000
    if undo:
        grouper.touch_by_import(import_id)
    else:
        grouper.touch_by_events(gap)
    change = changes.Change(db, "SELECT session_id FROM ingest_touched")
    regrouped = grouper.regroup(import_id, gap, drop_import=undo)
    stager.drop()
    return regrouped, change


def _time_notes(problems, zone):
    """Say how local times that do not exist or exist twice in ZONE were read."""
    notes = []
    if problems["nonexistent"]:
        notes.append(f"{problems['nonexistent']:,} row(s) have a local time that does not exist in {zone} (the clocks "
                     "jumped forward over it); each was read with the offset before the jump, so 02:30 counts as "
                     "03:30 summer time")
    if problems["ambiguous"]:
        notes.append(f"{problems['ambiguous']:,} row(s) have a local time that happens twice in {zone} (the clocks "
                     "went back over it); each was read as the first of the two, in summer time")
    return notes


def _value_notes(conv):
    """Say how a revenue column of TRUE and FALSE was read, and which event types were read as page_view."""
    notes = []
    if conv.revenue_flags:
        header = conv.headers[conv.mapping["revenue"]]
        notes.append(f"{conv.revenue_flags:,} row(s) have TRUE or FALSE in the revenue column {header!r}: each was "
                     "read as converted or not, with no amount")
    if conv.page_view_names:
        named = ", ".join(f"{count:,} {name!r}" for name, count in conv.page_view_names.most_common())
        notes.append(f"{named} event(s) were read as page_view, the one name of page views in funnels and timelines")
    return notes


def _note(report, problems):
    report.error_count += len(problems)
    room = MAX_REPORTED - len(report.errors)
    report.errors.extend(problems[:max(room, 0)])


def _require(source, headers, kind, mapping, year, strict=True):
    missing = [f for f in REQUIRED[kind] if f not in mapping]
    if kind == "sessions" and missing == ["started_at"] and "month" in mapping:
        if year is None and strict:
            raise AppError(f"{source.name} has no start time column, only {headers[mapping['month']]!r}: give the "
                           "year (--year YYYY, the Year field of the upload page, or year=YYYY on the API) to place "
                           "each session on the 1st of its month.")
        return
    if missing:
        if any(ord(c) < 32 and c not in "\t\r\n" or c == "\x7f" for header in headers for c in header):
            raise AppError(f"{source.name} is not a file of records: its first line holds control characters. "
                           "Import a CSV, NDJSON or JSON file, plain or gzip.")
        if not strict:
            return
        accepted = "; ".join(f"{f}: {', '.join(_aliases(kind, f)[:8])}" for f in missing)
        found = ", ".join(_shortened(h) for h in headers[:SHOWN_COLUMNS]) + (
            f", … and {len(headers) - SHOWN_COLUMNS:,} more" if len(headers) > SHOWN_COLUMNS else "")
        raise AppError(f"{source.name} ({kind}) has no column for {', '.join(missing)}. Columns found: "
                       f"{found}. Accepted names — {accepted}. Choose its column (--map {missing[0]}=COLUMN, "
                       f"map={missing[0]}=COLUMN on the API, or the form of Check columns first on the upload page), "
                       "or, if the kind was guessed wrong, the other kind (--kind, the other route of the API, or the "
                       "Kind field of the upload page).")


def _shortened(header):
    """Return a column's name as a message lists it: at most 60 characters."""
    return header if len(header) <= 60 else header[:59] + "…"


def _aliases(kind, field):
    return (columns.EVENT_ALIASES if kind == "events" else columns.SESSION_ALIASES)[field]


def _timezone(name):
    try:
        return localtime.zone(name)
    except ValueError as exc:
        raise AppError(f"Time zone (--timezone, the upload page's Time zone field or the API's ?timezone=): "
                       f"{exc}.") from None


def _record_failure(source, kind, report, created_by):
    Import.create(file_name=source.name[:255], checksum=source.checksum, kind=kind, file_format=source.format,
                  status="failed", rows_read=report.rows_read, created_by=created_by, started_at=_now(),
                  finished_at=_now())


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

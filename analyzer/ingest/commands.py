"""The verbs of "python manage.py import" and "demo": each prints what it did and returns an exit code."""

import sys
import time

from analyzer import guard, localtime
from analyzer.db import DATABASE_ERRORS
from analyzer.errors import AppError
from analyzer.ingest import columns, demo, demo_bulk, export, importer, rollups
from analyzer.models import Import

BAR = 30
BULK_DEMO = 100_000  # from this many demo sessions on, skip the import path (minutes instead of hours)


def run_import(ctx, path, options):
    """Import one file as OPTIONS say, print what was detected, the progress and a summary; return its import id."""
    def announce(report):
        ctx.out(f"Reading {report.file_name}: {report.file_format.upper()}, {report.kind}"
                + (" (dry run: nothing will be written)" if options.dry_run else ""))
        shown = columns.as_read(report.mapping)
        ctx.out("Columns: " + ", ".join(f"{field} <- {header}" for field, header in shown.items()))
        if report.unused_columns:
            ctx.out("Columns not used: " + ", ".join(report.unused_columns))
        for warning in report.warnings:
            ctx.out(f"Warning: {warning}.")

    report = importer.import_file(ctx.db, path, options, progress=_progress(ctx), announce=announce)
    if ctx.interactive:
        print(file=sys.stderr)
    what = "Checked (dry run, nothing written)" if options.dry_run else f"Imported as import {report.import_id}"
    ctx.out(f"{what}: {report.summary()}, in {report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s).")
    for note in report.notes:
        ctx.out(f"Note: {note}.")
    return report.import_id


def run_imports(ctx, paths, options):
    """Import each file in turn as its own import; at the first that fails, say which were imported and stop."""
    ids = []
    for number, path in enumerate(paths):
        try:
            ids.append(run_import(ctx, path, options))
        except (AppError, KeyboardInterrupt, *DATABASE_ERRORS):
            if len(paths) > 1:
                done = "checked" if options.dry_run else "imported"
                before = f"the {number:,} file(s) before it are {done}" if number else f"no file is {done}"
                ctx.out(f"Stopped at {path}: {before}; it and the {len(paths) - number - 1:,} after it are not.")
            raise
    if len(paths) > 1:
        ctx.out(f"Checked {len(paths):,} files (dry run, nothing written)." if options.dry_run else
                f"Imported {len(paths):,} files as imports {ids[0]} to {ids[-1]}.")
    return 0


def undo_import(ctx, import_id):
    """Remove everything one import wrote."""
    db = ctx.db
    record = Import.get_or_none(Import.id == import_id)
    if record is not None and record.status == "done":
        ctx.out(f"Undoing import {import_id} ({record.file_name}, {record.sessions_written:,} sessions created, "
                f"{record.events_written:,} events added) on {guard.describe_target(ctx.settings)}.")
        guard.confirm(ctx, f"delete the rows of import {import_id}", destructive=True)
    importer.undo(db, import_id)
    ctx.out(f"Undid import {import_id}: its events and the sessions it created are removed, and the sessions it "
            "continued are as they were before it.")
    return 0


def list_imports(ctx):
    """List every import, newest first."""
    found = list(Import.select().order_by(Import.id.desc()))
    if not found:
        ctx.out("No imports yet: python manage.py import FILE, or python manage.py demo.")
        return 0
    for r in found:
        ctx.out(f"{r.id:>5}  {r.started_at:%Y-%m-%d %H:%M}  {r.status:<7} {r.kind:<8} {r.file_name}  "
                f"{r.rows_read:,} rows, {r.sessions_written:,} sessions created, {r.sessions_continued:,} continued, "
                f"{r.events_written:,} events added, {r.rows_identical:,} rows already there"
                + (f", {r.extra_rows:,} extra rows of a session" if r.extra_rows else "")
                + (f", by {r.created_by}" if r.created_by else ""))
    return 0


def load_demo(ctx, sessions=5000, days=90, seed=7):
    """Generate demo data: through the import path, or written straight to the tables from BULK_DEMO sessions."""
    guard.confirm(ctx, "add demo data to this database", destructive=True)
    if sessions >= BULK_DEMO:
        loaded = demo_bulk.load(ctx.db, sessions, days, seed)
        ctx.out(f"Loaded demo data as import {loaded.import_id} ({days} days, seed {seed}): {loaded.sessions:,} "
                f"sessions, events for 1 in {demo_bulk.EVENT_SHARE} of them ({loaded.events:,}), "
                f"in {loaded.seconds:.2f} s.")
        return 0
    report = demo.load(ctx.db, sessions=sessions, days=days, seed=seed)
    ctx.out(f"Loaded demo data as import {report.import_id} ({days} days, seed {seed}): {report.summary()}, "
            f"in {report.seconds:.2f} s.")
    return 0


def rebuild_rollups(ctx):
    """Recompute every rollup from the sessions, in the reporting time zone."""
    started = time.perf_counter()
    span = rollups.rebuild_rollups(ctx.db)
    if span is None:
        ctx.out("No sessions: the rollups are empty.")
        return 0
    name, tz = localtime.reporting_zone()
    first, last = localtime.local_days(*span, tz)
    ctx.out(f"Rebuilt the rollups of {first} to {last}, days of the reporting time zone {name}, "
            f"in {time.perf_counter() - started:.2f} s.")
    return 0


def _progress(ctx):
    if not ctx.interactive:
        return None

    def show(count, fraction):
        done = int(fraction * BAR)
        print(f"\r  [{'#' * done}{'.' * (BAR - done)}] {fraction:4.0%}  {count:,} rows read", end="",
              file=sys.stderr, flush=True)

    return show


def export_sessions(ctx, out_path):
    """Write every session as our CSV export (it imports back exactly)."""
    try:
        handle = open(out_path, "wb")
    except OSError as exc:
        raise AppError(f"Cannot write {out_path}: {exc.strerror or exc}.") from None
    with handle:
        count = export.write_sessions(handle)
    ctx.out(f"Exported {count:,} sessions to {out_path}.")
    return 0

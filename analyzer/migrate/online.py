"""Expand/contract steps that keep a busy table writable: batched backfills and NOT NULL through a validated check."""

import time
from dataclasses import dataclass

REPORT_EVERY_S = 2.0
BATCH_TARGET_S = 0.1
"""A writer that needs a row of the running batch waits for the batch to commit: keep batches about this short."""
MIN_BATCH = 100


@dataclass(frozen=True)
class Backfill:
    """Which rows to fill, with what, and how many per committed batch."""

    table: str
    column: str
    value: str
    where: str | None
    batch_size: int
    keys: list


class OnlineStepError(Exception):
    """A helper used where it cannot work (the message says what to change)."""


def backfill(db, job, report=None, preview=False):
    """Fill the NULLs of a column batch by batch, committing each; return how many rows were set."""
    if job.batch_size < 1:
        raise OnlineStepError(f"backfill of {job.table}.{job.column}: batch_size must be 1 or more")
    if len(job.keys) != 1:
        raise OnlineStepError(f"backfill of {job.table}.{job.column} needs a table with a one-column primary key")
    if db.in_transaction() and not preview:
        raise OnlineStepError(
            f"backfill of {job.table}.{job.column} commits between batches, so its migration must run outside a "
            "transaction: put TRANSACTION = False at the top of the file (and keep other changes in their own migration)")
    table, column, key = _q(job.table), _q(job.column), _q(job.keys[0])
    pending = f"{column} IS NULL" + (f" AND ({job.where})" if job.where else "")
    remaining = db.execute_sql(f"SELECT COUNT(*) FROM {table} WHERE {pending}").fetchone()[0]
    # Keyset batches: rows whose VALUE stays NULL are passed once instead of being picked again forever.
    next_batch = (f"SELECT {key} FROM {table} WHERE {pending} AND {key} > {db.param} "
                  f"ORDER BY {key} LIMIT {db.param}")
    first_batch = next_batch.replace(f" AND {key} > {db.param}", "")
    update = (f"UPDATE {table} SET {column} = {job.value} "
              f"WHERE {key} >= {db.param} AND {key} <= {db.param} AND {pending}")
    done, last, started, told = 0, None, time.monotonic(), time.monotonic()
    size = job.batch_size
    while True:
        ids = [r[0] for r in (db.execute_sql(first_batch, (size,)) if last is None
                              else db.execute_sql(next_batch, (last, size))).fetchall()]
        if not ids:
            break
        began = time.monotonic()
        cursor = db.execute_sql(update, (ids[0], ids[-1]))
        size = _next_size(size, time.monotonic() - began, job.batch_size)
        done += max(cursor.rowcount or 0, 0)
        last = ids[-1]
        if preview:
            break
        if report and time.monotonic() - told >= REPORT_EVERY_S:
            told = time.monotonic()
            report(_progress(job, done, remaining, told - started))
    if report and preview:
        report(_preview_note(job, remaining, pending))
    if report and not preview:
        line = _progress(job, done, remaining, time.monotonic() - started)
        left = db.execute_sql(f"SELECT COUNT(*) FROM {table} WHERE {pending}").fetchone()[0]
        report(line + (f"; {left:,} still NULL (VALUE gave NULL for them)" if left else ""))
    return done


def set_not_null(db, table, column, preview=False):
    """Make a PostgreSQL column NOT NULL without holding ACCESS EXCLUSIVE while the rows are scanned."""
    if db.in_transaction() and not preview:
        raise OnlineStepError(
            f"set_not_null of {table}.{column} validates a check between short locks, so its migration must run "
            "outside a transaction: put TRANSACTION = False at the top of the file")
    check = _check_name(table, column)
    exists = db.execute_sql("SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
                            (check, _q(table))).fetchone()
    if not exists:
        db.execute_sql(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(check)} CHECK ({_q(column)} IS NOT NULL) NOT VALID")
    db.execute_sql(f"ALTER TABLE {_q(table)} VALIDATE CONSTRAINT {_q(check)}")
    db.execute_sql(f"ALTER TABLE {_q(table)} ALTER COLUMN {_q(column)} SET NOT NULL")
    db.execute_sql(f"ALTER TABLE {_q(table)} DROP CONSTRAINT IF EXISTS {_q(check)}")


def _next_size(size, seconds, most):
    """Shrink a batch that held its rows longer than BATCH_TARGET_S; grow it back, up to MOST, when quick."""
    if seconds > BATCH_TARGET_S:
        return min(most, max(MIN_BATCH, int(size * BATCH_TARGET_S / seconds)))
    if seconds < BATCH_TARGET_S / 2:
        return min(most, size * 2)
    return size


def _check_name(table, column):
    return f"{table}_{column}_not_null"[:63]


def _preview_note(job, remaining, pending):
    """Say what the preview's one batch stands for: the same UPDATE batch by batch until no row is left."""
    if not remaining:
        return f"-- backfill of {job.table}.{job.column}: no row has {pending} now, so it updates nothing"
    batches = -(-remaining // job.batch_size)
    return (f"-- backfill of {job.table}.{job.column}: the UPDATE above is its first batch; the same UPDATE runs for "
            f"each next batch of up to {job.batch_size:,} rows by {job.keys[0]}, each committed on its own, until no "
            f"row has {pending} ({remaining:,} rows now: {batches:,} batch{'es' if batches > 1 else ''})")


def _progress(job, done, remaining, seconds):
    rate = f", {done / seconds:,.0f} rows/s" if seconds > 0 else ""
    return f"  backfill {job.table}.{job.column}: {done:,} of {remaining:,} rows{rate}"


def _q(name):
    return '"' + name.replace('"', '""') + '"'

"""Rehearse the pending migrations on a scratch copy: up, down, up, with checks and the locks they take."""

import json
from dataclasses import dataclass, field

from analyzer.db import is_sqlite, open_database
from analyzer.errors import AppError
from analyzer.migrate import files as mfiles
from analyzer.migrate import plan, runner, scratch, snapshot
from analyzer.migrate.measure import Observer


@dataclass(frozen=True)
class RehearseOptions:
    """How to rehearse: how many rows to copy per table (None: all), when a lock is too long, which output."""

    rows: int | None = None
    max_lock_ms: int = 1000
    as_json: bool = False


@dataclass
class Rehearsal:
    """What happened to one pending migration on the copy."""

    name: str
    display: str
    transactional: bool = True
    ran: bool = True
    up_ms: float | None = None
    down_ms: float | None = None
    again_ms: float | None = None
    statements: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        """Tell whether the migration rehearsed cleanly."""
        return self.ran and not self.problems


def rehearse(ctx, options=RehearseOptions()):
    """Copy the database, run each pending migration up, down and up on the copy, report; 0 clean, 1 problem."""
    if options.rows is not None and options.rows < 1:
        raise AppError("--rows must be 1 or more (or leave it out to copy every row); nothing was done.", exit_code=2)
    if options.max_lock_ms < 0:
        raise AppError("--max-lock-ms must be 0 or more; nothing was done.", exit_code=2)
    with scratch.scratch_copy(ctx.settings.database_url, options.rows) as url:
        db = open_database(url)
        db.connect()
        try:
            results = _rehearse_pending(db, url, ctx, options)
        finally:
            db.close()
    if options.as_json:
        ctx.out(json.dumps(as_json(results), indent=2))
    else:
        for line in markdown(results, ctx.settings.masked_database_url, options, is_sqlite_url(ctx)):
            ctx.out(line)
    return 0 if all(r.ok for r in results) else 1


def is_sqlite_url(ctx):
    """Tell whether the command's database is SQLite."""
    return ctx.settings.database_url.startswith("sqlite:")


def _rehearse_pending(db, url, ctx, options):
    state = plan.read_state(db, ctx.directory)
    plan.require_clean(state)
    applied = state.applied_files()
    results = []
    for migration in state.pending:
        if results and not results[-1].ran:
            results.append(Rehearsal(migration.name, migration.display, ran=False,
                                     problems=[f"not rehearsed: {results[-1].name} failed before it"]))
            continue
        result = _rehearse_one(db, url, applied, migration, ctx.timeouts, options.max_lock_ms)
        results.append(result)
        applied = applied + [migration]
    return results


def _rehearse_one(db, url, applied, migration, timeouts, max_lock_ms):
    result = Rehearsal(migration.name, migration.display)
    result.transactional = runner.is_transactional(mfiles.load(migration))
    before = snapshot.schema(db)
    rows_before = snapshot.checksums(db, before)
    migrator = runner.replay(db, applied)
    migrator.calls = []
    observer = Observer(db, url, result.transactional)
    try:
        with observer:
            result.up_ms = _ms(runner.apply(db, migrator, migration, timeouts=timeouts))
    except AppError as exc:
        result.ran = False
        result.statements = _counted(observer.statements, rows_before)
        result.problems.append(f"up failed on the copy: {exc}")
        return result
    result.statements = _counted(observer.statements, rows_before)
    touched = {call.table for call in migrator.calls if call.table}
    after_up = snapshot.schema(db)
    rows_up = snapshot.checksums(db, after_up)
    result.problems += _lock_problems(result.statements, max_lock_ms)
    if not any(call.op in ("sql", "run") for call in migrator.calls):
        result.problems += [f"up changed the rows of {table}, which none of its operations names ({why})"
                            for table, why in _changed_rows(rows_before, rows_up, touched)]
    result.notes += [f"{table} has no rows in the copy, so the rehearsal does not show the migration works on data"
                     for table in sorted(touched) if rows_before.get(table, (1, ""))[0] == 0]
    try:
        seconds, _ = runner.revert(db, runner.replay(db, applied + [migration]), migration, timeouts=timeouts)
        result.down_ms = _ms(seconds)
    except AppError as exc:
        result.problems.append(f"rollback failed on the copy: {exc}")
        return result
    after_down = snapshot.schema(db)
    trace = snapshot.differences(before, after_down)
    if trace:
        result.problems.append("the rollback leaves a trace in the schema: " + "; ".join(trace))
    rows_down = snapshot.checksums(db, after_down)
    result.problems += [f"the rollback does not give back the rows of {table} ({why})"
                        for table, why in _changed_rows(rows_before, rows_down, touched, count_only=touched)]
    try:
        result.again_ms = _ms(runner.apply(db, runner.replay(db, applied), migration, timeouts=timeouts))
    except AppError as exc:
        result.ran = False
        result.problems.append(f"the second up failed after the rollback: {exc}")
        return result
    again = snapshot.differences(after_up, snapshot.schema(db))
    if again:
        result.problems.append("the second up gives another schema than the first: " + "; ".join(again))
    return result


def _counted(statements, rows_before):
    """Give each statement's rewritten tables with the rows they held (also when the migration failed after it)."""
    for statement in statements:
        statement.rewrites = [(table, rows_before.get(table, (0, ""))[0]) for table in statement.rewrites]
    return statements


def _changed_rows(before, after, touched, count_only=()):
    """Yield (table, why) for tables whose rows differ; tables in TOUCHED are skipped, in COUNT_ONLY counted."""
    for table, (count, digest) in sorted(before.items()):
        if table not in after or (table in touched and table not in count_only):
            continue
        new_count, new_digest = after[table]
        if new_count != count:
            yield table, f"{count:,} rows before, {new_count:,} after"
        elif new_digest != digest and table not in count_only:
            yield table, f"same {count:,} rows, different values"


def _lock_problems(statements, max_lock_ms):
    problems = []
    for number, statement in enumerate(statements, 1):
        for lock in statement.locks:
            if lock.blocks and lock.held_ms > max_lock_ms:
                problems.append(f"statement {number} holds {lock.mode} on {lock.table} for {lock.held_ms:,.0f} ms, "
                                f"blocking {lock.blocks} longer than --max-lock-ms {max_lock_ms:,}: {statement.sql[:120]}")
    return problems


def _ms(seconds):
    return round(seconds * 1000, 1)


def as_json(results):
    """Return the rehearsal as the JSON document CI reads."""
    return {"migrations": [{
        "name": r.name,
        "ok": r.ok,
        "problems": r.problems,
        "statements": [{
            "sql": s.sql,
            "ms": s.ms,
            "locks": [{"table": lock.table, "mode": lock.mode, "held_ms": lock.held_ms} for lock in s.locks],
            "rewrites": [{"table": table, "rows": rows} for table, rows in s.rewrites],
        } for s in r.statements],
    } for r in results]}


def markdown(results, target, options, sqlite):
    """Yield the rehearsal as Markdown lines for a pull request."""
    yield "## Migration rehearsal"
    yield ""
    if not results:
        yield f"Nothing to rehearse: no migration is pending on {target}."
        return
    yield (f"{len(results)} pending migration(s) of {target}, each run up, down and up again on a scratch copy "
           f"({scratch.describe_copy(options.rows)}); the database itself was only read.")
    yield ("SQLite locks the whole database for writing while a migration runs; table locks are measured on "
           "PostgreSQL." if sqlite else
           f"Locks that block reads or writes for more than {options.max_lock_ms:,} ms are flagged.")
    for r in results:
        yield ""
        yield f"### {r.name}: {'OK' if r.ok else 'PROBLEM'}"
        yield ""
        if r.up_ms is not None:
            times = [f"up {r.up_ms:,} ms"] + [f"{label} {value:,} ms" for label, value in
                                             (("down", r.down_ms), ("up again", r.again_ms)) if value is not None]
            how = "in a transaction" if r.transactional else "outside a transaction (TRANSACTION = False)"
            yield f"{', '.join(times)}; {how}."
        if r.statements:
            yield from _statement_lines(r.statements)
        for problem in r.problems:
            yield f"- **Problem:** {problem}"
        for note in r.notes:
            yield f"- Note: {note}"
    bad = [r for r in results if not r.ok]
    yield ""
    if bad:
        yield f"**Verdict:** {len(bad)} of {len(results)} migration(s) have a problem: {', '.join(r.name for r in bad)}."
    else:
        yield f"**Verdict:** all {len(results)} pending migration(s) rehearsed cleanly."


def _statement_lines(statements):
    yield ""
    yield "```sql"
    for number, s in enumerate(statements, 1):
        yield f"-- {number}"
        yield s.sql.rstrip(";") + ";"
    yield "```"
    yield ""
    yield "| # | ms | locks taken (held ms) | table rewritten |"
    yield "| --- | ---: | --- | --- |"
    for number, s in enumerate(statements, 1):
        locks = ", ".join(f"{lock.mode} on {lock.table} ({lock.held_ms:,} ms)" for lock in s.locks) or "none"
        rewrites = ", ".join(f"{table} ({rows:,} rows)" for table, rows in s.rewrites) or "no"
        yield f"| {number} | {s.ms:,} | {locks} | {rewrites} |"
    yield ""

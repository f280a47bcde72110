"""The verbs of "python manage.py migrate": each prints what it did and returns an exit code."""

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from importlib import import_module

import peewee as pw

from analyzer.db import check_connection, init_database, is_sqlite, open_database
from analyzer.errors import AppError
from analyzer import guard
from analyzer.migrate import MIGRATIONS_DIR, archive, integrity, interrupt, plan
from analyzer.migrate import history as history_table
from analyzer.migrate import files as mfiles
from analyzer.migrate.lock import migration_lock


def _load(name):
    """Import a heavy module only when a verb needs it: status and an up-to-date run must start fast."""
    return import_module("analyzer.backup" if name == "backup" else f"analyzer.migrate.{name}")


@dataclass
class Context:
    """What every verb needs: settings, where the files are, how to talk to the user."""

    settings: object
    directory: Path = MIGRATIONS_DIR
    models_module: str = "analyzer.models"
    yes: bool = False
    lock_timeout: float | None = None
    out: object = print
    stdin: object = field(default_factory=lambda: sys.stdin)
    must_exist: bool = False  # a verb that only reads: never create a missing SQLite file
    _db: object = None

    @property
    def db(self):
        """Open the configured database once, with a clear error when it cannot be reached."""
        if self._db is None:
            db = init_database(self.settings)
            if self.must_exist and is_sqlite(db) and db.database != ":memory:" and not Path(db.database).is_file():
                raise AppError(f"No database at {db.database}: check DATABASE_URL (python manage.py migrate run "
                               "creates a new one).", exit_code=2)
            check_connection(db, self.settings.database_url)
            self._db = db
        return self._db

    @cached_property
    def offline(self):
        """Return the configured database unopened: create only builds and compares models, so it needs no file."""
        return self._db or open_database(self.settings.database_url)

    @property
    def interactive(self):
        """Tell whether a person can answer a prompt."""
        isatty = getattr(self.stdin, "isatty", None)
        return bool(isatty and isatty())

    def read_line(self):
        """Read one answer from the terminal."""
        return self.stdin.readline()

    @property
    def timeouts(self):
        """Return the PostgreSQL lock and statement timeouts for each migration."""
        return _load("runner").Timeouts(self.settings.pg_lock_timeout, self.settings.pg_statement_timeout)

    @contextmanager
    def locked(self):
        """Hold the migration lock of the database (others wait up to the lock timeout); Ctrl-C cancels at once."""
        wait = self.settings.lock_timeout_s if self.lock_timeout is None else self.lock_timeout
        with interrupt.cancelling(self.db), migration_lock(self.db, wait, on_wait=self.out):
            yield

    def close(self):
        """Close the database connection if one was opened."""
        if self._db is not None and not self._db.is_closed():
            self._db.close()


def create(ctx, description, empty=False, rename=()):
    """Write the next numbered migration from the model changes; renames are asked on a terminal or named."""
    autogen, renamed = _load("autogen"), []
    missing = _missing_files(ctx.settings.database_url, ctx.directory)
    if missing:
        raise AppError(f"Cannot create a migration: the database's history lists {', '.join(missing)}, whose file is "
                       "missing, so a new file would take its number or redo its changes. Restore the file from "
                       'version control (or remove the row with "python manage.py migrate stamp --prune-missing"); '
                       "nothing was written.")
    if not empty:
        named = _load("renames").parse(rename)
        found = autogen.rename_candidates(ctx.offline, mfiles.scan(ctx.directory), ctx.models_module, named)
        renamed = _load("renames").choose(ctx, found, named)
    result = autogen.create(ctx.offline, ctx.directory, description, ctx.models_module, empty=empty, renamed=renamed)
    if result is None:
        ctx.out("No changes: the models match the migrations. Nothing was written.")
        return 0
    created, calls = result
    ctx.out(f"Created {created.display}" + (" (empty template: write migrate() and rollback())" if empty else ":"))
    for call in calls:
        ctx.out(f"  - {call.describe()}")
    ctx.out(
        "Review it before you commit: each operation, the rollback(), and what happens to existing rows. "
        'Then test it: "python manage.py migrate run", "migrate rollback", "migrate run". '
        'After editing it (a lint marker, the template), run "python manage.py migrate sum" to record it again.'
    )
    if not empty:
        findings = _load("lint").lint(ctx.offline, mfiles.scan(ctx.directory), [created])
        if findings:
            _load("review").print_findings(ctx, findings, 1)
    return 0


def _missing_files(url, directory):
    """Return the applied migrations whose file is missing, when the configured database exists and answers."""
    db = open_database(url)
    if is_sqlite(db) and (db.database == ":memory:" or not Path(db.database).is_file()):
        return []
    try:
        with db.connection_context():
            return plan.read_state(db, directory).missing
    except pw.PeeweeException:  # create needs no database: one it cannot read has nothing to say here
        return []


def list_(ctx):
    """Show every migration as applied or pending, and flag problems."""
    state = plan.read_state(ctx.db, ctx.directory)
    ctx.out(f"Migrations in {ctx.directory.name}/ for {ctx.settings.masked_database_url}:")
    applied = {r.name: r for r in state.applied}
    applied |= {new.name: applied[old] for old, new in state.renumbered.items()}
    duplicated = {name for names in state.duplicates.values() for name in names}
    edited = set(state.edited)
    rows = [(f.name, applied.get(f.name)) for f in state.files]
    rows += [(name, applied[name]) for name in state.missing]
    if not rows:
        ctx.out("  (none yet: create the first with python manage.py migrate create \"initial\")")
    skipped = set(state.squashed.values())
    for name, row in sorted(rows, key=lambda r: r[0]):
        mark = f"applied {_when(row)}" if row else "skipped (replaced)" if name in skipped else "pending"
        flags = []
        if name in state.missing:
            flags.append("FILE MISSING")
        if name in edited:
            flags.append("EDITED AFTER IT WAS APPLIED")
        if name in duplicated:
            flags.append("DUPLICATE NUMBER")
        ctx.out(f"  {mark:<28} {name}" + (f"  [{'; '.join(flags)}]" if flags else ""))
    ctx.out(f"{len(state.applied)} applied, {len(state.pending)} pending.")
    _note_renumbered(ctx, state)
    for line in state.problems():
        ctx.out(f"Problem: {line}.")
    return 0


def require_current(ctx):
    """Refuse a data command while migrations are pending (its tables may not exist yet)."""
    pending = plan.read_state(ctx.db, ctx.directory).pending
    if pending:
        raise AppError(f"The database is behind the code: {len(pending)} migration(s) pending "
                       f"({', '.join(f.name for f in pending)}). Run: python manage.py migrate run", exit_code=2)


def status(ctx):
    """Say where the database stands: 0 up to date, 1 pending, 2 problem."""
    try:
        db = ctx.db
    except AppError as exc:
        ctx.out(f"Database: {ctx.settings.masked_database_url}")
        ctx.out(str(exc))
        return 2
    state = plan.read_state(db, ctx.directory)
    ctx.out(f"Database: {ctx.settings.masked_database_url}")
    ctx.out(f"Current:  {state.current or '(none: no migration applied)'}")
    ctx.out(f"Pending:  {len(state.pending)}")
    for f in state.pending:
        ctx.out(f"  {f.name}")
    _warn_edited(ctx, state)
    _warn_halfway(ctx, db, state)
    _note_renumbered(ctx, state)
    problems = state.problems() + [
        f"invalid index {name} left by an interrupted CREATE INDEX CONCURRENTLY: drop it with DROP INDEX "
        f"CONCURRENTLY {name} and run the migration again" for name in plan.invalid_indexes(db)]
    for line in problems:
        ctx.out(f"Problem: {line}.")
    if problems:
        return 2
    if state.pending:
        ctx.out('Run "python manage.py migrate run" to apply them.')
        return 1
    ctx.out("Up to date.")
    return 0


def _renumber(ctx, state):
    """Record applied migrations whose file was renumbered (same contents) under the new name."""
    with ctx.db.atomic():
        for old, new in state.renumbered.items():
            history_table.rename(ctx.db, old, new.name)
            ctx.out(f"Recorded {old} under its new name {new.name} (the file was renumbered; same contents).")


def _note_renumbered(ctx, state):
    """Say which applied migrations were renumbered, and that they stay applied."""
    for old, new in state.renumbered.items():
        ctx.out(f"Note: {old} was renumbered to {new.name} (same contents): it stays applied, and the next "
                "migrate run or rollback records the new name.")


def _warn_halfway(ctx, db, state):
    """Say which migrations outside a transaction stopped partway, and the statements they left applied."""
    applied, on_disk = set(state.applied_names), {f.name for f in state.files}
    for name, row in history_table.halfway(db).items():
        if name not in on_disk or (name in applied) != (row.direction == "rollback"):
            continue  # settled since (a stamp), or its file was renumbered before it ran through
        statements = row.statements.split("\n")
        what = f"{name}" if row.direction == "migrate" else f"The rollback of {name}"
        standing = "it is still pending" if row.direction == "migrate" else "it is still applied"
        ctx.out(f"Warning: {what} stopped partway at {row.stopped_at:%Y-%m-%d %H:%M} UTC (TRANSACTION = False) and "
                f"{standing}; {'at least ' if len(statements) >= history_table.MAX_NOTED else ''}{len(statements)} "
                f"statement(s) of it stayed applied: {_load('runner').shown(statements)}. "
                "Make them idempotent (IF NOT EXISTS) or undo them by hand before it runs again.")


def _warn_edited(ctx, state, reverted=()):
    """Say which applied migrations were edited since: their changes will never run (REVERTED: their rollback will)."""
    for name in state.edited:
        if name in reverted:
            ctx.out(f"Note: {name} was edited after it was applied; --allow-edited rolls it back with the rollback() "
                    "the file has now.")
        else:
            ctx.out(f"Warning: {name} was edited after it was applied; its changes will not run. Add a new migration "
                    "instead of editing it.")


def run(ctx, to=None, fake=False, dry_run=False, allow_destructive=False, backup=False):
    """Apply pending migrations, each in its own transaction, holding the migration lock."""
    with ctx.locked():  # a dry run too: the state it previews is read once a run that holds the lock is done
        if dry_run:
            return _preview_run(ctx, to)
        return _run(ctx, to, fake, allow_destructive, backup)


def _preview_run(ctx, to):
    state = plan.read_state(ctx.db, ctx.directory)
    plan.require_clean(state, ignore=state.newer_version())
    _warn_edited(ctx, state)
    todo = plan.to_apply(state, to)
    if not todo:
        ctx.out(f"Nothing to migrate: the database is at {state.current or 'zero (no migration applied)'}.")
        return 0
    return _load("review").print_preview(ctx, state, todo, "migrate")


def _run(ctx, to, fake, allow_destructive, backup):
    db = ctx.db
    state = plan.read_state(db, ctx.directory)
    # A newer version's migrations, applied before it took over (or before a rollback of the code).
    newer = state.newer_version()
    plan.require_clean(state, ignore=newer)
    _warn_edited(ctx, state)
    todo = plan.to_apply(state, to)
    if not todo:
        _renumber(ctx, state)
        ctx.out(f"Nothing to migrate: the database is at {state.current or 'zero (no migration applied)'}.")
        if newer:
            ctx.out(f"It has {len(newer)} migration(s) newer than this code ({', '.join(newer)}), applied by a newer "
                    "version; this version serves on that schema. To undo them, run migrate rollback from a "
                    "checkout that has their files.")
        return 0
    if not fake:
        plan.require_valid_indexes(db)
        _warn_halfway(ctx, db, state)
    if not state.applied and not fake:
        _refuse_foreign_tables(ctx, todo)
    if ctx.settings.is_production and not fake:
        _refuse_destructive(ctx, state, todo, allow_destructive)
    verb = "Recording (without running)" if fake else "Applying"
    ctx.out(f"{verb} {len(todo)} migration{'s' if len(todo) > 1 else ''} to {guard.describe_target(ctx.settings)}:")
    for f in todo:
        ctx.out(f"  {f.name}")
    for f, top in state.below_applied():
        if f in todo:
            ctx.out(f"Note: {f.name} is numbered below the applied {top:03d}, so it runs after it here but before it "
                    "on a new database: renumber it after the newest migration before it reaches main.")
    if ctx.settings.is_production:
        ctx.out(guard.BACKUP_REMINDER)
    action = "record these migrations as applied without running them" if fake else "apply these migrations"
    guard.confirm(ctx, action, destructive=fake)
    if backup:
        path = _load("backup").backup(ctx.settings.database_url)
        ctx.out(f"Backed up the database to {path}")
    _renumber(ctx, state)
    migrator = _load("runner").replay(db, state.applied_files())
    migrator.report = ctx.out
    for f in todo:
        seconds = _load("runner").apply(db, migrator, f, fake=fake, timeouts=ctx.timeouts)
        ctx.out(f"{'Recorded' if fake else 'Applied'} {f.name} in {seconds:.2f} s")
    ctx.out(f"Database is now at {todo[-1].name}.")
    return 0


def _refuse_foreign_tables(ctx, todo):
    """Refuse a first run on a database that has tables these migrations create (each migration checks its own)."""
    # Checked up front too, so that a wrong DATABASE_URL does not get the migrations before the first clash.
    try:
        tables = {model._meta.table_name for model in _load("runner").replay(ctx.db, todo).orm}
    except AppError:  # a file that cannot be read fails where it is applied, after the ones before it, as always
        return
    clash = sorted(tables & set(ctx.db.get_tables()))
    if clash:
        raise AppError(f"Cannot migrate: no migration is recorded in {guard.describe_target(ctx.settings)}, yet it "
                       f"has the table(s) {', '.join(clash)} that these migrations create, so something else made "
                       "them: check DATABASE_URL. If this database does hold the schema of these migrations, record "
                       "them without running them: python manage.py migrate run --fake. Nothing was changed.",
                       exit_code=2)


def rollback(ctx, steps=None, to=None, dry_run=False, allow_edited=False):
    """Revert the last migration, the last N, or every one after NAME, holding the migration lock."""
    with ctx.locked():
        if dry_run:
            return _preview_rollback(ctx, steps, to, allow_edited)
        return _rollback(ctx, steps, to, allow_edited)


def _preview_rollback(ctx, steps, to, allow_edited):
    state = plan.read_state(ctx.db, ctx.directory)
    plan.require_clean(state)
    _warn_edited(ctx, state)
    if not state.applied:
        ctx.out("Nothing to roll back: no migration is applied.")
        return 0
    todo = plan.to_revert(state, steps=steps, to=to)
    _refuse_edited(state, todo, allow_edited)
    return _load("review").print_preview(ctx, state, todo, "rollback")


def _refuse_edited(state, todo, allow_edited):
    """Refuse to revert a migration whose file changed since it was applied: its rollback() may undo something else."""
    edited = set(state.edited)
    files = [f for f in todo if f.name in edited]
    if files and not allow_edited:
        raise AppError(f"Cannot roll back: {', '.join(f.name for f in files)} was edited after it was applied, so its "
                       "rollback() may not undo what was applied. Restore the file as it was applied (git log -p -- "
                       f"{files[0].display}), or pass --allow-edited when the edit deliberately fixes its rollback. "
                       "Nothing was changed.", exit_code=2)


def _rollback(ctx, steps, to, allow_edited):
    db = ctx.db
    state = plan.read_state(db, ctx.directory)
    plan.require_clean(state)
    if not state.applied:
        ctx.out("Nothing to roll back: no migration is applied.")
        return 0
    todo = plan.to_revert(state, steps=steps, to=to)
    if not todo:
        ctx.out(f"Nothing to roll back: the database is at {state.current}.")
        return 0
    _refuse_edited(state, todo, allow_edited)
    _warn_edited(ctx, state, {f.name for f in todo})
    plan.require_valid_indexes(db)
    _warn_halfway(ctx, db, state)
    ctx.out(f"Rolling back {len(todo)} migration{'s' if len(todo) > 1 else ''} on {guard.describe_target(ctx.settings)}:")
    for f in todo:
        ctx.out(f"  {f.name}")
    ctx.out("Rolling back removes what these migrations added (the data of columns and tables they dropped "
            "comes back from their archives).")
    if ctx.settings.is_production:
        ctx.out(guard.BACKUP_REMINDER)
    guard.confirm(ctx, "roll back these migrations", destructive=True)
    _renumber(ctx, state)
    migrator = _load("runner").replay(db, state.applied_files())
    for f in todo:
        seconds, notes = _load("runner").revert(db, migrator, f, timeouts=ctx.timeouts)
        ctx.out(f"Rolled back {f.name} in {seconds:.2f} s")
        for note in notes:
            ctx.out(f"  {note}")
    remaining = plan.read_state(db, ctx.directory).current
    ctx.out(f"Database is now at {remaining or 'zero (no migration applied)'}.")
    return 0


def history(ctx):
    """List applied migrations, oldest first, with when they were applied."""
    state = plan.read_state(ctx.db, ctx.directory)
    if not state.applied:
        ctx.out("No migration has been applied to this database.")
        return 0
    ctx.out(f"Applied migrations on {ctx.settings.masked_database_url}, oldest first:")
    runners = history_table.runners(ctx.db)
    for row in state.applied:
        took = f"{row.duration_ms} ms" if row.duration_ms is not None else ""
        ctx.out(f"  {_when(row)}  {row.name:<48} {took:>9}  {describe_runner(runners.get(row.id))}".rstrip())
    return 0


def describe_runner(who):
    """Say who ran a migration: user@host, and the Railway deployment and commit when known."""
    if not who or not who.get("run_by"):
        return ""
    parts = [f"by {who['run_by']}"]
    if who.get("deployment_id"):
        parts.append(f"deploy {who['deployment_id']}")
    if who.get("git_commit"):
        parts.append(f"commit {who['git_commit'][:12]}")
    return ", ".join(parts)


def _when(row):
    value = row.migrated_at
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "(time unknown)")[:19]


def stamp(ctx, name=None, prune_missing=False):
    """Mark the database as at NAME without running anything, or drop history rows whose file is gone."""
    with ctx.locked():
        db = ctx.db
        state = plan.read_state(db, ctx.directory)
        if prune_missing:
            return _prune_missing(ctx, state)
        if name is None:
            raise AppError('Name the migration to stamp (or "zero"), or pass --prune-missing.')
        plan.require_clean(state)
        applied = [r.name for r in state.applied]
        if name == "zero":
            keep = []
        else:
            target = mfiles.resolve(state.files, name)
            if target is None:
                raise AppError(f"No migration named {name!r}; nothing was recorded. "
                               f"Known migrations: {', '.join(f.name for f in state.files)}.")
            keep = [f.name for f in state.files if (f.number, f.name) <= (target.number, target.name)]
        add = [f for f in state.files if f.name in keep and f.name not in applied]
        remove = [n for n in applied if n not in keep]
        if not add and not remove:
            ctx.out(f"Nothing to stamp: the history already ends at {state.current or 'zero'}.")
            return 0
        ctx.out(f"Stamping {guard.describe_target(ctx.settings)} as at {name} — the schema is not touched:")
        for f in add:
            ctx.out(f"  record as applied: {f.name}")
        for n in remove:
            ctx.out(f"  remove from history: {n}")
        guard.confirm(ctx, "change the migration history", destructive=True)
        model = history_table.ensure(db)
        with db.atomic():
            for f in add:
                history_table.record(db, f.name, f.checksum, 0)
            if remove:
                model.delete().where(model.name.in_(remove)).execute()
        ctx.out(f"History now ends at {keep[-1] if keep else 'zero'}.")
        return 0


def _prune_missing(ctx, state):
    if not state.missing:
        ctx.out("No history row lacks its file; nothing to prune.")
        return 0
    ctx.out(f"History rows on {guard.describe_target(ctx.settings)} whose file is missing:")
    for name in state.missing:
        ctx.out(f"  {name}")
    ctx.out("Pruning forgets that they ran; their schema changes stay in the database.")
    guard.confirm(ctx, "remove these history rows", destructive=True)
    model = history_table.bind(ctx.db)
    model.delete().where(model.name.in_(state.missing)).execute()
    ctx.out(f"Removed {len(state.missing)} history row(s).")
    return 0


def archives(ctx):
    """List the archives of dropped columns and tables."""
    found = archive.entries(ctx.db)
    if not found:
        ctx.out("No archives: no applied migration has dropped a column or a table.")
        return 0
    ctx.out(f"Archives of dropped data on {ctx.settings.masked_database_url} (restored by rolling back their migration):")
    for e in found:
        what = f"{e.table_name}.{e.column_name}" if e.column_name else f"table {e.table_name}"
        ctx.out(f"  {e.archive_table:<40} {what}, {e.rows} rows, dropped by {e.migration} on {e.archived_at:%Y-%m-%d}")
    return 0


def purge_archives(ctx, older_than_days=None):
    """Drop archive tables for good (all, or those older than N days)."""
    with ctx.locked():
        archives(ctx)
        if not archive.entries(ctx.db):
            return 0
        scope = f"older than {older_than_days} days" if older_than_days is not None else "all"
        ctx.out(f"Purging ({scope}) deletes this data for good: rolling back those migrations will then "
                "re-create the columns and tables empty.")
        guard.confirm(ctx, "purge these archives", destructive=True)
        dropped = archive.purge(ctx.db, older_than_days)
        ctx.out(f"Purged {len(dropped)} archive(s).")
        return 0


def squash(ctx, to, schema_only=()):
    """Replace the migrations through TO with one baseline for new databases."""
    created, names = _load("squash").squash(ctx.db, ctx.directory, to, schema_only)
    ctx.out(f"Created {created.display}: a baseline for new databases that replaces {len(names)} migrations "
            f"({names[0]} … {names[-1]}).")
    ctx.out(f"Moved the replaced files to {ctx.directory.name}/squashed/, where \"migrate check\" compares them with "
            "the baseline. Databases that applied them keep their history and skip the baseline.")
    return 0


def write_sum(ctx):
    """Rewrite migrations/migrations.sum from the files on disk."""
    dropped = [str(number) for number, _ in integrity.unreadable(ctx.directory)]
    entries = integrity.write(ctx.directory, mfiles.scan(ctx.directory))
    done = "; ".join(f"{how}: {', '.join(names)}" for how, names in entries.items() if names)
    done = done or ("no entry changed" if dropped else "no change")
    if dropped:
        done += f"; dropped {len(dropped)} line(s) that were no entry (conflict markers or other text): "
        done += ", ".join(dropped)
    ctx.out(f"Wrote {ctx.directory.name}/{integrity.SUM_FILE}; {done}.")
    return 0


def _refuse_destructive(ctx, state, todo, allow_destructive):
    lint = _load("lint")
    findings = [f for f in lint.lint(ctx.db, state.files, todo) if f.rule in lint.DESTRUCTIVE and not f.overridden]
    if not findings:
        return
    for finding in findings:
        ctx.out(finding.format())
    if allow_destructive:
        ctx.out(f"--allow-destructive: going ahead with {len(findings)} destructive change(s).")
        return
    raise AppError(
        f"Refusing to run {len(findings)} destructive change(s) in production; nothing was applied. Review them, "
        "take a backup, then run again with --allow-destructive (or mark each in its file: # lint: allow <rule> -- <reason>).",
        exit_code=2,
    )

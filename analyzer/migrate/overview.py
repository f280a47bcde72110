"""What the schema page shows: where the database stands, what is pending and what was applied, read-only."""

from dataclasses import dataclass, field

from analyzer.db import is_sqlite, open_database
from analyzer.migrate import archive, history, lint, plan, runner

ARCHIVE_SIZE_PG = "SELECT pg_total_relation_size(%s::regclass)"
ARCHIVE_SIZE_SQLITE = "SELECT SUM(pgsize) FROM dbstat WHERE name = ?"


@dataclass
class Pending:
    """A pending migration with its lint findings and the SQL it would run."""

    name: str
    findings: list
    statements: list
    transactional: bool = True
    preview_error: str = ""


@dataclass
class Applied:
    """An applied migration: when, how long, by whom, from which deploy, and whether its file changed since."""

    name: str
    migrated_at: object
    duration_ms: int | None
    run_by: str | None
    deployment_id: str | None
    git_commit: str | None
    edited: bool
    missing: bool


@dataclass
class Archive:
    """An archive of dropped data and its size on disk."""

    entry: object
    size_bytes: int | None


@dataclass
class Overview:
    """Everything the schema page shows."""

    current: str | None
    pending: list = field(default_factory=list)
    applied: list = field(default_factory=list)
    archives: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def read(database_url, directory):
    """Describe the database's migrations without changing anything (no DDL runs, not even rolled back)."""
    # A handle of its own: the SQL preview reroutes the handle's statements while it runs.
    db = open_database(database_url)
    try:
        return _read(db, directory)
    finally:
        db.close()


def _read(db, directory):
    state = plan.read_state(db, directory)
    overview = Overview(current=state.current, problems=state.problems())
    edited = set(state.edited)
    runners = history.runners(db)
    overview.applied = [
        Applied(row.name, row.migrated_at, row.duration_ms, *_who(runners.get(row.id)),
                edited=row.name in edited, missing=row.name in state.missing)
        for row in reversed(state.applied)]
    if state.pending and not state.duplicates and not state.missing:
        findings = lint.lint(db, state.files, state.pending)
        migrator = runner.replay(db, state.applied_files())
        migrator.archiving = False
        for migration in state.pending:
            overview.pending.append(_pending(db, migrator, migration, findings))
    else:
        overview.pending = [Pending(f.name, [], []) for f in state.pending]
    overview.archives = [Archive(entry, _size(db, entry.archive_table)) for entry in reversed(archive.entries(db))]
    return overview


def _pending(db, migrator, migration, findings):
    mine = [f for f in findings if f.path == migration.display]
    try:
        transactional, statements = runner.sketch(db, migrator, migration)
    except Exception as exc:  # a broken file: the page shows why instead of failing
        return Pending(migration.name, mine, [], preview_error=f"{type(exc).__name__}: {exc}")
    return Pending(migration.name, mine, statements, transactional)


def _who(who):
    who = who or {}
    return who.get("run_by"), who.get("deployment_id"), who.get("git_commit")


def _size(db, table):
    if not db.table_exists(table):
        return None
    if is_sqlite(db):
        return db.execute_sql(ARCHIVE_SIZE_SQLITE, (table,)).fetchone()[0]
    return db.execute_sql(ARCHIVE_SIZE_PG, ('"' + table.replace('"', '""') + '"',)).fetchone()[0]


def human_size(size):
    """Write a byte count for people: 8.0 kB, 1.2 MB."""
    if size is None:
        return "unknown"
    if size < 1024:
        return f"{size:,} bytes"
    for unit in ("kB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:,.1f} {unit}"

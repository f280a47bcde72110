"""Scratch copies of a database for rehearsals: the real database is only ever read."""

import os
import sqlite3
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql as pgsql

from analyzer.backup import pg_parts, run_pg_tool, sqlite_copy, sqlite_path
from analyzer.config import mask_url
from analyzer.errors import AppError

PG_DUMP_MISSING = (
    "pg_dump is not installed on this machine, so the scratch copy cannot be made; nothing was changed. "
    "Install the PostgreSQL client at least as new as the server (Debian/Ubuntu: apt-get install "
    "postgresql-client; macOS: brew install libpq), or rehearse from a machine that has it."
)

CAN_CREATE_DATABASE = """
SELECT rolcreatedb OR rolsuper
FROM pg_roles
WHERE rolname = current_user
"""

TABLES = """
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname = current_schema()
ORDER BY c.relname
"""

SEQUENCES = """
SELECT sequencename, last_value
FROM pg_sequences
WHERE schemaname = current_schema()
  AND last_value IS NOT NULL
"""


@contextmanager
def scratch_copy(database_url, rows=None):
    """Yield the URL of a throwaway copy of the database (all rows, or ROWS per table); remove it after."""
    if database_url.startswith("sqlite:"):
        with _sqlite_scratch(database_url, rows) as url:
            yield url
    else:
        with _pg_scratch(database_url, rows) as url:
            yield url


def describe_copy(rows):
    """Say what the copy holds."""
    return "all rows" if rows is None else f"at most {rows:,} rows per table"


@contextmanager
def _sqlite_scratch(database_url, rows):
    source = sqlite_path(database_url)
    if not source.is_file():
        raise AppError(f"No database at {source}: there is nothing to rehearse on. Check DATABASE_URL.", exit_code=2)
    handle, name = tempfile.mkstemp(prefix="rehearse-", suffix=".sqlite3")
    os.close(handle)
    target = Path(name)
    try:
        sqlite_copy(source, target)
        if rows is not None:
            _sample_sqlite(target, rows)
        yield f"sqlite:///{target}"
    finally:
        for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm"), Path(f"{target}.migrate-lock")):
            path.unlink(missing_ok=True)


def _sample_sqlite(path, rows):
    connection = sqlite3.connect(path)
    try:
        tables = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        connection.execute("PRAGMA foreign_keys = OFF")
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            connection.execute(f"DELETE FROM {quoted} WHERE rowid NOT IN (SELECT rowid FROM {quoted} "
                               "ORDER BY rowid LIMIT ?)", (rows,))
        connection.commit()
        connection.execute("VACUUM")
    finally:
        connection.close()


@contextmanager
def _pg_scratch(database_url, rows):
    name = f"rehearse_{secrets.token_hex(4)}_{pg_parts(database_url)['dbname']}"[:63]
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    admin = _connect(database_url, autocommit=True)
    try:
        _require_create_database(admin, database_url)
        schema = _dump(database_url, "pre-data")
        constraints = _dump(database_url, "post-data")
        _create_database(admin, name, database_url)
        try:
            _run_script(url, schema)
            _copy_rows(database_url, url, rows)
            # A sample may keep a child row whose parent it left out: keep the key, skip the check of old rows.
            _run_script(url, constraints if rows is None else _not_valid(constraints))
            yield url
        finally:
            with admin.cursor() as cur:
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
    finally:
        admin.close()


def _dump(database_url, section):
    return run_pg_tool("pg_dump", database_url, ["--schema-only", "--no-owner", "--no-privileges",
                                                 f"--section={section}"], missing=PG_DUMP_MISSING)


def _connect(url, autocommit=False):
    try:
        connection = psycopg2.connect(url, connect_timeout=10)
    except psycopg2.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AppError(f"Cannot connect to {mask_url(url)}: {reason}.", exit_code=2) from None
    connection.autocommit = autocommit
    return connection


def _require_create_database(admin, database_url):
    with admin.cursor() as cur:
        cur.execute(CAN_CREATE_DATABASE)
        allowed = (cur.fetchone() or [False])[0]
    if not allowed:
        raise AppError(f"{_user(database_url)} may not create databases on {mask_url(database_url)}, and the "
                       f"rehearsal needs a scratch database; nothing was changed. {_grant_fix(database_url)}",
                       exit_code=2)


def _create_database(admin, name, database_url):
    try:
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    except psycopg2.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AppError(f"Cannot create the scratch database {name}: {reason}; nothing was changed. "
                       f"{_grant_fix(database_url)}", exit_code=2) from None


def _user(database_url):
    return pg_parts(database_url)["username"] or "this user"


def _grant_fix(database_url):
    return (f'Grant the right once (as an admin: ALTER ROLE "{_user(database_url)}" CREATEDB;), or rehearse as a '
            "user that has it, for example on a backup restored on your machine.")


def _run_script(url, script):
    # pg_dump writes psql meta-commands (\restrict) that are not SQL.
    text = "\n".join(line for line in script.splitlines() if not line.startswith("\\"))
    connection = _connect(url)
    try:
        with connection, connection.cursor() as cur:
            if text.strip():
                cur.execute(text)
    finally:
        connection.close()


def _not_valid(script):
    return ";\n".join(statement + " NOT VALID" if " FOREIGN KEY " in statement and "NOT VALID" not in statement
                      else statement for statement in script.split(";\n"))


def _copy_rows(source_url, target_url, rows):
    """Copy every table's rows (or the first ROWS by physical order) in one consistent snapshot of the source."""
    source = _connect(source_url)
    source.set_session(readonly=True, isolation_level="REPEATABLE READ")
    target = _connect(target_url)
    try:
        with source.cursor() as read, target.cursor() as write:
            read.execute(TABLES)
            for (table,) in read.fetchall():
                name = pgsql.Identifier(table)
                query = pgsql.SQL("SELECT * FROM {}").format(name)
                if rows is not None:
                    query = pgsql.SQL("{} LIMIT {}").format(query, pgsql.Literal(rows))
                with tempfile.TemporaryFile() as buffer:
                    read.copy_expert(pgsql.SQL("COPY ({}) TO STDOUT").format(query).as_string(source), buffer)
                    buffer.seek(0)
                    write.copy_expert(pgsql.SQL("COPY {} FROM STDIN").format(name).as_string(target), buffer)
                write.execute(pgsql.SQL("ANALYZE {}").format(name))
            read.execute(SEQUENCES)
            for sequence, value in read.fetchall():
                write.execute("SELECT setval(%s, %s)", (pgsql.Identifier(sequence).as_string(target), value))
        target.commit()
    finally:
        source.rollback()
        source.close()
        target.close()

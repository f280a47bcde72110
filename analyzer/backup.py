"""Consistent backups and restores: SQLite through its online backup API, PostgreSQL through pg_dump."""

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

from analyzer.config import mask_url
from analyzer.errors import AppError

RAILWAY_HINT = (
    "On Railway, use the PostgreSQL service's Backups tab, or run pg_dump from a machine that has it: "
    'pg_dump --format=custom "$DATABASE_URL" > backup.dump'
)

SQLITE_HEADER = b"SQLite format 3\x00"


def backup(database_url, out=None, now=None):
    """Write a consistent backup of the database and return its path."""
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    if _is_sqlite(database_url):
        source = sqlite_path(database_url)
        if not source.exists():
            raise AppError(f"Cannot back up {database_url}: the file does not exist.")
        path = _target(out, f"{source.stem}-{stamp}.sqlite3")
        sqlite_copy(source, path)
        return path
    path = _target(out, f"{pg_parts(database_url)['dbname']}-{stamp}.dump")
    run_pg_tool("pg_dump", database_url, ["--format=custom", "--no-owner", "--file", str(path)], cleanup=path)
    return path


def check_restorable(database_url, path):
    """Raise AppError unless PATH looks like a backup that backup() made for this kind of database."""
    path = Path(path)
    if not path.exists():
        raise AppError(f"Cannot restore {path}: the file does not exist. Nothing was changed.")
    if path.is_dir() and not _is_sqlite(database_url):
        return  # a directory-format dump: pg_restore reads it
    try:
        with open(path, "rb") as handle:
            start = handle.read(16)
    except OSError as exc:
        raise AppError(f"Cannot restore {path}: {exc.strerror.lower()}. Nothing was changed.") from None
    sqlite_file, dump = start == SQLITE_HEADER, start[:5] == b"PGDMP"
    if _is_sqlite(database_url) and not sqlite_file:
        made_by = " (it is a PostgreSQL dump: restore it into a PostgreSQL database)" if dump else ""
        raise AppError(f"Cannot restore {path}: it is not a SQLite backup{made_by}. Nothing was changed.")
    if not _is_sqlite(database_url) and sqlite_file:  # anything else is pg_restore's to judge (a tar dump, say)
        raise AppError(f"Cannot restore {path}: it is a SQLite backup: restore it into a SQLite database. "
                       "Nothing was changed.")


def restore(database_url, path):
    """Replace the database's contents with a backup made by backup()."""
    check_restorable(database_url, path)
    if _is_sqlite(database_url):
        sqlite_copy(Path(path), sqlite_path(database_url))
        return
    run_pg_tool("pg_restore", database_url, ["--clean", "--if-exists", "--no-owner", "--single-transaction", str(path)])


def restore_command(database_url, path):
    """Return the command a person runs to restore PATH by hand."""
    if _is_sqlite(database_url):
        return f"stop the app, then: cp {path} {sqlite_path(database_url)} (or python manage.py db restore {path})"
    return f'pg_restore --clean --if-exists --no-owner --single-transaction --dbname "$DATABASE_URL" {path}'


def _target(out, default_name):
    path = Path(out) if out else Path("backups") / default_name
    if path.exists():
        raise AppError(f"{path} already exists; nothing was written. Choose another --out.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sqlite_copy(source, target):
    """Copy a SQLite file through the online backup API, opening the source read-only."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def run_pg_tool(tool, database_url, arguments, cleanup=None, missing=None):
    """Run pg_dump or pg_restore on DATABASE_URL (password through the environment) and return its output."""
    executable = shutil.which(tool)
    if executable is None:
        raise AppError(missing or f"{tool} is not installed on this machine, so the backup cannot be made here. {RAILWAY_HINT}",
                       exit_code=2)
    parts = pg_parts(database_url)
    env = {**os.environ, "PGPASSWORD": parts.pop("password")}
    command = [executable, *[f"--{k}={v}" for k, v in parts.items() if v], *arguments]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        if cleanup is not None:
            Path(cleanup).unlink(missing_ok=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["no message"]
        raise AppError(f"{tool} failed for {mask_url(database_url)}: {lines[0]}", exit_code=2)
    return done.stdout


def pg_parts(database_url):
    """Split a PostgreSQL URL into pg_dump's connection options."""
    parts = urlsplit(database_url)
    return {
        "host": parts.hostname or "",
        "port": str(parts.port or 5432),
        "username": unquote(parts.username or ""),
        "dbname": parts.path.strip("/"),
        "password": unquote(parts.password or ""),
    }


def _is_sqlite(database_url):
    return database_url.startswith("sqlite:")


def sqlite_path(database_url):
    """Return the file of a sqlite:/// URL."""
    return Path(database_url.split(":///", 1)[-1])

"""Keep the data of dropped columns and tables, so that a rollback brings the values back."""

import datetime as dt
import hashlib

import peewee as pw

from analyzer.migrate.history import utcnow

REGISTRY = "migratearchive"


class ArchiveEntry(pw.Model):
    """One archived column or table, and the migration that dropped it."""

    migration = pw.CharField(max_length=255, index=True)
    table_name = pw.CharField(max_length=255)
    column_name = pw.CharField(max_length=255, null=True)
    archive_table = pw.CharField(max_length=63, unique=True)
    key_columns = pw.CharField(max_length=255)
    rows = pw.IntegerField(default=0)
    archived_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = REGISTRY


def bind(db):
    """Return the registry model bound to a database, creating its table when missing."""
    ArchiveEntry.bind(db, bind_refs=False, bind_backrefs=False)
    if not db.table_exists(REGISTRY):
        ArchiveEntry.create_table()
    return ArchiveEntry


def entries(db):
    """Return every archive, oldest first (none when nothing was ever archived)."""
    if not db.table_exists(REGISTRY):
        return []
    model = bind(db)
    return list(model.select().order_by(model.id))


def archive_name(migration, table, column=None):
    """Return a unique, readable archive table name that fits PostgreSQL's 63 characters."""
    number = migration.split("_", 1)[0]
    name = f"_archive_{number}_{table}" + (f"__{column}" if column else "")
    if len(name) > 63:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:54]}_{digest}"
    return name


def archive_column(db, migration, table, column, keys):
    """Copy a column and its row keys into an archive table before the column is dropped."""
    target = archive_name(migration, table, column)
    selected = ", ".join(_q(c) for c in [*keys, column])
    _drop_if_exists(db, target)
    db.execute_sql(f"CREATE TABLE {_q(target)} AS SELECT {selected} FROM {_q(table)}")
    _register(db, migration, table, column, target, keys)


def archive_table(db, migration, table, keys):
    """Copy a whole table into an archive table before it is dropped."""
    target = archive_name(migration, table)
    _drop_if_exists(db, target)
    db.execute_sql(f"CREATE TABLE {_q(target)} AS SELECT * FROM {_q(table)}")
    _register(db, migration, table, None, target, keys)


def restore(db, migration):
    """Bring back what MIGRATION archived, if its rollback re-created the column or table; return notes."""
    if not db.table_exists(REGISTRY):
        return []
    model = bind(db)
    # A list: SQLite cannot drop a table while a cursor over the registry is open ("database table is locked").
    found = list(model.select().where(model.migration == migration).order_by(model.id.desc()))
    return [_restore_entry(db, entry) for entry in found]


def restore_not_null(db, migration, table, column):
    """Bring back what MIGRATION archived of TABLE.COLUMN before it is NOT NULL again; stop if a row gets no value."""
    entry = _column_entry(db, migration, table, column)
    if column in {c.name for c in db.get_columns(table)}:  # a dry preview (TRANSACTION = False) did not add it
        # Counted before anything is restored: outside a transaction, a refusal must leave the archive whole.
        added, were_null = _without_value(db, table, column, entry)
        if added or were_null:
            if not entry:
                where = f"and no archive of {migration} is left to give one"
            else:
                why = [f"{added} added since {migration} dropped it"] if added else []
                why += [f"{were_null} that were NULL when it was dropped"] if were_null else []
                where = f"in its archive {entry.archive_table} either ({', '.join(why)})"
            raise pw.IntegrityError(
                f"{table}.{column} cannot be NOT NULL again: {added + were_null} row(s) have no value for it {where}. "
                "Give them one in rollback() before its add_not_null: a default in its add_fields, or a migrator.sql "
                "UPDATE")
    return [_restore_entry(db, entry)] if entry else []


def purge(db, older_than_days=None):
    """Drop archive tables (all, or those older than N days) and return the entries dropped."""
    cutoff = utcnow() - dt.timedelta(days=older_than_days) if older_than_days is not None else None
    dropped = []
    for entry in entries(db):
        if cutoff is not None and entry.archived_at > cutoff:
            continue
        _drop_if_exists(db, entry.archive_table)
        entry.delete_instance()
        dropped.append(entry)
    return dropped


def _column_entry(db, migration, table, column):
    """Return MIGRATION's archive of TABLE.COLUMN, or None."""
    if not db.table_exists(REGISTRY):
        return None
    model = bind(db)
    return model.get_or_none(model.migration == migration, model.table_name == table, model.column_name == column)


def _restore_entry(db, entry):
    """Put back one archive where its table or column was re-created, drop it, and return a note."""
    if not db.table_exists(entry.table_name):
        return f"kept archive {entry.archive_table}: table {entry.table_name} was not re-created"
    present = {c.name for c in db.get_columns(entry.table_name)}
    if entry.column_name:
        if entry.column_name not in present:
            return f"kept archive {entry.archive_table}: column {entry.column_name} was not re-created"
        _restore_column(db, entry)
    else:
        _restore_table(db, entry, present)
    db.execute_sql(f"DROP TABLE {_q(entry.archive_table)}")
    entry.delete_instance()
    return (f"restored {entry.rows} rows of {entry.table_name}" + (f".{entry.column_name}" if entry.column_name else "")
            + f" from {entry.archive_table}")


def _without_value(db, table, column, entry):
    """Count the rows of TABLE that ENTRY's restore would leave NULL in COLUMN: (not in it, NULL in it)."""
    null = f"SELECT COUNT(*) FROM {_q(table)} WHERE {_q(column)} IS NULL"
    if not entry:
        return db.execute_sql(null).fetchone()[0], 0
    archived = f"SELECT 1 FROM {_q(entry.archive_table)} a WHERE {_indexed_match(db, entry)}"
    added = db.execute_sql(f"{null} AND NOT EXISTS ({archived})").fetchone()[0]
    # Whatever the column holds now (a default, say): the restore writes the archived NULL over it.
    were_null = db.execute_sql(f"SELECT COUNT(*) FROM {_q(table)} WHERE EXISTS ({archived} AND a.{_q(column)} IS NULL)"
                               ).fetchone()[0]
    return added, were_null


def _indexed_match(db, entry):
    """Index ENTRY's archive on its row keys; return the condition matching an archived row to its table's row."""
    # Without an index on its keys, each row's lookup reads the whole archive: 59 s for 40,000 rows on SQLite, and
    # past PostgreSQL's statement timeout for a few hundred thousand. The index goes with the archive afterwards.
    keys = entry.key_columns.split(",")
    index = _q("_archive_keys_" + hashlib.sha1(entry.archive_table.encode()).hexdigest()[:16])
    columns = ", ".join(_q(k) for k in keys)
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS {index} ON {_q(entry.archive_table)} ({columns})")
    return " AND ".join(f"a.{_q(k)} = {_q(entry.table_name)}.{_q(k)}" for k in keys)


def _restore_column(db, entry):
    table, archive, column = _q(entry.table_name), _q(entry.archive_table), _q(entry.column_name)
    match = _indexed_match(db, entry)
    db.execute_sql(
        f"UPDATE {table} SET {column} = (SELECT a.{column} FROM {archive} a WHERE {match}) "
        f"WHERE EXISTS (SELECT 1 FROM {archive} a WHERE {match})"
    )


def _restore_table(db, entry, present):
    archived = [c.name for c in db.get_columns(entry.archive_table)]
    shared = ", ".join(_q(c) for c in archived if c in present)
    db.execute_sql(f"INSERT INTO {_q(entry.table_name)} ({shared}) SELECT {shared} FROM {_q(entry.archive_table)}")
    if not _is_sqlite(db) and len(entry.key_columns.split(",")) == 1:
        key = entry.key_columns
        db.execute_sql(
            "SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE((SELECT MAX(" + _q(key) + ") FROM "
            + _q(entry.table_name) + "), 0) + 1, false) WHERE pg_get_serial_sequence(%s, %s) IS NOT NULL",
            (_q(entry.table_name), key, _q(entry.table_name), key))


def _register(db, migration, table, column, target, keys):
    rows = db.execute_sql(f"SELECT COUNT(*) FROM {_q(target)}").fetchone()[0]
    bind(db).create(migration=migration, table_name=table, column_name=column, archive_table=target,
                    key_columns=",".join(keys), rows=rows)


def _drop_if_exists(db, table):
    db.execute_sql(f"DROP TABLE IF EXISTS {_q(table)}")


def _is_sqlite(db):
    return isinstance(db, pw.SqliteDatabase)


def _q(name):
    return '"' + name.replace('"', '""') + '"'

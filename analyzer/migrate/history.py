"""The table that records which migrations were applied, when, and with which file hash."""

import datetime as dt
import getpass
import os
import socket

import peewee as pw

TABLE = "migratehistory"
WHO_COLUMNS = ("run_by", "deployment_id", "git_commit")
"""Columns that migration 004 adds: who ran each migration, from which deploy and commit."""


def utcnow():
    """Return the current UTC time without tzinfo, as stored."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class MigrateHistory(pw.Model):
    """One applied migration (peewee-migrate's table, plus a checksum and a duration)."""

    name = pw.CharField(max_length=255)
    migrated_at = pw.DateTimeField(default=utcnow)
    checksum = pw.CharField(max_length=64, null=True)
    duration_ms = pw.IntegerField(null=True)

    class Meta:
        table_name = TABLE


MAX_NOTED = 100  # statements kept of a migration that stopped partway


class Halfway(pw.Model):
    """A migration outside a transaction (TRANSACTION = False) that stopped partway, and the statements it left."""

    name = pw.CharField(max_length=255)
    direction = pw.CharField(max_length=8)
    stopped_at = pw.DateTimeField(default=utcnow)
    statements = pw.TextField()

    class Meta:
        table_name = "migratehalfway"


def bind(db):
    """Return the history model bound to a database."""
    MigrateHistory.bind(db, bind_refs=False, bind_backrefs=False)
    return MigrateHistory


def exists(db):
    """Tell whether the history table exists."""
    return db.table_exists(TABLE)


def ensure(db):
    """Create the history table, or add our columns to one that peewee-migrate made."""
    model = bind(db)
    if not exists(db):
        model.create_table()
        return model
    columns = {c.name for c in db.get_columns(TABLE)}
    for field in (MigrateHistory.checksum, MigrateHistory.duration_ms):
        if field.column_name not in columns:
            db.execute_sql(f'ALTER TABLE "{TABLE}" ADD COLUMN "{field.column_name}" {_ddl_type(db, field)} NULL')
    return model


def applied(db):
    """Return the applied history rows, oldest first (none when the table does not exist)."""
    if not exists(db):
        return []
    model = bind(db)
    return list(model.select().order_by(model.id))


def who(environ=None):
    """Describe who runs this process: OS user and host, and on Railway the deployment and commit."""
    env = os.environ if environ is None else environ
    try:
        user = env.get("USER") or env.get("LOGNAME") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return {
        "run_by": f"{user}@{socket.gethostname()}"[:255],
        "deployment_id": env.get("RAILWAY_DEPLOYMENT_ID", "")[:64] or None,
        "git_commit": env.get("RAILWAY_GIT_COMMIT_SHA", "")[:64] or None,
    }


def who_columns(db):
    """Return the who-ran-it columns this database's history table has (none before migration 004)."""
    present = {c.name for c in db.get_columns(TABLE)}
    return [name for name in WHO_COLUMNS if name in present]


def record(db, name, checksum, duration_ms):
    """Write the history row of an applied migration, with who ran it where the table has the columns."""
    model = bind(db)
    row = model.create(name=name, checksum=checksum, duration_ms=duration_ms)
    columns = who_columns(db)
    if columns:
        values = who()
        table = pw.Table(TABLE, columns=("id", *columns)).bind(db)
        table.update({getattr(table, c): values[c] for c in columns}).where(table.id == row.id).execute()
    return row


def rename(db, old, new):
    """Give the history row (and any note of a stop partway) of migration OLD the name NEW (its file was renumbered)."""
    model = bind(db)
    model.update(name=new).where(model.name == old).execute()
    if db.table_exists(Halfway._meta.table_name):
        Halfway.bind(db, bind_refs=False, bind_backrefs=False)
        Halfway.update(name=new).where(Halfway.name == old).execute()


def runners(db):
    """Return {history row id: {column: value}} of who ran each migration (empty before migration 004)."""
    if not exists(db):
        return {}
    columns = who_columns(db)
    if not columns:
        return {}
    table = pw.Table(TABLE, columns=("id", *columns)).bind(db)
    rows = table.select(table.id, *(getattr(table, c) for c in columns)).dicts()
    return {row.pop("id"): row for row in rows}


def _ddl_type(db, field):
    return db.get_context_options()["field_types"].get(field.field_type, field.field_type)


def halfway(db):
    """Return {migration name: Halfway} of the migrations that stopped partway and have not run through since."""
    if not db.table_exists(Halfway._meta.table_name):
        return {}
    Halfway.bind(db, bind_refs=False, bind_backrefs=False)
    return {row.name: row for row in Halfway.select().order_by(Halfway.id)}


def ensure_halfway(db):
    """Create the table of migrations that stopped partway, when missing."""
    Halfway.bind(db, bind_refs=False, bind_backrefs=False)
    Halfway.create_table(safe=True)


def note_halfway(db, name, direction, statements):
    """Remember that migration NAME stopped partway in DIRECTION, leaving STATEMENTS applied (added to earlier ones)."""
    Halfway.bind(db, bind_refs=False, bind_backrefs=False)
    row = Halfway.get_or_none(Halfway.name == name, Halfway.direction == direction)
    earlier = row.statements.split("\n") if row else []
    if len(earlier) >= MAX_NOTED:
        return  # the first ones say what happened: a backfill's thousands of batches would grow the note without end
    text = "\n".join([*earlier, *(s for s in statements if s not in earlier)])
    if row:
        Halfway.update(statements=text, stopped_at=utcnow()).where(Halfway.id == row.id).execute()
    else:
        Halfway.create(name=name, direction=direction, statements=text)


def clear_halfway(db, name):
    """Forget that migration NAME stopped partway: it ran through in one direction or the other."""
    if db.table_exists(Halfway._meta.table_name):
        Halfway.bind(db, bind_refs=False, bind_backrefs=False)
        Halfway.delete().where(Halfway.name == name).execute()

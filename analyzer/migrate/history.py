"""The table that records which migrations were applied, when, and with which file hash."""

import datetime as dt

import peewee as pw

TABLE = "migratehistory"


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


def _ddl_type(db, field):
    return db.get_context_options()["field_types"].get(field.field_type, field.field_type)

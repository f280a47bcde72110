"""Index each customer's sessions by start time.

Created 2026-11-27 03:01 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".

The new index replaces the one on customer_id alone, which it serves too: first sessions, cohorts and the
customer page then read a customer's sessions in time order from the index alone. On PostgreSQL both are built
and dropped CONCURRENTLY, so imports and sign-ins go on while a large table is indexed. The generated
change_fields (index=True dropped from the field) is left out: the column does not change, only its index.
"""

import peewee as pw
from peewee_migrate import Migrator

TRANSACTION = False
NEW = '"customer_sessions_customer_id_started_at" ON "customer_sessions" ("customer_id", "started_at")'
OLD = '"customersession_customer_id" ON "customer_sessions" ("customer_id")'  # 001 named it after the model


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    how = "CONCURRENTLY " if isinstance(database, pw.PostgresqlDatabase) else ""
    migrator.sql(f"CREATE INDEX {how}IF NOT EXISTS {NEW}")
    migrator.sql(f'DROP INDEX {how}IF EXISTS "customersession_customer_id"')
    _record(migrator, index=False)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    how = "CONCURRENTLY " if isinstance(database, pw.PostgresqlDatabase) else ""
    migrator.sql(f"CREATE INDEX {how}IF NOT EXISTS {OLD}")
    migrator.sql(f'DROP INDEX {how}IF EXISTS "customer_sessions_customer_id_started_at"')
    _record(migrator, index=True)


def _record(migrator, index):
    """Tell the migrations' record of the model (what migrate check compares with models.py) what the SQL did."""
    # migrator.add_index and drop_index would also build and drop them, without CONCURRENTLY.
    meta = migrator.orm["customer_sessions"]._meta
    meta.fields["customer_id"].index = index
    pair = (("customer_id", "started_at"), False)
    meta.indexes = [i for i in meta.indexes if tuple(i[0]) != pair[0]] + ([] if index else [pair])

"""Drop the index on events' session id, which the session and time index serves.

Created 2026-11-28 16:02 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".

session_events had two indexes that begin with session_id: its own (made for the foreign key) and the one on
(session_id, occurred_at). The second answers every lookup by session, the cascade of a session's delete
included, so the first only made each event insert write one more index. It is dropped CONCURRENTLY on
PostgreSQL, so imports and sign-ins go on; the rollback builds it again the same way, under its old name.
"""

import peewee as pw
from peewee_migrate import Migrator

TRANSACTION = False


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    migrator.drop_index('session_events', 'session', concurrently=True)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.add_index('session_events', 'session', unique=False, name='sessionevent_session_id', concurrently=True)

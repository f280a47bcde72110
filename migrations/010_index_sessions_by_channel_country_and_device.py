"""Index sessions by channel, country and device.

Created 2026-11-27 15:06 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".

SQLite uses one index per table in a query: with two filters (channel = paid search and country = DE at 10M
sessions), it read every German session through the country index (1.2M rows) to keep one in eight. The new
index holds the three dimensions analysts filter on most, so any two of channel, country and device are matched
in the index before a row is read. It replaces the index on channel alone, which it serves too. The new index is
built before the old one is dropped, both CONCURRENTLY on PostgreSQL, so imports and sign-ins go on.
"""

import peewee as pw
from peewee_migrate import Migrator

TRANSACTION = False


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    migrator.add_index('customer_sessions', 'channel', 'country', 'device', unique=False, concurrently=True)

    migrator.drop_index('customer_sessions', 'channel', concurrently=True)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.add_index('customer_sessions', 'channel', unique=False, concurrently=True)

    migrator.drop_index('customer_sessions', 'channel', 'country', 'device', concurrently=True)

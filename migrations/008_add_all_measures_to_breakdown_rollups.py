"""Add all measures to breakdown rollups.

Created 2026-11-25 18:32 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    migrator.add_fields(
        'breakdown_rollups',

        bounces=pw.IntegerField(default=0),
        page_views=pw.IntegerField(default=0),
        duration_s=pw.BigIntegerField(default=0),
        new_sessions=pw.IntegerField(default=0))

    # 005 named this index after the model on SQLite and after the table on PostgreSQL: give it the table's
    # name everywhere, which drop_index expects.
    migrator.sql('DROP INDEX IF EXISTS "breakdownrollup_filter_dimension_filter_value_day"')
    # lint: allow index-not-concurrent -- breakdown_rollups is derived data written only by imports; rebuilt by 'rollups rebuild'
    migrator.sql('CREATE INDEX IF NOT EXISTS "breakdown_rollups_filter_dimension_filter_value_day" '
                 'ON "breakdown_rollups" ("filter_dimension", "filter_value", "day")')
    migrator.drop_index('breakdown_rollups', 'filter_dimension', 'filter_value', 'day')

    # lint: allow index-not-concurrent -- breakdown_rollups is derived data written only by imports; rebuilt by 'rollups rebuild'
    migrator.add_index('breakdown_rollups', 'filter_dimension', 'filter_value', 'dimension', 'day', unique=False)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_fields('breakdown_rollups', 'bounces', 'page_views', 'duration_s', 'new_sessions')

    migrator.drop_index('breakdown_rollups', 'filter_dimension', 'filter_value', 'dimension', 'day')

    migrator.add_index('breakdown_rollups', 'filter_dimension', 'filter_value', 'day', unique=False)

"""Add imports, session events and daily rollups.

Created 2026-11-25 07:12 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

from decimal import Decimal, ROUND_HALF_EVEN

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    @migrator.create_model
    class DailyRollup(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        channel = pw.CharField(max_length=32)
        device = pw.CharField(max_length=16)
        country = pw.CharField(default='', max_length=2)
        sessions = pw.IntegerField(default=0)
        bounces = pw.IntegerField(default=0)
        conversions = pw.IntegerField(default=0)
        revenue = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=16, rounding=ROUND_HALF_EVEN)
        page_views = pw.IntegerField(default=0)
        duration_s = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "daily_rollups"
            indexes = [(('day', 'channel', 'device', 'country'), True)]

    @migrator.create_model
    class Import(pw.Model):
        id = pw.AutoField()
        file_name = pw.CharField(max_length=255)
        checksum = pw.CharField(index=True, max_length=64)
        kind = pw.CharField(max_length=16)
        file_format = pw.CharField(max_length=16)
        status = pw.CharField(default='running', max_length=16)
        rows_read = pw.IntegerField(default=0)
        sessions_written = pw.IntegerField(default=0)
        events_written = pw.IntegerField(default=0)
        duplicates = pw.IntegerField(default=0)
        created_by = pw.CharField(max_length=255, null=True)
        started_at = pw.DateTimeField()
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "imports"

    @migrator.create_model
    class SessionEvent(pw.Model):
        id = pw.AutoField()
        session = pw.ForeignKeyField(column_name='session_id', field='id', model=migrator.orm['customer_sessions'], on_delete='CASCADE')
        occurred_at = pw.DateTimeField()
        event_type = pw.CharField(max_length=64)
        page = pw.TextField(null=True)
        revenue = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=14, rounding=ROUND_HALF_EVEN)
        import_id = pw.IntegerField(index=True, null=True)

        class Meta:
            table_name = "session_events"
            indexes = [(('session', 'occurred_at'), False), (('event_type', 'occurred_at'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_model('session_events')

    migrator.remove_model('imports')

    migrator.remove_model('daily_rollups')

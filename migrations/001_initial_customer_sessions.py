"""Initial customer sessions.

Created 2026-11-25 06:35 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

from decimal import Decimal, ROUND_HALF_EVEN

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    @migrator.create_model
    class CustomerSession(pw.Model):
        id = pw.AutoField()
        session_key = pw.CharField(max_length=128, unique=True)
        customer_id = pw.CharField(index=True, max_length=128)
        started_at = pw.DateTimeField(index=True)
        ended_at = pw.DateTimeField(null=True)
        duration_s = pw.IntegerField(default=0)
        channel = pw.CharField(default='direct', index=True, max_length=32)
        source = pw.CharField(max_length=255, null=True)
        medium = pw.CharField(max_length=255, null=True)
        campaign = pw.CharField(max_length=255, null=True)
        device = pw.CharField(default='unknown', index=True, max_length=16)
        country = pw.CharField(index=True, max_length=2, null=True)
        landing_page = pw.TextField(null=True)
        exit_page = pw.TextField(null=True)
        page_views = pw.IntegerField(default=0)
        events = pw.IntegerField(default=0)
        converted = pw.BooleanField(default=False)
        revenue = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=14, rounding=ROUND_HALF_EVEN)
        import_id = pw.IntegerField(index=True, null=True)

        class Meta:
            table_name = "customer_sessions"
            indexes = [(('started_at', 'channel'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_model('customer_sessions')

"""Add rollups for breakdowns, new customers and customer sketches.

Created 2026-11-25 17:54 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

from decimal import Decimal, ROUND_HALF_EVEN

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    migrator.add_fields(
        'daily_rollups',

        new_sessions=pw.IntegerField(default=0),
        new_bounces=pw.IntegerField(default=0),
        new_conversions=pw.IntegerField(default=0),
        new_revenue=pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=16, rounding=ROUND_HALF_EVEN),
        new_page_views=pw.IntegerField(default=0),
        new_duration_s=pw.BigIntegerField(default=0))

    @migrator.create_model
    class BreakdownRollup(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        dimension = pw.CharField(max_length=16)
        value = pw.TextField()
        filter_dimension = pw.CharField(default='', max_length=16)
        filter_value = pw.CharField(default='', max_length=32)
        sessions = pw.IntegerField(default=0)
        conversions = pw.IntegerField(default=0)
        revenue = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=16, rounding=ROUND_HALF_EVEN)

        class Meta:
            table_name = "breakdown_rollups"
            indexes = [(('filter_dimension', 'filter_value', 'day'), False)]

    @migrator.create_model
    class CustomerFirst(pw.Model):
        id = pw.AutoField()
        customer_id = pw.CharField(max_length=128, unique=True)
        session_id = pw.IntegerField(unique=True)
        started_at = pw.DateTimeField()

        class Meta:
            table_name = "customer_firsts"

    @migrator.create_model
    class CustomerSketch(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        dimension = pw.CharField(default='', max_length=16)
        value = pw.CharField(default='', max_length=32)
        customers = pw.IntegerField(default=0)
        sketch = pw.BlobField()

        class Meta:
            table_name = "customer_sketches"
            indexes = [(('dimension', 'value', 'day'), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_fields('daily_rollups', 'new_sessions', 'new_bounces', 'new_conversions', 'new_revenue', 'new_page_views', 'new_duration_s')

    migrator.remove_model('customer_sketches')

    migrator.remove_model('customer_firsts')

    migrator.remove_model('breakdown_rollups')

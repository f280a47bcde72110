"""Add rollups within a value of source, medium, campaign or page.

Created 2026-11-29 19:54 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".

A filter on source, medium, campaign, landing or exit page is read from the rollups too: cross_rollups holds each
dimension's sessions within each of their values, customer_sketches their unique customers (values of any length),
and rollup_zone.layout says whether the rollups hold those rows (1: not yet, as those built before this migration;
2: they do). Existing rollups keep layout 1, and such filters read the sessions until "python manage.py rollups
rebuild".
"""

from decimal import Decimal, ROUND_HALF_EVEN

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    # lint: allow type-change -- varchar(32) to text is binary-coercible on PostgreSQL: no rewrite; derived data
    migrator.change_fields('customer_sketches', value=pw.TextField(default=''))

    migrator.add_fields(
        'rollup_zone',

        layout=pw.IntegerField(default=1))

    @migrator.create_model
    class CrossRollup(pw.Model):
        id = pw.AutoField()
        day = pw.DateField()
        dimension = pw.CharField(max_length=16)
        value = pw.TextField()
        filter_dimension = pw.CharField(max_length=16)
        filter_value = pw.TextField()
        sessions = pw.IntegerField(default=0)
        conversions = pw.IntegerField(default=0)
        revenue = pw.DecimalField(auto_round=False, decimal_places=2, default=Decimal('0'), max_digits=16, rounding=ROUND_HALF_EVEN)
        bounces = pw.IntegerField(default=0)
        page_views = pw.IntegerField(default=0)
        duration_s = pw.BigIntegerField(default=0)
        new_sessions = pw.IntegerField(default=0)

        class Meta:
            table_name = "cross_rollups"
            indexes = [(('filter_dimension', 'filter_value', 'dimension', 'day'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_fields('rollup_zone', 'layout')

    # The unique customers within the many-valued dimensions' values, often longer than 32 characters, which the
    # code before this migration never reads.
    migrator.sql("DELETE FROM customer_sketches "
                 "WHERE dimension NOT IN ('', 'channel', 'device', 'country', 'customer_type')")
    # lint: allow type-change -- derived data, of values no longer than 32 characters once those rows are gone
    migrator.change_fields('customer_sketches', value=pw.CharField(default='', max_length=32))

    migrator.remove_model('cross_rollups')

"""Add saved funnels.

Created 2026-11-25 17:56 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    @migrator.create_model
    class SavedFunnel(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=100, unique=True)
        steps = pw.TextField()
        unit = pw.CharField(default='session', max_length=16)
        created_by = pw.CharField(max_length=254, null=True)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "saved_funnels"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_model('saved_funnels')

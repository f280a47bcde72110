"""Record the time zone of the rollups.

Created 2026-11-27 16:13 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".

The table starts empty: the next import, demo load or rollups rebuild records the zone it writes the rollups in,
and the app then refuses figures while REPORT_TIMEZONE names another zone, until the rollups are rebuilt.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    @migrator.create_model
    class RollupZone(pw.Model):
        id = pw.AutoField()
        zone = pw.CharField(max_length=64)

        class Meta:
            table_name = "rollup_zone"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_model('rollup_zone')

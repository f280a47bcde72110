"""Record who ran each migration.

Created 2026-11-25 17:52 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".

The history table is the migration tool's own (it exists before the first migration runs), so its
columns are added with SQL: the OS user and host, and on Railway the deployment id and commit.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    migrator.sql('ALTER TABLE "migratehistory" ADD COLUMN "run_by" VARCHAR(255) NULL')
    migrator.sql('ALTER TABLE "migratehistory" ADD COLUMN "deployment_id" VARCHAR(64) NULL')
    migrator.sql('ALTER TABLE "migratehistory" ADD COLUMN "git_commit" VARCHAR(64) NULL')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.sql('ALTER TABLE "migratehistory" DROP COLUMN "git_commit"')
    migrator.sql('ALTER TABLE "migratehistory" DROP COLUMN "deployment_id"')
    migrator.sql('ALTER TABLE "migratehistory" DROP COLUMN "run_by"')

"""Keep what sessions are computed from on events and count continued and identical rows.

Created 2026-11-25 17:55 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    migrator.add_fields(
        'imports',

        sessions_continued=pw.IntegerField(default=0),
        rows_identical=pw.IntegerField(default=0),
        extra_rows=pw.IntegerField(default=0),
        notes=pw.TextField(null=True))

    migrator.add_fields(
        'session_events',

        customer_id=pw.CharField(max_length=128, null=True),
        file_session=pw.CharField(max_length=64, null=True),
        channel=pw.CharField(max_length=32, null=True),
        source=pw.CharField(max_length=255, null=True),
        medium=pw.CharField(max_length=255, null=True),
        campaign=pw.CharField(max_length=255, null=True),
        device=pw.CharField(max_length=16, null=True),
        country=pw.CharField(max_length=2, null=True))

    # Events written before this migration take their customer and traffic details from their session.
    migrator.sql(
        "UPDATE session_events"
        " SET (customer_id, channel, source, medium, campaign, device, country) ="
        " (SELECT s.customer_id, s.channel, s.source, s.medium, s.campaign, s.device, s.country"
        " FROM customer_sessions s"
        " WHERE s.id = session_events.session_id)")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_fields('session_events', 'customer_id', 'file_session', 'channel', 'source', 'medium', 'campaign', 'device', 'country')

    migrator.remove_fields('imports', 'sessions_continued', 'rows_identical', 'extra_rows', 'notes')

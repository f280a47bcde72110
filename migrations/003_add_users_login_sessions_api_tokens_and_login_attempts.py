"""Add users, login sessions, api tokens and login attempts.

Created 2026-11-25 09:45 UTC by "python manage.py migrate create".
Review before you commit: README.md, "Review the file".
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Apply this migration."""
    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(max_length=254, unique=True)
        password_hash = pw.CharField(max_length=255)
        role = pw.CharField(max_length=16)
        disabled = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()
        password_changed_at = pw.DateTimeField()

        class Meta:
            table_name = "users"

    @migrator.create_model
    class ApiToken(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['users'], on_delete='CASCADE')
        name = pw.CharField(max_length=100)
        scope = pw.CharField(max_length=16)
        token_hash = pw.CharField(max_length=64, unique=True)
        prefix = pw.CharField(max_length=16)
        created_at = pw.DateTimeField()
        last_used_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "api_tokens"

    @migrator.create_model
    class LoginAttempt(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(index=True, max_length=254)
        address = pw.CharField(index=True, max_length=64)
        succeeded = pw.BooleanField()
        attempted_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "login_attempts"

    @migrator.create_model
    class LoginSession(pw.Model):
        id = pw.AutoField()
        token_hash = pw.CharField(max_length=64, unique=True)
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['users'], on_delete='CASCADE')
        csrf_token = pw.CharField(max_length=64)
        address = pw.CharField(max_length=64, null=True)
        created_at = pw.DateTimeField()
        last_seen_at = pw.DateTimeField()
        expires_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "login_sessions"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Revert this migration."""
    migrator.remove_model('login_sessions')

    migrator.remove_model('login_attempts')

    migrator.remove_model('api_tokens')

    migrator.remove_model('users')

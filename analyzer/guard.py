"""Environment checks: say where a change goes, and confirm it where that matters."""

from urllib.parse import urlsplit

from analyzer.errors import AppError

BACKUP_REMINDER = (
    "Reminder: back up production before migrating (Railway: the database service's Backups tab, "
    "or pg_dump) and review each migration file first."
)


def describe_target(settings):
    """Return 'host/name (environment)' with no password, for the line printed before a change."""
    url = settings.database_url
    if url.startswith("sqlite:"):
        where = "SQLite file " + url.split(":///", 1)[-1]
    else:
        parts = urlsplit(url)
        where = f"PostgreSQL {parts.hostname}:{parts.port or 5432}/{parts.path.strip('/')}"
    return f"{where} ({settings.app_env})"


def confirm(ctx, action, *, destructive):
    """Ask before ACTION in production; refuse when no one can answer. Return normally to go on."""
    settings = ctx.settings
    if not settings.is_production or ctx.yes:
        return
    if not destructive and not ctx.interactive:
        return
    if not ctx.interactive:
        raise AppError(
            f"Refusing to {action} in production without confirmation: there is no terminal to ask on. "
            "Pass --yes to confirm.",
            exit_code=2,
        )
    dbname = database_name(settings)
    if destructive:
        ctx.out(f'Type the database name "{dbname}" to {action}, anything else to stop:')
        expected = dbname
    else:
        ctx.out(f"Type yes to {action}, anything else to stop:")
        expected = "yes"
    answer = ctx.read_line()
    if answer.strip() != expected:
        raise AppError("Stopped: not confirmed. Nothing was changed.", exit_code=1)


def database_name(settings):
    """Return the database's name (the file name for SQLite)."""
    url = settings.database_url
    if url.startswith("sqlite:"):
        return url.split(":///", 1)[-1].rsplit("/", 1)[-1]
    return urlsplit(url).path.strip("/")

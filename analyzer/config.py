"""Settings read once from the environment."""

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from analyzer import localtime
from analyzer.errors import ConfigError, shown

ENVIRONMENTS = ("development", "test", "production")
DEFAULT_DATABASE_URL = "sqlite:///analyzer.db"
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")
MIN_SECRET_KEY = 32
UTC_NAMES = ("UTC", "ETC/UTC", "UCT", "ETC/UCT", "UNIVERSAL", "ETC/UNIVERSAL", "ZULU", "ETC/ZULU", "GMT", "ETC/GMT")


@dataclass(frozen=True)
class Settings:
    """Everything the app and the CLI read from the environment."""

    app_env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = "dev-insecure-secret-key"
    port: int = 8080
    lock_timeout_s: float = 60.0
    pg_lock_timeout: str = "5s"
    pg_statement_timeout: str = "15min"
    max_body_mb: float = 100.0
    session_hours: float = 12.0
    report_timezone: str = "UTC"
    currency: str = "USD"

    @property
    def is_production(self):
        """Tell whether this is the production environment."""
        return self.app_env == "production"

    @property
    def masked_database_url(self):
        """Return the database URL with its password hidden."""
        return mask_url(self.database_url)


def load_settings(environ=None, server=True):
    """Read and validate the settings from the environment (os.environ by default); SERVER: the web app's too."""
    env = os.environ if environ is None else environ
    app_env = _app_env(env)
    production = app_env == "production"

    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        if production:
            raise ConfigError(
                "DATABASE_URL is not set: production needs it (e.g. postgresql://user:pass@host:5432/db); "
                "it never falls back to SQLite."
            )
        database_url = DEFAULT_DATABASE_URL
    _check_database_url(database_url)

    secret_key = env.get("SECRET_KEY", "").strip()
    make_one = 'python -c "import secrets; print(secrets.token_hex(32))"'
    if not server:  # the key signs the web app's forms only: an emergency rollback must not need it
        secret_key = secret_key or Settings.secret_key
    elif not secret_key:
        if production:
            raise ConfigError(f"SECRET_KEY is not set: production needs a long random value, e.g. {make_one}.")
        secret_key = Settings.secret_key
    elif production and len(secret_key) < MIN_SECRET_KEY:
        # The first-run setup token is derived from it: a guessable key lets anyone claim a fresh deploy.
        raise ConfigError(f"SECRET_KEY is too short ({len(secret_key)} characters): production needs at least "
                          f"{MIN_SECRET_KEY} random ones, e.g. {make_one}.")

    return Settings(
        app_env=app_env,
        database_url=database_url,
        secret_key=secret_key,
        port=_number(env, "PORT", 8080, int, 1, 65535),
        lock_timeout_s=_number(env, "MIGRATE_LOCK_TIMEOUT", 60.0, float, 0, 86400),
        pg_lock_timeout=_duration(env, "MIGRATE_PG_LOCK_TIMEOUT", "5s"),
        pg_statement_timeout=_duration(env, "MIGRATE_PG_STATEMENT_TIMEOUT", "15min"),
        max_body_mb=_number(env, "MAX_BODY_MB", 100.0, float, 0.001, 10240),
        session_hours=_number(env, "SESSION_HOURS", 12.0, float, 0.01, 24 * 90),
        report_timezone=_zone(env),
        currency=_currency(env),
    )


# "scheme://user:" then the password up to the last "@", for a URL that urlsplit cannot read: it takes a password
# holding "/", "?" or "#" for part of the host (and would print it) and refuses one holding "[".
USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@?#]*:)(.*)@", re.I | re.S)
RESERVED = "/?#[]@"


def mask_url(url):
    """Hide the password of a URL so it can be printed or logged, even when the URL does not parse."""
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError:
        return USERINFO.sub(r"\1***@", url, count=1)
    if parts.password is None:  # urlsplit may have read 'u:123/456@h' as host u, port 123: hide all up to the @
        return USERINFO.sub(r"\1***@", url, count=1) if _unreadable_password(url) else url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc[-1]}"))


def _unreadable_password(url):
    """Return the advice for a URL whose password holds a character that must be percent-encoded, else ''."""
    userinfo = USERINFO.match(url)
    if userinfo and any(c in userinfo.group(2) for c in RESERVED):
        return "write the password's / ? # [ ] @ percent-encoded (%2F %3F %23 %5B %5D %40)"
    return ""


def _app_env(env):
    value = env.get("APP_ENV", "").strip().lower()
    if not value:
        railway = env.get("RAILWAY_ENVIRONMENT_NAME") or env.get("RAILWAY_ENVIRONMENT") or ""
        return "production" if railway.strip().lower() == "production" else "development"
    if value not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV={shown(value)!r} is not valid: use one of {', '.join(ENVIRONMENTS)}.")
    return value


def _check_database_url(url):
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL={mask_url(url)!r} is not valid: use sqlite:///path/to/file.db or "
            "postgresql://user:password@host:5432/dbname."
        )
    if scheme != "sqlite":
        try:
            parts = urlsplit(url)
            parts.port
        except ValueError:
            advice = _unreadable_password(url) or "the host or port cannot be read"
            raise ConfigError(f"DATABASE_URL={mask_url(url)!r} is not valid: {advice} "
                              "(postgresql://user:password@host:5432/dbname).") from None
        if not parts.hostname or not parts.path.strip("/"):
            advice = _unreadable_password(url)
            if advice:
                raise ConfigError(f"DATABASE_URL={mask_url(url)!r} is not valid: {advice}.")
            raise ConfigError(
                f"DATABASE_URL={mask_url(url)!r} is not valid: it needs a host and a database name "
                "(postgresql://user:password@host:5432/dbname)."
            )
    elif re.fullmatch(r"sqlite:/*", url, re.I):
        raise ConfigError(f"DATABASE_URL={url!r} is not valid: it names no file (sqlite:///analyzer.db).")
    elif urlsplit(url).netloc:  # sqlite://file.db reads file.db as a host name
        name = urlsplit(url).netloc + urlsplit(url).path
        raise ConfigError(f"DATABASE_URL={url!r} is not valid: write sqlite:///{name} (three slashes) for a file in "
                          f"the working folder, sqlite:////{name} (four) for an absolute path.")


def _number(env, name, default, kind, low, high):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name}={shown(raw)!r} is not valid: use a number from {low} to {high}.")
    return value


def _zone(env):
    raw = env.get("REPORT_TIMEZONE", "").strip() or "UTC"
    try:
        found = localtime.zone(raw)
    except ValueError as exc:
        raise ConfigError(f"REPORT_TIMEZONE={shown(raw)!r} is not valid: {exc}.") from None
    # One name per zone: the rollups record it, and utc or Etc/UTC must not read as another zone's days.
    key = getattr(found, "key", "UTC")
    return "UTC" if key.upper() in UTC_NAMES else key


def _currency(env):
    raw = env.get("CURRENCY", "").strip()
    if not raw:
        return Settings.currency
    import pycountry  # only to check a currency set: loading it costs every command 45 ms

    if not re.fullmatch(r"[A-Za-z]{3}", raw) or pycountry.currencies.get(alpha_3=raw.upper()) is None:
        raise ConfigError(f"CURRENCY={shown(raw)!r} is not valid: use an ISO 4217 code such as USD, EUR or GBP.")
    return raw.upper()


def _duration(env, name, default):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d+\s*(ms|s|min|h)?", raw):
        raise ConfigError(f"{name}={shown(raw)!r} is not valid: use a PostgreSQL duration such as 500ms, 5s, 10min or 1h (0 = no limit).")
    return raw

"""Settings from the environment: defaults, production requirements, clear errors."""

import os
import subprocess
import sys

import pytest

from analyzer.config import load_settings, mask_url
from analyzer.db import open_database
from analyzer.errors import ConfigError
from tests.conftest import ROOT, run_cli

PROD = {"APP_ENV": "production", "SECRET_KEY": "s" * 32, "DATABASE_URL": "postgresql://u:p@db.internal:5432/app"}


def test_development_defaults_to_a_local_sqlite_file():
    settings = load_settings({})
    assert (settings.app_env, settings.database_url, settings.port) == ("development", "sqlite:///analyzer.db", 8080)
    assert not settings.is_production


def test_currency_defaults_to_usd_and_takes_any_iso_code():
    assert load_settings({}).currency == "USD"
    assert load_settings({"CURRENCY": "eur"}).currency == "EUR"


def test_production_requires_database_url():
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is not set: production needs it") as error:
        load_settings({**PROD, "DATABASE_URL": ""})
    assert error.value.exit_code == 2


def test_production_requires_secret_key():
    with pytest.raises(ConfigError, match=r"^SECRET_KEY is not set: production needs"):
        load_settings({**PROD, "SECRET_KEY": ""})


@pytest.mark.parametrize("key", ["k", "s" * 31, "  " + "s" * 31 + "  "])
def test_production_refuses_a_secret_key_under_32_characters(key):
    with pytest.raises(ConfigError) as error:
        load_settings({**PROD, "SECRET_KEY": key})
    assert str(error.value) == ("SECRET_KEY is too short (31 characters): production needs at least 32 random ones, "
                                'e.g. python -c "import secrets; print(secrets.token_hex(32))".'.replace("31", str(len(key.strip())), 1))
    assert error.value.exit_code == 2
    assert load_settings({"SECRET_KEY": key}).secret_key == key.strip()


def test_a_short_secret_key_stops_the_production_server_with_one_line(project):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    env |= {"APP_ENV": "production", "DATABASE_URL": "postgresql://u@127.0.0.1:1/app", "SECRET_KEY": "short"}
    done = subprocess.run([sys.executable, "app.py"], cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("Error: SECRET_KEY is too short (5 characters)") and done.stderr.count("\n") == 1


def test_railway_production_environment_counts_as_production():
    settings = load_settings({"RAILWAY_ENVIRONMENT_NAME": "production", "SECRET_KEY": "k" * 32,
                              "DATABASE_URL": "postgres://u:p@h:5432/d"})
    assert settings.is_production


def test_app_env_wins_over_railway_environment():
    assert load_settings({"APP_ENV": "development", "RAILWAY_ENVIRONMENT_NAME": "production"}).app_env == "development"


@pytest.mark.parametrize("name,value,message", [
    ("APP_ENV", "prod", "APP_ENV='prod' is not valid: use one of development, test, production."),
    ("PORT", "eighty", "PORT='eighty' is not valid: use a number from 1 to 65535."),
    ("PORT", "70000", "PORT='70000' is not valid: use a number from 1 to 65535."),
    ("DATABASE_URL", "mysql://u:pw@h/d", "DATABASE_URL='mysql://u:***@h/d' is not valid"),
    ("DATABASE_URL", "postgresql://u:pw@h:port/d", "the host or port cannot be read"),
    ("DATABASE_URL", "postgresql://u:pw/x@h:5432/d", "write the password's / ? # [ ] @ percent-encoded"),
    ("DATABASE_URL", "postgresql://u:pw#x@h:5432/d", "DATABASE_URL='postgresql://u:***@h:5432/d' is not valid"),
    ("DATABASE_URL", "postgresql://u:pw[x@h:5432/d", "write the password's / ? # [ ] @ percent-encoded"),
    ("DATABASE_URL", "postgresql://u@[h:5432/d", "the host or port cannot be read"),
    ("DATABASE_URL", "postgresql://u:pw@h:5432", "it needs a host and a database name"),
    ("DATABASE_URL", "sqlite://relative.db", "DATABASE_URL='sqlite://relative.db' is not valid: write "
                     "sqlite:///relative.db (three slashes) for a file in the working folder"),
    ("REPORT_TIMEZONE", "Berlin", "REPORT_TIMEZONE='Berlin' is not valid: unknown time zone 'Berlin'"),
    ("CURRENCY", "dollars", "CURRENCY='dollars' is not valid: use an ISO 4217 code such as USD, EUR or GBP."),
    ("CURRENCY", "XYZ", "CURRENCY='XYZ' is not valid"),
])
def test_malformed_setting_names_the_variable(name, value, message):
    with pytest.raises(ConfigError) as error:
        load_settings({name: value})
    assert message in str(error.value)
    assert "pw@" not in str(error.value)


def test_report_timezone_defaults_to_utc_and_takes_an_iana_name():
    assert load_settings({}).report_timezone == "UTC"
    assert load_settings({"REPORT_TIMEZONE": "Europe/Berlin"}).report_timezone == "Europe/Berlin"
    # One name per zone, as the rollups record it: another spelling of UTC is not another zone's days.
    assert {load_settings({"REPORT_TIMEZONE": name}).report_timezone for name in ("utc", "Etc/UTC", "Zulu")} == {"UTC"}


def test_an_at_sign_in_the_query_is_not_taken_for_a_password():
    url = "postgresql://app:pw@db.example.com:5432/prod?options=a@b"
    assert load_settings({"DATABASE_URL": url}).masked_database_url == "postgresql://app:***@db.example.com:5432/prod?options=a@b"


def test_mask_url_hides_only_the_password():
    assert mask_url("postgresql://user:secret@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert mask_url("postgres://user@host/db") == "postgres://user@host/db"
    assert mask_url("sqlite:///analyzer.db") == "sqlite:///analyzer.db"
    assert mask_url("postgresql://user:my/se?c#r[et@host/db") == "postgresql://user:***@host/db"
    assert mask_url("postgresql://user:123/456@host/db") == "postgresql://user:***@host/db"
    assert mask_url("postgresql://user:pw@host/db?a=b@c") == "postgresql://user:***@host/db?a=b@c"


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_both_railway_url_forms_connect(pg_url, scheme):
    db = open_database(scheme + pg_url[pg_url.index(":"):])
    assert db.execute_sql("SELECT 1").fetchone() == (1,)
    db.close()


def test_sqlite_gets_wal_foreign_keys_and_busy_timeout(sqlite_url):
    db = open_database(sqlite_url)
    assert db.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
    assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (10000,)
    db.close()


def test_the_server_keeps_its_sqlite_connections_and_takes_the_large_cache_for_big_work(sqlite_url):
    from analyzer.db import SQLITE_PRAGMAS, fetch_large, write_transaction

    db = open_database(sqlite_url, pooled=True)
    first = db.connection()
    db.close()  # the end of a request
    assert db.connection() is first  # the next request's: no new file handle, no pragmas again, its cache warm
    assert db.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
    assert db.execute_sql("PRAGMA busy_timeout").fetchone() == (10000,)
    usual = db.execute_sql("PRAGMA cache_size").fetchone()[0]
    assert usual != SQLITE_PRAGMAS["cache_size"]  # SQLite's default: 32 threads x 64 MB would stay in memory
    with write_transaction(db):
        assert db.execute_sql("PRAGMA cache_size").fetchone()[0] == SQLITE_PRAGMAS["cache_size"]
    assert fetch_large(db, "PRAGMA cache_size", ()) == [(SQLITE_PRAGMAS["cache_size"],)]  # a funnel's, a cohort's read
    assert db.execute_sql("PRAGMA cache_size").fetchone()[0] == usual
    db.close_all()


def test_cli_missing_setting_is_one_line_and_exit_2():
    result = run_cli(ROOT, "migrate", "status", env={"APP_ENV": "production", "SECRET_KEY": "k" * 32})
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "Error: DATABASE_URL is not set: production needs it (e.g. postgresql://user:pass@host:5432/db); "
        "it never falls back to SQLite."
    ]


def test_cli_cannot_connect_masks_the_password():
    result = run_cli(ROOT, "migrate", "run", env={"DATABASE_URL": "postgresql://u:topsecret@127.0.0.1:1/db"})
    assert result.code == 2
    assert "Cannot connect to the database postgresql://u:***@127.0.0.1:1/db" in result.err
    assert "topsecret" not in result.out + result.err
    assert "Traceback" not in result.err


def test_cli_sqlite_in_a_missing_folder_names_the_folder_not_a_server(tmp_path):
    url = f"sqlite:///{tmp_path / 'nodir' / 'x.db'}"
    result = run_cli(ROOT, "migrate", "run", env={"DATABASE_URL": url})
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip() == (f"Error: Cannot connect to the database {url}: unable to open database file. "
                                  f"The folder {tmp_path / 'nodir'} does not exist: create it, or check DATABASE_URL.")
    assert "server" not in result.err and not (tmp_path / "nodir").exists()


def test_commands_do_not_need_the_web_apps_secret_key(project):
    # An operator's emergency rollback from a laptop was refused for want of a key that only signs web forms.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    env |= {"APP_ENV": "production", "DATABASE_URL": f"sqlite:///{project / 'absent.db'}"}
    for key in ("", "short"):
        done = subprocess.run([sys.executable, "manage.py", "migrate", "status"], cwd=project,
                              env=env | {"SECRET_KEY": key}, capture_output=True, text=True, timeout=60)
        assert "SECRET_KEY" not in done.stdout + done.stderr and "No database at " in done.stdout, done.stderr
    assert load_settings({**PROD, "SECRET_KEY": ""}, server=False).database_url == PROD["DATABASE_URL"]

"""The user and token commands of manage.py, and the account rules behind them, on SQLite and PostgreSQL."""

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from analyzer.accounts import now, passwords, tokens, users
from analyzer.config import Settings
from analyzer.db import init_database
from analyzer.errors import AppError
from analyzer.models import ApiToken, LoginAttempt, LoginSession, User
from tests.conftest import PASSWORD, ROOT, migrated, run_cli


@pytest.fixture
def env(db_url):
    migrated(db_url)
    database = init_database(Settings(database_url=db_url))
    yield {"DATABASE_URL": db_url, "APP_ENV": "test"}
    database.close()


def cli(env, *args, stdin=None):
    return run_cli(ROOT, *args, env=env, stdin=stdin)


def test_user_lifecycle_from_the_command_line(env):
    created = cli(env, "user", "create", "Ann@Example.com", "--role", "analyst", "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert (created.code, created.out.strip()) == (0, "Created analyst ann@example.com."), created.err
    assert cli(env, "user", "create", "root@example.com", "--role", "admin", "--password-stdin",
               stdin=PASSWORD + "\n").code == 0
    listed = cli(env, "user", "list").out.splitlines()
    assert [line.split()[:3] for line in listed] == [["ann@example.com", "analyst", "active"],
                                                     ["root@example.com", "admin", "active"]]
    assert cli(env, "user", "set-role", "ann@example.com", "viewer").out.strip() == "ann@example.com is now viewer."
    changed = cli(env, "user", "set-password", "ann@example.com", "--password-stdin", stdin="a new long password 8\n")
    assert "sessions are signed out" in changed.out
    assert users.authenticate("ann@example.com", "a new long password 8", "cli", cheap=True).email == "ann@example.com"
    assert "disabled" in cli(env, "user", "disable", "ann@example.com").out
    assert users.authenticate("ann@example.com", "a new long password 8", "cli", cheap=True) is None
    assert "enabled" in cli(env, "user", "enable", "ann@example.com").out
    stored = User.get(User.email == "ann@example.com").password_hash
    assert stored.startswith("$argon2id$") and "new long" not in stored


@pytest.mark.parametrize("args, stdin, message", [
    (["user", "create", "bob@example.com"], None, "No terminal to type the password on: pass --password-stdin"),
    (["user", "create", "bob@example.com", "--password-stdin"], "password1234\n", "too common"),
    (["user", "create", "bob@example.com", "--password-stdin"], "short\n", "at least 10 characters"),
    (["user", "create", "bobby@example.com", "--password-stdin"], "my name is bobby!\n",
     "must not contain the name of the email address (bobby)"),
    (["user", "create", "not-an-email", "--password-stdin"], PASSWORD + "\n", "'not-an-email' is not an email address."),
    (["user", "create", "bob@example.com", "--password-stdin"], "\n", "--password-stdin read an empty line"),
    (["user", "set-role", "nobody@example.com", "admin"], None, "There is no user nobody@example.com"),
    (["token", "create", "--user", "nobody@example.com", "--scope", "read"], None, "There is no user nobody@example.com"),
    (["token", "revoke", "42"], None, "There is no token 42"),
])
def test_command_errors_are_one_clear_line(env, args, stdin, message):
    result = cli(env, *args, stdin=stdin)
    assert result.code == 1 and message in result.err and "Traceback" not in result.err
    assert User.select().count() == 0


def test_the_last_enabled_admin_stays_an_admin(env):
    cli(env, "user", "create", "root@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    for args in (["user", "set-role", "root@example.com", "viewer"], ["user", "disable", "root@example.com"]):
        result = cli(env, *args)
        assert result.code == 1 and "is the last enabled admin: make another user admin first." in result.err
    assert User.get().role == "admin" and not User.get().disabled


def test_token_lifecycle_prints_the_token_alone_on_the_last_line(env):
    cli(env, "user", "create", "ci@example.com", "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n")
    created = cli(env, "token", "create", "--user", "ci@example.com", "--scope", "ingest", "--name", "nightly load")
    secret = created.out.splitlines()[-1]
    assert created.code == 0 and secret.startswith("csa_") and len(secret) > 40
    token = ApiToken.get()
    assert (token.name, token.scope, token.prefix) == ("nightly load", "ingest", secret[:12])
    assert token.token_hash != secret and secret not in token.token_hash
    assert tokens.authorize(f"Bearer {secret}", "ingest").email == "ci@example.com"
    listed = cli(env, "token", "list").out
    assert f"{secret[:12]}…" in listed and "last used" in listed and secret not in listed
    assert "is revoked" in cli(env, "token", "revoke", str(token.id)).out
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.authorize(f"Bearer {secret}", "ingest")
    assert refused.value.status == 401
    assert "revoked" in cli(env, "token", "list", "--user", "ci@example.com").out


def test_a_viewer_cannot_get_an_ingest_token(env):
    cli(env, "user", "create", "vic@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    result = cli(env, "token", "create", "--user", "vic@example.com", "--scope", "ingest")
    assert result.code == 1 and "A viewer cannot hold an ingest token" in result.err


def test_commands_wait_for_pending_migrations(db_url):
    if db_url.startswith("sqlite:"):
        Path(db_url.split(":///", 1)[1]).touch()  # an empty database (a missing one is "No database at …")
    result = run_cli(ROOT, "user", "list", env={"DATABASE_URL": db_url})
    assert result.code == 2 and "The database is behind the code" in result.err and "migrate run" in result.err


def test_passwords_are_argon2id_and_the_common_list_is_real():
    assert passwords.hash_password(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert {"123456", "password", "qwerty", "dragon"} <= passwords.common_passwords()
    assert len(passwords.common_passwords()) == 30000
    with pytest.raises(passwords.PasswordRejected):
        passwords.check("aaaaaaaaaaaa")


def test_argon2_checks_take_turns(monkeypatch):
    lock, running, most = threading.Lock(), [0], [0]
    two_inside = threading.Barrier(2, timeout=5)  # without turns, all six would be inside together

    class Slow:
        def verify(self, hashed, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            two_inside.wait()
            time.sleep(0.02)
            with lock:
                running[0] -= 1
            return True

    monkeypatch.setattr(passwords, "CHEAP", Slow())
    monkeypatch.setattr(passwords, "HASHING", threading.BoundedSemaphore(2))
    checks = [threading.Thread(target=passwords.verify, args=("hash", "password", True)) for _ in range(6)]
    for check in checks:
        check.start()
    for check in checks:
        check.join()
    assert most[0] == 2
    assert 1 <= passwords.HASHES_AT_ONCE <= 4


def test_changing_a_password_keeps_only_the_given_session(env):
    from analyzer.accounts import logins

    user = users.create("ann@example.com", PASSWORD, "viewer", cheap=True)
    _, keep = logins.start(user, "a", 12)
    logins.start(user, "b", 12)
    users.set_password(user, "another long password 5", keep_session=keep, cheap=True)
    assert [s.id for s in LoginSession.select()] == [keep.id]
    with pytest.raises(AppError, match="at least 10"):
        users.set_password(user, "short", cheap=True)


def test_every_sign_in_attempt_prunes_attempts_older_than_a_day(env):
    for age in (dt.timedelta(days=2), dt.timedelta(hours=1)):
        LoginAttempt.create(email="old@example.com", address="10.0.0.9", succeeded=False, attempted_at=now() - age)
    assert users.authenticate("nobody@example.com", "wrong password here", "10.0.0.1", cheap=True) is None
    kept = sorted((a.email, a.address) for a in LoginAttempt.select())
    assert kept == [("nobody@example.com", "10.0.0.1"), ("old@example.com", "10.0.0.9")]

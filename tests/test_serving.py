"""The app under the documented production command (railway.toml) on a real waitress on 127.0.0.1."""

import http.cookiejar
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import PASSWORD, ROOT, run_cli


def start_command(port):
    """Return railway.toml's start command as an argument list, run with this Python, on PORT."""
    command = tomllib.loads((ROOT / "railway.toml").read_text())["deploy"]["startCommand"]
    words = shlex.split(command.replace("$PORT", str(port)))
    assert words[0] == "waitress-serve"
    return [sys.executable, "-m", "waitress", *words[1:]]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(project):
    """The start command of railway.toml on a migrated SQLite database with one admin; yield (base URL, env)."""
    port = free_port()
    env = {"APP_ENV": "test", "DATABASE_URL": f"sqlite:///{project / 'app.db'}", "SECRET_KEY": "k" * 32}
    assert run_cli(project, "migrate", "run", env=env).code == 0
    assert run_cli(project, "user", "create", "admin@example.com", "--role", "admin", "--password-stdin",
                   env=env, stdin=PASSWORD + "\n").code == 0
    environment = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "SECRET_KEY")}
    process = subprocess.Popen(start_command(port), cwd=project, env=environment | env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(process.communicate()[0])
            time.sleep(0.1)
    yield base, env, process
    if process.poll() is None:
        process.terminate()
        process.communicate(timeout=10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def sign_in_attempt(base, email, password, forwarded_for):
    """Post the sign-in form as a client behind the proxy; return the status."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password, "next": "/"}).encode()
    request = urllib.request.Request(f"{base}/login", body, headers={"X-Forwarded-For": forwarded_for})
    try:
        return opener.open(request).status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_start_command_trusts_the_proxys_address_so_one_client_cannot_lock_out_others(served):
    base, env, _ = served
    # The last X-Forwarded-For entry is the one Railway's edge added; the client wrote the ones before it.
    for i in range(20):
        assert sign_in_attempt(base, f"guess{i}@example.com", "wrong password 12", f"10.0.{i}.1, 203.0.113.1") == 401
    assert sign_in_attempt(base, "guess1@example.com", "wrong password 12", "10.9.9.9, 203.0.113.1") == 429
    assert sign_in_attempt(base, "guess1@example.com", "wrong password 12", "203.0.113.2") == 401
    assert sign_in_attempt(base, "admin@example.com", PASSWORD, "203.0.113.1") == 303

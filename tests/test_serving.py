"""The app under the documented production command (railway.toml) on a real waitress on 127.0.0.1."""

import http.cookiejar
import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import PASSWORD, ROOT, run_cli, wait_for_server


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
    process, base = start(project, port, env)
    yield base, env, process
    if process.poll() is None:
        process.terminate()
    process.communicate(timeout=30)


def start(project, port, env, **popen):
    """Start the start command with ENV; return (process, base URL) once it answers."""
    environment = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "SECRET_KEY")}
    process = subprocess.Popen(start_command(port), cwd=project, env=environment | env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, **popen)
    base = f"http://127.0.0.1:{port}"
    wait_for_server(base, process)
    return process, base


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


def test_sigterm_lets_the_requests_in_flight_finish_then_stops(served, project):
    base, env, process = served
    token = run_cli(project, "token", "create", "--user", "admin@example.com", "--scope", "ingest",
                    env=env).out.strip().splitlines()[-1]
    body = "\n".join(json.dumps({"session_id": f"s{i}", "started_at": "2026-03-01T10:00:00Z"}) for i in range(8000))
    answer = {}

    def send():
        request = urllib.request.Request(f"{base}/api/v1/sessions", body.encode(),
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer.update(status=response.status, body=json.loads(response.read()))

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)  # the import is running in the server
    process.send_signal(signal.SIGTERM)
    sender.join(60)
    assert answer["status"] == 201 and answer["body"]["sessions_created"] == 8000
    assert process.wait(timeout=30) == 0
    with sqlite3.connect(env["DATABASE_URL"].split(":///", 1)[1]) as check:
        assert check.execute("SELECT COUNT(*) FROM customer_sessions").fetchone() == (8000,)


def test_sigterm_stops_a_server_that_was_started_with_sigint_ignored(served, project):
    _, env, _ = served
    # A shell starts background jobs with SIGINT ignored; the drain still has to end waitress's loop.
    process, base = start(project, free_port(), env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert urllib.request.urlopen(f"{base}/healthz", timeout=10).status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)

"""python app.py and waitress as a user and Railway run them: real processes, real HTTP."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from analyzer.migrate import files as mfiles
from tests.conftest import run_cli

START_TIMEOUT_S = 20


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(**values):
    """The test's environment without any setting of the app, plus VALUES."""
    unset = ("APP_ENV", "DATABASE_URL", "SECRET_KEY", "PORT", "RAILWAY_ENVIRONMENT", "RAILWAY_ENVIRONMENT_NAME")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(values)
    return env


def migration_names(project):
    return [f.name for f in mfiles.scan(project / "migrations")]


def get(port, path):
    """Return (status, body) of GET http://127.0.0.1:PORT/PATH."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def start(args, cwd, env):
    return subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_serving(process, port, seconds=START_TIMEOUT_S):
    """Poll /healthz until the server answers (any status); return (status, body)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"server exited with {process.returncode}:\n{out}\n{err}")
        try:
            return get(port, "/healthz")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"server did not answer on port {port} within {seconds} s")


def stop(process):
    """Terminate PROCESS (kill it if it hangs) and return its (stdout, stderr)."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def test_python_app_py_on_a_fresh_clone_creates_the_database_migrates_and_serves(project):
    port = free_port()
    assert not (project / "analyzer.db").exists()
    server = start([sys.executable, "app.py"], project, environment(PORT=str(port)))
    try:
        status, body = wait_until_serving(server, port)
        assert status == 200
        assert json.loads(body) == {"status": "ok", "database": "ok",
                                    "schema": {"current": migration_names(project)[-1], "pending": []}}
        assert (project / "analyzer.db").is_file()
        status, page = get(port, "/")  # follows the redirect to the first-run setup page
        assert status == 200
        assert "<title>Set up · Customer Session Analyzer</title>" in page
        assert "Create the first admin" in page and 'name="setup_token"' not in page
    finally:
        out, err = stop(server)
    assert f"Serving on http://127.0.0.1:{port}" in out
    assert "Traceback" not in err


def test_python_app_py_demo_loads_demo_sessions_once_then_serves(project):
    port = free_port()
    server = start([sys.executable, "app.py", "--demo"], project, environment(PORT=str(port)))
    try:
        assert wait_until_serving(server, port, seconds=60)[0] == 200
    finally:
        out, _ = stop(server)
    assert re.search(r"Loaded demo data: [\d,]+ rows read, 5,000 sessions created, ", out)
    listed = run_cli(project, "import", "--list", env={"DATABASE_URL": "sqlite:///analyzer.db"})
    assert "demo-events-seed7.ndjson.gz" in listed.out and "5,000 sessions" in listed.out
    server = start([sys.executable, "app.py", "--demo"], project, environment(PORT=str(port)))
    try:
        wait_until_serving(server, port)
    finally:
        out, _ = stop(server)
    assert "Demo data skipped: the database already has sessions." in out


def test_python_app_py_imports_through_the_api_after_migrating(project):
    # The migrations ran on a handle of their own; the models used it after, and the request's write transaction on
    # the app's handle locked them out: every import waited 10 s for itself and answered 503.
    port = free_port()
    env = environment(PORT=str(port))
    server = start([sys.executable, "app.py"], project, env)
    try:
        wait_until_serving(server, port)
        database = {"DATABASE_URL": "sqlite:///analyzer.db"}
        run_cli(project, "user", "create", "--role", "admin", "--password-stdin", "admin@example.com", env=database,
                stdin="a long password for the test 1\n")
        created = run_cli(project, "token", "create", "--user", "admin@example.com", "--scope", "ingest", env=database)
        token = re.search(r"csa_[A-Za-z0-9_-]+", created.out).group(0)
        body = json.dumps({"session_id": "s1", "customer_id": "c1", "started_at": "2026-11-01T10:00:00Z"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/sessions", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        began = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            assert json.loads(response.read())["sessions_created"] == 1
        assert time.monotonic() - began < 5
    finally:
        stop(server)


def test_python_app_py_rejects_demo_outside_development_and_unknown_flags(project):
    env = environment(APP_ENV="production", DATABASE_URL="sqlite:///x.db", SECRET_KEY="k" * 32)
    done = subprocess.run([sys.executable, "app.py", "--demo"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "--demo only works in development" in done.stderr
    done = subprocess.run([sys.executable, "app.py", "--bogus"], cwd=project, env=environment(), capture_output=True,
                          text=True)
    assert done.returncode == 2 and "Usage: python app.py [--demo]" in done.stderr


def test_python_app_py_on_a_port_in_use_says_so_in_one_line(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "app.py"], cwd=project, env=environment(PORT=str(port)),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Serving on" not in done.stdout and "Traceback" not in done.stderr
    assert f"Error: cannot serve on 127.0.0.1:{port}: Address already in use (another server?)" in done.stderr
    assert f"PORT={port + 1} python app.py" in done.stderr


PRODUCTION_STARTS = {
    "python app.py": [sys.executable, "app.py"],
    "waitress-serve": [sys.executable, "-m", "waitress", "--listen=127.0.0.1:0", "app:app"],
}


@pytest.mark.parametrize("command", PRODUCTION_STARTS.values(), ids=PRODUCTION_STARTS.keys())
def test_production_without_database_url_exits_2_naming_it(project, command):
    done = subprocess.run(command, cwd=project, env=environment(APP_ENV="production", SECRET_KEY="k" * 32),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: DATABASE_URL is not set: production needs it (e.g. postgresql://user:pass@host:5432/db); "
        "it never falls back to SQLite."]
    assert "Traceback" not in done.stderr
    assert not (project / "analyzer.db").exists()


def test_railway_deploy_health_fails_until_pre_deploy_migrates(project, pg_url):
    port = free_port()
    names = migration_names(project)
    env = {"APP_ENV": "production", "SECRET_KEY": "k" * 32, "DATABASE_URL": pg_url}
    server = start([sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "app:app"],
                   project, environment(**env))
    try:
        status, body = wait_until_serving(server, port)
        assert status == 503
        assert json.loads(body) == {"status": "migrations pending", "database": "ok",
                                    "schema": {"current": None, "pending": names}}
        assert get(port, "/")[0] == 503

        migrated = run_cli(project, "migrate", "run", env=env, stdin="", timeout=60)
        assert migrated.code == 0, migrated.err
        assert f"Database is now at {names[-1]}." in migrated.out

        status, body = get(port, "/healthz")
        assert status == 200
        assert json.loads(body) == {"status": "ok", "database": "ok",
                                    "schema": {"current": names[-1], "pending": []}}
        assert get(port, "/")[0] == 200
    finally:
        _, err = stop(server)
    assert "schema is behind: current=None pending=" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("verb", ["rollback", "stamp --prune-missing"])
def test_pre_deploy_never_waits_on_a_prompt(project, pg_url, verb):
    env = {"APP_ENV": "production", "SECRET_KEY": "k" * 32, "DATABASE_URL": pg_url}
    assert run_cli(project, "migrate", "run", env=env, stdin="").code == 0
    result = run_cli(project, "migrate", *verb.split(), env=env, stdin="", timeout=30)
    if verb == "rollback":
        assert result.code == 2 and "Pass --yes to confirm" in result.err
    else:
        assert result.code == 0 and "nothing to prune" in result.out

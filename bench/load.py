"""Load test: concurrent clients on a real waitress (127.0.0.1 only) while a big import runs; prints JSON.

    python bench/load.py --db sqlite|postgres [--sessions 1000000] [--import-sessions 500000]
                         [--clients 50] [--seconds 60] [--max-requests 200000] [--sign-in-every 10]

It makes its own database (a temporary SQLite file, or a new PostgreSQL database next to
TEST_DATABASE_URL's) and removes it at the end; loads --sessions through the importer, signs in
--clients users (production settings: Argon2id, Secure cookies, trusted proxy as in railway.toml),
then each client cycles through the pages and the API for --seconds (or --max-requests in all),
signing in again every --sign-in-every requests (a write, and an Argon2id check of about 160 ms of
CPU), while `manage.py import` adds --import-sessions more. It reports requests/s, p50/p99 and the
statuses per kind of request, every 5xx, every "database is locked", the import's time and the exact
row counts after.
"""

import argparse
import csv
import datetime as dt
import http.client
import json
import os
import random
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "load test password 4242"
FIRST_SIGN_IN_S = 120  # a client told to retry its first sign-in stops after this long
CHANNELS = [("google", "organic"), ("google", "cpc"), ("newsletter", "email"), ("instagram", "social"), ("", "")]
DEVICES = ["mobile", "desktop", "tablet"]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "NL", "ES", "IT", "AU", "JP"]
PAGES = ["/", "/collections/sale", "/products/trail-runner", "/products/rain-jacket", "/blog/shoes"]


def write_sessions(path, count, prefix, seed, today):
    """Write COUNT sessions over the last 365 days as a CSV export."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["session_id", "customer_id", "started_at", "duration", "utm_source", "utm_medium", "device",
                         "country", "landing_page", "exit_page", "pageviews", "converted", "revenue"])
        for number in range(count):
            start = today - dt.timedelta(seconds=rng.randrange(365 * 86400))
            source, medium = rng.choice(CHANNELS)
            converted = rng.random() < 0.03
            writer.writerow([f"{prefix}-{number}", f"c-{rng.randrange(count // 3 + 1)}", f"{start:%Y-%m-%dT%H:%M:%SZ}",
                             rng.randrange(1, 1800), source, medium, rng.choice(DEVICES), rng.choice(COUNTRIES),
                             rng.choice(PAGES), rng.choice(PAGES), rng.randrange(1, 12), int(converted),
                             f"{rng.uniform(10, 200):.2f}" if converted else "0"])


def cli(env, *args, stdin=None):
    """Run manage.py; raise with its output when it fails; return its stdout."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def server_command(port):
    """railway.toml's start command, on 127.0.0.1:PORT with this Python."""
    command = tomllib.loads((ROOT / "railway.toml").read_text())["deploy"]["startCommand"]
    words = shlex.split(command.replace("$PORT", str(port)))
    return [sys.executable, "-m", "waitress", *[w.replace("0.0.0.0", "127.0.0.1") for w in words[1:]]]


class Retry(Exception):
    """A request got no response; its client goes on with the next one."""


class Crowded(Retry):
    """A sign-in that the server asked to retry in this many seconds (429, too many sign-ins at once)."""


class Client(threading.Thread):
    """One signed-in user cycling through the pages and the API until the deadline."""

    def __init__(self, run, number):
        super().__init__(daemon=True)
        self.run_, self.number = run, number

    def request(self, connection, method, path, body=None, headers=None):
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:  # counted, then the client goes on on a new connection
            connection.close()
            self.run_.record(path, 599, time.perf_counter() - started, f"no response: {exc!r}")
            raise Retry() from None
        self.run_.record(path, response.status, time.perf_counter() - started, text)
        return response, text

    def sign_in(self, connection):
        response, page = self.request(connection, "GET", "/login")
        nonce = re.search(r"analyzer_csrf=([^;]+)", response.getheader("Set-Cookie") or "")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if nonce is None or token is None:
            raise Retry()
        nonce, token = nonce.group(1), token.group(1)
        body = urlencode({"csrf_token": token, "email": f"user{self.number}@example.com", "password": PASSWORD,
                          "next": "/"})
        response, page = self.request(connection, "POST", "/login", body, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"analyzer_csrf={nonce}",
            "X-Forwarded-For": f"10.0.{self.number}.1"})
        if response.status == 429 and "signing in right now" in page:
            raise Crowded(int(response.getheader("Retry-After") or 5))
        signed_in = re.search(r"analyzer_session=([^;]+)", response.getheader("Set-Cookie") or "")
        if signed_in is None:  # refused (a 503 is counted): go on with the session this client had
            raise Retry()
        return signed_in.group(1)

    def run(self):
        run = self.run_
        connection = http.client.HTTPConnection("127.0.0.1", run.port, timeout=60)
        give_up = time.monotonic() + FIRST_SIGN_IN_S
        try:
            while True:
                try:
                    cookie = {"Cookie": f"analyzer_session={self.sign_in(connection)}"}
                    break
                except Crowded as crowded:  # as a user told to try again in a few seconds would
                    if time.monotonic() + crowded.args[0] > give_up:
                        raise
                    time.sleep(crowded.args[0])
        except Retry:
            return
        finally:
            with run.lock:
                run.started += 1
        with run.lock:
            run.signed_in += 1
        api = {"Authorization": f"Bearer {run.token}"}
        cursor = None
        step = 0
        while time.monotonic() < run.deadline and run.take():
            step += 1
            try:
                cookie, cursor = self.step(connection, step, cookie, api, cursor)
            except Retry:
                continue
        connection.close()

    def step(self, connection, step, cookie, api, cursor):
        """Make one request of the cycle; return the cookie and API cursor to go on with."""
        kind = step % 8
        if kind == 0:
            path = "/api/v1/sessions?limit=100" + (f"&after={cursor}" if cursor else "")
            _, text = self.request(connection, "GET", path, headers=api)
            try:
                cursor = json.loads(text).get("next")
            except ValueError:
                cursor = None
        elif kind == 1:
            self.request(connection, "GET", "/sessions", headers=cookie)
        elif kind == 5:
            self.request(connection, "GET", "/", headers=cookie)
        elif kind == 2:
            self.request(connection, "GET", "/api/v1/stats?period=30d", headers=api)
        elif kind == 3:
            self.request(connection, "GET", "/api/v1/timeseries?period=30d&metric=sessions", headers=api)
        elif kind == 4:
            self.request(connection, "GET", "/api/v1/breakdown/channel?period=30d", headers=api)
        elif kind == 6:
            self.request(connection, "GET", "/api/v1/sessions?limit=50", headers=api)
        else:
            self.request(connection, "GET", "/imports", headers=cookie)
        every = self.run_.sign_in_every
        if step % every == self.number % every:  # now and then a request that writes, at each client's own phase
            cookie = {"Cookie": f"analyzer_session={self.sign_in(connection)}"}
        return cookie, cursor


class Run:
    """Shared counters of one load run."""

    def __init__(self, port, token, seconds, max_requests, sign_in_every):
        self.port, self.token, self.sign_in_every = port, token, sign_in_every
        self.deadline = time.monotonic() + seconds
        self.left = max_requests
        self.lock = threading.Lock()
        self.times = {}
        self.statuses = {}
        self.errors = []
        self.locked = 0
        self.started = 0  # clients past their first sign-in
        self.signed_in = 0  # those it signed in

    def take(self):
        with self.lock:
            self.left -= 1
            return self.left >= 0

    def record(self, path, status, seconds, text):
        group = ("api sessions" if path.startswith("/api/v1/sessions") else "api dashboard" if path.startswith("/api")
                 else "session list" if path == "/sessions" else "dashboard page" if path == "/"
                 else "sign-in" if path == "/login" else "imports page")
        with self.lock:
            self.times.setdefault(group, []).append(seconds)
            counts = self.statuses.setdefault(group, {})
            counts[status] = counts.get(status, 0) + 1
            if status >= 500:
                self.errors.append({"path": path, "status": status, "body": text[:200]})
            if "database is locked" in text or "database is busy" in text.lower():
                self.locked += 1


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None


def database(kind, folder):
    """Create the run's database; return (DATABASE_URL, a function that removes it)."""
    if kind == "sqlite":
        path = folder / "load.db"
        return f"sqlite:///{path}", lambda: None
    name = f"analyzer_load_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    return urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}")), drop


def count_rows(url):
    """Return the exact row counts after the run."""
    if url.startswith("sqlite:"):
        import sqlite3
        connection = sqlite3.connect(url.split(":///", 1)[1])
    else:
        connection = psycopg2.connect(url)
    cursor = connection.cursor()
    counts = {}
    for name, sql in (("sessions", "SELECT COUNT(*) FROM customer_sessions"),
                      ("distinct session keys", "SELECT COUNT(DISTINCT session_key) FROM customer_sessions"),
                      ("rollup sessions", "SELECT COALESCE(SUM(sessions), 0) FROM daily_rollups"),
                      ("imports done", "SELECT COUNT(*) FROM imports WHERE status = 'done'"),
                      ("imports not done", "SELECT COUNT(*) FROM imports WHERE status <> 'done'")):
        cursor.execute(sql)
        counts[name] = int(cursor.fetchone()[0])
    connection.close()
    return counts


def main():
    """Run one load test and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--import-sessions", type=int, default=500_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--sign-in-every", type=int, default=10)
    args = parser.parse_args()
    if args.sign_in_every < 1:
        parser.error("--sign-in-every takes a number of requests, 1 or more")
    with tempfile.TemporaryDirectory(prefix="analyzer-load-") as tmp:
        folder = Path(tmp)
        url, drop = database(args.db, folder)
        try:
            print(json.dumps(load(args, folder, url)), flush=True)
        finally:
            drop()


def load(args, folder, url):
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "SECRET_KEY")}
    env |= {"DATABASE_URL": url, "APP_ENV": "production", "SECRET_KEY": "load-test-" + "k" * 32}
    today = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    base, more = folder / "base.csv", folder / "more.csv"
    write_sessions(base, args.sessions, "base", 1, today)
    write_sessions(more, args.import_sessions, "more", 2, today)
    cli(env, "migrate", "run", "--yes")
    started = time.perf_counter()
    cli(env, "import", str(base), "--yes")
    base_seconds = time.perf_counter() - started
    for number in range(args.clients):
        cli(env, "user", "create", f"user{number}@example.com", "--role", "analyst", "--password-stdin",
            stdin=PASSWORD + "\n")
    token = cli(env, "token", "create", "--user", "user0@example.com", "--scope", "read").strip().splitlines()[-1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The server's log goes to a file: a pipe read only at the end fills up, and the server then stalls writing to it.
    server_log_file = open(folder / "server.log", "w+", encoding="utf-8")
    server = subprocess.Popen(server_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=server_log_file, text=True)
    try:
        _wait_for(port, server, server_log_file)
        run = Run(port, token, 10**9, args.max_requests, args.sign_in_every)
        clients = [Client(run, n) for n in range(args.clients)]
        for client in clients:
            client.start()
        # Measured from when every client has signed in: the first requests of the clients that signed in last
        # would otherwise wait behind the others' Argon2id checks (the session list's p99 was 3.4 s, its p50 0.85 s).
        while run.started < args.clients and any(c.is_alive() for c in clients):
            time.sleep(0.05)
        with run.lock:
            run.times, run.statuses, run.errors, run.locked, run.left = {}, {}, [], 0, args.max_requests
            run.deadline = time.monotonic() + args.seconds
        measured = time.perf_counter()
        importing = subprocess.Popen([sys.executable, "manage.py", "import", str(more), "--yes"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for client in clients:
            client.join()
        elapsed = time.perf_counter() - measured
        import_output = importing.communicate()[0]
        import_seconds = time.perf_counter() - measured
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log_file.seek(0)
        server_log = server_log_file.read()
        server_log_file.close()
    everything = [t for times in run.times.values() for t in times]
    return {
        "database": args.db, "clients": args.clients, "clients_signed_in": run.signed_in,
        "sign_in_every": args.sign_in_every,
        "seconds": round(elapsed, 1), "sessions_before": args.sessions,
        "import_sessions": args.import_sessions, "base_import_s": round(base_seconds, 1),
        "import_s": round(import_seconds, 1), "import_exit": importing.returncode,
        "import_ran_whole_time": import_seconds >= elapsed,
        "requests": len(everything), "requests_per_s": round(len(everything) / elapsed, 1),
        "p50_ms": _ms(percentile(everything, 0.5)), "p99_ms": _ms(percentile(everything, 0.99)),
        "by_kind": {k: {"requests": len(v), "p50_ms": _ms(percentile(v, 0.5)), "p99_ms": _ms(percentile(v, 0.99))}
                    for k, v in sorted(run.times.items())},
        "statuses": {k: {str(status): n for status, n in sorted(v.items())} for k, v in sorted(run.statuses.items())},
        "5xx": sum(1 for e in run.errors if e["status"] < 599), "5xx_examples": run.errors[:5],
        "no_response_in_60s": sum(1 for e in run.errors if e["status"] == 599), "database_is_locked": run.locked,
        "server_errors_logged": server_log.count("Traceback"),
        "rows_after": count_rows(url), "import_output_tail": import_output.strip().splitlines()[-1:],
    }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def _wait_for(port, server, log_file):
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log_file.seek(0)
            raise SystemExit(f"the server did not start: {log_file.read()}")
        time.sleep(0.2)


if __name__ == "__main__":
    main()

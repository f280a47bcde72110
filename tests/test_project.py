"""The repository itself: its migrations pass the CI gate, and its deploy files say what the README says."""

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT, run_cli


def test_repository_migrations_pass_migrate_check(db_url):
    if db_url.startswith("sqlite:"):
        Path(db_url.split(":///", 1)[1]).touch()  # check only reads: it refuses a database file that is not there
    result = run_cli(ROOT, "migrate", "check", env={"DATABASE_URL": db_url})
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("migrate check: OK")


def test_repository_migrations_lint_clean(db_url):
    if db_url.startswith("sqlite:"):
        Path(db_url.split(":///", 1)[1]).touch()
    result = run_cli(ROOT, "migrate", "lint", env={"DATABASE_URL": db_url})
    assert result.code == 0, result.out
    assert "0 error(s)" in result.out


def test_readme_quick_start_has_exactly_two_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].endswith("python app.py --demo") and "requirements.txt" in commands[0]
    assert "pytest" in commands[1] and "requirements-dev.txt" in commands[1]


def test_procfile_and_railway_config_migrate_before_serving():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert procfile["release"] == "python manage.py migrate run"
    assert procfile["web"].startswith("waitress-serve --listen=0.0.0.0:$PORT")
    railway = tomllib.loads((ROOT / "railway.toml").read_text())
    assert railway["deploy"]["preDeployCommand"] == ["python manage.py migrate run"]
    assert railway["deploy"]["healthcheckPath"] == "/healthz"
    assert railway["deploy"]["startCommand"] == procfile["web"]
    assert f"--threads={app_threads()} " in procfile["web"]  # python app.py serves as production does


def app_threads():
    """Return app.py's THREADS, read from its text (importing app.py would build the app)."""
    return int(re.search(r"^THREADS = (\d+)$", (ROOT / "app.py").read_text(), re.M).group(1))


def test_railway_build_ships_the_bytecode_of_every_module(tmp_path):
    railway = tomllib.loads((ROOT / "railway.toml").read_text())
    command = shlex.split(railway["build"]["buildCommand"])
    assert command[0] == "python"
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    sources = [name for name in tracked.stdout.split() if not name.startswith(("tests/", "bench/"))]
    for name in sources:  # the sources alone: no bytecode a run in the checkout left
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, check=True)
    assert [name for name in sources if not Path(importlib.util.cache_from_source(str(tmp_path / name))).exists()] \
        == []


def test_railway_builds_with_railpack_on_the_python_the_tests_run_on():
    railway = tomllib.loads((ROOT / "railway.toml").read_text())
    assert railway["build"]["builder"] == "RAILPACK"
    pinned = (ROOT / ".python-version").read_text().strip()
    assert pinned == f"{sys.version_info.major}.{sys.version_info.minor}"

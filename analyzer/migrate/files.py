"""Migration files on disk: finding, numbering, hashing and loading them."""

import ast
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import AppError

FILENAME_RE = re.compile(r"^(\d{3,})_([^.]+)\.py$")
BASELINE_RE = re.compile(r"^\d{3,}_squashed_")


@dataclass(frozen=True)
class MigrationFile:
    """One numbered migration script."""

    number: int
    name: str
    path: Path

    @property
    def checksum(self):
        """Return the SHA-256 of the file's bytes."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def display(self):
        """Return the path as shown to people: migrations/NNN_slug.py."""
        return f"{self.path.parent.name}/{self.path.name}"


def number_of(name):
    """Return the number a migration's name starts with ('003_x' -> 3), or None."""
    head = name.split("_", 1)[0]
    return int(head) if head.isdigit() else None


def scan(directory):
    """List the migration files of a directory, ordered by number then name."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = FILENAME_RE.match(path.name)
        if match and path.is_file():
            found.append(MigrationFile(int(match.group(1)), path.stem, path))
    return sorted(found, key=lambda f: (f.number, f.name))


def duplicate_numbers(files):
    """Map each number that several files share to their names."""
    by_number = {}
    for f in files:
        by_number.setdefault(f.number, []).append(f.name)
    return {n: names for n, names in by_number.items() if len(names) > 1}


def next_number(files):
    """Return the number after the highest existing one."""
    return max((f.number for f in files), default=0) + 1


def slugify(text):
    """Turn a description into a file-name slug: 'Add referrer!' -> 'add_referrer'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not slug:
        raise AppError(f"Cannot make a file name from {text!r}: use letters or digits, e.g. \"add referrer\".")
    return slug[:60].rstrip("_")


def resolve(files, name):
    """Find the file a user means by a full name ('002_add_x') or a number ('002', '2'; '02' is a typo, not 2)."""
    for f in files:
        if f.name == name:
            return f
    if name.isdigit():
        # A shortened zero-padded number is refused: '01' was meant as 011 and rolled back everything after 001.
        matches = [f for f in files if f.number == int(name) and (f.name.split("_")[0] == name or name[0] != "0")]
        if len(matches) == 1:
            return matches[0]
    return None


def load(migration):
    """Execute a migration file and return its module namespace."""
    source = migration.path.read_text(encoding="utf-8")
    namespace = {"__name__": f"migration_{migration.name}", "__file__": str(migration.path)}
    try:
        code = compile(source, str(migration.path), "exec", dont_inherit=True)
        exec(code, namespace)
    except Exception as exc:
        raise AppError(
            f"{migration.display} cannot be loaded: {type(exc).__name__}: {exc}. "
            "Fix the file and try again."
        ) from exc
    return namespace


def baselines(migration_files):
    """Map each squash baseline's name to the {replaced name: SHA-256} it records; only baselines are read."""
    return {f.name: _replaces(f) for f in migration_files if BASELINE_RE.match(f.name)}


def _replaces(migration):
    tree = ast.parse(migration.path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "REPLACES" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise AppError(f"{migration.display} is named as a squash baseline but has no REPLACES dictionary; restore it.")

"""migrations/migrations.sum: the SHA-256 of every migration file, so an edit to history is caught."""

import re

from analyzer.migrate.files import scan

SUM_FILE = "migrations.sum"
CONFLICT_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")
ENTRY = re.compile(r"[0-9a-f]{64}  \S.*\.py")  # a file name may hold spaces: 002_add note.py
HEADER = ("# SHA-256 of each migration file: written by \"migrate create\" and \"migrate sum\", "
          "checked by \"migrate check\". Do not edit by hand.\n")


def read(directory):
    """Return {file name: hash} from the sum file, or None when there is no sum file."""
    lines = _lines(directory)
    if lines is None:
        return None
    entries = {}
    for line in lines:
        if ENTRY.fullmatch(line.strip()):
            digest, _, name = line.strip().partition("  ")
            entries[name] = digest
    return entries


def _lines(directory):
    """Return the sum file's lines, a byte that is not UTF-8 read as U+FFFD, or None when there is no sum file."""
    path = directory / SUM_FILE
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()  # -sig: a BOM a Windows editor added


def unreadable(directory):
    """Return (line number, line) for each line of the sum file that is no entry, comment or blank line."""
    return [(number, line) for number, line in enumerate(_lines(directory) or [], 1)
            if line.strip() and not line.startswith("#") and not ENTRY.fullmatch(line.strip())]


def damage(directory):
    """Return what makes the sum file unreadable (a merge conflict, a line that is no entry), or None."""
    bad = unreadable(directory)
    if not bad:
        return None
    number, line = bad[0]
    if line.startswith(CONFLICT_MARKERS):
        return (f"migrations/{SUM_FILE} line {number} is a merge conflict marker ({line.split()[0]}): keep the "
                "migration files of both branches (if two share a number, renumber the one not yet on main after "
                "the newest migration with git mv; never renumber or edit one on main), then rewrite the sum with "
                '"python manage.py migrate sum"')
    return (f"migrations/{SUM_FILE} line {number} is not a SHA-256 and a file name ({line[:60]!r}): it is "
            'written by "migrate create" and "migrate sum"; check the migration files, then run '
            '"python manage.py migrate sum"')


def write(directory, migration_files):
    """Rewrite the sum file from the files on disk; return {"changed", "added", "removed": the names of entries}."""
    before = read(directory) or {}
    after = {f.path.name: f.checksum for f in migration_files}
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(after.items()))
    (directory / SUM_FILE).write_text(HEADER + lines, encoding="utf-8")
    return {"changed": sorted(n for n in after if n in before and before[n] != after[n]),
            "added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after))}


def add(directory, migration):
    """Record a new file in the sum file (creating it with every file when missing)."""
    entries = read(directory)
    if entries is None:
        write(directory, scan(directory))
        return
    path = directory / SUM_FILE
    apart = "\n" if path.read_bytes()[-1:] not in (b"", b"\n") else ""  # an editor took the last newline
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{apart}{migration.checksum}  {migration.path.name}\n")


def mismatches(directory, migration_files):
    """Return one line per file whose hash differs from, or is missing in, the sum file."""
    entries = read(directory)
    if entries is None:
        return [f'migrations/{SUM_FILE} is missing: create it with "python manage.py migrate sum"']
    damaged = damage(directory)
    if damaged:
        return [damaged]
    problems = []
    on_disk = {f.path.name: f for f in migration_files}
    for name, f in on_disk.items():
        if name not in entries:
            problems.append(f'migrations/{name} is not in {SUM_FILE}: files come from "migrate create"; '
                            'if you wrote or renamed it on purpose, run "python manage.py migrate sum"')
        elif entries[name] != f.checksum:
            problems.append(f"migrations/{name} does not match {SUM_FILE}: it was edited after it was created; "
                            "add a new migration instead (or, for a file not yet on main, run "
                            '"python manage.py migrate sum")')
    for name in sorted(set(entries) - set(on_disk)):
        problems.append(f"{SUM_FILE} lists {name} but the file is gone: restore it from version control")
    return problems

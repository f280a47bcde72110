"""Where the database stands against the migration files, and what a command would do about it."""

from dataclasses import dataclass, field

from analyzer.db import is_sqlite
from analyzer.errors import AppError
from analyzer.migrate import files as mfiles
from analyzer.migrate import history


@dataclass
class State:
    """What is on disk and what the database says was applied."""

    files: list
    applied: list
    pending: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    duplicates: dict = field(default_factory=dict)
    squashed: dict = field(default_factory=dict)
    partial: list = field(default_factory=list)
    renumbered: dict = field(default_factory=dict)  # applied name whose file is gone -> the file with its contents

    def applied_files(self):
        """Return the files of the applied migrations in order; a baseline stands in for the files it replaced."""
        by_name = {f.name: f for f in self.files} | self.renumbered
        found = []
        for row in self.applied:
            migration = by_name.get(self.squashed.get(row.name, row.name))
            if migration is not None and migration not in found:
                found.append(migration)
        return found

    @property
    def edited(self):
        """Return the applied migrations whose file changed since (this reads and hashes their files)."""
        by_name = {f.name: f for f in self.files}
        return [r.name for r in self.applied
                if r.name in by_name and r.checksum and r.checksum != by_name[r.name].checksum]

    @property
    def applied_names(self):
        """Return the applied migrations' names, oldest first, a renumbered file's under its new name."""
        return [self.renumbered[r.name].name if r.name in self.renumbered else r.name for r in self.applied]

    @property
    def current(self):
        """Return the name of the last applied migration, or None."""
        return self.applied_names[-1] if self.applied else None

    def below_applied(self):
        """Return (pending file, highest applied number) for each pending file numbered below an applied one."""
        applied = set(self.applied_names)
        top = max((f.number for f in self.files if f.name in applied), default=0)
        return [(f, top) for f in self.pending if f.number < top]

    def ahead(self):
        """Return the applied migrations without a file numbered above every file: a newer version applied them."""
        top = max((f.number for f in self.files), default=0)
        return [name for name in self.missing if (mfiles.number_of(name) or 0) > top]

    def newer_version(self):
        """Return the newer version's migrations a run may pass over: none while a file of this one is pending."""
        return [] if self.pending else self.ahead()

    def problems(self, ignore=()):
        """Return one line per problem that makes running migrations unsafe (IGNORE: missing files not to count)."""
        newer = self.ahead()
        lines = [
            f"history lists {name}, newer than every file here: a newer version applied it; run this command from "
            "that version's checkout" if name in newer else
            f"history lists {name} but migrations/{name}.py is missing: restore the file from version "
            f'control, or remove the row with "python manage.py migrate stamp --prune-missing"'
            for name in self.missing if name not in ignore
        ]
        lines += [
            f"migration number {n:03d} is used by {len(names)} files ({', '.join(names)}): renumber the one not "
            "yet on main after the newest migration (git mv), then run python manage.py migrate sum"
            for n, names in sorted(self.duplicates.items())
        ]
        lines += [
            f"{baseline} replaces {total} migrations but this database applied only {done} of them: apply the rest "
            "from a checkout made before the squash, then come back to this one"
            for baseline, done, total in self.partial
        ]
        return lines


def read_state(db, directory):
    """Compare the migration files with the history table; runs no migration code."""
    on_disk = mfiles.scan(directory)
    rows = history.applied(db)
    by_name = {f.name: f for f in on_disk}
    done = {r.name for r in rows}
    state = State(files=on_disk, applied=rows)
    skipped = set()
    for baseline, replaced in mfiles.baselines(on_disk).items():
        applied_before = done & set(replaced)
        if baseline in done or not applied_before:
            continue
        skipped.add(baseline)
        state.squashed.update({name: baseline for name in replaced})
        if len(applied_before) < len(replaced):
            state.partial.append((baseline, len(applied_before), len(replaced)))
    state.pending = [f for f in on_disk if f.name not in done and f.name not in skipped]
    state.missing = [r.name for r in rows if r.name not in by_name and r.name not in state.squashed]
    # A file renumbered after it was applied (two branches took the same number) is the same migration: the same
    # name after the number and the same contents, one history row without its file for one pending file.
    def key(name, checksum):
        return name.partition("_")[2], checksum

    files_by_key, rows_by_key = {}, {}
    for f in state.pending:
        files_by_key.setdefault(key(f.name, f.checksum), []).append(f)
    for row in rows:
        if row.name in state.missing and row.checksum:
            rows_by_key.setdefault(key(row.name, row.checksum), []).append(row.name)
    for found, names in rows_by_key.items():
        if len(names) == 1 and len(files_by_key.get(found, [])) == 1:
            state.renumbered[names[0]] = files_by_key[found][0]
    state.missing = [name for name in state.missing if name not in state.renumbered]
    state.pending = [f for f in state.pending if f not in state.renumbered.values()]
    state.duplicates = mfiles.duplicate_numbers(on_disk)
    return state


def require_clean(state, ignore=()):
    """Refuse to go on while the files and the history disagree (IGNORE: missing files not to count)."""
    problems = state.problems(ignore)
    if problems:
        raise AppError("Cannot migrate: " + "; ".join(problems) + ".", exit_code=2)


def require_valid_indexes(db):
    """Refuse to migrate while an interrupted CREATE INDEX CONCURRENTLY has left an invalid index (PostgreSQL)."""
    # A step with IF NOT EXISTS would take the invalid index for a built one and go on to the next statement.
    invalid = invalid_indexes(db)
    if invalid:
        raise AppError(f"Cannot migrate: invalid index(es) {', '.join(invalid)} left by an interrupted CREATE INDEX "
                       "CONCURRENTLY: drop each with DROP INDEX CONCURRENTLY name, then run the command again. "
                       "Nothing was changed.", exit_code=2)


def to_apply(state, to=None):
    """Return the pending files to apply, up to and including TO."""
    if to is None:
        return list(state.pending)
    target = mfiles.resolve(state.files, to)
    if target is None:
        raise AppError(f"No migration named {to!r}{_shortened_number(to)}; nothing was applied. {_known(state.files)}")
    if target not in state.pending:
        return []
    return [f for f in state.pending if (f.number, f.name) <= (target.number, target.name)]


def _shortened_number(text):
    """Say why a zero-padded number shorter than three digits is not read as the migration of that number."""
    if text.isdigit() and text.startswith("0") and len(text) < 3:
        return (f" ({text} is refused: with a leading 0 and fewer than three digits it may be one of several numbers "
                f"cut short, such as {text.zfill(3)} or {text}0; write all three digits)")
    return ""


def to_revert(state, steps=None, to=None):
    """Return the applied files to revert, newest first."""
    applied = state.applied_names
    by_name = {f.name: f for f in state.files}
    if to is not None:
        if to == "zero":
            names = applied
        else:
            target = mfiles.resolve(state.files, to) or _applied_named(applied, to)
            # A baseline that this database skipped stands for the last file it replaces, which it applied.
            skipped = [n for n in applied if target is not None and state.squashed.get(n) == target.name]
            name = skipped[-1] if skipped else target.name if target is not None else None
            if name not in applied:
                raise AppError(
                    f"No applied migration named {to!r}{_shortened_number(to)}; nothing was reverted. "
                    f"Applied: {', '.join(applied) or 'none'} (or use --to zero)."
                )
            names = applied[applied.index(name) + 1:]
    else:
        steps = 1 if steps is None else steps
        if steps < 1:
            raise AppError("--steps must be 1 or more; nothing was reverted.")
        if steps > len(applied):
            raise AppError(
                f"Cannot revert {steps} migrations: only {len(applied)} applied; nothing was reverted."
            )
        names = applied[len(applied) - steps:]
    squashed = [n for n in names if n in state.squashed]
    if squashed:
        raise AppError(f"Cannot roll back {squashed[-1]}: {state.squashed[squashed[-1]]} replaced its file with a "
                       "baseline for new databases; nothing was reverted. Roll back only the migrations after it.")
    return [by_name[n] for n in reversed(names)]


def _applied_named(applied, to):
    """Find an applied migration whose file is gone (replaced by a baseline) by its name or number."""
    pseudo = [mfiles.MigrationFile(mfiles.number_of(name), name, None) for name in applied
              if mfiles.number_of(name) is not None]
    return mfiles.resolve(pseudo, to)


def _known(migration_files):
    names = [f.name for f in migration_files]
    return f"Known migrations: {', '.join(names)}." if names else "There are no migration files."


def invalid_indexes(db):
    """Return the invalid indexes an interrupted CREATE INDEX CONCURRENTLY left (PostgreSQL)."""
    if is_sqlite(db):
        return []
    rows = db.execute_sql(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid AND n.nspname = current_schema()"
    ).fetchall()
    return sorted(r[0] for r in rows)

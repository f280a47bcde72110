"""Renames that "migrate create" writes as rename_field/rename_table instead of add plus remove."""

import re
from dataclasses import dataclass

from analyzer.errors import AppError

RENAME_RE = re.compile(r"^(?:(?P<table>[A-Za-z_][\w$]*)\.)?(?P<old>[A-Za-z_][\w$]*)=(?P<new>[A-Za-z_][\w$]*)$")


@dataclass(frozen=True)
class Rename:
    """A column (table.old -> new) or a table (old -> new) that was renamed."""

    table: str | None
    old: str
    new: str
    kind: str = ""

    @property
    def label(self):
        """Return the rename as written on the command line: table.old=new or old=new."""
        return f"{self.table}.{self.old}={self.new}" if self.table else f"{self.old}={self.new}"

    def question(self):
        """Return the question asked on a terminal."""
        if self.table:
            return f"Did you rename {self.table}.{self.old} to {self.new} ({self.kind})? [y/N]"
        return f"Did you rename the table {self.old} to {self.new}? [y/N]"

    def forward(self):
        """Return the migrator call that does the rename."""
        if self.table:
            return f"migrator.rename_field({self.table!r}, {self.old!r}, {self.new!r})"
        return f"migrator.rename_table({self.old!r}, {self.new!r})"

    def backward(self):
        """Return the migrator call that undoes it."""
        if self.table:
            return f"migrator.rename_field({self.table!r}, {self.new!r}, {self.old!r})"
        return f"migrator.rename_table({self.new!r}, {self.old!r})"

    def apply(self, migrator):
        """Make the same rename in a replayed migrator's model state."""
        if self.table:
            migrator.rename_field(self.table, self.old, self.new)
        else:
            migrator.rename_table(self.old, self.new)


def parse(values):
    """Turn --rename values (table.old=new for a column, old=new for a table) into Renames."""
    renames = []
    for value in values:
        match = RENAME_RE.match(value.strip())
        if not match:
            raise AppError(f"--rename {value!r} is not TABLE.OLD=NEW (a column) or OLD=NEW (a table), for example "
                           "--rename customer_sessions.exit_page=exit_path; nothing was written.")
        renames.append(Rename(match["table"], match["old"], match["new"]))
    return renames


def candidates(state_models, models):
    """Return the probable renames: a column or table that disappears while one of the same shape appears."""
    before = {m._meta.table_name: m for m in state_models}
    after = {m._meta.table_name: m for m in models}
    found = []
    for table in sorted(set(before) & set(after)):
        old_fields, new_fields = before[table]._meta.fields, after[table]._meta.fields
        gone = [f for name, f in old_fields.items() if name not in new_fields]
        came = [f for name, f in new_fields.items() if name not in old_fields]
        for old in gone:
            for new in came:
                if type(old) is type(new):
                    found.append(Rename(table, old.name, new.name, type(new).__name__))
    gone_tables = [t for t in before if t not in after]
    for new_table in sorted(t for t in after if t not in before):
        for old_table in sorted(gone_tables):
            if _shape(before[old_table]) == _shape(after[new_table]):
                found.append(Rename(None, old_table, new_table, "table"))
    return found


def check(renames, state_models, models):
    """Refuse a --rename whose old name does not disappear or whose new name does not appear."""
    before = {m._meta.table_name: m for m in state_models}
    after = {m._meta.table_name: m for m in models}
    for rename in renames:
        if rename.table is None:
            ok = rename.old in before and rename.old not in after and rename.new in after and rename.new not in before
            what = f"table {rename.old} must exist in the migrations and be gone from the models, {rename.new} the reverse"
        else:
            old_fields = before[rename.table]._meta.fields if rename.table in before else {}
            new_fields = after[rename.table]._meta.fields if rename.table in after else {}
            ok = (rename.old in old_fields and rename.old not in new_fields
                  and rename.new in new_fields and rename.new not in old_fields)
            what = (f"{rename.table}.{rename.old} must exist in the migrations and be gone from the model, "
                    f"{rename.table}.{rename.new} the reverse")
        if not ok:
            raise AppError(f"--rename {rename.label} does not match the model change ({what}); nothing was written.")


def choose(ctx, found, named):
    """Return the renames to write: the named ones, plus those a person confirms on a terminal."""
    chosen = list(named)
    if not ctx.interactive:
        return chosen
    for candidate in found:
        taken = {(r.table, r.old) for r in chosen} | {(r.table, r.new) for r in chosen}
        if (candidate.table, candidate.old) in taken or (candidate.table, candidate.new) in taken:
            continue
        ctx.out(candidate.question())
        if ctx.read_line().strip().lower() in ("y", "yes"):
            chosen.append(candidate)
    return chosen


def _shape(model):
    return sorted((name, type(field).__name__) for name, field in model._meta.fields.items())

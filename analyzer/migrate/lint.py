"""Find the operations in migration files that lose data, lock tables or break the running code."""

import ast
import re
from dataclasses import dataclass

import peewee as pw

from analyzer.migrate import files as mfiles
from analyzer.migrate import renames
from analyzer.migrate.runner import replay

DESTRUCTIVE = frozenset({"drop-table", "drop-column", "probable-rename", "type-change", "rename-table", "rename-column"})
MARKER_RE = re.compile(r"#\s*lint:\s*(allow|allow-file)\s+([a-z-]+)\s*(?:--\s*(.*))?$")
INDEX_SQL_RE = re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\b", re.I)
INDEXED_TABLE_RE = re.compile(r"\bON\s+(?:ONLY\s+)?\"?(\w+)\"?\s*(?:USING\b|\()", re.I)
TYPE_ATTRS = ("max_length", "max_digits", "decimal_places")
WARNINGS = frozenset({"raw-sql", "callable-default", "empty-migration"})

RULES = {
    "drop-table": ("the table and all its rows are deleted",
                   "stop using the model first and deploy; drop it in a later migration (its rows are archived "
                   "for rollback until purged)"),
    "drop-column": ("the column's values are deleted",
                    "stop reading and writing the field first and deploy; drop it in a later migration (the values "
                    "are archived for rollback until purged)"),
    "rename-table": ("the running old code still queries the old name during the deploy",
                     "create the new table, copy and write to both, switch readers, then drop the old one"),
    "rename-column": ("the running old code still queries the old name during the deploy",
                      "add the new column, backfill and write to both, switch readers, then drop the old one"),
    "probable-rename": ("{what} is added and another removed: probably a rename, generated as add plus remove, "
                        "which loses the values", "replace the pair with {rename}"),
    "type-change": ("changing a column's type may rewrite the whole table under a lock or fail on existing data",
                    "add a new column of the new type, backfill it, switch the code, then drop the old one"),
    "not-null-without-default": ("existing rows would have no value for a NOT NULL column: the migration fails "
                                 "(peewee refuses it even on an empty table)",
                                 "give it a constant default, or add it with null=True in one migration and "
                                 "fill it in a second one with TRANSACTION = False: "
                                 "migrator.backfill(\"{table}\", \"{column}\", \"SQL expression\") then "
                                 "migrator.set_not_null(\"{table}\", \"{column}\") "
                                 "(README: Adding a non-nullable field)"),
    "set-not-null": ("it fails if any row is NULL and scans the table under a lock that blocks reads and writes",
                     "in a migration with TRANSACTION = False, fill the NULLs with migrator.backfill(table, column, "
                     "\"'value'\") and use migrator.set_not_null(table, column): the scan runs under a lock that "
                     "lets writes go on (README: Adding a non-nullable field)"),
    "index-not-concurrent": ("building an index on an existing table blocks writes until it is done",
                             "build it in its own migration with TRANSACTION = False and "
                             "migrator.add_index(table, column, concurrently=True)"),
    "concurrent-in-transaction": ("CREATE or DROP INDEX CONCURRENTLY cannot run inside a transaction: the migration "
                                  "fails on PostgreSQL",
                                  "put TRANSACTION = False at the top of the file, with only operations that need no "
                                  "transaction (README: How each migration runs)"),
    "callable-default": ("the default is called once, and that one value fills every existing row",
                         "if each row needs its own value, add the column with null=True, fill it with "
                         "migrator.backfill(table, column, \"SQL expression\") in a migration with TRANSACTION = "
                         "False, then migrator.set_not_null (README: Adding a non-nullable field)"),
    "unique-callable-default": ("the default is called once and fills every existing row with the same value, so "
                                "the unique index fails on a table with two rows or more",
                                "add the column with null=True, fill each row with migrator.backfill(table, column, "
                                "\"SQL expression\") in a migration with TRANSACTION = False, then add the unique "
                                "index and migrator.set_not_null (README: Adding a non-nullable field)"),
    "raw-sql": ("raw SQL cannot be checked", "review the statement by hand"),
    "empty-migration": ("migrate() holds nothing but pass: applying it changes nothing, and it is recorded as applied",
                        "write the change in migrate() and its undo in rollback(), or delete the file if it was "
                        "made by mistake"),
    "override-without-reason": ("a lint marker must give a reason after --", "write # lint: allow <rule> -- <why>"),
}


@dataclass
class Finding:
    """One dangerous operation in one migration file."""

    rule: str
    severity: str
    path: str
    line: int
    operation: str
    why: str
    fix: str
    overridden: bool = False
    reason: str = ""

    def format(self):
        """Return the finding as one line: file:line: severity rule: operation — why. Safe alternative: fix."""
        text = (f"{self.path}:{self.line}: {self.severity} {self.rule}: {self.operation} — {self.why}. "
                f"Safe alternative: {self.fix}.")
        return text + (f" [allowed: {self.reason}]" if self.overridden else "")


def lint(db, all_files, targets):
    """Return the findings of each target file, with the model state that the earlier files build."""
    postgres = isinstance(db, pw.PostgresqlDatabase)
    findings = []
    for target in targets:
        earlier = [f for f in all_files if (f.number, f.name) < (target.number, target.name)]
        migrator = replay(db, earlier)
        existing = {m._meta.table_name: m for m in migrator.orm}
        migrator.calls = []
        replay(db, [target], migrator)
        namespace = mfiles.load(target)
        concurrent_ok = namespace.get("TRANSACTION", True) is False
        created = {call.table for call in migrator.calls if call.op == "create_model"}
        raw = [_finding(rule, target, call.line, call.describe(), **_subject(call))
               for call in migrator.calls for rule in _rules(call, existing, postgres, concurrent_ok, created)]
        raw += _renames(target, migrator.calls) + _table_renames(target, migrator.calls, existing)
        empty = _empty_migrate(target)
        if empty:
            raw.append(_finding("empty-migration", target, empty, "def migrate(...): pass"))
        findings += _apply_markers(target, raw)
    return findings


def _rules(call, existing, postgres, concurrent_ok, created):
    op, table, kw = call.op, call.table, call.kwargs
    fields = {k: v for k, v in kw.items() if isinstance(v, pw.Field)}
    if op == "remove_model":
        yield "drop-table"
    elif op == "remove_fields":
        yield "drop-column"
    elif op == "rename_table":
        yield "rename-table"
    elif op == "rename_field":
        yield "rename-column"
    elif op == "change_fields" and any(_type_changed(call.before.get(n), f) for n, f in fields.items()):
        yield "type-change"
    elif op == "add_not_null":
        yield "set-not-null"
    elif op == "add_fields":
        if any(not f.null and f.default is None for f in fields.values()):
            yield "not-null-without-default"
        if postgres and table in existing and any(f.index or f.unique for f in fields.values()):
            yield "index-not-concurrent"
        called = [f for f in fields.values() if callable(f.default)] if table in existing else []
        if any(f.unique for f in called):
            yield "unique-callable-default"
        if any(not f.unique for f in called):  # a second column's warning is not hidden behind the first's error
            yield "callable-default"
    elif op in ("add_index", "drop_index") and kw.get("concurrently") and not concurrent_ok:
        yield "concurrent-in-transaction"
    elif op == "add_index" and postgres and table in existing and not (concurrent_ok and kw.get("concurrently")):
        yield "index-not-concurrent"
    elif op == "sql":
        statement = str(call.args[0]) if call.args else ""
        indexed = INDEXED_TABLE_RE.search(statement)
        new_table = indexed is not None and indexed.group(1) in created  # a squashed baseline's, built empty
        if postgres and INDEX_SQL_RE.search(statement) and not new_table and not (
                concurrent_ok and "CONCURRENTLY" in statement.upper()):
            yield "index-not-concurrent"
        yield "raw-sql"


def _type_changed(old, new):
    if old is None:
        return False
    if type(old) is not type(new):
        return True
    return any(getattr(old, a, None) != getattr(new, a, None) for a in TYPE_ATTRS)


def _renames(target, calls):
    added = {(c.table, type(f)): (c, n) for c in calls if c.op == "add_fields"
             for n, f in c.kwargs.items() if isinstance(f, pw.Field)}
    found = []
    for call in calls:
        if call.op != "remove_fields":
            continue
        for name in call.args:
            field = call.before.get(name)
            match = added.get((call.table, type(field))) if field is not None else None
            if match:
                found.append(_finding("probable-rename", target, call.line,
                                      f"add {call.table}.{match[1]} + drop {call.table}.{name}",
                                      what="a column of the same type",
                                      rename=renames.Rename(call.table, name, match[1]).forward()))
    return found


def _table_renames(target, calls, existing):
    """Find a table dropped while one with the same columns is created: a rename generated as remove plus create."""
    created = [call.args[0] for call in calls if call.op == "create_model"]
    found = []
    for call in calls:
        if call.op != "remove_model" or call.table not in existing:
            continue
        for rename in renames.candidates([existing[call.table]], created):
            if rename.table is None:
                found.append(_finding("probable-rename", target, call.line,
                                      f"create table {rename.new} + drop table {rename.old}",
                                      what="a table with the same columns", rename=rename.forward()))
    return found


def _subject(call):
    """Return the table, and the NOT NULL column without a default, that a finding's safe alternative names."""
    bare = [name for name, f in call.kwargs.items() if isinstance(f, pw.Field) and not f.null and f.default is None]
    return {"table": call.table, "column": bare[0] if bare else ""}


def _empty_migrate(target):
    """Return the line of TARGET's migrate() when its body is only pass (and a docstring or comments), else None."""
    for node in ast.parse(target.path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == "migrate":
            body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
            return node.lineno if all(isinstance(n, ast.Pass) for n in body) else None
    return None


def _finding(rule, target, line, operation, **names):
    why, fix = RULES[rule]
    severity = "warning" if rule in WARNINGS else "error"
    return Finding(rule, severity, target.display, line, operation, why.format(**names), fix.format(**names))


def _apply_markers(target, findings):
    lines = target.path.read_text(encoding="utf-8").splitlines()
    file_wide, extra = {}, []
    for number, text in enumerate(lines, 1):
        match = MARKER_RE.search(text)
        if not match:
            continue
        kind, rule, reason = match.group(1), match.group(2), (match.group(3) or "").strip()
        if not reason:
            extra.append(_finding("override-without-reason", target, number, f"lint marker for {rule}"))
        elif kind == "allow-file":
            file_wide[rule] = reason
    for finding in findings:
        reason = file_wide.get(finding.rule) or _line_marker(lines, finding)
        if reason:
            finding.overridden, finding.reason = True, reason
    return findings + extra


def _line_marker(lines, finding):
    if finding.line < 2:
        return ""
    match = MARKER_RE.search(lines[finding.line - 2])
    if match and match.group(1) == "allow" and match.group(2) == finding.rule:
        return (match.group(3) or "").strip()
    return ""

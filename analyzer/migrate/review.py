"""Read-only verbs for reviewing migrations before they run: sql, lint, check."""

from analyzer.errors import AppError
from analyzer.migrate import autogen, integrity, lint, plan, runner, squash
from analyzer.migrate.files import resolve


def sql(ctx, name=None, rollback=False):
    """Print the exact SQL that pending migrations (or NAME, or its rollback) would run; change nothing."""
    with ctx.locked():
        state = plan.read_state(ctx.db, ctx.directory)
        plan.require_clean(state)
        if rollback:
            todo = _rollback_targets(state, name)
        else:
            todo = _forward_targets(state, name)
        if not todo:
            ctx.out("Nothing to show: no migration is pending." if not rollback
                    else "Nothing to show: no migration is applied.")
            return 0
        return print_preview(ctx, state, todo, "rollback" if rollback else "migrate")


def print_preview(ctx, state, todo, direction):
    """Run TODO inside a transaction that is rolled back and print each statement (the caller holds the lock)."""
    migrator = runner.replay(ctx.db, state.applied_files())
    results = runner.preview(ctx.db, migrator, todo, direction, ctx.timeouts)
    verb = "apply" if direction == "migrate" else "roll back"
    for migration, transactional, statements in results:
        how = "in a transaction" if transactional else "outside a transaction (TRANSACTION = False)"
        ctx.out(f"-- {migration.display}: {verb}, {how}")
        for statement in statements or ["-- (no SQL)"]:
            ctx.out(statement if statement.startswith("--") else statement.rstrip(";") + ";")
        ctx.out("")
    ctx.out(f"-- Preview only: nothing was changed on {ctx.settings.masked_database_url}.")
    return 0


def lint_files(ctx, names=None):
    """Report dangerous operations in NAMES (default: the pending migrations); exit 1 on an unresolved error."""
    state = plan.read_state(ctx.db, ctx.directory)
    targets = _named(state, names) if names else state.pending
    if not targets:
        ctx.out("Nothing to lint: no migration is pending (name files to lint them anyway).")
        return 0
    findings = lint.lint(ctx.db, state.files, targets)
    return print_findings(ctx, findings, len(targets))


def print_findings(ctx, findings, count):
    """Print lint findings and a summary; return 1 when an error is not overridden."""
    for finding in findings:
        ctx.out(finding.format())
    errors = [f for f in findings if f.severity == "error" and not f.overridden]
    warnings = [f for f in findings if f.severity != "error" and not f.overridden]
    allowed = [f for f in findings if f.overridden]
    ctx.out(f"Lint: {count} file(s), {len(errors)} error(s), {len(warnings)} warning(s), {len(allowed)} allowed.")
    if errors:
        ctx.out("Fix them, or, if the change is intended, add a marker above the line: "
                "# lint: allow <rule> -- <reason> (README: \"Lint rules\"); then, for a file not yet on main, "
                "python manage.py migrate sum.")
    return 1 if errors else 0


def check(ctx):
    """The CI gate: print one line per problem and return 1 when there is any."""
    db = ctx.db
    state = plan.read_state(db, ctx.directory)
    problems = state.problems()
    problems += [f"{f.name} is pending but numbered below the applied {top:03d}: renumber it after the newest "
                 "migration" for f, top in state.below_applied()]
    problems += [f"{name} was edited after it was applied to this database" for name in state.edited]
    problems += integrity.mismatches(ctx.directory, state.files)
    problems += squash.verify(db, ctx.directory, state.files)
    problems += [f"invalid index {name} (an interrupted CREATE INDEX CONCURRENTLY): drop it with "
                 f"DROP INDEX CONCURRENTLY {name} and run the migration again" for name in plan.invalid_indexes(db)]
    if not state.duplicates and not state.missing:
        forward, _, imports = autogen.diff(db, state.files, ctx.models_module)
        if forward:
            text = autogen.render("drift", forward, "\n    pass", imports)
            drift = ", ".join(call.describe() for call in autogen.describe(db, state.files, text))
            problems.append(f"the models differ from the migrations ({drift}): run python manage.py migrate create \"…\"")
        findings = lint.lint(db, state.files, state.files)  # all: an applied file is no less a file CI checks
        problems += [f.format() for f in findings if f.severity == "error" and not f.overridden]
    for line in problems:
        ctx.out(f"FAIL {line}")
    if problems:
        ctx.out(f"migrate check: {len(problems)} problem(s).")
        return 1
    ctx.out(f"migrate check: OK ({len(state.files)} migrations, models match, {len(state.pending)} pending on "
            f"{ctx.settings.masked_database_url}).")
    return 0


def _forward_targets(state, name):
    if name is None:
        return list(state.pending)
    target = _named(state, [name])[0]
    if target not in state.pending:
        raise AppError(f"{target.name} is already applied; see what reverting it runs with --rollback.")
    return plan.to_apply(state, target.name)


def _rollback_targets(state, name):
    if not state.applied:
        return []
    if name is None:
        return plan.to_revert(state, steps=1)
    target = _named(state, [name])[0]
    applied = [r.name for r in state.applied]
    if target.name not in applied:
        raise AppError(f"{target.name} is not applied, so there is nothing to roll back.")
    index = applied.index(target.name)
    return plan.to_revert(state, steps=len(applied) - index)


def _named(state, names):
    found = []
    for name in names:
        migration = resolve(state.files, name)
        if migration is None:
            raise AppError(f"No migration named {name!r}. Known migrations: {', '.join(f.name for f in state.files)}.")
        found.append(migration)
    return found

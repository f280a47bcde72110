"""Lint: each dangerous operation is reported with file, line, why and the safe way; markers override."""

import pytest

from analyzer.errors import AppError
from analyzer.migrate import commands, review
from analyzer.migrate.files import scan
from analyzer.migrate.lint import lint
from tests.conftest import CREATE_ITEMS, write_migration



def lint_last(db, directory, body, header=""):
    """Write 001 (items) and 002 with BODY, and lint 002."""
    write_migration(directory, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(directory, "002_change", body, header=header)
    files = scan(directory)
    return lint(db, files, files[1:])


def rules(findings):
    return [(f.rule, f.line) for f in findings]


def test_clean_migration_has_no_finding(db, migrations_dir):
    assert lint_last(db, migrations_dir, 'migrator.add_fields("items", note=pw.TextField(null=True))') == []


def test_a_migration_left_as_the_empty_template_is_a_warning(db, migrations_dir):
    (finding,) = lint_last(db, migrations_dir, '"""Nothing yet."""\n# migrator.add_fields(...)\npass')
    assert (finding.rule, finding.severity, finding.line) == ("empty-migration", "warning", 6)
    assert "applying it changes nothing, and it is recorded as applied" in finding.format()
    data_step = 'database.execute_sql("UPDATE items SET price = 0")  # lint: allow raw-sql -- a data fix'
    assert "empty-migration" not in [f.rule for f in lint_last(db, migrations_dir, data_step)]


def test_drop_column_is_an_error_with_why_and_alternative(db, migrations_dir):
    (finding,) = lint_last(db, migrations_dir, 'migrator.remove_fields("items", "price")')
    assert (finding.rule, finding.severity, finding.line) == ("drop-column", "error", 7)
    assert finding.format().startswith(
        "migrations/002_change.py:7: error drop-column: drop column items.price — the column's values are deleted. "
        "Safe alternative: stop reading and writing the field first")


def test_drop_table_is_reported(db, migrations_dir):
    assert rules(lint_last(db, migrations_dir, 'migrator.remove_model("items")')) == [("drop-table", 7)]


def test_renames_are_reported(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.rename_field("items", "name", "title")\n'
                                          'migrator.rename_table("items", "products")')
    assert rules(found) == [("rename-column", 7), ("rename-table", 8)]


def test_add_plus_remove_of_same_type_is_a_probable_rename(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.add_fields("items", cost=pw.IntegerField(null=True))\n'
                                          'migrator.remove_fields("items", "price")')
    assert ("probable-rename", 8) in rules(found)
    assert "add items.cost + drop items.price" in [f.operation for f in found]


def test_add_plus_remove_of_different_types_is_not_a_rename(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.add_fields("items", note=pw.TextField(null=True))\n'
                                          'migrator.remove_fields("items", "price")')
    assert "probable-rename" not in [f.rule for f in found]


CREATE_PRODUCTS = CREATE_ITEMS.replace('"items"', '"products"')


def test_a_table_dropped_while_one_of_the_same_columns_is_created_is_a_probable_rename(db, migrations_dir):
    # Both classes are named Item, as when only the model's table_name changed.
    found = lint_last(db, migrations_dir, 'migrator.remove_model("items")\n' + CREATE_PRODUCTS)
    assert rules(found) == [("drop-table", 7), ("probable-rename", 7)]
    finding = found[1]
    assert finding.operation == "create table products + drop table items"
    assert "a table with the same columns is added and another removed: probably a rename" in finding.why
    assert finding.fix == "replace the pair with migrator.rename_table('items', 'products')"


def test_a_table_dropped_while_one_of_other_columns_is_created_is_not_a_rename(db, migrations_dir):
    other = CREATE_PRODUCTS.replace("price = pw.IntegerField", "price = pw.DecimalField")
    found = lint_last(db, migrations_dir, 'migrator.remove_model("items")\n' + other)
    assert rules(found) == [("drop-table", 7)]


def test_type_change_is_reported_but_null_change_is_not(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.change_fields("items", name=pw.CharField(max_length=20))')
    assert rules(found) == [("type-change", 7)]


def test_changing_only_the_index_is_not_a_type_change(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.change_fields("items", name=pw.CharField(max_length=50, index=True))')
    assert "type-change" not in [f.rule for f in found]


def test_not_null_without_default_and_set_not_null(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.add_fields("items", sku=pw.CharField(max_length=9))\n'
                                          'migrator.add_not_null("items", "price")')
    assert [r for r, _ in rules(found)][:2] == ["not-null-without-default", "set-not-null"]


def test_not_null_without_default_names_its_own_column_in_the_safe_alternative(db, migrations_dir):
    (finding,) = lint_last(db, migrations_dir, 'migrator.add_fields("items", note=pw.TextField(null=True), '
                                               'sku=pw.CharField(max_length=9))')
    assert finding.rule == "not-null-without-default"
    expected = 'migrator.backfill("items", "sku", "SQL expression") then migrator.set_not_null("items", "sku")'
    assert expected in finding.fix
    assert "channel_group" not in finding.fix and "customer_sessions" not in finding.fix


def test_index_on_existing_table_needs_concurrently_on_postgres_only(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.add_index("items", "name")')
    postgres = db.__class__.__name__.startswith("Postgres")
    assert rules(found) == ([("index-not-concurrent", 7)] if postgres else [])


def test_index_on_table_created_in_same_migration_is_fine(db, migrations_dir):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS + 'migrator.add_index("items", "name")')
    assert lint(db, scan(migrations_dir), scan(migrations_dir)) == []


def test_index_sql_on_a_table_created_in_the_same_migration_is_fine(db, migrations_dir):
    # A squashed baseline creates its tables, then runs the index SQL it carried: migrate check failed on it.
    write_migration(migrations_dir, "001_items",
                    CREATE_ITEMS + 'migrator.sql(\'CREATE INDEX "items_by_name" ON "items" USING btree (name)\')')
    assert [f.rule for f in lint(db, scan(migrations_dir), scan(migrations_dir))] == ["raw-sql"]


def test_raw_sql_is_a_warning_and_blocking_index_sql_an_error_on_postgres(db, migrations_dir):
    found = lint_last(db, migrations_dir, "migrator.sql('CREATE INDEX items_price ON items (price)')")
    postgres = db.__class__.__name__.startswith("Postgres")
    assert [(f.rule, f.severity) for f in found] == (
        [("index-not-concurrent", "error"), ("raw-sql", "warning")] if postgres else [("raw-sql", "warning")])


def test_concurrent_index_outside_a_transaction_is_fine(db, migrations_dir):
    found = lint_last(db, migrations_dir, "migrator.sql('CREATE INDEX CONCURRENTLY items_price ON items (price)')",
                      header="TRANSACTION = False")
    assert [f.rule for f in found] == ["raw-sql"]



def test_a_concurrent_index_inside_a_transaction_is_an_error_on_every_database(db, migrations_dir):
    # SQLite ran it and PostgreSQL's run refused it: a developer on SQLite learned it at the deploy.
    found = lint_last(db, migrations_dir, 'migrator.add_index("items", "name", concurrently=True)\n'
                                          'migrator.drop_index("items", "name", concurrently=True)')
    assert rules(found) == [("concurrent-in-transaction", 7), ("concurrent-in-transaction", 8)]
    assert found[0].format().startswith("migrations/002_change.py:7: error concurrent-in-transaction: add index on "
                                        "items (name) — CREATE or DROP INDEX CONCURRENTLY cannot run inside a "
                                        "transaction")
    assert lint_last(db, migrations_dir, 'migrator.add_index("items", "name", concurrently=True)',
                     header="TRANSACTION = False") == []


@pytest.mark.parametrize("field, rule, severity, why", [
    ("pw.UUIDField(default=uuid.uuid4)", "callable-default", "warning", "that one value fills every existing row"),
    ("pw.UUIDField(default=uuid.uuid4, unique=True)", "unique-callable-default", "error",
     "the unique index fails on a table with two rows or more"),
])
def test_a_callable_default_fills_every_existing_row_with_one_value(db, migrations_dir, field, rule, severity, why):
    found = lint_last(db, migrations_dir, f'migrator.add_fields("items", token={field})', header="import uuid")
    postgres = db.__class__.__name__.startswith("Postgres")
    assert [(f.rule, f.severity) for f in found if f.rule != "index-not-concurrent"] == [(rule, severity)]
    assert [f.rule for f in found if f.rule == "index-not-concurrent"] == (["index-not-concurrent"]
                                                                            if postgres and "unique" in field else [])
    assert why in found[-1].why


def test_two_columns_in_one_call_each_get_their_own_callable_default_finding(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.add_fields("items", token=pw.UUIDField(default=uuid.uuid4, '
                                          'unique=True), seen=pw.DateTimeField(default=dt.datetime.now))',
                      header="import datetime as dt\nimport uuid")
    assert [f.rule for f in found if f.rule != "index-not-concurrent"] == ["unique-callable-default", "callable-default"]


def test_a_callable_default_on_a_new_table_is_fine(db, migrations_dir):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS + 'migrator.add_fields("items", '
                    'token=pw.UUIDField(default=uuid.uuid4, unique=True))', header="import uuid")
    assert lint(db, scan(migrations_dir), scan(migrations_dir)) == []


def test_marker_above_the_line_overrides_with_its_reason(db, migrations_dir):
    found = lint_last(db, migrations_dir, '# lint: allow drop-column -- price moved to the prices table in 001\n'
                                          'migrator.remove_fields("items", "price")')
    (finding,) = found
    assert finding.overridden and finding.reason == "price moved to the prices table in 001"
    assert finding.format().endswith("[allowed: price moved to the prices table in 001]")


def test_marker_for_another_rule_does_not_override(db, migrations_dir):
    (finding,) = lint_last(db, migrations_dir, '# lint: allow drop-table -- wrong rule\n'
                                               'migrator.remove_fields("items", "price")')
    assert not finding.overridden


def test_file_wide_marker_overrides_every_finding_of_its_rule(db, migrations_dir):
    found = lint_last(db, migrations_dir, 'migrator.remove_fields("items", "price")\n'
                                          'migrator.remove_fields("items", "name")',
                      header="# lint: allow-file drop-column -- the items table is being emptied of legacy columns")
    assert [f.overridden for f in found] == [True, True]


def test_marker_without_reason_does_not_override_and_is_reported(db, migrations_dir):
    found = lint_last(db, migrations_dir, '# lint: allow drop-column\n'
                                          'migrator.remove_fields("items", "price")')
    assert sorted((f.rule, f.overridden) for f in found) == [("drop-column", False), ("override-without-reason", False)]


def test_lint_command_exit_codes_and_summary(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    ctx = make_ctx()
    assert review.lint_files(ctx) == 0
    assert ctx.out.lines[-1] == "Lint: 1 file(s), 0 error(s), 0 warning(s), 0 allowed."
    commands.run(make_ctx())
    write_migration(migrations_dir, "002_drop", 'migrator.remove_fields("items", "price")')
    failing = make_ctx()
    assert review.lint_files(failing) == 1
    assert failing.out.lines[-2] == "Lint: 1 file(s), 1 error(s), 0 warning(s), 0 allowed."


def test_lint_never_changes_the_database(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    write_migration(migrations_dir, "002_drop", 'migrator.remove_model("items")')
    commands.run(make_ctx(), to="001_items")
    before = sorted(db.get_tables())
    review.lint_files(make_ctx())
    assert sorted(db.get_tables()) == before


def test_production_run_refuses_destructive_changes_without_allow(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    commands.run(make_ctx())
    write_migration(migrations_dir, "002_drop", 'migrator.remove_fields("items", "price")')
    refused = make_ctx(app_env="production")
    with pytest.raises(AppError, match=r"Refusing to run 1 destructive change\(s\) in production; nothing was applied"):
        commands.run(refused)
    assert "error drop-column: drop column items.price" in refused.out.text
    assert "price" in [c.name for c in db.get_columns("items")]
    assert commands.run(make_ctx(app_env="production"), allow_destructive=True) == 0
    assert "price" not in [c.name for c in db.get_columns("items")]


def test_production_run_accepts_a_destructive_change_marked_in_the_file(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    commands.run(make_ctx())
    write_migration(migrations_dir, "002_drop", '# lint: allow drop-column -- unused since release 12\n'
                                                'migrator.remove_fields("items", "price")')
    ctx = make_ctx(app_env="production")
    assert commands.run(ctx) == 0
    assert "price" not in [c.name for c in db.get_columns("items")]
    assert "Applied 002_drop in" in ctx.out.text


def test_a_generated_drop_of_a_not_null_column_is_flagged_for_the_drop_alone(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    commands.create(make_ctx(models_module="tests.models_items_nameless"), "drop name")
    files = scan(migrations_dir)
    assert [f.rule for f in lint(db, files, files[1:])] == ["drop-column"]


def test_create_prints_the_lint_of_the_new_file(make_ctx, migrations_dir):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    ctx = make_ctx(models_module="tests.models_items_swapped")
    commands.create(ctx, "swap price for note")
    text = ctx.out.text
    assert "migrations/002_swap_price_for_note.py:" in text and "error drop-column" in text
    assert "Lint: 1 file(s), 1 error(s)" in text

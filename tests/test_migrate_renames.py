"""migrate create asks about renames on a terminal and takes --rename without one, on SQLite and PostgreSQL."""

import re

import pytest

from analyzer.errors import AppError
from analyzer.migrate import commands, review
from tests.conftest import CREATE_ITEMS, FakeTerminal, write_migration
from tests.test_migrate_workflow import columns, migrate


def items_with_a_row(make_ctx, migrations_dir, db):
    write_migration(migrations_dir, "001_items", CREATE_ITEMS, 'migrator.remove_model("items")')
    assert commands.run(make_ctx()) == 0
    db.execute_sql("INSERT INTO items (name, price) VALUES ('lamp', 30)")


def created_text(migrations_dir):
    return (migrations_dir / "002_rename.py").read_text()


def test_a_confirmed_column_rename_is_written_as_rename_field_and_keeps_the_values(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    terminal = FakeTerminal("y")
    ctx = make_ctx(models_module="tests.models_items_renamed", stdin=terminal)
    assert commands.create(ctx, "rename") == 0
    assert "Did you rename items.name to title (CharField)? [y/N]" in ctx.out.lines
    assert terminal.asked == 1
    text = created_text(migrations_dir)
    assert "migrator.rename_field('items', 'name', 'title')" in text
    assert "migrator.rename_field('items', 'title', 'name')" in text
    assert "add_fields" not in text and "remove_fields" not in text
    assert "  - rename column items.name to title" in ctx.out.lines
    assert "probable-rename" not in ctx.out.text
    assert commands.run(make_ctx()) == 0
    assert db.execute_sql("SELECT title, price FROM items").fetchall() == [("lamp", 30)]
    assert commands.rollback(make_ctx()) == 0
    assert db.execute_sql("SELECT name FROM items").fetchall() == [("lamp",)]


def test_a_declined_rename_is_add_plus_drop_and_lint_still_flags_it(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    ctx = make_ctx(models_module="tests.models_items_costed", stdin=FakeTerminal("n"))
    assert commands.create(ctx, "rename") == 0
    text = created_text(migrations_dir)
    assert "rename_field" not in text and "add_fields" in text and "remove_fields" in text
    assert "error probable-rename: add items.cost + drop items.price" in ctx.out.text
    assert "Safe alternative: replace the pair with migrator.rename_field('items', 'price', 'cost')" in ctx.out.text


def test_a_declined_rename_of_a_not_null_column_is_refused_with_the_rename_to_name(make_ctx, migrations_dir, db):
    # The add plus drop it wrote could not run: peewee adds no NOT NULL column without a default.
    items_with_a_row(make_ctx, migrations_dir, db)
    ctx = make_ctx(models_module="tests.models_items_renamed", stdin=FakeTerminal("n"))
    with pytest.raises(AppError, match=r"\(items\.title is NOT NULL without a default, .*; nothing was written\. .* "
                                       r"If it is items\.name renamed, say so: --rename items\.name=title\.$"):
        commands.create(ctx, "rename")
    assert not (migrations_dir / "002_rename.py").exists()


def test_without_a_terminal_rename_names_it_and_nothing_is_asked(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    ctx = make_ctx(models_module="tests.models_items_renamed")
    assert commands.create(ctx, "rename", rename=["items.name=title"]) == 0
    assert "migrator.rename_field('items', 'name', 'title')" in created_text(migrations_dir)
    assert not any(line.startswith("Did you rename") for line in ctx.out.lines)


def test_without_a_terminal_an_unnamed_pair_stays_a_probable_rename(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    ctx = make_ctx(models_module="tests.models_items_costed")
    assert commands.create(ctx, "rename") == 0
    assert "rename_field" not in created_text(migrations_dir)
    assert "error probable-rename" in ctx.out.text


def test_a_renamed_table_is_asked_about_and_written_as_rename_table(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    ctx = make_ctx(models_module="tests.models_products", stdin=FakeTerminal("yes"))
    assert commands.create(ctx, "rename") == 0
    assert "Did you rename the table items to products? [y/N]" in ctx.out.lines
    text = created_text(migrations_dir)
    assert "migrator.rename_table('items', 'products')" in text and "create_model" not in text
    assert "migrator.rename_table('products', 'items')" in text
    assert commands.run(make_ctx()) == 0
    assert db.execute_sql("SELECT name, price FROM products").fetchall() == [("lamp", 30)]
    assert commands.rollback(make_ctx()) == 0
    assert db.execute_sql("SELECT name FROM items").fetchall() == [("lamp",)]


def test_a_declined_table_rename_drops_the_old_table_first_and_lint_flags_the_pair(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    ctx = make_ctx(models_module="tests.models_products", stdin=FakeTerminal("n"))
    assert commands.create(ctx, "rename") == 0
    assert "Did you rename the table items to products? [y/N]" in ctx.out.lines
    text = created_text(migrations_dir)
    assert text.index("migrator.remove_model('items')") < text.index("@migrator.create_model")
    assert "error probable-rename: create table products + drop table items" in ctx.out.text
    assert "Safe alternative: replace the pair with migrator.rename_table('items', 'products')" in ctx.out.text
    assert commands.run(make_ctx()) == 0
    checked = make_ctx(models_module="tests.models_products")
    # The models match; the lint error stands until a marker resolves it, applied or not (as in CI).
    assert review.check(checked) == 1
    assert "models differ" not in checked.out.text and ": error probable-rename:" in checked.out.text
    assert commands.rollback(make_ctx()) == 0
    assert db.execute_sql("SELECT name, price FROM items").fetchall() == [("lamp", 30)]


def test_rename_of_a_table_without_a_terminal(make_ctx, migrations_dir, db):
    items_with_a_row(make_ctx, migrations_dir, db)
    assert commands.create(make_ctx(models_module="tests.models_products"), "rename", rename=["items=products"]) == 0
    assert "migrator.rename_table('items', 'products')" in created_text(migrations_dir)


@pytest.mark.parametrize("value, message", [
    ("items.name", "is not TABLE.OLD=NEW (a column) or OLD=NEW (a table)"),
    ("items.nope=title", "--rename items.nope=title does not match the model change"),
    ("items.name=price", "--rename items.name=price does not match the model change"),
    ("nope=products", "--rename nope=products does not match the model change"),
])
def test_a_rename_that_does_not_match_is_refused_and_nothing_is_written(make_ctx, migrations_dir, db, value, message):
    items_with_a_row(make_ctx, migrations_dir, db)
    with pytest.raises(AppError, match=re.escape(message)):
        commands.create(make_ctx(models_module="tests.models_items_renamed"), "rename", rename=[value])
    assert not (migrations_dir / "002_rename.py").exists()


def test_the_command_line_takes_repeatable_renames(project, db_url):
    assert migrate(project, db_url, "run").code == 0
    path = project / "analyzer" / "models.py"
    text = path.read_text()
    path.write_text(text.replace("    exit_page = pw.TextField(null=True)", "    exit_path = pw.TextField(null=True)")
                    .replace("    landing_page = pw.TextField(null=True)", "    landing_path = pw.TextField(null=True)"))
    created = migrate(project, db_url, "create", "rename pages", "--rename", "customer_sessions.exit_page=exit_path",
                      "--rename", "customer_sessions.landing_page=landing_path")
    assert created.code == 0, created.err
    assert "  - rename column customer_sessions.exit_page to exit_path" in created.out
    assert "  - rename column customer_sessions.landing_page to landing_path" in created.out
    assert migrate(project, db_url, "run").code == 0
    assert {"exit_path", "landing_path"} <= set(columns(db_url, "customer_sessions"))
    checked = migrate(project, db_url, "check")  # the models match; the renames' lint errors stand, as in CI
    assert checked.code == 1 and "models differ" not in checked.out
    assert checked.out.count(": error rename-column:") == 2, checked.out

"""Our layer over peewee-migrate: plan, create, run, rollback, history, guarded by environment."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

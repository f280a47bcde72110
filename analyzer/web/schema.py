"""The schema page for admins: current migration, pending ones with lint and SQL, applied history, archives."""

from analyzer.migrate import MIGRATIONS_DIR, overview
from analyzer.web.routes import render


def register(app, settings):
    """Add the read-only /admin/schema page."""

    @app.get("/admin/schema", access="admin", behind_ok=True)
    def schema_page():
        directory = app.config.get("analyzer.migrations_dir", MIGRATIONS_DIR)
        return render("schema", overview=overview.read(settings.database_url, directory),
                      target=settings.masked_database_url, human_size=overview.human_size)

"""WSGI entry: `app = create_app()`; `python app.py` migrates the local database and serves it."""

import logging
import sys

from analyzer.config import load_settings
from analyzer.db import database
from analyzer.errors import AppError, ConfigError
from analyzer.web import create_app, drain

# As railway.toml's start command: a request waiting for its turn at a password check holds a thread.
THREADS = 32

try:
    app = create_app()
except ConfigError as exc:
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
drain.on_sigterm()
if __name__ != "__main__" and app.config["analyzer.settings"].app_env == "development":
    # Served by waitress-serve (a host's start command) with no APP_ENV: say so, as nothing else would.
    print("Warning: APP_ENV is not set, so this server runs with development settings: no first-run setup token, "
          "a built-in secret key, no Secure cookies. Set APP_ENV=production (and SECRET_KEY) on a server.",
          file=sys.stderr, flush=True)


def main(argv=None):
    """Apply pending migrations in development (and load demo data with --demo), then serve on waitress."""
    import waitress

    from analyzer.migrate import commands

    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--demo"]):
        print("Usage: python app.py [--demo]   (--demo: load demo sessions into an empty development database; "
              "the port is PORT, 8080 by default)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if argv == ["--demo"] and settings.app_env != "development":
        print("Error: --demo only works in development (APP_ENV=development); use python manage.py demo.",
              file=sys.stderr)
        return 2
    if settings.app_env == "development":
        ctx = commands.Context(settings=settings)
        try:
            commands.run(ctx)
            if argv == ["--demo"]:
                _load_demo(ctx)
        except AppError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return exc.exit_code
        finally:
            ctx.close()
        # The migrations opened a database handle of their own and pointed the models at it: point them back at the
        # app's, or a request's write transaction (on the app's handle) locks out its own writes (the models').
        database.initialize(app.config["analyzer.db"])
    host = "0.0.0.0" if settings.is_production else "127.0.0.1"
    try:
        server = waitress.create_server(app, host=host, port=settings.port, threads=THREADS)
    except OSError as exc:
        other = settings.port + 1 if settings.port < 65535 else 8080
        print(f"Error: cannot serve on {host}:{settings.port}: {exc.strerror or exc} (another server?). "
              f"Choose a free port with PORT, e.g. PORT={other} python app.py", file=sys.stderr)
        return 1
    print(f"Serving on http://{host}:{settings.port} (press Ctrl+C to stop)", flush=True)
    server.run()
    return 0


def _load_demo(ctx):
    from analyzer.ingest import demo
    from analyzer.models import CustomerSession

    if CustomerSession.select().exists():
        print("Demo data skipped: the database already has sessions.", flush=True)
        return
    report = demo.load(ctx.db)
    print(f"Loaded demo data: {report.summary()}.", flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""WSGI entry: `app = create_app()`; `python app.py` migrates the local database and serves it."""

import logging
import sys

from analyzer.config import load_settings
from analyzer.errors import AppError, ConfigError
from analyzer.web import create_app

try:
    app = create_app()
except ConfigError as exc:
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)


def main():
    """Apply pending migrations in development, then serve on waitress."""
    import waitress

    from analyzer.migrate import commands

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if settings.app_env == "development":
        ctx = commands.Context(settings=settings)
        try:
            commands.run(ctx)
        except AppError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return exc.exit_code
        finally:
            ctx.close()
    host = "0.0.0.0" if settings.is_production else "127.0.0.1"
    print(f"Serving on http://{host}:{settings.port} (press Ctrl+C to stop)", flush=True)
    waitress.serve(app, host=host, port=settings.port, threads=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())

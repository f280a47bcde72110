"""The session explorer and its CSV export, streamed."""

import datetime as dt

import bottle

from analyzer.ingest import export
from analyzer.models import CustomerSession


def register(app):
    """Attach the explorer's routes to APP."""
    db = app.config["analyzer.db"]

    @app.get("/export.csv", access="analyst")
    def export_csv():
        query = CustomerSession.select().order_by(CustomerSession.started_at, CustomerSession.id)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        bottle.response.content_type = "text/csv; charset=utf-8"
        bottle.response.set_header("Content-Disposition", f'attachment; filename="sessions-{stamp}.csv"')
        return stream_csv(db, export.stream_sessions(query))


def stream_csv(db, chunks):
    """Yield CSV chunks as bytes on a connection of their own: the request's closes before the body is sent."""
    with db.connection_context():
        for text, _ in chunks:
            yield text.encode("utf-8")

"""The session explorer at /sessions and its streamed CSV."""

import datetime as dt
from urllib.parse import urlencode

import bottle

from analyzer.analytics import explorer
from analyzer.analytics.query import DIMENSIONS
from analyzer.db import DATABASE_ERRORS
from analyzer.ingest import export
from analyzer.web import dashboard, details, explore_params, params
from analyzer.web.routes import render

SORT_NAMES = {"-started_at": "newest first", "started_at": "oldest first", "-duration_s": "longest first",
              "duration_s": "shortest first", "-page_views": "most pages first", "page_views": "fewest pages first",
              "-revenue": "highest revenue first", "revenue": "lowest revenue first"}


def register(app, settings):
    """Attach the explorer's page and its CSV to APP."""
    db = app.config["analyzer.db"]

    @app.get("/sessions", access="viewer")
    def sessions_page():
        added = _added_filter()
        if added:
            return bottle.redirect(added, 303)
        view, options, error = read_explorer()
        if error:
            return error
        after = bottle.request.query.get("after")
        try:
            found = explorer.page(view.query, options, after)
        except explorer.CursorError as exc:
            bottle.response.status = 400
            return render("dashboard_error", title="Sessions", message=str(exc), home="/sessions",
                          first_page=_link(view, options))
        keep = explore_params.option_pairs(options)
        return render("sessions", title="Sessions", v=view, path="/sessions", options=options, page=found,
                      total=explorer.total(view.query, options), first_page=not after, keep=urlencode(keep),
                      keep_fields=keep, sort_names=SORT_NAMES, dimensions=DIMENSIONS,
                      link=lambda **c: _link(view, options, **c), session_url=details.session_url,
                      clear_link=_link(view, explorer.Options(sort=options.sort)),
                      customer_url=details.customer_url, view_fields=explore_params.view_fields,
                      **dashboard.helpers(view, settings.currency))

    @app.get("/export.csv", access="analyst")
    def export_csv():
        view, options, error = read_explorer()
        if error:
            return error
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        bottle.response.content_type = "text/csv; charset=utf-8"
        bottle.response.set_header("Content-Disposition", f'attachment; filename="sessions-{stamp}.csv"')
        return stream_csv(db, export.stream_sessions(explorer.ordered(view.query, options)))



def read_explorer():
    """Return (View, Options, None) from the request's URL, or (None, None, an error page)."""
    explore_params.with_default_range(bottle.request.query)
    view, error = dashboard.read_view()
    if error:
        return None, None, error
    try:
        options = explore_params.parse_options(bottle.request.query.decode())
    except params.QueryError as exc:
        bottle.response.status = 400
        return None, None, render("dashboard_error", title="Sessions", message=str(exc))
    return view, options, None


def stream_csv(db, chunks):
    """Yield CSV chunks as bytes on a connection of their own: the request's closes before the body is sent."""
    sent = False
    try:
        with db.connection_context():
            try:
                for data, _ in chunks:
                    yield data
                    sent = True
            finally:
                chunks.close()  # a download given up ends the export's transaction before its connection closes
    except DATABASE_ERRORS:
        if sent:  # the response has begun: the client gets a cut file
            raise
        raise bottle.HTTPError(503, "The database cannot be reached right now. Try again in a minute.") from None


def _link(view, options, csv=False, path="/sessions", **changes):
    """Return the URL of the explorer (or its CSV) with CHANGES to the options (None drops one)."""
    pairs = dict(explore_params.option_pairs(options))
    pairs.update({k: v for k, v in changes.items()})
    text = urlencode([(k, v) for k, v in pairs.items() if v not in (None, "")])
    base = view.link("/export.csv" if csv else path)
    return base + ("&" + text if text else "")


def _added_filter():
    """Return the URL with the filter of the 'add a filter' form added, or None when the form was not sent."""
    query = bottle.request.query.decode()
    dimension, value = query.get("add_dim"), (query.get("add_value") or "").strip()
    if not dimension:
        return None
    kept = [(k, v) for k, v in query.allitems() if k not in ("add_dim", "add_value", "add_not", "after")]
    if dimension in DIMENSIONS and value:
        name = ("-" if query.get("add_not") else "") + dimension
        kept = [(k, v) for k, v in kept if k.lstrip("-") != dimension] + [(name, value)]
    return "/sessions?" + urlencode(kept)

"""The funnels page, its CSV, and saved funnels."""

import re
from urllib.parse import parse_qsl, urlencode

import bottle

from analyzer.analytics import funnels, saved_funnels
from analyzer.analytics.funnels import FunnelError
from analyzer.web import auth, dashboard, explore_params, params
from analyzer.web.api_dashboard import plain
from analyzer.web.routes import render

KINDS = (("event", "Event type"), ("page", "Page"))
BUILDER_VALUE = re.compile(r"value([0-9]+)")  # the builder's value1, value2, …
TYPED_ROWS_SHOWN = 50  # a refused form shows the steps sent, so the analyst can take some out; a crafted one, not all
MATCHES = (("exact", "is"), ("prefix", "starts with"), ("contains", "contains"))
UNIT_NAMES = {"session": "Sessions", "customer": "Customers"}
BY_NAMES = {None: "No breakdown", "channel": "By channel", "device": "By device"}


def register(app):
    """Attach the funnel page and its forms to APP."""

    @app.get("/funnels", access="viewer")
    def funnels_page():
        empty = dashboard.welcome("Funnels")
        if empty:
            return empty
        view, error = dashboard.read_view()
        if error:
            return error
        form = bottle.request.query.decode()
        saved = saved_funnels.find(params.record_id(form.get("funnel")))
        gone = None
        if form.get("funnel") and saved is None:
            bottle.response.status = 404
            gone = f"The saved funnel {form.get('funnel')!r} no longer exists: here is the default funnel instead."
        try:
            steps, unit, by = read_funnel(form, saved)
            result = funnels.funnel(view.query, steps, unit, by)
        except FunnelError as exc:
            bottle.response.status = 400
            return _page(view, saved, None, _typed(form, saved), form.get("per"), form.get("by") or None, str(exc),
                         fields=_typed_fields(form))
        if form.get("format") == "csv":
            return dashboard.send_csv("funnel", view, CSV_HEADER, csv_rows(result))
        return _page(view, saved, result, _rows(steps), unit, by, gone, steps=steps)

    @app.post("/funnels/show", access="viewer")
    def show_funnel():
        form = bottle.request.forms.decode()
        try:
            steps, unit, by = read_funnel(form, None, posted=True)
        except FunnelError as exc:
            return _refused(form, str(exc))
        return bottle.redirect(_link(_view_of(form), steps, unit, by, params.record_id(form.get("funnel"))), 303)

    @app.post("/funnels", access="analyst")
    def create_funnel():
        return _save(None)

    @app.post("/funnels/<funnel_id:int>", access="analyst")
    def change_funnel(funnel_id):
        return _save(funnel_id)

    @app.post("/funnels/<funnel_id:int>/delete", access="analyst")
    def delete_funnel(funnel_id):
        if saved_funnels.delete(funnel_id) is None:
            bottle.abort(404, "That funnel no longer exists.")
        return bottle.redirect(_view_of(bottle.request.forms.decode()).link("/funnels") + "&deleted=1", 303)


def read_funnel(form, saved, posted=False):
    """Return (steps, unit, by) from the builder, step=… fields, a saved funnel or the default (never when POSTED)."""
    texts = form.getall("step")
    numbers = _builder_numbers(form)
    if any(form.get(f"value{i}", "").strip() for i in numbers):
        texts = [_builder_step(form, i) for i in numbers if form.get(f"value{i}", "").strip()]
    elif not texts and not posted:
        texts = saved.steps.splitlines() if saved is not None else list(funnels.DEFAULT_STEPS)
    unit = form.get("per") or (saved.unit if saved is not None else "session")
    by = form.get("by") or None
    steps = funnels.parse_steps(texts)
    funnels.check_options(unit, by)
    return steps, unit, by


def _builder_numbers(form):
    """Return the numbers (as sent) of every builder value field, in order: too many is refused, none is dropped."""
    numbers = [found.group(1) for key in form.keys() if (found := BUILDER_VALUE.fullmatch(key))]
    # Ordered as text, not by int(): a crafted value10000 or value01 is read too, and 5,000 digits are no error.
    return sorted(numbers, key=lambda n: (len(n.lstrip("0")), n.lstrip("0"), n))


def _builder_step(form, i):
    kind = form.get(f"kind{i}", "event")
    match = form.get(f"match{i}", "exact")
    value = form.get(f"value{i}", "").strip()
    if kind not in dict(KINDS) or match not in dict(MATCHES):
        raise FunnelError(f"Step {i}: choose an event type or a page, and is, starts with or contains.")
    if "*" in value:
        raise FunnelError(f"Step {i}: leave out the '*'; choose 'starts with' or 'contains' instead.")
    step = funnels.Step(kind, value, match, bool(form.get(f"direct{i}")))  # parse_steps refuses a direct first step
    return step.text


def _save(funnel_id):
    """Save the builder's steps (or step= fields) under the typed name: what the form shows is what is saved."""
    form = bottle.request.forms.decode()
    try:
        # All of it is checked first: the page the save leads to shows the funnel, never an error.
        view = _view_of(form, strict=True)
        steps, unit, by = read_funnel(form, None, posted=True)
        saved = saved_funnels.save(form.get("name"), steps, unit, auth.current_user().email, funnel_id)
    except FunnelError as exc:
        return _refused(form, f"The funnel was not saved: {exc}")
    return bottle.redirect(_link(view, steps, unit, by, saved.id) + "&saved=1", 303)


def _view_of(form, strict=False):
    """Return the View of the range and filters a posted form came from (its back field), rebuilt from parsed values.

    One that cannot be read gives the default range, or when STRICT raises FunnelError.
    """
    try:
        return dashboard.View(params.parse_query(dict(parse_qsl(form.get("back") or "")), fit=True))
    except params.QueryError as exc:
        if strict:
            raise FunnelError(str(exc)) from None
        return dashboard.View(params.parse_query({}))


def _link(view, steps, unit, by, funnel_id):
    """Return the funnel page's link for these steps in VIEW's range and filters."""
    pairs = [("step", s.text) for s in steps] + [("per", unit)] + ([("by", by)] if by else [])
    return f"{view.link('/funnels')}&{urlencode(pairs + ([('funnel', funnel_id)] if funnel_id else []))}"


def _refused(form, reason):
    """Show the funnel page again with what was typed and why it was refused: nothing typed is lost."""
    bottle.response.status = 400
    saved = saved_funnels.find(params.record_id(form.get("funnel")))
    return _page(_view_of(form), saved, None, _typed(form), form.get("per"), form.get("by") or None, reason,
                 typed_name=form.get("name"), fields=_typed_fields(form))


def _rows(steps):
    """Return the builder's rows for parsed STEPS."""
    return [dict(kind=s.kind, match=s.match, value=s.value, direct=s.direct) for s in steps]


def _typed(form, saved=None):
    """Return the builder's rows as typed (builder fields, step= texts or SAVED's steps), even when they are wrong."""
    numbers = _typed_numbers(form)
    if numbers:
        return [dict(kind=form.get(f"kind{i}", ""), match=form.get(f"match{i}", ""), value=form.get(f"value{i}", ""),
                     direct=bool(form.get(f"direct{i}"))) for i in numbers]
    texts = form.getall("step") or (saved.steps.splitlines() if saved is not None else [])
    return [_typed_row(text) for text in texts[:TYPED_ROWS_SHOWN]]


def _typed_numbers(form):
    """Return the numbers of the builder's rows that hold a value, at most TYPED_ROWS_SHOWN of them."""
    return [i for i in _builder_numbers(form) if form.get(f"value{i}", "").strip()][:TYPED_ROWS_SHOWN]


def _typed_row(text):
    """Return the builder's row of a step text: a refused one keeps its kind when it names one, and its text."""
    try:
        return _rows([funnels.parse_step(text)])[0]
    except FunnelError:
        pass
    raw = text.strip()
    kind, sep, value = raw.lstrip(">").strip().partition(":")
    kind, value = kind.strip().lower(), value.strip()
    if not sep or kind not in dict(KINDS):
        return dict(kind="event", match="exact", value=text, direct=False)
    match, rest = funnels.split_match(value)
    if not rest:  # 'page:*' leaves no text to match: the star stays in the box, for the analyst to see and replace
        match, rest = "exact", value
    return dict(kind=kind, match=match, value=rest, direct=raw.startswith(">"))


def _typed_fields(form):
    """Return the link's fields that carry the steps as typed: the builder's filled rows, or else the step= texts."""
    numbers = _typed_numbers(form)
    if numbers:
        names = ("kind", "match", "value", "direct")
        return [(f"{n}{i}", form.get(f"{n}{i}")) for i in numbers for n in names if form.get(f"{n}{i}") is not None]
    return [("step", text) for text in form.getall("step")[:TYPED_ROWS_SHOWN]]


CSV_HEADER = ["group", "step", "count", "conversion_from_previous", "conversion_from_first", "drop_off",
              "median_seconds_from_previous"]


def csv_rows(result):
    """Return the CSV rows of a funnel: the overall steps, then each breakdown value's."""
    groups = [("all", result.steps)] + list(result.groups.items())
    return [[group, s.step, s.sessions, plain(s.conversion_from_previous), plain(s.conversion_from_first),
             plain(s.drop_off), plain(s.median_seconds_from_previous)] for group, rows in groups for s in rows]


def _page(view, saved, result, rows, unit, by, error=None, typed_name=None, steps=(), fields=()):
    """Render the funnel page: RESULT of STEPS, or the ROWS typed (their link FIELDS) and the ERROR refusing them."""
    query = bottle.request.query.decode()
    stored = funnels.event_types()
    absent = funnels.absent_event_types(steps, stored) if result and not result.steps[-1].sessions else []
    unit = unit if unit in funnels.UNITS else "session"
    by = by if by in funnels.BREAKDOWNS else None
    state = [("step", s.step) for s in result.steps] if result else list(fields)
    state += [("per", unit)] + ([("by", by)] if by else []) + ([("funnel", saved.id)] if saved is not None else [])
    return render("funnels", title="Funnels", v=view, path="/funnels", result=result, rows=rows, unit=unit, by=by,
                  saved=saved, all_saved=saved_funnels.all_funnels(), error=error, kinds=KINDS, matches=MATCHES,
                  funnel_name=typed_name if typed_name is not None else saved.name if saved is not None else "",
                  unit_names=UNIT_NAMES, by_names=BY_NAMES, max_steps=funnels.MAX_STEPS,
                  event_types=stored, shown_types=funnels.EVENT_TYPES_SHOWN, absent=absent,
                  no_pages=_pages_missing(view, result, steps),
                  notice=_notice(query), state=state, state_link=lambda **c: _state_link(view, state, **c),
                  filter_link=lambda dimension, value: _filter_link(view, state, dimension, value),
                  back=urlencode(explore_params.view_fields(view)), **dashboard.helpers(view, None))


def _pages_missing(view, result, steps):
    """Return whether a page step of RESULT counts nobody because no session in VIEW has a page view with a page."""
    empty = result is not None and any(s.kind == "page" and not r.sessions for s, r in zip(steps, result.steps))
    return empty and funnels.pages_missing(view.query)


def _state_link(view, state, csv=False, **changes):
    pairs = [(k, v) for k, v in state if k not in changes] + [(k, v) for k, v in changes.items() if v]
    if csv:
        pairs.append(("format", "csv"))
    base = view.link("/funnels")
    return base + ("&" if "?" in base else "?") + urlencode(pairs)


def _filter_link(view, state, dimension, value):
    filtered = dashboard.View(params.with_filter(view.query, dimension, (value,)))
    return _state_link(filtered, state, by="")


def _notice(query):
    if query.get("deleted"):  # never the name from the link: a crafted link could make the page say anything
        return "The saved funnel was deleted."
    if query.get("saved"):
        return "The funnel was saved."
    return None

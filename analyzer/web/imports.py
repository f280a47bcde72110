"""Uploading a file to check or import, changing its column mapping, the list of imports, and undoing one."""

from dataclasses import replace
from pathlib import Path

import bottle

from analyzer.errors import AppError
from analyzer.ingest import columns, importer
from analyzer.ingest.options import ImportOptions, parse_dry_run, parse_year
from analyzer.models import Import
from analyzer.web import auth, params, staging
from analyzer.web.routes import render

PAGE_SIZE = 100


def register(app, settings):
    """Attach the import routes to APP."""

    @app.get("/imports", access="analyst")
    def imports_page():
        before = bottle.request.query.get("before")
        if before and params.record_id(before) is None:
            return _page(error=f"before {before!r}: give the number of an import; this page lists the newest.",
                         status=400)
        undone = _named_import("undone")
        if undone is not None and undone.status == "undone":
            return _page(notice=f"Import {undone.id} ({undone.file_name}) undone: its events and the sessions it "
                                "created are removed, and the sessions it continued are as they were before it.")
        done = _named_import("imported")
        if done is not None and done.status == "done":
            report = importer.report_of(done)
            took = f", in {report.seconds:.1f} s" if report.seconds else ""
            return _page(notice=f"Imported {report.file_name} as import {report.import_id}: {report.summary()}{took}.",
                         report=report)
        return _page()

    @app.post("/imports", access="analyst")
    def upload():
        limit = int(settings.max_body_mb * 1024 * 1024)
        if bottle.request.content_length > limit:
            return _page(error=f"The file is over the limit of {settings.max_body_mb:g} MB (MAX_BODY_MB).", status=413)
        upload = bottle.request.files.get("file")
        if upload is None or not upload.raw_filename:
            return _page(error="Choose a file to import.", status=400)
        form = bottle.request.forms
        if (form.get("step") or "import") not in ("check", "import"):
            return _page(error="Choose Check columns first or Import now; nothing was imported.", status=400)
        try:
            year = parse_year(form.get("year"))
            check = parse_dry_run(form.get("dry_run")) or form.get("step") == "check"
        except AppError as exc:
            return _page(error=str(exc), status=400)
        name = _file_name(upload.raw_filename)
        owner = auth.current_user().email
        token, path = staging.stage(upload, name, owner)
        options = ImportOptions(kind=form.get("kind") or None, name=name, year=year,
                                timezone=form.getunicode("timezone") or "UTC", dry_run=check, created_by=owner)
        try:
            return _run(app, path, options, token if check else None, () if check else None)
        finally:
            if not check:
                staging.discard(token)

    @app.post("/imports/confirm", access="analyst")
    def confirm():
        form = bottle.request.forms
        token = form.get("token") or ""
        try:
            with staging.claim(token, auth.current_user().email) as (path, name, done):
                if done is None:
                    options = ImportOptions(kind=form.get("kind") or None, name=name,
                                            year=parse_year(form.get("year")),
                                            timezone=form.getunicode("timezone") or "UTC",
                                            created_by=auth.current_user().email)
                    chosen = _chosen(form, importer.describe(path, options).mapping)
                    return _run(app, path, replace(options, mapping=chosen), token, chosen)
        except AppError as exc:
            return _page(error=str(exc), status=400)
        return _show_result(done)  # the form sent again: the answer of the submit that imported it

    @app.post("/imports/<import_id:int>/undo", access="admin")
    def undo(import_id):
        try:
            importer.undo(app.config["analyzer.db"], import_id)
        except importer.AlreadyUndone:
            pass  # by the first of two clicks (or two admins): this one gets the same answer
        except AppError as exc:
            return _page(error=str(exc), status=400)
        # Redirected, so that reloading the page does not send the undo again.
        return bottle.redirect(f"/imports?undone={import_id}", 303)


def _run(app, path, options, token, chosen=None):
    """Check (a dry run: render the page) or import the file at PATH (redirect to the result); TOKEN: it is staged.

    A failed CHOSEN mapping keeps its form.
    """
    try:
        report = importer.import_file(app.config["analyzer.db"], path, options)
    except importer.ImportRejected as rejected:
        again = _form_again(path, options, token, chosen, rejected.report)
        fix = ("Change a column below and import again, or fix these rows and upload the file again." if again else
               "Fix these rows (or the column mapping) and upload it again.")
        return _page(error=f"{options.name}: {rejected.report.error_count:,} bad field(s); nothing of this file was "
                           f"written. {fix}", bad_rows=rejected.report.errors, status=422, **again)
    except AppError as exc:
        return _page(error=str(exc), status=400, **_form_again(path, options, token, chosen))
    if options.dry_run:
        return _page(notice=f"Checked {options.name}, nothing written: it would give {report.summary()}.",
                     check=report, token=token, options=options)
    if token:
        staging.imported(path, report.import_id)
    return _show_result(report.import_id)


def _show_result(import_id):
    """Redirect to the page of IMPORT_ID's result, so that reloading it does not send the file again."""
    return bottle.redirect(f"/imports?imported={import_id}", 303)


def _form_again(path, options, token, chose, rejected=None):
    """Return the mapping form of a checked upload whose import failed, with the columns the analyst CHOSE."""
    # The REJECTED report describes the chosen columns (unused ones, warnings); without one (a choice that could not
    # be read, such as a column not in the file) the detection does, with the choices laid over it.
    if chose is None:
        return {}
    try:
        detected = importer.describe(path, replace(options, mapping=()))
    except AppError:
        return {}
    return {"check": rejected or detected, "token": token, "options": options,
            "chosen": {} if rejected else dict(chose)}


def _chosen(form, detected):
    """Return the (field, column) pairs of the form's selects that differ from the DETECTED mapping."""
    # Compared with the detection of the file itself, not with a field the page sent: what is selected is what is used,
    # however many times the form came back. A field of several columns ("a+b") is shown, and sent, as detected.
    selected = {field: form.getunicode(f"map_{field}") or "" for field in _fields() if f"map_{field}" in form}
    return tuple((field, column) for field, column in sorted(selected.items()) if column != detected.get(field, ""))


def _fields():
    return set(columns.SESSION_ALIASES) | set(columns.EVENT_ALIASES)


def _file_name(raw):
    """Return the uploaded file's own name without folders or control characters, at most 200 characters."""
    name = Path(raw.replace("\\", "/")).name
    return "".join(c for c in name if c.isprintable())[:200] or "upload"


def _named_import(name):
    """Return the import whose number the query parameter NAME gives, or None (no query when there is none)."""
    number = params.record_id(bottle.request.query.get(name))
    return None if number is None else Import.get_or_none(Import.id == number)


def _page(error=None, notice=None, bad_rows=(), status=200, check=None, token=None, options=None, report=None,
          chosen=None):
    bottle.response.status = status
    before = params.record_id(bottle.request.query.get("before")) if bottle.request.method == "GET" else None
    listed = Import.select().order_by(Import.id.desc()).limit(PAGE_SIZE + 1)
    imports = list(listed.where(Import.id < before) if before else listed)
    return render("imports", error=error, notice=notice, bad_rows=bad_rows, check=check, token=token,
                  options=options, report=report, chosen=chosen or {},
                  imports=imports[:PAGE_SIZE],
                  older=imports[PAGE_SIZE - 1].id if len(imports) > PAGE_SIZE else None, newest=before is None,
                  total=Import.select().count())

"""Uploading a file to import, the list of imports, and undoing one."""

import tempfile
from pathlib import Path

import bottle

from analyzer.errors import AppError
from analyzer.ingest import importer
from analyzer.ingest.options import ImportOptions
from analyzer.models import Import
from analyzer.web import auth
from analyzer.web.routes import render


def register(app, settings):
    """Attach the import routes to APP."""

    @app.get("/imports", access="analyst")
    def imports_page():
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
        kind = form.get("kind") or None
        name = _file_name(upload.raw_filename)
        with tempfile.TemporaryDirectory(prefix="analyzer-upload-") as folder:
            # Saved under a name of ours: the client's may be "..", too long for the disk, or hold a NUL.
            suffixes = "".join(s for s in Path(name).suffixes[-2:] if s[1:].isalnum() and len(s) <= 8)
            path = Path(folder) / f"upload{suffixes}"
            upload.save(str(path))
            try:
                options = ImportOptions(kind=kind, name=name, timezone=form.getunicode("timezone") or "UTC",
                                        dry_run=form.get("dry_run") == "1", created_by=auth.current_user().email)
                report = importer.import_file(app.config["analyzer.db"], path, options)
            except importer.ImportRejected as rejected:
                return _page(error=f"{name}: {rejected.report.error_count} bad field(s); nothing of this file was "
                                   "written. Fix these rows and upload it again.",
                             bad_rows=rejected.report.errors, status=422)
            except AppError as exc:
                return _page(error=str(exc), status=400)
        done = "Checked (dry run)" if report.dry_run else f"Imported {name} as import {report.import_id}"
        return _page(notice=f"{done}: {report.summary()}, in {report.seconds:.1f} s.")

    @app.post("/imports/<import_id:int>/undo", access="admin")
    def undo(import_id):
        try:
            record = importer.undo(app.config["analyzer.db"], import_id)
        except AppError as exc:
            return _page(error=str(exc), status=400)
        return _page(notice=f"Import {record.id} ({record.file_name}) undone: its events and the sessions it created are "
                            "removed, and the sessions it continued are as they were before it.")


def _file_name(raw):
    """Return the uploaded file's own name without folders or control characters, at most 200 characters."""
    name = Path(raw.replace("\\", "/")).name
    return "".join(c for c in name if c.isprintable())[:200] or "upload"


def _page(error=None, notice=None, bad_rows=(), status=200):
    bottle.response.status = status
    return render("imports", error=error, notice=notice, bad_rows=bad_rows,
                  imports=list(Import.select().order_by(Import.id.desc()).limit(200)))

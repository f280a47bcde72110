"""Uploads kept between the check (a dry run) and the import the analyst confirms: a folder per upload."""

import contextlib
import fcntl
import json
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import bottle

from analyzer.errors import AppError

FOLDER = Path(tempfile.gettempdir()) / "analyzer-staged-uploads"
MAX_AGE_S = 3600
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
GONE = "This checked upload is no longer here (it is kept for an hour): upload the file again."
# Bottle caps the memory of all buffered parts together at MEMFILE_MAX, and moves a file to disk only once it is
# larger than MEMFILE_MAX: a file after a few form fields reached the cap first and failed ("Memory limit reached").
FIELDS_MEMORY = 1 << 20


def stage(upload, name, owner):
    """Save UPLOAD (a Bottle FileUpload) for OWNER under a name of ours; return (token, path)."""
    purge_old()
    token = secrets.token_urlsafe(16)
    folder = FOLDER / token
    folder.mkdir(parents=True, mode=0o700)
    # Saved under a name of ours: the client's may be "..", too long for the disk, or hold a NUL.
    suffixes = "".join(s for s in Path(name).suffixes[-2:] if s[1:].isalnum() and len(s) <= 8)
    path = folder / f"upload{suffixes}"
    upload.save(str(path))
    (folder / "meta.json").write_text(json.dumps({"owner": owner, "name": name, "file": path.name}), encoding="utf-8")
    return token, path


def staged(token, owner):
    """Return (path, name) of OWNER's staged upload TOKEN, or raise AppError."""
    if not TOKEN.fullmatch(token or ""):
        raise AppError(GONE)
    meta_path = FOLDER / token / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise AppError(GONE) from None
    if meta.get("owner") != owner:
        raise AppError(GONE)
    return FOLDER / token / meta["file"], meta["name"]


@contextlib.contextmanager
def claim(token, owner):
    """Hold OWNER's staged upload TOKEN for one import at a time; yield (path, name, id of the import it became).

    A second submit of the same form (a double-click) waits here for the first and then finds the import it made
    (the id; None while the file is still to import), instead of importing the file again.
    """
    path, name = staged(token, owner)
    try:
        handle = open(FOLDER / token / "claim", "a", encoding="utf-8")
    except OSError:
        raise AppError(GONE) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
        imported = _imported_as(token)
        if imported is None and not path.exists():
            raise AppError(GONE)
        yield path, name, imported


def imported(path, import_id):
    """Note that the staged upload at PATH became import IMPORT_ID, and delete the file."""
    (path.parent / "imported").write_text(str(import_id), encoding="utf-8")
    path.unlink(missing_ok=True)


def _imported_as(token):
    """Return the id of the import that the staged upload TOKEN became, or None."""
    try:
        return int((FOLDER / token / "imported").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def discard(token):
    """Delete a staged upload."""
    if TOKEN.fullmatch(token or ""):
        shutil.rmtree(FOLDER / token, ignore_errors=True)


def purge_old():
    """Delete staged uploads older than MAX_AGE_S."""
    if not FOLDER.is_dir():
        return
    limit = time.time() - MAX_AGE_S
    for folder in FOLDER.iterdir():
        try:
            if folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def read_form(request):
    """Parse a multipart body into REQUEST's forms and files with room for its fields (see FIELDS_MEMORY)."""
    content_type, options = bottle._parse_http_header(request.environ.get("CONTENT_TYPE", ""))[0]  # boundary's case
    parsed = "bottle.request.post" in request.environ
    if parsed or not content_type.startswith("multipart/") or not options.get("boundary"):
        return
    parser = bottle._MultipartParser(request.body, options["boundary"], request.content_length,
                                     mem_limit=FIELDS_MEMORY + request.MEMFILE_MAX,
                                     memfile_limit=request.MEMFILE_MAX, charset=options.get("charset", "utf8"))
    post = bottle.FormsDict()
    post.recode_unicode = False
    try:
        for part in parser.parse():
            if not part.filename and part.is_buffered():
                post[part.name] = bottle.tonat(part.value, "utf8")
            else:
                post[part.name] = bottle.FileUpload(part.file, part.name, part.filename, part.headerlist)
    except (bottle.MultipartError, ValueError):
        return  # Bottle's own parse says what is wrong when the form is read
    request.environ["bottle.request.post"] = post

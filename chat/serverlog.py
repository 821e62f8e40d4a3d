"""Logging: the one format of every process's lines (gunicorn's and the app's,
the bots', the supervisor's), plain text or JSON (LOG_FORMAT), with the
request, user and room a line is about when they are known; and gunicorn's
logger as gunicorn.conf.py installs it: an access log only when asked for,
without query strings, and refused requests noted without what they carried.
Loaded by the gunicorn master: the standard library, gunicorn and
python-json-logger only (never psycopg, DESIGN §7).
"""

import ast
import contextvars
import logging
import logging.config
import re

from gunicorn import glogging

# Greppable by worker pid and module, like gunicorn's own lines; the app's and
# the supervisor's lines use it too.
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"

# LOG_FORMAT=json: one JSON object per line (python-json-logger), with these
# fields renamed from the LogRecord's; `time` is ISO 8601 in UTC. Fields a
# line's context adds (CONTEXT_FIELDS) follow, and a traceback is `exc_info`.
JSON_FIELDS = {"levelname": "level", "process": "pid", "name": "logger"}
# What the web layer tells the log about the request being served (chat/web/logging.py).
CONTEXT_FIELDS = ("request_id", "user", "room")

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)


def bind(**fields: str | None) -> contextvars.Token:
    """Add fields (request_id, user, room) to the lines logged from here on in
    this greenlet or thread, until `unbind` with the token returned."""
    known = {k: v for k, v in fields.items() if v is not None}
    return _context.set({**(_context.get() or {}), **known})


def note(**fields: str | None) -> None:
    """Add fields to what is bound already (the user, once a request's
    authentication has found them); nothing when nothing is bound."""
    bound = _context.get()
    if bound is not None:
        bound.update((k, v) for k, v in fields.items() if v is not None)


def unbind(token: contextvars.Token) -> None:
    """Back to what was bound before `bind` returned the token; to nothing when
    the token comes from another context (a response streamed elsewhere)."""
    try:
        _context.reset(token)
    except ValueError:
        _context.set(None)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (a JSON line shows them; the text
    format names none of them, so plain lines are unchanged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def formatter(log_format: str) -> dict:
    """The dictConfig formatter of LOG_FORMAT ("text" or "json")."""
    if log_format == "json":
        return {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": list(JSON_FIELDS) + ["message"],
            "rename_fields": JSON_FIELDS,
            "timestamp": "time",
        }
    return {"format": LOG_FORMAT}


def configure(log_format: str, level: str = "info") -> None:
    """One stderr handler on the root logger in LOG_FORMAT, for a process gunicorn
    does not configure (the `flask` commands: bots, workers and an operator's
    one-shot commands). Standard error, so that what a command prints is all
    its standard output holds: `TOKEN=$(flask --app app create-token eren)`
    gets the token, not the embedded PostgreSQL's start-up lines."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"chat": formatter(log_format)},
            "filters": {"context": {"()": ContextFilter}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "formatter": "chat",
                    "filters": ["context"],
                }
            },
            "root": {"handlers": ["stderr"], "level": level.upper()},
        }
    )


class Logger(glogging.Logger):
    """gunicorn's logger, with an access log only when ACCESS_LOG asks for one.

    gunicorn writes an access line for every request whenever `logconfig_dict`
    is set, whatever `accesslog` says: with ACCESS_LOG unset every search
    (`/search?q=...`) reached the log. And when it is on, the path it logs is
    the raw one without the query string, so search words and other typed
    parameters stay out of it (PATH_INFO would be percent-decoded: a `%0a`
    could forge a line). A file's download path ends with its name, which its
    owner typed: the access log shows `/files/<key>/…` instead.
    """

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get("RAW_URI", "").split("?", 1)[0]
        atoms["U"] = _FILE_NAME.sub(r"\1…", path) or "-"
        return atoms


# /files/<key>/<name>: the name is the uploader's text (docs/files.md).
_FILE_NAME = re.compile(r"\A(/files/[^/]+/).+\Z")


class RefusedRequestFilter(logging.Filter):
    """gunicorn's own lines about a request it refused or failed, without what the
    request carried.

    gunicorn writes the offending text into them as it came: `Invalid request
    from ip=...: Invalid HTTP request line: 'GET /search?q=hunter2\\x01pw
    HTTP/1.1'` (query string and all), a header line with its value, a URI
    with its query. This rewrites them to what was wrong, in gunicorn's own
    words, and at most the path without its query (as the access log shows
    it): `Invalid request from ip=...: Invalid HTTP request line (path
    /search)`. Other lines pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("gunicorn."):
            _rewrite_refusal(record)
        return True


# gunicorn's warning for a request it cannot parse; its error is `str(exc)` of
# one of gunicorn.http.errors, fixed words with the offending text in a repr.
_REFUSED = re.compile(r"Invalid request from ip=(\S*?): (.*)\Z", re.DOTALL)
# A Python str or bytes repr, as gunicorn's errors quote what they refuse.
_REPR = re.compile(r"b?'(?:[^'\\]|\\.)*'" + r'|b?"(?:[^"\\]|\\.)*"')
# The one refusal that quotes the request line (or its URI): its path is shown.
_BAD_LINE = "Invalid HTTP request line"
# A request target's path: what may be shown of it (RFC 3986 path characters).
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
# A path longer than this is cut: a note needs the start of it, not all.
_PATH_MAX = 100
# gunicorn's error for a request it failed on: (method,) uri, with the query.
_FAILED_ON = ("Error handling request %s %s", "Error handling request %s")


def _rewrite_refusal(record: logging.LogRecord) -> None:
    if record.msg in _FAILED_ON and record.args:
        *method, uri = record.args
        record.args = (*method, _path_of(str(uri)) or "-")
        return
    refused = _REFUSED.match(str(record.msg)) if not record.args else None
    if refused is None:
        return
    ip, error = refused.groups()
    # gunicorn's fixed words: what a repr quoted becomes "...", and anything
    # after the first ": " (where the offending text or a detail of it is) goes.
    words = _REPR.sub("...", error).split(": ", 1)[0][:80]
    quoted = _REPR.search(error)
    path = ""
    if words == _BAD_LINE and quoted:  # a request line, or its URI alone
        path = _path_of(_unquoted(quoted.group()))
    record.msg = "Invalid request from ip=%s: %s" + (" (path %s)" if path else "")
    record.args = (ip, words, path) if path else (ip, words)


def _unquoted(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _path_of(target: str) -> str:
    """The path of the request target in `target` (a request line or a URI),
    without its query or fragment and up to anything a path cannot hold."""
    found = re.search(r"(?:\A|\s)(/\S*)", target)
    if found is None:
        return ""
    path = _PATH.match(found.group(1).split("?", 1)[0].split("#", 1)[0]).group()
    return path if len(path) <= _PATH_MAX else path[:_PATH_MAX] + "..."

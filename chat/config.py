"""Configuration: every setting comes from the environment, read here and only here.

SETTINGS is the one table of them (name, default, parser, one line of why), in
the manner of Datasette's settings table: `load()` builds the app's config from
it, gunicorn.conf.py reads its own through `value()`, and the README's
configuration table is generated from it (`make settings-table`, which runs
`python -m chat.config --write README.md`; tests/test_config.py fails when the
two differ).

Only the standard library is imported here: the gunicorn master reads this
module before any worker exists, and must not import psycopg (DESIGN §7;
chat/factory.py says why, pyproject.toml's import contracts check it).
"""

import argparse
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = ROOT / "instance"

# A parser turns a variable's raw text ("" when unset) into its value; it falls
# back on the setting's default, and raises SystemExit naming the variable when
# the text makes no sense, so a bad setting stops the start with one clear line.
Parse = Callable[["Setting", str], Any]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its value when unset, how its text is
    read, and one line saying what it does and why its default is what it is."""

    name: str
    default: Any
    parse: Parse
    why: str
    # The Flask config keys load() sets from it: None is its own name; () means
    # the app does not read it (gunicorn's, the embedded PostgreSQL's, the tests').
    keys: tuple[str, ...] | None = None
    # The README's default cell, where the default value alone says too little.
    shown: str | None = None

    def value(self, environ: Mapping[str, str] = os.environ) -> Any:
        return self.parse(self, environ.get(self.name, ""))

    @property
    def config_keys(self) -> tuple[str, ...]:
        return (self.name,) if self.keys is None else self.keys

    @property
    def default_cell(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is False:
            return "unset (off)"
        default = self.default
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        return f"`{default}`"


# --- parsers -------------------------------------------------------------------------


def whole(minimum: int | None = 0) -> Parse:
    """A whole number, at least `minimum` (None: any); blank is the default."""

    def parse(setting: Setting, raw: str) -> int:
        raw = raw.strip()
        if not raw:
            return setting.default
        try:
            value = int(raw)
        except ValueError:
            raise SystemExit(f"{setting.name} must be a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SystemExit(f"{setting.name} must be at least {minimum}, got {value}")
        return value

    return parse


def raised_to(floor: int) -> Parse:
    """A whole number, any below `floor` read as `floor` (not refused)."""
    any_whole = whole(minimum=None)

    def parse(setting: Setting, raw: str) -> int:
        return max(floor, any_whole(setting, raw))

    return parse


def number(setting: Setting, raw: str) -> float:
    """A number of seconds or a rate, fractions allowed; blank is the default."""
    raw = raw.strip()
    if not raw:
        return setting.default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{setting.name} must be a number, got {raw!r}") from None


def flag(setting: Setting, raw: str) -> bool:
    """On for 1, true, yes or on (any case); off for anything else, unset included."""
    return raw.strip().lower() in ("1", "true", "yes", "on")


def unless_zero(setting: Setting, raw: str) -> bool:
    """On unless exactly 0 (spaces aside): an off switch for what is on by default."""
    return raw.strip() != "0"


def text(setting: Setting, raw: str) -> Any:
    """The text as given; empty or unset is the default."""
    return raw or setting.default


def one_of(*choices: str) -> Parse:
    """One of `choices` (any case, spaces aside); blank is the default."""

    def parse(setting: Setting, raw: str) -> str:
        raw = raw.strip().lower()
        if not raw:
            return setting.default
        if raw not in choices:
            raise SystemExit(f"{setting.name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    return parse


def origins(setting: Setting, raw: str) -> list[str]:
    """Comma-separated origins, compared as browsers send them: lower case, no `/`."""
    return [o.strip().rstrip("/").lower() for o in raw.split(",") if o.strip()]


# One `host:port` of EGRESS_ALLOW: a host name or an IPv4 literal, or an IPv6
# literal in brackets, and a port.
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})\Z")


def destinations(setting: Setting, raw: str) -> tuple:
    """Comma-separated `host:port` entries and CIDR networks, each checked: a
    (lower-case host, port) pair, an IP literal host in its canonical spelling
    (`[0::1]:80` is ("::1", 80)), or an ipaddress network."""
    entries: list = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        if "/" in entry:
            try:
                entries.append(ipaddress.ip_network(entry))
            except ValueError:
                raise SystemExit(f"{setting.name}: {entry!r} is not a CIDR network") from None
            continue
        match = _HOST_PORT.match(entry)
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            raise SystemExit(f"{setting.name}: {entry!r} is neither host:port nor a CIDR network")
        host = match.group(1).lower()
        if host.startswith("["):
            try:
                host = str(ipaddress.IPv6Address(host[1:-1]))
            except ValueError:
                raise SystemExit(f"{setting.name}: {entry!r} has no IPv6 address in []") from None
        entries.append((host, int(match.group(2))))
    return tuple(entries)


# --- the table (the README's order) --------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        None,
        text,
        "PostgreSQL to use (any server ≥ 14), e.g. `postgresql://chat:pw@db.internal/chat`;"
        " unset, an embedded one is started, so `make run` needs no PostgreSQL installed",
        shown="unset: embedded PostgreSQL",
    ),
    Setting(
        "PGDATA_DIR",
        None,
        text,
        "where the embedded PostgreSQL keeps its data (only without `DATABASE_URL`)",
        keys=(),
        shown="`instance/pgdata`",
    ),
    Setting(
        "SECRET_KEY",
        None,
        text,
        "signs session cookies; must be the same on every host of one deployment (the"
        " generated one is shared by every worker and kept across restarts)",
        keys=(),  # load() sets it through secret_key(), which may generate it
        shown="generated once into `instance/secret_key`",
    ),
    Setting(
        "HOST",
        "127.0.0.1",
        text,
        "address gunicorn binds (`0.0.0.0` for all interfaces)",
        keys=(),
    ),
    Setting("PORT", "8000", text, "port gunicorn binds", keys=()),
    Setting(
        "WEB_CONCURRENCY",
        2,
        whole(),
        "gunicorn worker processes (about one per core); at least 2 by default, so that"
        " cross-worker fan-out is always exercised",
        keys=(),
    ),
    Setting(
        "WORKER_CONNECTIONS",
        5000,
        whole(),
        "open connections per worker: gunicorn's cap on requests in progress, and the"
        " app's on held WebSockets (a socket past it is refused 503 before the upgrade; an"
        " idle socket holds no greenlet, so gunicorn no longer counts it); systems cap a"
        " process at 20,000-65,536 file descriptors, and each socket also needs a little"
        " memory",
    ),
    Setting(
        "GUNICORN_TIMEOUT",
        30,
        whole(),
        "seconds before a silent (stuck) worker is replaced; gevent workers heartbeat from"
        " their own loop, so a long-lived WebSocket does not count against it",
        keys=(),
    ),
    Setting(
        "GRACEFUL_TIMEOUT",
        10,
        whole(),
        "seconds open sockets get on shutdown or reload; WebSockets are closed with 1001 at"
        " once, so this bounds only what is left",
        keys=(),
    ),
    Setting(
        "WRITE_BATCH",
        True,
        unless_zero,
        "group commit: each worker writes the sends that queued during its previous commit"
        " in one transaction with one NOTIFY per 8 KB (`chat/realtime/writer.py`); `0` writes each"
        " message in its own transaction (the benchmarks' naive baseline)",
        shown="`1`",
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        text,
        "if set, `GET /metrics` needs `Authorization: Bearer <token>`; unset, it answers"
        " only requests from this machine (loopback)",
        shown="unset",
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        text,
        "where the workers keep their metrics for `/metrics` to add up; emptied at start,"
        " since an earlier run's files would be added too",
        keys=(),
        shown="a fresh temporary directory",
    ),
    Setting(
        "KEEPALIVE",
        2,
        raised_to(1),
        "seconds an idle HTTP keep-alive connection is kept, and the deadline for a whole"
        " request head (a slowloris is cut after it); at least 1 (0 would turn the deadline"
        " off). Short, because a stopping worker waits this long for idle connections"
        " (measured: exit took 6.1 s at 5, 2.1 s at 1)",
        keys=(),
    ),
    Setting(
        "LOG_LEVEL",
        "info",
        text,
        "log level of gunicorn and the app; both log to stdout in one format (time, level,"
        " `[pid]`, logger, message); the `flask` commands (bots, the worker, an operator's"
        " commands) log to stderr, so a command's stdout holds only what it prints. At"
        " `info`: start-up and the settings in effect,"
        " WebSocket connects and disconnects (user and room), bot jobs (by id), warnings and"
        " errors; never message text, search words, passwords, bot command arguments or"
        " anything else people type. A request gunicorn refuses as malformed gets one"
        " warning saying what was wrong, with at most the path (never the query string, a"
        " header's value, the method or version as sent); a bot's failure one warning per"
        " attempt with the job's id, what went wrong and the service's host (the URL and"
        " what the service sent go to `bot_jobs.last_error`). An unexpected error's"
        " traceback is logged as it is, except a bot's, which leaves out the exception's"
        " message (that goes to `last_error`)",
        keys=(),
    ),
    Setting(
        "LOG_FORMAT",
        "text",
        one_of("text", "json"),
        "`json` writes every log line (gunicorn's, the app's, the bots' and workers') as one"
        " JSON object: `time` (ISO 8601, UTC), `level`, `pid`, `logger`, `message`, and"
        " `request_id` (nginx's `X-Request-ID`, else a new one), `user` and `room` where"
        " known, a traceback as `exc_info`; for a log collector. `text` is the line above,"
        " for people and grep",
        keys=(),
    ),
    Setting(
        "ACCESS_LOG",
        None,
        text,
        "unset, nothing is logged per HTTP request; `-` logs a line per request to stdout,"
        " a file path to that file (reopened when logrotate moves it): client address,"
        " method, path (never the query string, so no search words), status, bytes and"
        " milliseconds",
        keys=(),
        shown="unset (off)",
    ),
    Setting(
        "GUNICORN_CONTROL_SOCKET",
        False,
        flag,
        "`1` turns on gunicorn 27's control socket; off by default because its path is"
        " fixed per user, so two instances on one machine (tests, two app hosts) would"
        " fight over it",
        keys=(),
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        whole(),
        "reverse proxies in front (nginx: `1`) whose `X-Forwarded-For/-Proto/-Host` are"
        " believed, for client addresses (login throttling), the scheme and host (Origin"
        " check); `0` ignores those headers",
    ),
    Setting(
        "COOKIE_SECURE",
        False,
        flag,
        "`1` marks session and remember cookies `Secure`: set it when TLS is terminated in"
        " front (nginx); off by default, as plain http on a developer machine could not"
        " log in with them",
        keys=("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"),
    ),
    Setting(
        "ALLOWED_ORIGINS",
        [],
        origins,
        "comma-separated extra origins allowed to open WebSockets, e.g. `https://chat.example.com`",
        shown="none",
    ),
    Setting(
        "WS_ECHO",
        False,
        flag,
        "`1` adds `/ws/_echo`, a WebSocket that echoes every message back, for"
        " `make autobahn` (conformance testing) only",
    ),
    Setting(
        "DB_POOL_SIZE",
        10,
        whole(minimum=1),
        "most PostgreSQL connections a worker opens (it starts with one and grows on"
        " demand), besides its one LISTEN connection; a send holds one for a single short"
        " transaction, so 10 serves thousands of sockets",
    ),
    Setting(
        "WS_MAX_FRAME_BYTES",
        64 * 1024,
        whole(minimum=1024),
        "largest WebSocket message a client may send, in bytes as sent (all its frames"
        " together); a bigger one is closed with 1009 as soon as its frame headers say so,"
        " before the rest is read. 64 KiB holds a longest message 4x over in UTF-8 with"
        " its JSON",
    ),
    Setting(
        "MAX_MESSAGE_CHARS",
        4000,
        whole(minimum=1),
        "longest message; longer ones get a `too_large` error. A page of text: long enough"
        " to say anything, short enough to render and store cheaply",
    ),
    Setting(
        "WS_PING_INTERVAL",
        25.0,
        number,
        "seconds between server pings; a client that does not answer is dropped (`0` turns"
        " pings off). Under nginx's 60 s default `proxy_read_timeout`, so idle sockets"
        " stay open",
    ),
    Setting(
        "OUTBOUND_QUEUE",
        1000,
        whole(minimum=10),
        "frames queued for one client before it counts as too slow and is closed with"
        " 1013: about 10 s of a busy room, a few hundred KB per connection at most",
    ),
    Setting(
        "RATE_LIMIT_PER_SEC",
        20.0,
        number,
        "frames a second one connection may send, every frame counting; and HTTP writes to"
        " rooms (API sends, edits, deletions, reactions, the page's form) a second per user"
        " across all workers and hosts (`0` turns both limits off, for benchmarks). A"
        " person types a few messages a second at most (DESIGN §5)",
    ),
    Setting(
        "RATE_LIMIT_BURST",
        60,
        whole(minimum=1),
        "frames a connection (or HTTP writes a user) may send at once before the rate"
        " applies: room for pastes and the resends of a reconnect",
    ),
    Setting(
        "MAX_ROOMS_PER_CONNECTION",
        100,
        whole(minimum=1),
        "rooms one `/ws` connection may follow at once: a sidebar's worth",
    ),
    Setting(
        "TYPING_INTERVAL",
        2.0,
        number,
        "seconds between two `typing` notices of one user in one room: plenty for an"
        " indicator that clients show for a few seconds",
    ),
    Setting(
        "MAX_SOCKETS_PER_USER",
        20,
        whole(minimum=1),
        "open WebSockets one user may hold on one worker (more get 429): tabs and devices,"
        " not a botnet",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        256 * 1024,
        whole(minimum=1024),
        "largest HTTP request body in bytes (more get 413); a message is at most 16 KB of"
        " UTF-8, and forms are smaller",
    ),
    Setting(
        "UPLOAD_MAX_BYTES",
        25 * 1024 * 1024,
        whole(minimum=1024),
        "largest file one upload may be (`POST /api/files`; more get 413 `too_large`, a"
        " `Content-Length` over it before a byte of the body is read): screenshots, PDFs"
        " and logs fit, videos belong elsewhere. The body streams into PostgreSQL a"
        " 256 KiB chunk at a time, so a bigger limit costs disk, not memory",
    ),
    Setting(
        "UPLOAD_QUOTA_BYTES",
        1024 * 1024 * 1024,
        whole(minimum=0),
        "bytes of files one person may own in all (sent or not; 413 `quota_exceeded`"
        " beyond): every file lives in PostgreSQL, and one person must not fill its disk",
    ),
    Setting(
        "UPLOAD_UNSENT_HOURS",
        24,
        whole(minimum=1),
        "hours an uploaded file may wait to be sent with a message before the workers'"
        " clean-up deletes it: a day covers a draft left overnight",
    ),
    Setting(
        "IMAGE_MAX_PIXELS",
        50_000_000,
        whole(minimum=1),
        "largest raster image (width × height, read from its header at upload) accepted;"
        " bigger ones get 422 `bad_image`. 50 megapixels is above any phone camera, and"
        " bounds what decoding one may cost (a decompression bomb)",
    ),
    Setting(
        "LINK_PREVIEWS",
        True,
        unless_zero,
        "`0` turns link previews off: no preview job is queued for a message with a link"
        " (the fetcher reaches outside servers on its senders' behalf: docs/previews.md)",
        shown="`1`",
    ),
    Setting(
        "REQUEST_BODY_TIMEOUT",
        15.0,
        number,
        "seconds a request body has to arrive whole (a slow POST gets 408); a form or a"
        " message is a few KB, so even a bad phone link manages",
    ),
    Setting(
        "LOGIN_FAILURES_PER_USER",
        10,
        whole(minimum=1),
        "failed logins for one account within the window before logins to it are refused"
        " (429), counted in PostgreSQL for every worker and host: plenty for a person, ten"
        " guesses a window for anyone else",
    ),
    Setting(
        "LOGIN_FAILURES_PER_ADDRESS",
        50,
        whole(minimum=1),
        "failed logins from one client address within the window; higher, as many people"
        " can share one address (an office, a NAT)",
    ),
    Setting(
        "LOGIN_WINDOW_SECONDS",
        900,
        whole(minimum=1),
        "the window those two count in",
    ),
    Setting(
        "LISTEN_PROBE_INTERVAL",
        15.0,
        number,
        "seconds between a worker's self-NOTIFY heartbeats on its LISTEN connection; one"
        " that does not come back within another interval means a silently dead"
        " connection, which is replaced (and what it missed read from the table). With"
        " `DB_TCP_TIMEOUT` it notices a network partition (no FIN, no RST) within about"
        " their sum",
    ),
    Setting(
        "DB_TCP_TIMEOUT",
        10.0,
        number,
        "seconds of unacknowledged TCP data (and keepalive silence) after which a"
        " PostgreSQL connection counts as dead",
    ),
    Setting(
        "PRESENCE_HEARTBEAT",
        10.0,
        number,
        "seconds between a worker's presence heartbeats; a dead worker's users leave within"
        " `PRESENCE_TIMEOUT` + this (40 s by default)",
    ),
    Setting(
        "PRESENCE_GRACE",
        5.0,
        number,
        "seconds a person stays online after their last socket closes before others"
        " hear `offline`: a browser going from page to page closes one socket and opens"
        " the next, which is not leaving",
    ),
    Setting(
        "PRESENCE_TIMEOUT",
        30.0,
        number,
        "seconds without a heartbeat after which a worker counts as dead and its users leave",
    ),
    Setting(
        "BOT_POLL_INTERVAL",
        10.0,
        number,
        "seconds between a bot's looks at its queue (one indexed query) besides NOTIFY"
        " wake-ups: the longest a lost notification (a reconnect) delays an answer",
    ),
    Setting(
        "BOT_VISIBILITY_TIMEOUT",
        60.0,
        number,
        "seconds a bot's claim on a job lasts; a job whose bot died is taken up again after"
        " it. Must exceed `STOCK_QUOTE_TIMEOUT` (well above one attempt, so a live bot's job"
        " is never taken from it); short enough that a crash delays requests a minute at most",
    ),
    Setting(
        "BOT_MAX_ATTEMPTS",
        3,
        whole(minimum=1),
        "tries per request (timeouts, 5xx) before the bot answers that it failed: a blip or"
        " a restart of the service is ridden out, an outage reported",
    ),
    Setting(
        "BOT_RETRY_DELAY",
        2.0,
        number,
        "seconds before the first retry, doubled for each further one (at most 300): long"
        " enough for a restarting service, short enough for a person waiting",
    ),
    Setting(
        "STOCK_QUOTE_URL",
        "https://stooq.com/q/l/?s={symbol}&f=sd2t2ohlcv&h&e=csv",
        text,
        "where the stock bot gets quotes, in stooq's CSV format (symbol, date, time, open,"
        " high, low, close, volume; a header line); `{symbol}` becomes e.g. `aapl.us`",
    ),
    Setting(
        "STOCK_QUOTE_TIMEOUT",
        5.0,
        number,
        "seconds one attempt at a quote may take, connection and name lookup included:"
        " stooq answers in well under a second, and a slow attempt holds up the queue",
    ),
    Setting(
        "EGRESS_ALLOW",
        (),
        destinations,
        "tests only: comma-separated `host:port` entries and CIDR networks that outbound"
        " requests (link previews, outgoing webhooks and the check of a new webhook's"
        " address, `chat/bots/egress/`) may reach although they are not public, e.g."
        " `127.0.0.1:8081` for a test's local server. A `host:port` entry"
        " matches the URL's host as written (not what it resolves to) and its port; a"
        " network, the addresses a name resolves to, on any port. Never set it in"
        " production: every address it lets through is one an attacker's link reaches too",
        shown="none",
    ),
    Setting(
        "TEST_DATABASE_URL",
        None,
        text,
        "tests only: a PostgreSQL server where the test role may create databases",
        keys=(),
        shown="unset: embedded",
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}

# Config keys that are not environment variables.
FIXED = {
    # Messages per page of a room's history page: part of the page's design, not
    # the operator's (tests set it smaller to reach a second page).
    "HISTORY_PAGE_SIZE": 50,
}


def value(name: str) -> Any:
    """One setting's value from the environment; KeyError for a name not in SETTINGS."""
    return _BY_NAME[name].value()


# --- reading them --------------------------------------------------------------------


def secret_key(instance_path: Path = INSTANCE_PATH) -> str:
    """SECRET_KEY from the environment, else one generated once and kept on disk.

    Every worker and every restart must sign sessions with the same key, so the
    generated key is written with O_EXCL: the first process to get there wins
    and the others read its key.
    """
    from_env = value("SECRET_KEY")
    if from_env:
        return from_env
    path = instance_path / "secret_key"
    instance_path.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            # Another process created the file an instant ago and is writing it.
            import time

            time.sleep(0.01)
        raise SystemExit(f"{path} is empty: delete it or set SECRET_KEY") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def embedded_pgdata(instance_path: Path = INSTANCE_PATH) -> Path:
    """Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset."""
    return Path(value("PGDATA_DIR") or instance_path / "pgdata")


def load(instance_path: Path = INSTANCE_PATH) -> dict:
    """The application's settings as Flask config keys."""
    config = {key: setting.value() for setting in SETTINGS for key in setting.config_keys}
    return {**config, "SECRET_KEY": secret_key(instance_path), **FIXED}


# --- the README's table --------------------------------------------------------------

TABLE_START = "<!-- settings:start -->"
TABLE_END = "<!-- settings:end -->"


def markdown_table() -> str:
    """SETTINGS as the README's Markdown table, one row per variable."""
    rows = ["| variable | default | what it does |", "| --- | --- | --- |"]
    rows += [f"| `{s.name}` | {s.default_cell} | {s.why} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def with_table(document: str) -> str:
    """`document` with the text between its two table markers replaced by the table."""
    start = document.find(TABLE_START)
    end = document.find(TABLE_END)
    if start < 0 or end < start:
        raise SystemExit(f"no {TABLE_START} ... {TABLE_END} pair to put the table between")
    head = document[: start + len(TABLE_START)]
    return f"{head}\n{markdown_table()}{document[end:]}"


# --- the example environment file (deploy/chat.env.example) ---------------------------

# What a production host behind nginx sets (docs/deploy.md); every other
# setting is listed commented out, at its default.
PRODUCTION = {
    "DATABASE_URL": "postgresql:///chat?host=/var/run/postgresql",
    "SECRET_KEY": "",
    "TRUSTED_PROXIES": "1",
    "COOKIE_SECURE": "1",
}
# Said about a setting in the environment file besides its `why`.
ENV_NOTES = {
    "SECRET_KEY": "Required: `openssl rand -hex 32`, the same on every host.",
    "PORT": "Set by the unit (chat-web@PORT.service): leave it commented out here.",
}
ENV_HEADER = """\
# The chat's settings, for /etc/chat/chat.env (the systemd units in
# deploy/systemd/ read it with EnvironmentFile=; docs/deploy.md).
# Generated from chat/config.py's SETTINGS by `make settings-table`
# (tests/test_deploy.py fails while the two differ): every setting, with what
# it does; the ones a production host behind nginx sets are filled in, every
# other one is commented out at its default. systemd reads NAME=value lines
# literally: no quotes, no `export`.
"""


def env_value(setting: Setting) -> str:
    """A setting's default as its environment variable's text ("" when unset)."""
    default = setting.default
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if default is None or default in ("", (), []):
        return ""
    return str(default)


def env_example() -> str:
    """SETTINGS as an environment file: per setting its default and why, then
    its line (set for production, else commented out)."""
    import textwrap

    blocks = [ENV_HEADER]
    for setting in SETTINGS:
        about = f"{setting.name} (default: {setting.default_cell.replace('`', '')}): {setting.why}."
        if setting.name in ENV_NOTES:
            about += " " + ENV_NOTES[setting.name]
        lines = textwrap.wrap(about.replace("`", ""), 76, break_on_hyphens=False)
        comment = "\n".join(f"# {line}" for line in lines)
        if setting.name in PRODUCTION:
            line = f"{setting.name}={PRODUCTION[setting.name]}"
        else:
            line = f"#{setting.name}={env_value(setting)}"
        blocks.append(f"{comment}\n{line}\n")
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chat.config",
        description="Print the configuration table as Markdown, or write it into a file.",
    )
    parser.add_argument(
        "--write",
        metavar="PATH",
        type=Path,
        help=f"replace the table between {TABLE_START} and {TABLE_END} in PATH",
    )
    parser.add_argument(
        "--env-example",
        metavar="PATH",
        type=Path,
        help="write the example environment file (every setting at its default) to PATH",
    )
    args = parser.parse_args(argv)
    if args.env_example is not None:
        _rewrite(args.env_example, env_example(), "environment file")
    if args.write is None:
        if args.env_example is None:
            sys.stdout.write(markdown_table())
        return 0
    _rewrite(args.write, with_table(args.write.read_text()), "configuration table")
    return 0


def _rewrite(path: Path, text: str, what: str) -> None:
    if path.exists() and path.read_text() == text:
        print(f"{path}: {what} unchanged")
    else:
        path.write_text(text)
        print(f"{path}: {what} rewritten")


if __name__ == "__main__":
    sys.exit(main())

"""Every documented default, checked on the running server started with none set.

One gunicorn (and one stock bot) for the whole module, started with every
variable of the README's configuration table removed from its environment
except what the harness must set (HARNESS below, each with its reason). Each
documented default is then checked from outside, one test id per variable,
against the default the README states: by behaviour where that is quick, by
behaviour watched in the background from the start where it takes seconds
(pings, body deadlines, heartbeats, bot retries), and otherwise through the
effective settings the server logs at start (`settings:` from the gunicorn
master, `app settings:` from each worker's app). Each check's docstring says
which way.

Nothing here sleeps to synchronise: waits are for frames, responses, EOFs,
notifications or rows, with deadlines; the few sleeps pace a client (frames
at a steady rate, a body trickled a byte at a time).
"""

import contextlib
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import orjson
import psutil
import psycopg
import pytest
from psycopg.rows import dict_row
from websockets.exceptions import InvalidStatus

from chat import actions

from ..conftest import cloned_database, make_token, make_user
from ..quotes import HEADER
from ..servers import (
    FRAME_TIMEOUT,
    Client,
    DefaultBot,
    DefaultGunicorn,
    bots_listening,
    documented_defaults,
    form_login,
    free_port,
    http,
)
from .observers import (
    AUDIT_SQL,
    TimedQuoteServer,
    bot_idle_polls,
    csrf_session,
    expect,
    first_listen_probe,
    first_ping,
    login_status,
    open_mux,
    raw_exchange,
    refused_upgrade,
    slow_body,
    wait_until,
)

pytestmark = pytest.mark.e2e

# What the harness sets although it is documented, and why; every other
# documented variable is absent from the server's and the bot's environment.
HARNESS = {
    # The default starts an embedded PostgreSQL in instance/pgdata: the
    # developer's own data. The test database is what every e2e test uses.
    "DATABASE_URL": "the test database",
    # 8000 may be taken (make run, another test run): a free port. The default
    # is checked on gunicorn.conf.py in tests/test_config.py.
    "PORT": "a free port",
    # The default writes instance/secret_key into the checkout; tests must not
    # (tests/conftest.py sets it for the same reason). Its default is checked
    # in tests/test_config.py.
    "SECRET_KEY": "tests must not write instance/secret_key",
    # The bot only: the default is stooq.com, and tests never call the Internet
    # (a local quote server stands in). Its default is checked in
    # tests/test_config.py.
    "STOCK_QUOTE_URL": "tests never ask the real stooq",
}
# Documented, but not a setting of a running server.
NOT_SERVER_SETTINGS = {
    # Only read when DATABASE_URL is unset (checked in tests/test_config.py).
    "PGDATA_DIR": "used only by the embedded PostgreSQL",
    "TEST_DATABASE_URL": "read by the test suite, not the server",
    # Read by the outbound requests of worker processes (link previews, outgoing
    # webhooks) and by the check of a new webhook's address; never logged. Its
    # default (nothing let through) is
    # tests/bots/test_destinations.py::test_nothing_is_allowed_by_default.
    "EGRESS_ALLOW": "read by the workers' outbound requests, not logged by the server",
}
DOCUMENTED = documented_defaults()


def number(cell: str) -> float:
    """The number in a README default cell such as `262144`."""
    match = re.fullmatch(r"`(\d+(?:\.\d+)?)`", cell)
    assert match, f"the README's default {cell!r} is not a plain number"
    return float(match.group(1))


def settings_line(log: str, prefix: str) -> dict[str, str]:
    """The first `<prefix>: NAME=value ...` line the server logged, as a dict."""
    match = re.search(rf" {prefix}: (.*)", log)
    assert match, f"no {prefix!r} line in the log"
    return dict(item.split("=", 1) for item in match.group(1).split())


# --- the module's server, bot and background observers ----------------------------

# The bot's pool connections' application_name (PGAPPNAME), for pg_stat_activity.
BOT_POOL_NAME = "defaults-bot-pool"
# Dead workers for the reaper, one per second of heartbeat age: which of them
# one reap retires pins PRESENCE_TIMEOUT to the second.
GHOST_AGES = range(0, 46)


@pytest.fixture(scope="module")
def module_database(pg_server, template_db):
    """One migrated database for the module's one server; dropped afterwards."""
    with cloned_database(pg_server, template_db, "chat_defaults") as url:
        yield url


@pytest.fixture(scope="module")
def world(module_database, tmp_path_factory, request):
    """The default-configured server and bot, their people, and the observers
    started at boot (futures the slow checks wait for)."""
    url = module_database
    logs = tmp_path_factory.mktemp("defaults")
    db = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    db.execute(AUDIT_SQL)
    people = {}
    for name in ("eren", "mikasa", "levi", "armin", "jean", "hange", "sasha", "connie"):
        user = make_user(db, name)
        people[name] = {"id": user.id, "username": user.username, "token": make_token(db, user)}
    quotes = TimedQuoteServer()
    secret = os.environ.get("SECRET_KEY", "test-secret-key")
    server = DefaultGunicorn(logs / "gunicorn.log", 2, DATABASE_URL=url, SECRET_KEY=secret)
    bot = DefaultBot(
        logs / "bot.log",
        DATABASE_URL=url,
        SECRET_KEY=secret,
        STOCK_QUOTE_URL=quotes.template,
        # libpq's name for connections that give none (the bot's pool; its LISTEN
        # connection names itself): how pg_stat_activity tells them apart.
        PGAPPNAME=BOT_POOL_NAME,
    )
    pool = ThreadPoolExecutor(8, thread_name_prefix="observer")
    failures = request.session.testsfailed
    world = SimpleNamespace(
        url=url,
        db=db,
        people=people,
        server=server,
        bot=bot,
        quotes=quotes,
        watch={},
        stop=threading.Event(),  # the module is done: observers give up
    )
    try:
        server.start()
        bot.start()
        start_observers(world, pool)
        yield world
    finally:
        world.stop.set()
        server.kill()
        bot.kill()
        quotes.close()
        pool.shutdown(wait=True, cancel_futures=True)
        db.close()
        if request.session.testsfailed > failures:
            print(f"--- {server.log_path} ---\n{server.log()}")
            print(f"--- {bot.log_path} ---\n{bot.log()}")


def start_observers(world, pool: ThreadPoolExecutor) -> None:
    """What takes seconds to show is watched from boot on, in the background."""
    listening = threading.Event()
    watch = world.watch
    watch["probe"] = pool.submit(first_listen_probe, world.url, listening, world.stop)
    assert listening.wait(10), "the LISTEN observer did not start"
    # The first socket starts a worker's presence heartbeat and LISTEN loop.
    watch["ping"] = pool.submit(first_ping, world.server, world.people["hange"]["token"])
    watch["body"] = pool.submit(slow_body, world.server)
    wait_until(
        lambda: world.db.execute("SELECT count(*) AS n FROM workers").fetchone()["n"],
        "a worker's presence to start",
    )
    world.db.execute(
        "INSERT INTO workers (id, heartbeat_at)"
        " SELECT 'ghost-' || age, now() - make_interval(secs => age) FROM unnest(%s::int[]) age",
        (list(GHOST_AGES),),
    )
    wait_until(lambda: bots_listening(world.url), "the bot to listen")
    # Two requests for the bot, at once: one its quote service always fails
    # (retried, then answered as failed) and one it holds until the bot gives
    # up on the attempt (released once the retry is seen, then answered).
    world.quotes.hold("hang.us")
    api = http()
    for symbol in ("boom.us", "hang.us"):
        response = api.post(
            f"{world.server.url}/api/rooms/general/messages",
            json={"content": f"/stock={symbol}", "client_id": f"bot-{symbol}"},
            headers={"Authorization": f"Bearer {world.people['mikasa']['token']}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
    watch["hang"] = pool.submit(release_after_first_retry, world, "HANG.US")
    interval = number(DOCUMENTED["BOT_POLL_INTERVAL"])
    watch["poll"] = pool.submit(bot_idle_polls, world.url, BOT_POOL_NAME, interval, world.stop)


def release_after_first_retry(world, symbol: str) -> None:
    """Let the held quote request go once the bot has given up on it (its retry is
    recorded), so the second attempt is answered and the bot is free again."""
    wait_until(
        lambda: world.db.execute(
            "SELECT 1 FROM defaults_audit WHERE tbl = 'bot_jobs' AND new->>'argument' = %s"
            " AND new->>'claimed_until' IS NULL AND new->>'state' = 'pending'",
            (symbol,),
        ).fetchone(),
        "the held request's retry",
        timeout=40,
        stop=world.stop,
    )
    world.quotes.release(symbol.lower())


def reset_login_failures(world) -> None:
    world.db.execute("DELETE FROM login_failures")


# --- the checks, one per documented variable -----------------------------------------


def check_ACCESS_LOG(world, documented):
    """Off: requests (paths, query strings) leave nothing in the log. Observed: marked
    requests on one keep-alive connection, then one more on it; gunicorn writes a
    request's access line before it reads the next request, so any line for the
    marked ones would be in the log by the last answer."""
    assert documented == "unset (off)"
    marker = uuid.uuid4().hex
    answers = raw_exchange(
        world.server,
        [
            f"GET /healthz?{marker}=q HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            f"GET /no-such-page-{marker} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            f"GET /search?q={marker} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
    )
    assert [a.split(b" ", 2)[1] for a in answers] == [b"200", b"404", b"302", b"200"]
    log = world.server.log()
    assert marker not in log
    assert '"GET /' not in log and "gunicorn.access" not in log


def check_LOG_LEVEL(world, documented):
    """info: info lines (gunicorn's boot, the app's connects), no debug line."""
    assert documented == "`info`"
    log = world.server.log()
    assert re.search(r" INFO \[\d+\] gunicorn.error: Starting gunicorn", log)
    assert re.search(r" INFO \[\d+\] chat.realtime.client: connect user=hange", log)
    assert not re.search(r" DEBUG \[\d+\] ", log)
    assert settings_line(log, "settings")["LOG_LEVEL"] == "info"


def check_LOG_FORMAT(world, documented):
    """text: every line of the server's log is the plain format (time, level,
    [pid], logger, message), none a JSON object; the master says so too."""
    assert documented == "`text`"
    lines = world.server.log_path.read_text().splitlines()
    plain = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \[\d+\] [\w.]+: ")
    starts = [line for line in lines if plain.match(line)]
    assert starts and not any(line.startswith("{") for line in lines)
    assert settings_line(world.server.log(), "settings")["LOG_FORMAT"] == "text"


def check_HOST(world, documented):
    """The master's only listening socket, read with psutil."""
    host = documented.strip("`")
    master = psutil.Process(world.server.proc.pid)
    listening = [
        (c.laddr.ip, c.laddr.port)
        for c in master.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening == [(host, world.server.port)]


def check_WEB_CONCURRENCY(world, documented):
    """Worker processes under the master, counted with psutil, and their boot lines."""
    expected = int(number(documented))
    workers = psutil.Process(world.server.proc.pid).children()
    assert len(workers) == expected
    assert all("gunicorn" in " ".join(w.cmdline()) for w in workers)
    assert world.server.log().count("Booting worker with pid") == expected


def check_KEEPALIVE(world, documented):
    """An idle keep-alive connection is closed after the documented seconds: the time
    from a complete answer to the server's EOF, read with a deadline."""
    seconds = number(documented)
    with socket.create_connection(("127.0.0.1", world.server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += sock.recv(4096)
        answered = time.monotonic()
        sock.settimeout(seconds + 10)
        assert sock.recv(1) == b"", "a second answer on an idle connection"
        idle = time.monotonic() - answered
    # Earlier than the deadline only by the answer's way to us; later by a busy machine.
    assert seconds - 0.5 <= idle <= seconds + 2, f"closed after {idle:.2f} s idle"


def check_METRICS_TOKEN(world, documented):
    """Unset: /metrics answers this machine with no token, and any token is
    ignored (with one set, a wrong one gets 404)."""
    assert documented == "unset"
    api = http()
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        response = api.get(f"{world.server.url}/metrics", headers=headers, timeout=10)
        assert response.status_code == 200
        assert "chat_" in response.text


def check_PROMETHEUS_MULTIPROC_DIR(world, documented):
    """A fresh temporary directory: the metrics files the workers hold open (psutil)
    are in one directory made for this run, which holds only theirs."""
    assert documented == "a fresh temporary directory"
    pids = world.server.worker_pids()
    files = [
        f.path for pid in pids for f in psutil.Process(pid).open_files() if f.path.endswith(".db")
    ]
    assert files, "the workers hold no metrics files"
    dirs = {os.path.dirname(path) for path in files}
    assert len(dirs) == 1, dirs
    (directory,) = dirs
    assert os.path.dirname(directory) == tempfile.gettempdir()
    assert os.path.basename(directory).startswith("chat-metrics-")
    owners = {int(m) for m in re.findall(r"_(\d+)\.db", " ".join(os.listdir(directory)))}
    assert owners <= set(pids), (owners, pids)


def check_GUNICORN_CONTROL_SOCKET(world, documented):
    """Off: the master listens on no Unix socket (psutil) and never said it did."""
    assert documented == "unset (off)"
    master = psutil.Process(world.server.proc.pid)
    assert [c for c in master.net_connections(kind="unix") if c.laddr] == []
    log = world.server.log()
    assert "Control socket listening" not in log
    assert settings_line(log, "settings")["GUNICORN_CONTROL_SOCKET"] == "off"


def check_COOKIE_SECURE(world, documented):
    """Off: the session and remember cookies of a real login are not `Secure`."""
    assert documented == "unset (off)"
    reset_login_failures(world)
    _, response = form_login(world.server, "connie", "correct horse", remember=True)
    assert response.status_code == 302
    cookies = response.raw.headers.getlist("Set-Cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"session", "remember_token"}
    for cookie in cookies:
        assert "secure" not in cookie.lower(), cookie


def check_ALLOWED_ORIGINS(world, documented):
    """None: a WebSocket from another origin is refused (403); this site's own is not."""
    assert documented == "none"
    token = world.people["eren"]["token"]
    assert refused_upgrade(world.server, token, Origin="https://chat.example.com") == 403
    own = Client.open(world.server, "general", token, Origin=world.server.url)
    own.until("ready")
    own.close()


def check_WS_ECHO(world, documented):
    """Off: /ws/_echo (for make autobahn) is no endpoint, so it is a room that does
    not exist (404); the workers' settings lines say so too."""
    assert documented == "unset (off)"
    assert refused_upgrade(world.server, world.people["eren"]["token"], "/ws/_echo") == 404
    assert settings_line(world.server.log(), "app settings")["WS_ECHO"] == "False"


def check_TRUSTED_PROXIES(world, documented):
    """0: X-Forwarded-Host/-Proto do not make a foreign Origin this site's own, and
    X-Forwarded-For does not change whose failed login it is (login_failures keys)."""
    assert number(documented) == 0
    forwarded = {"X-Forwarded-Host": "chat.example.com", "X-Forwarded-Proto": "https"}
    token = world.people["eren"]["token"]
    assert refused_upgrade(world.server, token, Origin="https://chat.example.com", **forwarded) == (
        403
    )
    reset_login_failures(world)
    session, csrf = csrf_session(world.server)
    status = login_status(
        world.server,
        session,
        csrf,
        "nobody",
        "wrong password",
        **{"X-Forwarded-For": "203.0.113.7"},
    )
    assert status == 400
    keys = {r["key"] for r in world.db.execute("SELECT key FROM login_failures").fetchall()}
    assert keys == {"user:nobody", "ip:127.0.0.1"}
    reset_login_failures(world)


def check_MAX_CONTENT_LENGTH(world, documented):
    """A body of exactly the documented bytes is accepted (a message is stored); one
    byte more gets 413."""
    limit = int(number(documented))
    api = http()
    headers = {
        "Authorization": f"Bearer {world.people['eren']['token']}",
        "Content-Type": "application/json",
    }
    message = b'{"content": "a body at the limit", "client_id": "max-body"}'
    body = message + b" " * (limit - len(message))  # JSON allows trailing whitespace
    url = f"{world.server.url}/api/rooms/general/messages"
    accepted = api.post(url, data=body, headers=headers, timeout=10)
    assert accepted.status_code == 201, accepted.text
    refused = api.post(url, data=body + b" ", headers=headers, timeout=10)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "too_large"


def check_WS_MAX_FRAME_BYTES(world, documented):
    """A frame of exactly the documented bytes (ASCII, so characters and bytes agree)
    is read and acked; one byte more closes the socket with 1009."""
    limit = int(number(documented))
    token = world.people["eren"]["token"]
    for size, accepted in ((limit, True), (limit + 1, False)):
        client = Client.open(world.server, "general", token)
        client.until("ready")
        frame = f'{{"type":"chat","content":"frame of {size}","client_id":"frame-{size}"}}'
        client.send(frame + " " * (size - len(frame)))
        if accepted:
            assert expect(client, type="ack")["client_id"] == f"frame-{size}"
            client.close()
        else:
            assert client.close_code() == 1009


def check_MAX_MESSAGE_CHARS(world, documented):
    """The documented number of characters is stored whole; one more is too_large."""
    limit = int(number(documented))
    client = Client.open(world.server, "general", world.people["eren"]["token"])
    client.until("ready")
    client.send({"type": "chat", "content": "y" * limit, "client_id": "chars-max"})
    seq = expect(client, type="ack", client_id="chars-max")["seq"]
    stored = world.db.execute(
        "SELECT length(content) AS n FROM messages WHERE seq = %s"
        " AND room_id = (SELECT id FROM rooms WHERE name = 'general')",
        (seq,),
    ).fetchone()
    assert stored["n"] == limit
    client.send({"type": "chat", "content": "y" * (limit + 1), "client_id": "chars-over"})
    error = expect(client, type="error", client_id="chars-over")
    assert error["code"] == "too_large"
    client.close()


def typing_flood(client: Client, count: int) -> tuple[list[str], float, float]:
    """`count` frames that each take a token and get an answer without touching the
    database (typing in a room not joined: not_joined), sent at once; the
    answers' codes, when the first was sent, the last was sent, and the last
    was answered."""
    frame = orjson.dumps({"type": "typing", "room": "nowhere"}).decode()
    started = time.monotonic()
    for _ in range(count):
        client.ws.send(frame)
    sent = time.monotonic()
    codes = [expect(client, type="error")["code"] for _ in range(count)]
    return codes, started, sent, time.monotonic()


def check_RATE_LIMIT_BURST(world, documented):
    """A fresh connection's first `burst` frames sent at once pass, and then frames are
    refused with rate_limited: no more pass than the burst plus what the rate
    refilled while they were read."""
    burst = int(number(documented))
    rate = number(DOCUMENTED["RATE_LIMIT_PER_SEC"])
    client = open_mux(world.server, world.people["jean"]["token"])
    codes, started, _, finished = typing_flood(client, burst + 40)
    passed = codes.count("not_joined")
    assert codes[:burst] == ["not_joined"] * burst
    assert set(codes[burst:]) <= {"not_joined", "rate_limited"} and "rate_limited" in codes
    assert passed <= burst + rate * (finished - started), (passed, finished - started)
    client.close()


def check_RATE_LIMIT_PER_SEC(world, documented):
    """Once the burst is spent, frames sent every 10 ms for a second pass at the
    documented rate: at most rate x (time since the bucket was last found empty,
    which was after the flood's last frame was sent) plus one, and at least
    rate x (time spent sending) less a few for the way there."""
    rate = number(documented)
    burst = int(number(DOCUMENTED["RATE_LIMIT_BURST"]))
    client = open_mux(world.server, world.people["jean"]["token"])
    codes, _, emptied, _ = typing_flood(client, burst + 20)
    assert codes[-1] == "rate_limited"
    frame = orjson.dumps({"type": "typing", "room": "nowhere"}).decode()
    first = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - first < 1.0:
        client.ws.send(frame)
        sent += 1
        time.sleep(0.01)  # pacing the client: one frame every 10 ms
    last = now
    codes = [expect(client, type="error")["code"] for _ in range(sent)]
    finished = time.monotonic()
    passed = codes.count("not_joined")
    assert rate * (last - first) - 5 <= passed <= rate * (finished - emptied) + 1, (
        passed,
        last - first,
        finished - emptied,
    )
    client.close()


def check_MAX_ROOMS_PER_CONNECTION(world, documented):
    """One /ws connection joins the documented number of rooms; the next join gets
    too_many_rooms. (Joins beyond the burst are paced by the rate limit: a
    rate_limited join is sent again a token's time later.)"""
    limit = int(number(documented))
    rate = number(DOCUMENTED["RATE_LIMIT_PER_SEC"])
    owner = world.people["jean"]
    names = [f"cap{i:03d}" for i in range(limit + 1)]
    for name in names:
        actions.create_room(world.db, name, owner["id"])
    client = open_mux(world.server, owner["token"])
    for name in names:
        while True:
            client.send({"type": "join", "room": name})
            deadline = time.monotonic() + FRAME_TIMEOUT
            while True:
                frame = client.recv(max(0.01, deadline - time.monotonic()))
                if frame.get("room") == name and frame["type"] in ("ready", "error"):
                    break
            if frame["type"] == "error" and frame["code"] == "rate_limited":
                time.sleep(1 / rate)  # pacing: a token's time before sending it again
                continue
            break
        if name != names[-1]:
            assert frame["type"] == "ready", frame
    assert (frame["type"], frame.get("code")) == ("error", "too_many_rooms")
    client.close()


def check_TYPING_INTERVAL(world, documented):
    """One user typing steadily (every 100 ms) reaches another user at most once per
    documented interval: the gap between the first two typing frames seen."""
    interval = number(documented)
    typist = open_mux(world.server, world.people["sasha"]["token"])
    watcher = open_mux(world.server, world.people["mikasa"]["token"])
    for client in (typist, watcher):
        client.send({"type": "join", "room": "general"})
        expect(client, type="ready", room="general")
    seen: list[float] = []
    stop = threading.Event()

    def watch():
        while len(seen) < 2:
            expect(watcher, timeout=interval + 5, type="typing", username="sasha")
            seen.append(time.monotonic())
        stop.set()

    reader = threading.Thread(target=watch)
    reader.start()
    deadline = time.monotonic() + interval + 5
    while not stop.is_set() and time.monotonic() < deadline:
        typist.send({"type": "typing", "room": "general"})
        stop.wait(0.1)  # pacing the typist: one notice every 100 ms
    reader.join(5)
    assert len(seen) == 2, "fewer than two typing notices came through"
    gap = seen[1] - seen[0]
    # Two deliveries' jitter either way, and up to one 100 ms step later.
    assert interval - 0.4 <= gap <= interval + 0.8, f"typing notices {gap:.2f} s apart"
    typist.close()
    watcher.close()


def check_MAX_SOCKETS_PER_USER(world, documented):
    """Sockets of one user are opened until one upgrade gets 429: at that moment one
    worker holds exactly the documented number and none holds more (the cap is
    per worker; which worker takes a connection is the kernel's choice)."""
    cap = int(number(documented))
    server = world.server
    token = world.people["armin"]["token"]
    held: dict[int, list[Client]] = {}
    try:
        # One more than every worker can hold: if the kernel spreads them evenly,
        # every worker is full and the last one must be refused.
        for _ in range(cap * len(server.worker_pids()) + 1):
            try:
                client = Client.open(server, "general", token)
            except InvalidStatus as refused:
                assert refused.response.status_code == 429
                break
            client.until("ready")
            held.setdefault(server.worker_of(client.ws), []).append(client)
            assert max(len(c) for c in held.values()) <= cap
        else:
            pytest.fail(f"{cap} sockets on every worker and no 429")
        assert max(len(c) for c in held.values()) == cap
    finally:
        for clients in held.values():
            for client in clients:
                client.close()


def check_LOGIN_FAILURES_PER_USER(world, documented):
    """The documented number of failed logins to one account are answered 400; the
    next login to it is refused with 429, even with the right password."""
    limit = int(number(documented))
    reset_login_failures(world)
    session, csrf = csrf_session(world.server)
    statuses = [
        login_status(world.server, session, csrf, "levi", "wrong password") for _ in range(limit)
    ]
    assert statuses == [400] * limit
    assert login_status(world.server, session, csrf, "levi", "correct horse") == 429
    reset_login_failures(world)


def check_LOGIN_WINDOW_SECONDS(world, documented):
    """Failures count within the documented window: with an account's failures at the
    limit and its window started (in the server's table) one second short of the
    window ago, a login is refused; one second past it, the right password
    logs in."""
    window = int(number(documented))
    limit = int(number(DOCUMENTED["LOGIN_FAILURES_PER_USER"]))
    reset_login_failures(world)
    session, csrf = csrf_session(world.server)
    for seconds_ago, status in ((window - 1, 429), (window + 1, 302)):
        world.db.execute(
            "INSERT INTO login_failures (key, window_start, failures)"
            " VALUES ('user:levi', now() - make_interval(secs => %s), %s)"
            " ON CONFLICT (key) DO UPDATE SET window_start = EXCLUDED.window_start,"
            " failures = EXCLUDED.failures",
            (seconds_ago, limit),
        )
        assert login_status(world.server, session, csrf, "levi", "correct horse") == status
    reset_login_failures(world)


def check_LOGIN_FAILURES_PER_ADDRESS(world, documented):
    """The documented number of failed logins from one address (to as many different
    accounts, each with a different made-up X-Forwarded-For) are answered 400;
    the next login from it is refused with 429, even with a right password."""
    limit = int(number(documented))
    reset_login_failures(world)
    session, csrf = csrf_session(world.server)
    statuses = [
        login_status(
            world.server,
            session,
            csrf,
            f"guess{i}",
            "wrong password",
            **{"X-Forwarded-For": f"198.51.100.{i}"},
        )
        for i in range(limit)
    ]
    assert statuses == [400] * limit
    assert login_status(world.server, session, csrf, "levi", "correct horse") == 429
    reset_login_failures(world)


def from_settings(prefix: str, name: str, key: str | None = None):
    """A check that reads the server's `<prefix>:` settings line at start."""

    def check(world, documented):
        value = settings_line(world.server.log(), prefix)[key or name]
        value = {"True": "1", "False": "0"}.get(value, value)  # on/off settings
        assert float(value) == number(documented), f"{name} runs with {value}"

    check.__doc__ = (
        f"The effective value the server logged at start (its `{prefix}:` line): not"
        " observable from outside in a short bounded time."
    )
    return check


# Fast checks (run first, while the observers below watch the slow ones).
def presence_heard(client, username: str, status: str, timeout: float) -> float:
    """When (monotonic) `client` heard a `presence` frame of username's status."""
    deadline = time.monotonic() + timeout
    while True:
        for frame in client.aside:
            if frame["type"] == "presence" and (frame["username"], frame["status"]) == (
                username,
                status,
            ):
                client.aside.remove(frame)
                return time.monotonic()
        assert time.monotonic() < deadline, f"no {status} for {username}: {client.aside}"
        with contextlib.suppress(TimeoutError):  # the socket itself: frames set aside
            client.recv(0.05)


def check_PRESENCE_GRACE(world, documented):
    """A person whose only socket closes is heard `offline` by the others the
    documented seconds later, not at once (a browser's next page opens its
    socket well within that)."""
    grace = number(documented)
    watcher = make_user(world.db, "historia")
    room = actions.create_room(world.db, "grace-check", watcher.id)
    actions.join_room(world.db, room.id, world.people["connie"]["id"])
    watching = open_mux(world.server, make_token(world.db, watcher))
    watching.send({"type": "join", "room": "grace-check"})
    expect(watching, type="ready", room="grace-check")
    person = open_mux(world.server, world.people["connie"]["token"])
    presence_heard(watching, "connie", "online", FRAME_TIMEOUT)
    person.close()
    closed = time.monotonic()
    took = presence_heard(watching, "connie", "offline", grace + 10) - closed
    assert grace - 0.2 <= took <= grace + 2.5, f"offline {took:.1f} s after the close"
    watching.close()


def check_UPLOAD_MAX_BYTES(world, documented):
    """An upload announcing one byte over the documented size is refused (413
    too_large, naming the limit) before a byte of its body is sent."""
    limit = int(number(documented))
    token = world.people["armin"]["token"]
    (answer,) = raw_exchange(
        world.server,
        [
            f"POST /api/files?name=big.bin HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {limit + 1}\r\n\r\n".encode()
        ],
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    error = orjson.loads(body)["error"]
    assert error["code"] == "too_large" and f"{limit:,}" in error["message"], error


CHECKS = {
    "LOG_FORMAT": check_LOG_FORMAT,
    "ACCESS_LOG": check_ACCESS_LOG,
    "LOG_LEVEL": check_LOG_LEVEL,
    "HOST": check_HOST,
    "WEB_CONCURRENCY": check_WEB_CONCURRENCY,
    "KEEPALIVE": check_KEEPALIVE,
    "METRICS_TOKEN": check_METRICS_TOKEN,
    "PROMETHEUS_MULTIPROC_DIR": check_PROMETHEUS_MULTIPROC_DIR,
    "GUNICORN_CONTROL_SOCKET": check_GUNICORN_CONTROL_SOCKET,
    "COOKIE_SECURE": check_COOKIE_SECURE,
    "ALLOWED_ORIGINS": check_ALLOWED_ORIGINS,
    "WS_ECHO": check_WS_ECHO,
    "TRUSTED_PROXIES": check_TRUSTED_PROXIES,
    "MAX_CONTENT_LENGTH": check_MAX_CONTENT_LENGTH,
    "WS_MAX_FRAME_BYTES": check_WS_MAX_FRAME_BYTES,
    "MAX_MESSAGE_CHARS": check_MAX_MESSAGE_CHARS,
    "RATE_LIMIT_BURST": check_RATE_LIMIT_BURST,
    "RATE_LIMIT_PER_SEC": check_RATE_LIMIT_PER_SEC,
    "MAX_ROOMS_PER_CONNECTION": check_MAX_ROOMS_PER_CONNECTION,
    "TYPING_INTERVAL": check_TYPING_INTERVAL,
    "PRESENCE_GRACE": check_PRESENCE_GRACE,
    "MAX_SOCKETS_PER_USER": check_MAX_SOCKETS_PER_USER,
    "LOGIN_FAILURES_PER_USER": check_LOGIN_FAILURES_PER_USER,
    "LOGIN_WINDOW_SECONDS": check_LOGIN_WINDOW_SECONDS,
    "LOGIN_FAILURES_PER_ADDRESS": check_LOGIN_FAILURES_PER_ADDRESS,
    # gunicorn's own: a stuck worker's replacement (30 s), the shutdown grace
    # (10 s, and only for what the 1001 closes leave open) and 5,000 sockets
    # per worker are too slow or too big to show here.
    "WORKER_CONNECTIONS": from_settings("settings", "WORKER_CONNECTIONS"),
    "GUNICORN_TIMEOUT": from_settings("settings", "GUNICORN_TIMEOUT"),
    "GRACEFUL_TIMEOUT": from_settings("settings", "GRACEFUL_TIMEOUT"),
    # The app's: a pool size, a queue length, group commit and a TCP timeout
    # (a Unix socket here) leave no mark a client can measure in seconds.
    "DB_POOL_SIZE": from_settings("app settings", "DB_POOL_SIZE"),
    "OUTBOUND_QUEUE": from_settings("app settings", "OUTBOUND_QUEUE"),
    "WRITE_BATCH": from_settings("app settings", "WRITE_BATCH"),
    "DB_TCP_TIMEOUT": from_settings("app settings", "DB_TCP_TIMEOUT"),
    "UPLOAD_MAX_BYTES": check_UPLOAD_MAX_BYTES,
    # Files (docs/files.md): a quota of a GiB, a day's wait for the clean-up, a
    # 50-megapixel image and previews fetched by the worker take too long or too
    # much to show here; tests/web/test_files.py and tests/bots/test_work.py
    # show each with a small value.
    "UPLOAD_QUOTA_BYTES": from_settings("app settings", "UPLOAD_QUOTA_BYTES"),
    "UPLOAD_UNSENT_HOURS": from_settings("app settings", "UPLOAD_UNSENT_HOURS"),
    "IMAGE_MAX_PIXELS": from_settings("app settings", "IMAGE_MAX_PIXELS"),
    "LINK_PREVIEWS": from_settings("app settings", "LINK_PREVIEWS"),
}


def audit(world, query: str, params=()) -> list[dict]:
    return world.db.execute(query, params).fetchall()


def check_PRESENCE_HEARTBEAT(world, documented):
    """Each heartbeat moves the worker's heartbeat_at on by the documented seconds
    (recorded by a trigger on the workers table, in the database's own time)."""
    interval = number(documented)
    query = (
        "SELECT extract(epoch FROM (new->>'heartbeat_at')::timestamptz"
        " - (old->>'heartbeat_at')::timestamptz)::float8 AS gap"
        " FROM defaults_audit WHERE tbl = 'workers' AND op = 'UPDATE'"
        " AND old->>'id' NOT LIKE 'ghost-%%'"
    )
    gaps = wait_until(lambda: audit(world, query), "a presence heartbeat", timeout=40)
    for row in gaps:
        assert interval <= row["gap"] <= interval + 2, gaps


def check_PRESENCE_TIMEOUT(world, documented):
    """Dead workers (rows whose heartbeat stopped 0..45 s before) were planted at
    boot: the first reap (a trigger records it, with the reaping transaction's
    now()) retires every one whose heartbeat was more than the documented
    seconds old then, and no younger one."""
    timeout = number(documented)
    query = (
        "SELECT old->>'id' AS id, at FROM defaults_audit"
        " WHERE tbl = 'workers' AND op = 'DELETE' AND old->>'id' LIKE 'ghost-%%'"
    )
    wait_until(lambda: audit(world, query), "the first reap", timeout=40)
    # Every ghost's heartbeat and its age at the first reap, and whether that reap
    # retired it (those it did not may have gone in a later reap, or be there still).
    rows = audit(
        world,
        "WITH reaped AS (SELECT old->>'id' AS id,"
        "   (old->>'heartbeat_at')::timestamptz AS heartbeat_at, at FROM defaults_audit"
        "   WHERE tbl = 'workers' AND op = 'DELETE' AND old->>'id' LIKE 'ghost-%%'),"
        " ghosts AS (SELECT id, heartbeat_at FROM reaped"
        "   UNION SELECT id, heartbeat_at FROM workers WHERE id LIKE 'ghost-%%'),"
        " first AS (SELECT min(at) AS at FROM reaped)"
        " SELECT g.id, extract(epoch FROM first.at - g.heartbeat_at)::float8 AS age,"
        "   coalesce(r.at = first.at, false) AS reaped"
        " FROM ghosts g CROSS JOIN first LEFT JOIN reaped r ON r.id = g.id",
    )
    assert len(rows) == len(GHOST_AGES)
    retired = [r["age"] for r in rows if r["reaped"]]
    kept = [r["age"] for r in rows if not r["reaped"]]
    assert retired and kept, rows
    assert max(kept) <= timeout < min(retired), (sorted(kept)[-3:], sorted(retired)[:3])


def bot_job(world, argument: str) -> dict:
    return world.db.execute(
        "SELECT id, state, attempts FROM bot_jobs WHERE argument = %s", (argument,)
    ).fetchone()


def wait_for_job_end(world, argument: str) -> dict:
    return wait_until(
        lambda: (job := bot_job(world, argument)) and job["state"] != "pending" and job,
        f"the bot to finish {argument}",
        timeout=40,
    )


def check_BOT_VISIBILITY_TIMEOUT(world, documented):
    """Every claim the bot made holds its job for the documented seconds:
    claimed_until minus the claiming transaction's now() (a trigger records both)."""
    seconds = number(documented)
    wait_for_job_end(world, "BOOM.US")
    claims = audit(
        world,
        "SELECT extract(epoch FROM (new->>'claimed_until')::timestamptz - at)::float8 AS held"
        " FROM defaults_audit WHERE tbl = 'bot_jobs'"
        " AND (new->>'attempts')::int = (old->>'attempts')::int + 1",
    )
    assert len(claims) >= 3
    assert {round(c["held"], 3) for c in claims} == {seconds}


def check_BOT_RETRY_DELAY(world, documented):
    """A request whose quote service keeps failing is retried after the documented
    seconds, then twice that: run_after minus the retrying transaction's now()."""
    delay = number(documented)
    wait_for_job_end(world, "BOOM.US")
    retries = audit(
        world,
        "SELECT extract(epoch FROM (new->>'run_after')::timestamptz - at)::float8 AS delay"
        " FROM defaults_audit WHERE tbl = 'bot_jobs' AND new->>'argument' = 'BOOM.US'"
        " AND new->>'state' = 'pending' AND new->>'claimed_until' IS NULL ORDER BY at",
    )
    assert [round(r["delay"], 3) for r in retries] == [delay, 2 * delay]


def check_BOT_MAX_ATTEMPTS(world, documented):
    """A request whose quote service always fails is tried the documented number of
    times (requests the local quote service saw), then answered as failed."""
    attempts = int(number(documented))
    job = wait_for_job_end(world, "BOOM.US")
    assert (job["state"], job["attempts"]) == ("failed", attempts)
    assert [s for s, _ in world.quotes.arrivals].count("boom.us") == attempts


def check_STOCK_QUOTE_TIMEOUT(world, documented):
    """A quote request that never answers is given up after the documented seconds:
    from the claim to the retry (a trigger records both transactions' now())."""
    seconds = number(documented)
    world.watch["hang"].result(timeout=40)
    wait_for_job_end(world, "HANG.US")
    (row,) = audit(
        world,
        "WITH t AS (SELECT at, new, old FROM defaults_audit"
        "   WHERE tbl = 'bot_jobs' AND new->>'argument' = 'HANG.US')"
        " SELECT extract(epoch FROM"
        "   (SELECT min(at) FROM t WHERE new->>'claimed_until' IS NULL"
        "      AND new->>'state' = 'pending')"
        "   - (SELECT min(at) FROM t WHERE (new->>'attempts')::int = 1))::float8 AS waited",
    )
    assert seconds <= row["waited"] <= seconds + 2, row


def check_BOT_POLL_INTERVAL(world, documented):
    """While it has nothing to do, the bot looks at its queue every documented
    seconds: when its pool connections last ran a statement (pg_stat_activity)."""
    interval = number(documented)
    starts = world.watch["poll"].result(timeout=110)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps, starts
    # A sample taken inside one look's few statements may shave a few ms off.
    assert interval - 0.1 <= max(gaps) <= interval + 1.5, gaps


def check_REQUEST_BODY_TIMEOUT(world, documented):
    """A body trickled a byte every half second (started at boot) gets 408 after the
    documented seconds."""
    seconds = number(documented)
    answer, took = world.watch["body"].result(timeout=60)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert seconds - 0.2 <= took <= seconds + 2, f"408 after {took:.1f} s"


def check_LISTEN_PROBE_INTERVAL(world, documented):
    """A worker's first LISTEN heartbeat (its self-NOTIFY, heard by a LISTEN of our
    own since boot) comes the documented seconds after its LISTEN connection
    started (pg_stat_activity's backend_start)."""
    interval = number(documented)
    heard = world.watch["probe"].result(timeout=60)
    started = world.db.execute(
        "SELECT extract(epoch FROM min(backend_start))::float8 AS at FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'chat-listener'"
    ).fetchone()["at"]
    # Later by up to its 1 s notifies() slice, a NOTIFY's way, and a busy machine.
    assert interval <= heard - started <= interval + 3, heard - started


def check_WS_PING_INTERVAL(world, documented):
    """A socket opened at boot that never answers gets its first ping after the
    documented seconds (a hand-written client sees the ping frame)."""
    interval = number(documented)
    took = world.watch["ping"].result(timeout=60)
    assert interval - 0.2 <= took <= interval + 2.5, f"first ping after {took:.1f} s"


# Watched in the background since boot; run last, when most have come in.
SLOW_CHECKS = {
    "PRESENCE_HEARTBEAT": check_PRESENCE_HEARTBEAT,
    "PRESENCE_TIMEOUT": check_PRESENCE_TIMEOUT,
    "BOT_VISIBILITY_TIMEOUT": check_BOT_VISIBILITY_TIMEOUT,
    "BOT_RETRY_DELAY": check_BOT_RETRY_DELAY,
    "BOT_MAX_ATTEMPTS": check_BOT_MAX_ATTEMPTS,
    "STOCK_QUOTE_TIMEOUT": check_STOCK_QUOTE_TIMEOUT,
    "BOT_POLL_INTERVAL": check_BOT_POLL_INTERVAL,
    "REQUEST_BODY_TIMEOUT": check_REQUEST_BODY_TIMEOUT,
    "LISTEN_PROBE_INTERVAL": check_LISTEN_PROBE_INTERVAL,
    "WS_PING_INTERVAL": check_WS_PING_INTERVAL,
}


def test_every_documented_variable_has_a_check_or_a_reason():
    """A new row in the README's table needs a check here, or a stated reason."""
    checked = set(CHECKS) | set(SLOW_CHECKS)
    excused = set(HARNESS) | set(NOT_SERVER_SETTINGS)
    assert not checked & excused
    assert set(DOCUMENTED) == checked | excused, set(DOCUMENTED) ^ (checked | excused)


@pytest.mark.parametrize("variable", list(CHECKS))
def test_documented_default(world, variable):
    CHECKS[variable](world, DOCUMENTED[variable])


# --- nothing a user types reaches the logs -----------------------------------------


def test_nothing_a_user_types_reaches_the_logs(world):
    """At the default log level, text people type (messages, edits, reactions,
    search words, a failed login's username and password, a good login's password,
    a refused registration, bad frames, commands, names of rooms and people that
    do not exist, a bad `after`, requests gunicorn refuses before the app sees
    them) is in neither the server's log nor the bot's.

    Bot command arguments count as typed text too (`/stock=` takes any 20
    letters, digits and dots): the bot logs a job by its id, which leads to the
    argument in bot_jobs for whoever may read the database, on every path
    (answered, retried, unreachable, an HTTP error, an answer that is not a
    quote and quotes the symbol)."""
    tag = uuid.uuid4().hex[:10]
    typed: dict[str, str] = {}

    def m(what: str) -> str:
        typed[what] = f"zq{tag}{what}"
        return typed[what]

    server = world.server
    reset_login_failures(world)
    ymir = make_user(world.db, "ymir", m("goodpassword"))
    session, response = form_login(server, m("failuser"), m("failpassword"))
    assert response.status_code == 400
    session, response = form_login(server, "ymir", typed["goodpassword"])
    assert response.status_code == 302
    register = http()
    page = register.get(f"{server.url}/register", timeout=10).text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    refused = register.post(
        f"{server.url}/register",
        data={
            "csrf_token": csrf,
            "username": m("reguser"),
            "password": m("regpassword"),
            "confirm": "something else entirely",
        },
        timeout=10,
    )
    assert refused.status_code == 400

    token = make_token(world.db, ymir)
    client = Client.open(server, "general", token)
    client.until("ready")
    client.send({"type": "chat", "content": m("message"), "client_id": "leak-1"})
    seq = expect(client, type="ack", client_id="leak-1")["seq"]
    client.send(m("plainline"))
    expect(client, type="chat", content=typed["plainline"])
    client.send({"type": "edit", "seq": seq, "content": m("edit"), "client_id": "leak-2"})
    expect(client, type="ack", client_id="leak-2")
    client.send({"type": "react", "seq": seq, "emoji": m("emoji"), "client_id": "leak-3"})
    expect(client, client_id="leak-3")
    client.send({"type": m("type"), "client_id": "leak-4"})
    assert expect(client, client_id="leak-4")["code"] == "unknown_type"
    client.send({"type": "chat", "content": m("long") * 400, "client_id": "leak-5"})
    assert expect(client, client_id="leak-5")["code"] == "too_large"
    client.send({"type": "chat", "content": "/" + m("command"), "client_id": "leak-6"})
    assert expect(client, client_id="leak-6")["code"] == "unknown_command"
    client.send({"type": "chat", "content": f"/stock={m('badsymbol')}$", "client_id": "leak-7"})
    assert expect(client, client_id="leak-7")["code"] == "bad_command"
    client.send({"type": "chat", "content": f"/stock={m('symbol')}", "client_id": "leak-8"})
    assert expect(client, client_id="leak-8")["type"] == "notice"
    answer = expect(client, timeout=40, type="chat", username="stockbot")
    assert typed["symbol"].upper() in answer["content"]
    job_id = int(answer["client_id"].removeprefix("job-"))
    bot_jobs = ask_the_bot_to_fail(world, client, m)

    mux = open_mux(server, token)
    mux.send(f"not a frame {m('badframe')}")
    assert expect(mux, type="error")["code"] == "bad_frame"
    mux.send({"type": "join", "room": m("noroom")})
    assert expect(mux, type="error")["code"] == "not_found"
    assert refused_upgrade(server, token, f"/ws/general?after={m('after')}") == 400

    api = http()
    bearer = {"Authorization": f"Bearer {token}"}
    posted = api.post(
        f"{server.url}/api/rooms/general/messages",
        json={"content": m("apimessage"), "client_id": "leak-9"},
        headers=bearer,
        timeout=10,
    )
    assert posted.status_code == 201
    found = api.get(f"{server.url}/api/search", params={"q": m("apisearch")}, headers=bearer)
    assert found.status_code == 200
    assert session.get(f"{server.url}/search", params={"q": m("search")}).status_code == 200
    room_page = session.get(f"{server.url}/rooms/general", timeout=10).text
    csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', room_page).group(1)
    sent = session.post(
        f"{server.url}/rooms/general/messages",
        data={"csrf_token": csrf, "content": m("formmessage")},
        allow_redirects=False,
        timeout=10,
    )
    assert sent.status_code == 302
    direct = session.post(
        f"{server.url}/direct",
        data={"csrf_token": csrf, "username": m("nobody")},
        allow_redirects=False,
        timeout=10,
    )
    assert direct.status_code == 303
    assert session.get(f"{server.url}/rooms/{m('roompath')}").status_code == 404
    assert api.get(f"{server.url}/healthz", params={"q": m("query")}).status_code == 200
    refusals = send_requests_gunicorn_refuses(server, m)
    client.close()
    mux.close()

    # Lines written after the last answer: the bot's about the job, and the
    # server's about the two sockets closing.
    wait_until(lambda: f"job {job_id} answered" in world.bot.log(), "the bot's log line")
    wait_until(lambda: server.log().count("disconnect user=ymir") == 2, "the disconnect lines")
    # The failures were logged, by job id: one warning an attempt, then the end.
    bot_log = world.bot.log()
    for job in bot_jobs.values():
        assert f"job {job['id']} attempt 1 of 3 failed: the quote service" in bot_log
        assert f"job {job['id']} {job['state']} in #general" in bot_log
    # Each refused request left one line saying what was wrong (no more).
    refused = re.compile(r"WARNING \[\d+\] gunicorn\.error: Invalid request from ip=[\d.]+: (.*)")
    notes = refused.findall(server.log())
    assert sorted(refusals) == sorted(notes[-len(refusals) :]), notes
    for name, log in (("gunicorn", server.log()), ("bot", world.bot.log())):
        leaked = [what for what, text in typed.items() if text.lower() in log.lower()]
        assert not leaked, f"typed text in the {name} log: {leaked}"
        assert tag not in log.lower()


def ask_the_bot_to_fail(world, client: Client, m) -> dict[str, dict]:
    """Ask the bot for symbols (made by `m`, so typed text) that fail every way it
    knows: retried once, then answered; unreachable (a redirect to a closed port,
    the symbol in its URL); an HTTP error; an answer that is not a quote (the
    symbol and 1e308 in it). Returns each one's job row once it is finished."""
    quotes = world.quotes
    # As typed (no market: US shares), and as the quote service is asked for it.
    typed = {what: m(what) for what in ("sretry", "saway", "s404", "sodd")}
    symbol = {what: f"{name}.us" for what, name in typed.items()}
    quotes.failures[symbol["sretry"]] = 1
    closed = f"http://127.0.0.1:{free_port()}/q/l/?s={symbol['saway']}"
    quotes.answers[symbol["saway"]] = (302, "", {"Location": closed})
    quotes.answers[symbol["s404"]] = (404, f"no {symbol['s404']} here", {})
    odd = f"{HEADER}{symbol['sodd'].upper()},2026-11-24,22:00:09,1,2,0.5,1e308,100\r\n"
    quotes.answers[symbol["sodd"]] = (200, odd, {})
    for what, name in typed.items():
        client.send({"type": "chat", "content": f"/stock={name}", "client_id": f"leak-{what}"})
        assert expect(client, client_id=f"leak-{what}")["code"] == "queued"
    arguments = [name.upper() for name in symbol.values()]

    def finished():
        rows = world.db.execute(
            "SELECT id, argument, state, attempts FROM bot_jobs"
            " WHERE argument = ANY(%s) AND state <> 'pending'",
            (arguments,),
        ).fetchall()
        return len(rows) == len(arguments) and {row["argument"]: row for row in rows}

    jobs = wait_until(finished, "the bot to finish the failing requests", timeout=60)
    states = {what: (jobs[name.upper()]["state"], jobs[name.upper()]["attempts"])
              for what, name in symbol.items()}  # fmt: skip
    assert states == {
        "sretry": ("answered", 2),
        "saway": ("failed", 3),
        "s404": ("failed", 1),
        "sodd": ("failed", 1),
    }
    return jobs


def send_requests_gunicorn_refuses(server, m) -> list[str]:
    """Raw requests gunicorn refuses before the app sees them, typed text in the
    parts its messages quote (the request line, a header line, a header name,
    the method, the version, a transfer coding). Returns the notes the log
    should hold for them."""
    refused = [
        (f"GET /search?q={m('badline')}\x01pw HTTP/1.1\r\nHost: x\r\n\r\n", 400,
         "Invalid HTTP request line (path /search)"),
        (f"GET x.example:80?{m('authority')} HTTP/1.1\r\nHost: x\r\n\r\n", 400,
         "Invalid HTTP request line"),
        (f"GET /healthz HTTP/1.1\r\nHost: x\r\n{m('headerline')} no colon\r\n\r\n", 400,
         "Invalid HTTP Header"),
        (f"GET /healthz HTTP/1.1\r\nHost: x\r\n{m('headername')}\x01: v\r\n\r\n", 400,
         "Invalid HTTP header name"),
        (f"GET{m('method')}( /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400,
         "Invalid HTTP method"),
        (f"GET /healthz HTTP/1.{m('version')}\r\nHost: x\r\n\r\n", 400,
         "Invalid HTTP Version"),
        (f"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {m('coding')}\r\n\r\n",
         501, "Unsupported transfer coding"),
    ]  # fmt: skip
    for request, status, _ in refused:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request.encode("latin-1"))
            answer = b""
            while chunk := sock.recv(4096):  # gunicorn closes after a refusal
                answer += chunk
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (request, answer[:100])
    return [note for _, _, note in refused]


# --- an access log an operator turned on -------------------------------------------


@pytest.mark.parametrize("where", ["-", "file"])
def test_an_access_log_turned_on_has_paths_but_no_query_strings(start_server, tmp_path, where):
    """ACCESS_LOG=- (stdout, in the one log format) or a file path: one line per
    request with the client address, method, path, status, bytes and duration;
    never the query string (search words) or the Referer (the last page's URL)."""
    path = tmp_path / "access.log"
    server = start_server(workers=1, ACCESS_LOG="-" if where == "-" else str(path))
    secret = uuid.uuid4().hex
    referer = f"http://127.0.0.1:{server.port}/search?q={secret}r"
    raw_exchange(
        server,
        [
            f"GET /search?q={secret}q HTTP/1.1\r\nHost: x\r\nReferer: {referer}\r\n\r\n".encode(),
            f"GET /healthz?{secret}h HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            # A file's name is its uploader's text: the log keeps only its key.
            f"GET /files/{'k' * 22}/{secret}n.pdf HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            # gunicorn writes a request's line before it reads the next request.
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
    )
    access = server.log() if where == "-" else path.read_text()
    lines = [line for line in access.splitlines() if "gunicorn.access" in line]
    assert re.search(
        r' INFO \[\d+\] gunicorn\.access: 127\.0\.0\.1 "GET /search" 302 \d+ \d+ms', access
    )
    assert re.search(r'gunicorn\.access: 127\.0\.0\.1 "GET /healthz" 200 \d+ \d+ms', access)
    assert f'"GET /files/{"k" * 22}/…" 302' in access  # to the login page
    assert len(lines) >= 2
    assert secret not in access and secret not in server.log()
    if where == "file":
        assert "gunicorn.access" not in server.log()


@pytest.mark.parametrize("variable", list(SLOW_CHECKS))
def test_documented_default_watched_from_boot(world, variable):
    SLOW_CHECKS[variable](world, DOCUMENTED[variable])

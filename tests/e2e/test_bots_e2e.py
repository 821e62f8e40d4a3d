"""End to end: slash commands through the real gunicorn, and the stock bot as a real process
(`flask --app app stock-bot`) fetching from a real local quote server: every kind of answer,
a bot killed with SIGKILL mid-job, two bots on one queue, the chat while the bot is down,
and `make run`'s supervisor."""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from chat import actions

from ..conftest import make_token, make_user, room_row
from ..quotes import wait_until
from ..servers import ROOT, Client, Endpoint, bots_listening, free_port, http
from .clients import clients_on_two_workers

pytestmark = pytest.mark.e2e

# Quick retries and a short visibility timeout, so that each case ends in seconds.
BOT_ENV = {
    "STOCK_QUOTE_TIMEOUT": "1",
    "BOT_VISIBILITY_TIMEOUT": "4",
    "BOT_RETRY_DELAY": "0.2",
    "BOT_MAX_ATTEMPTS": "2",
}


AAPL = "eren asked for AAPL.US: $93.42 per share (2026-11-24 22:00)"


@pytest.fixture
def bot(start_bot, quotes):
    """Start a stock bot on the local quote server."""

    def start(**env: str):
        return start_bot(STOCK_QUOTE_URL=quotes.template, **{**BOT_ENV, **env})

    return start


@pytest.fixture
def server(start_server):
    return start_server(RATE_LIMIT_PER_SEC="0")


@pytest.fixture
def token(db):
    return make_token(db, make_user(db, "eren"))


def ask(client: Client, content: str, client_id: str, seen: list | None = None) -> dict:
    """Send a command; the frame that answers it (notice, ack or error). Frames that
    came before it are added to `seen`."""
    client.send({"type": "chat", "content": content, "client_id": client_id})
    while True:
        frame = client.recv()
        if frame.get("client_id") == client_id and frame["type"] in ("notice", "ack", "error"):
            return frame
        if seen is not None:
            seen.append(frame)


def chats_through(client: Client, seen: list[dict], seq: int) -> list[dict]:
    """The chat frames in `seen`, then more from the socket, up to and including seq."""
    chats = [f for f in seen if f["type"] == "chat"]
    if not chats or chats[-1]["seq"] < seq:
        chats += client.chats_until_seq(seq)
    return chats


def bot_chats(client: Client, count: int, timeout: float = 60.0) -> list[dict]:
    """The next `count` chat frames from stockbot (other frames are skipped)."""
    chats = []
    while len(chats) < count:
        before, chat = client.until("chat", timeout)
        if chat["username"] == "stockbot":
            chats.append(chat)
    return chats


def pending_jobs(db) -> int:
    return db.execute("SELECT count(*) AS n FROM bot_jobs WHERE state = 'pending'").fetchone()["n"]


def stockbot_messages(db) -> list[dict]:
    return db.execute(
        "SELECT m.seq, m.content, m.client_id FROM messages m JOIN users u ON u.id = m.user_id "
        "WHERE u.username = 'stockbot' ORDER BY m.seq"
    ).fetchall()


def test_every_kind_of_quote_answer_arrives_in_the_room(server, token, bot, db):
    asker, other = clients_on_two_workers(server, token)
    bot()
    typed = ["/stock=AAPL", "/stock nope", "/stock=junk", "/stock=boom", "/stock slow"]
    for i, content in enumerate(typed):
        notice = ask(asker, content, f"s-{i}")
        assert notice["type"] == "notice" and notice["code"] == "queued", notice
        assert notice["room"] == "general"
    # Retries put the failing ones behind the others: compare as sets. Each names who
    # asked and what for: the room never saw the command.
    expected = {
        "eren asked for AAPL.US: $93.42 per share (2026-11-24 22:00)",
        "eren asked for NOPE.US: the quote service does not know that symbol "
        "(symbols look like AAPL, or VOD.UK).",
        "eren asked for JUNK.US: the quote service sent something that is not a quote; "
        "if this keeps happening, tell whoever runs this chat.",
        "eren asked for BOOM.US: the quote service is having trouble (tried 2 times); "
        "try again in a few minutes.",
        "eren asked for SLOW.US: the quote service did not answer in time (tried 2 times); "
        "try again in a few minutes.",
    }
    for client in (asker, other):  # on both workers, as ordinary chat frames
        chats = bot_chats(client, len(typed))
        assert {chat["content"] for chat in chats} == expected
        assert all(chat["client_id"].startswith("job-") for chat in chats)
    # The commands themselves were never messages.
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == len(typed)


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://nonexistent.invalid/q/l/?s={symbol}", "Name or service not known"),
        ("http://127.0.0.1:{port}/q/l/?s={symbol}", "Connection refused"),
    ],
    ids=["no-dns", "refused"],
)
def test_an_unreachable_quote_service_is_a_sentence_in_the_room_and_details_in_the_log(
    start_bot, db, url, detail
):
    """The real bot process, asked by eren with the service out of reach: the room reads
    who asked, what for and what to do; the errno is in the bot's log, not the room,
    and the symbol and the URL's query are in neither the log nor the room."""
    eren = make_user(db, "eren")
    actions.enqueue_job(db, room_row(db), eren, "stock", "AAPL.US", "s-1")
    bot = start_bot(STOCK_QUOTE_URL=url.replace("{port}", str(free_port())), **BOT_ENV)
    [answer] = wait_until(lambda: stockbot_messages(db), timeout=60, what="the answer")
    assert answer["content"] == (
        "eren asked for AAPL.US: the quote service could not be reached (tried 2 times); "
        "try again in a few minutes."
    )
    log = wait_until(lambda: "failed in #general" in bot.log() and bot.log(), what="the log")
    assert log.count(detail) == 2  # once an attempt
    assert "WARNING" in next(line for line in log.splitlines() if detail in line)
    assert "aapl" not in log.lower() and "?s=" not in log
    job = db.execute("SELECT id, last_error FROM bot_jobs").fetchone()
    assert f"job {job['id']} will be tried again" in log
    assert "?s=aapl.us" in job["last_error"]  # the whole detail, in the job's row


def test_help_me_and_unknown_commands_over_the_socket(server, token, db):
    """No bot is running: none of these need one."""
    sender, other = clients_on_two_workers(server, token)
    help_ = ask(sender, "/help", "h-1")
    assert help_["type"] == "notice" and help_["code"] == "help"
    assert "/stock=SYMBOL" in help_["content"] and "/me" in help_["content"]
    error = ask(sender, "/dance", "d-1")
    assert error["type"] == "error" and error["code"] == "unknown_command"
    error = ask(sender, "/stock=$$$", "d-2")
    assert error["type"] == "error" and error["code"] == "bad_command"
    ack = ask(sender, "/me waves", "m-1")
    assert ack["type"] == "ack" and ack["seq"] == 1
    # The other socket (same user, other worker) saw the action, and none of the rest.
    before, chat = other.until("chat")
    assert chat["kind"] == "action" and chat["content"] == "waves" and chat["username"] == "eren"
    assert not [f for f in before if f["type"] in ("notice", "error")]
    # websocat-style plain text works the same.
    sender.send("/help\n")
    _, notice = sender.until("notice")
    assert notice["code"] == "help" and "client_id" not in notice
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 1


def test_a_bot_killed_mid_job_is_replaced_and_the_job_answered_once(server, token, bot, quotes, db):
    arrived = quotes.hold("aapl.us")
    first = bot()
    client = Client.open(server, "general", token)
    client.until("ready")
    assert ask(client, "/stock=AAPL", "k-1")["type"] == "notice"
    assert arrived.wait(30), "the bot never asked for the quote"
    assert first.kill(signal.SIGKILL) == -signal.SIGKILL  # mid-job: claimed, asking
    quotes.release("aapl.us")  # the dead bot's request ends into a closed socket
    job = db.execute("SELECT id, state, attempts FROM bot_jobs").fetchone()
    assert (job["state"], job["attempts"]) == ("pending", 1)
    # The chat does not notice.
    assert ask(client, "still here", "c-1")["type"] == "ack"

    bot()  # the replacement takes the job once the dead bot's claim runs out
    [answer] = bot_chats(client, 1)
    assert answer["content"] == AAPL
    assert answer["client_id"] == f"job-{job['id']}"
    wait_until(
        lambda: db.execute("SELECT state FROM bot_jobs").fetchone()["state"] == "answered",
        what="the job to be closed",
    )
    assert db.execute("SELECT attempts FROM bot_jobs").fetchone()["attempts"] == 2
    # Once: a message sent after it arrives with no second answer before it.
    seen: list[dict] = []
    last = ask(client, "after the answer", "c-2", seen)
    chats = chats_through(client, seen, last["seq"])
    assert [c["content"] for c in chats] == ["after the answer"]
    assert [m["content"] for m in stockbot_messages(db)] == [answer["content"]]
    assert quotes.requests == ["aapl.us", "aapl.us"]


def test_two_bots_answer_every_job_once(server, database_url, db, bot, quotes):
    bots = [bot(), bot()]
    wait_until(lambda: bots_listening(database_url) == 2, what="both bots to listen")
    api = http()
    jobs = 0
    for n in range(4):  # four people, five requests each (the most one may have waiting)
        api.headers["Authorization"] = f"Bearer {make_token(db, make_user(db, f'user{n}'))}"
        for i in range(5):
            response = api.post(
                f"{server.url}/api/rooms/general/messages",
                json={"content": f"/stock={'AAPL' if i % 2 else 'MSFT'}", "client_id": f"q-{i}"},
                timeout=10,
            )
            assert response.status_code == 202, response.text
            assert response.json()["notice"]["code"] == "queued"
            jobs += 1
    wait_until(lambda: pending_jobs(db) == 0, timeout=60, what="every job to be answered")
    answered = db.execute("SELECT id, state, answer_seq FROM bot_jobs ORDER BY id").fetchall()
    assert len(answered) == jobs and {job["state"] for job in answered} == {"answered"}
    messages = stockbot_messages(db)
    assert sorted(m["client_id"] for m in messages) == sorted(f"job-{j['id']}" for j in answered)
    assert sorted(m["seq"] for m in messages) == sorted(j["answer_seq"] for j in answered)
    assert len(quotes.requests) == jobs  # and each quote was asked for once
    shares = [b.log().count("answered in #general") for b in bots]
    print(f"jobs answered per bot: {shares}")
    assert sum(shares) == jobs


def test_the_chat_works_while_the_bot_is_down_and_answers_come_later(server, token, bot, db):
    client = Client.open(server, "general", token)
    client.until("ready")
    assert ask(client, "/stock=AAPL", "s-1")["code"] == "queued"
    assert ask(client, "/stock=MSFT", "s-2")["code"] == "queued"
    seen: list[dict] = []
    for i in range(3):
        assert ask(client, f"chatting {i}", f"c-{i}", seen)["type"] == "ack"
    chats = chats_through(client, seen, 3)
    assert [c["content"] for c in chats] == [f"chatting {i}" for i in range(3)]
    pending = db.execute("SELECT state, attempts FROM bot_jobs").fetchall()
    assert pending == [{"state": "pending", "attempts": 0}] * 2

    bot()
    chats = bot_chats(client, 2)
    assert [c["content"] for c in chats] == [
        AAPL,
        "eren asked for MSFT.US: $412.50 per share (2026-11-24 22:00)",
    ]


def test_make_run_supervises_gunicorn_and_the_bot(database_url, db, quotes, tmp_path):
    """`make run` is `python -m chat.run`: gunicorn and the bot together; a dead bot
    is restarted without the chat noticing; Ctrl-C (SIGINT to the group) stops all,
    gracefully: open sockets are told 1001 (go elsewhere, resume with `after`)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "STOCK_QUOTE_URL": quotes.template,
        **BOT_ENV,
    }
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    launcher = subprocess.Popen(
        [sys.executable, "-m", "chat.run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        api = http()
        api.headers["Authorization"] = f"Bearer {make_token(db, make_user(db, 'eren'))}"
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(api, base + "/healthz") == 200, timeout=60, what="gunicorn")

        def bot_pid():
            for child in psutil.Process(launcher.pid).children():
                try:
                    if "stock-bot" in child.cmdline():
                        return child.pid
                except psutil.ZombieProcess:
                    continue  # the killed bot, not yet reaped
            return None

        first = wait_until(bot_pid, what="the bot process")
        os.kill(first, signal.SIGKILL)
        url = base + "/api/rooms/general/messages"
        response = api.post(url, json={"content": "/stock=AAPL"}, timeout=10)
        assert response.status_code == 202  # the chat goes on meanwhile
        wait_until(lambda: bot_pid() not in (None, first), timeout=30, what="a new bot")
        wait_until(lambda: stockbot_messages(db), timeout=30, what="the answer")

        token = api.headers["Authorization"].removeprefix("Bearer ")
        sockets = [Client.connect(Endpoint(port), path, token) for path in ("/ws", "/ws/general")]
        sockets[1].until("ready")
        processes = [launcher.pid, *(p.pid for p in psutil.Process(launcher.pid).children())]
        os.killpg(launcher.pid, signal.SIGINT)
        assert [client.close_code() for client in sockets] == [1001, 1001]
        assert launcher.wait(30) == 0
        wait_until(lambda: not any(_alive(pid) for pid in processes), what="every process to end")
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(10)
        log.close()


def _status(api, url: str) -> int | None:
    try:
        return api.get(url, timeout=2).status_code
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

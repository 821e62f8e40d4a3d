"""Slash commands: parsing (table-driven), and what each one does to the real database."""

import psycopg
import pytest

from chat import actions
from chat.bots import stock
from chat.domain.errors import ChatError
from chat.realtime import commands
from chat.storage import bus

from ..conftest import make_user, room_row


@pytest.mark.parametrize(
    ("content", "command"),
    [
        ("hello", commands.Text("hello")),
        ("a /slash later", commands.Text("a /slash later")),
        ("//stock=AAPL", commands.Text("/stock=AAPL")),  # // escapes a leading slash
        ("/ not a command", commands.Text("/ not a command")),
        ("/2 for dinner", commands.Text("/2 for dinner")),
        ("/me waves", commands.Action("waves")),
        ("/ME  waves *happily*\n", commands.Action("waves *happily*")),
        ("/me=waves", commands.Action("waves")),
        ("/help", commands.Help()),
        ("/HELP me please", commands.Help()),
        ("/stock=AAPL", commands.BotRequest(stock.BOT, "AAPL.US")),
        ("/stock AAPL", commands.BotRequest(stock.BOT, "AAPL.US")),
        ("/stock   vod.uk  ", commands.BotRequest(stock.BOT, "VOD.UK")),
        ("/Stock=aapl.us", commands.BotRequest(stock.BOT, "AAPL.US")),
    ],
)
def test_parse(content, command):
    assert commands.parse(content) == command


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ("/shrug", "unknown_command", "unknown command /shrug: /help lists"),
        ("/usr/bin is full", "unknown_command", "unknown command /usr/bin:"),
        ("/stocks AAPL", "unknown_command", "unknown command /stocks:"),
        ("/" + "x" * 100, "unknown_command", "unknown command /" + "x" * 30 + ":"),
        ("/me", "bad_command", "say what you do"),
        ("/me   ", "bad_command", "say what you do"),
        ("/stock", "bad_command", "/stock: say which share"),
        ("/stock=", "bad_command", "/stock: say which share"),
        ("/stock AAPL MSFT", "bad_command", "is not a stock symbol"),
        ("/stock=<script>", "bad_command", "is not a stock symbol"),
    ],
)
def test_parse_refuses(content, code, message):
    with pytest.raises(ChatError) as refused:
        commands.parse(content)
    assert refused.value.code == code
    assert message in refused.value.message


def test_help_lists_every_command():
    text = commands.help_text()
    for usage in ("/me ACTION", "/stock=SYMBOL", "/help", "//"):
        assert usage in text


@pytest.fixture
def sender(db):
    return make_user(db)


def connect_to(db):
    """A `connect` for dispatch that hands out the test's connection."""

    class Borrowed:
        def __enter__(self):
            return db

        def __exit__(self, *exc):
            return False

    return Borrowed


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def test_text_and_actions_are_stored_with_their_kind(db, sender):
    room = room_row(db)
    connect = connect_to(db)
    said = commands.dispatch(commands.parse("hi"), room, sender, "c-1", connect)
    waved = commands.dispatch(commands.parse("/me waves"), room, sender, "c-2", connect)
    assert (said.sent.seq, waved.sent.seq) == (1, 2)
    rows = db.execute("SELECT seq, content, kind FROM messages ORDER BY seq").fetchall()
    assert rows == [
        {"seq": 1, "content": "hi", "kind": "chat"},
        {"seq": 2, "content": "waves", "kind": "action"},
    ]
    assert count(db, "bot_jobs") == 0


def test_help_needs_no_database_and_stores_nothing(db, sender):
    def no_connection():
        raise AssertionError("/help must not take a connection")

    outcome = commands.dispatch(commands.Help(), room_row(db), sender, "c-1", no_connection)
    assert outcome.notice == commands.Notice("help", commands.help_text())
    assert outcome.sent is None
    assert count(db, "messages") == 0


def test_a_bot_request_is_a_job_and_a_notify_not_a_message(db, database_url, sender):
    room = room_row(db)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {bus.JOBS_CHANNEL}")
        outcome = commands.dispatch(
            commands.parse("/stock=aapl"), room, sender, "c-1", connect_to(db)
        )
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert [n.payload for n in notes] == ["stock"]
    assert outcome.notice.code == "queued"
    assert "stockbot" in outcome.notice.content and "AAPL.US" in outcome.notice.content
    assert count(db, "messages") == 0
    job = db.execute("SELECT bot, room_id, requested_by, argument, client_id, state FROM bot_jobs")
    assert job.fetchall() == [
        {
            "bot": "stock",
            "room_id": room.id,
            "requested_by": sender.id,
            "argument": "AAPL.US",
            "client_id": "c-1",
            "state": "pending",
        }
    ]


def test_a_resent_bot_request_is_the_same_job(db, sender):
    room = room_row(db)
    connect = connect_to(db)
    first = commands.dispatch(commands.parse("/stock=AAPL"), room, sender, "c-1", connect)
    again = commands.dispatch(commands.parse("/stock=AAPL"), room, sender, "c-1", connect)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert count(db, "bot_jobs") == 1


def test_too_many_waiting_requests_are_refused(db, sender):
    room = room_row(db)
    connect = connect_to(db)
    for i in range(actions.MAX_PENDING_JOBS):
        commands.dispatch(commands.parse("/stock=AAPL"), room, sender, f"c-{i}", connect)
    with pytest.raises(ChatError) as refused:
        commands.dispatch(commands.parse("/stock=AAPL"), room, sender, "c-x", connect)
    assert refused.value.code == "too_many_requests"
    assert count(db, "bot_jobs") == actions.MAX_PENDING_JOBS
    # Someone else is not held up by it.
    other = make_user(db, "mikasa")
    commands.dispatch(commands.parse("/stock=AAPL"), room, other, "c-1", connect)

"""Mentions match the message's current text, always (issue 14, item 6).

What a mention is: docs/protocol.md "Mentions" and chat/domain/render.py. Every way a
message's text comes to be or changes (a send, the batch writer, a `/me`
action, an edit, a deletion) leaves the message's mention records exactly
equal to the mentions in its current html, restricted to the room's members
other than its author; the rooms list counts them from when they appeared.
"""

from contextlib import contextmanager

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from chat import actions
from chat.domain.entities import User
from chat.domain.render import mentioned, render
from chat.realtime import commands
from chat.realtime.writer import Writer
from chat.storage import migrate, queries

from ..conftest import make_user, room_row
from ..schema import database_at

# (text, the lower-cased names its html mentions, in order). The people of
# the room (fixture `people`): eren (the author), Bob, mikasa, levi; zeke
# exists but is not a member; nobody is called ghost.
MENTIONS = [
    # where a mention may stand
    ("hi @bob", ["bob"]),
    ("@bob at the start", ["bob"]),
    ("first line\n@bob on the second", ["bob"]),
    ("thanks @bob.", ["bob"]),
    ("thanks @bob...", ["bob"]),
    ("@bob, @mikasa: look", ["bob", "mikasa"]),
    ("@bob's idea", ["bob"]),
    ("really @bob?", ["bob"]),
    ("@bob!", ["bob"]),
    ("@bob-", ["bob"]),
    ("@alice,@bob;@levi", ["alice", "bob", "levi"]),
    ("@bob: hi", ["bob"]),
    # opening punctuation right before the @
    ("(@bob)", ["bob"]),
    ("[@bob]", ["bob"]),
    ("{@bob}", ["bob"]),
    ("<@bob>", ["bob"]),
    ('"@bob"', ["bob"]),
    ("'@bob'", ["bob"]),
    ("\u201c@bob\u201d", ["bob"]),  # “@bob”
    ("\u2018@bob\u2019", ["bob"]),  # ‘@bob’
    ("\u00ab@bob\u00bb", ["bob"]),  # «@bob»
    ("\u300c@bob\u300d", ["bob"]),  # 「@bob」
    ("\uff08@bob\uff09", ["bob"]),  # （@bob）
    ("\u00bf@bob?", ["bob"]),  # ¿@bob?
    # separators
    ("thanks,@bob", ["bob"]),
    ("wait;@bob", ["bob"]),
    ("cc:@bob", ["bob"]),
    ("re:@bob", ["bob"]),
    ("to:@bob", ["bob"]),
    ("Cc:@bob", ["bob"]),
    ("fwd:@bob", ["bob"]),
    ("xmailto:@bob", ["bob"]),  # not a scheme: a word that ends in one
    ("hey!@bob", ["bob"]),
    ("what?@bob", ["bob"]),
    ("\u4f60\u597d\uff0c@bob", ["bob"]),  # 你好，@bob
    ("\u3053\u3093\u306b\u3061\u306f\u3001@bob", ["bob"]),  # こんにちは、@bob
    # whitespace of any kind
    ("hi\u00a0@bob", ["bob"]),
    ("hi\u3000@bob", ["bob"]),
    ("hi\t@bob", ["bob"]),
    ("https://x.example/\u2009(@bob)", ["bob"]),  # a thin space ends the URL too
    # emphasis around the mention
    ("**@Bob** and _@mikasa_", ["bob", "mikasa"]),
    ("*@levi*", ["levi"]),
    # case and repeats
    ("@BOB @bob @Bob once", ["bob"]),
    ("@Mikasa", ["mikasa"]),
    # names: who exists and who is a member is for the records, not the html
    ("@zeke is not in the room", ["zeke"]),
    ("@ghost does not exist", ["ghost"]),
    ("@eren mentions himself", ["eren"]),
    ("@b_o.b-2", ["b_o.b-2"]),
    # inside a URL
    ("see https://social.example/@bob/1234", []),
    ("https://x.example/@bob", []),
    ("<https://x.example/@bob>", []),
    ("http://x.example/a,(@bob)", []),
    ("https://x.example/?q=(@bob)", []),
    ("mailto:x?cc=(@bob)", []),
    ("a/@bob", []),
    # inside a word or an address
    ("x@bob", []),
    ("hi@bob", []),
    ("1@bob", []),
    ("\u00e9@bob", []),  # é@bob
    ("mail bob@example.com", []),
    ("mailto:a@bob", []),
    # right after a URI scheme and its colon: the start of a URL
    ("mailto:@bob", []),
    ("MAILTO:@bob", []),
    ("javascript:@bob", []),
    ("data:@bob", []),
    ("tel:@bob", []),
    ("sms:@bob", []),
    ("https:@bob", []),
    ("xmpp:@bob", []),
    ("matrix:@bob", []),
    ("(mailto:@bob)", []),
    ("see mailto:**@bob**", []),
    ("<mailto:a@bob.example>", []),
    ("a_@bob", []),
    ("a**@bob**", []),
    # not a whole username here
    ("@@bob", []),
    ("@bob@mastodon.social", []),
    ("@bob/repo", []),
    ("@types/node", []),
    ("@bob\u00e9", []),  # @bobé
    ("@" + "b" * 33, []),
    ("@", []),
    ("@-bob", []),
    ("@.bob", []),
    # code, link text, escapes, raw HTML
    ("`@bob`", []),
    ("```\n@bob\n```", []),
    ("[@bob](https://x.example)", []),
    ("[ask @bob](https://x.example)", []),
    ("[x](https://x.example) @bob", ["bob"]),
    ("[x](@bob)", ["bob"]),  # not a link (relative): text, with a mention in it
    ("\\@bob", []),
    ('<span class="mention" data-user="bob">', []),
    ("&#64;bob", []),
]
AUTHOR = "eren"
MEMBERS = {"eren", "bob", "mikasa", "levi"}


def recordable(names: list[str]) -> set[str]:
    """The mentions that are recorded: of members, not of the author."""
    return {name for name in names if name in MEMBERS and name != AUTHOR}


@pytest.fixture
def people(db) -> dict:
    """eren (who writes), Bob, mikasa and levi in general; zeke outside it."""
    room = room_row(db)
    found = {}
    for name in ("eren", "Bob", "mikasa", "levi", "zeke"):
        found[name.lower()] = make_user(db, name)
        if name != "zeke":
            actions.join_room(db, room.id, found[name.lower()].id)
    return found


@pytest.fixture
def room(db, people):
    return room_row(db)


def records(db, seq: int) -> set[str]:
    """Whom the message's mention rows name."""
    rows = db.execute(
        "SELECT lower(u.username) AS name FROM mentions n JOIN users u ON u.id = n.user_id"
        " WHERE n.room_id = 1 AND n.seq = %s",
        (seq,),
    )
    return {row["name"] for row in rows}


def mention_count(db, user: User) -> int:
    """The `@` badge of general in the user's rooms list."""
    return next(r for r in queries.member_rooms(db, user.id) if r.name == "general").mentions


def html_of(db, seq: int) -> str:
    return db.execute(
        "SELECT html FROM messages WHERE room_id = 1 AND seq = %s", (seq,)
    ).fetchone()["html"]


# --- what render marks -------------------------------------------------------------


@pytest.mark.parametrize("text, names", MENTIONS)
def test_render_marks_exactly_the_real_mentions(text, names):
    assert mentioned(render(text)) == names


def test_a_mention_inside_a_url_is_not_marked_and_the_url_is_one_link():
    """A bare URL is a link (linkified whole); the @ in it is part of it, not a mention."""
    html = render("see https://social.example/@bob/1234")
    url = "https://social.example/@bob/1234"
    assert html == f'<p>see <a href="{url}" rel="noopener noreferrer">{url}</a></p>'


# --- what is recorded, on every path a text comes to be ---------------------------


def send_single(db, room, user, text):
    return actions.send_message(db, room, user, text, None).seq


def send_batched(db, room, user, text):
    """actions.send_messages, the batch path, with the html Writer.send renders."""
    (sent,) = actions.send_messages(db, [actions.Send(room, user, text, None, render(text))])
    return sent.seq


def send_action(db, room, user, text):
    """`/me <text>` through the command path every send path uses."""
    command = commands.parse(f"/me {text}")

    @contextmanager
    def connect():
        yield db

    return commands.dispatch(command, room, user, None, connect).sent.seq


def send_then_edit(db, room, user, text):
    """A message with no mention, edited into the text."""
    seq = actions.send_message(db, room, user, "nobody yet", None).seq
    actions.edit_message(db, room, user, seq, text)
    return seq


@pytest.mark.parametrize(
    "path", [send_single, send_batched, send_action, send_then_edit], ids=lambda f: f.__name__
)
def test_records_are_the_mentions_of_members_on_every_path(db, room, people, path):
    for text, names in MENTIONS:
        seq = path(db, room, people[AUTHOR], text)
        assert records(db, seq) == recordable(names), text
        assert records(db, seq) == recordable(mentioned(html_of(db, seq))), text


def test_the_batch_writer_records_mentions_of_each_message_of_a_batch(pool_writer, room, people):
    writer, db = pool_writer
    sent = [writer.send(room, people[AUTHOR], text, None) for text, _ in MENTIONS[:5]]
    for (text, names), result in zip(MENTIONS[:5], sent, strict=True):
        assert records(db, result.seq) == recordable(names), text


@pytest.fixture
def pool_writer(database_url, db):
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    with ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=2
    ) as pool:
        yield Writer(pool), db


# --- edits and deletions ----------------------------------------------------------


def test_an_edit_adds_removes_and_changes_mentions(db, room, people):
    eren = people["eren"]
    seq = actions.send_message(db, room, eren, "hi @bob and @mikasa", None).seq
    assert records(db, seq) == {"bob", "mikasa"}

    actions.edit_message(db, room, eren, seq, "hi @bob and @levi")  # mikasa out, levi in
    assert records(db, seq) == {"bob", "levi"}
    actions.edit_message(db, room, eren, seq, "hi https://x.example/@bob (@Mikasa)")
    assert records(db, seq) == {"mikasa"}
    actions.edit_message(db, room, eren, seq, "hi `@mikasa` @zeke @eren")  # none recordable
    assert records(db, seq) == set()
    actions.edit_message(db, room, eren, seq, "@levi")
    assert records(db, seq) == {"levi"}


def test_a_deleted_message_mentions_no_one(db, room, people):
    eren, bob = people["eren"], people["bob"]
    seq = actions.send_message(db, room, eren, "@bob @mikasa", None).seq
    assert mention_count(db, bob) == 1
    actions.delete_message(db, room, eren, seq)
    assert records(db, seq) == set()
    assert mention_count(db, bob) == 0
    # An edit's text is emptied with the message; nothing is recorded for it.
    assert db.execute("SELECT count(*) AS n FROM mentions").fetchone()["n"] == 0


def test_a_mention_added_by_an_edit_counts_until_read_past_the_edit(db, room, people):
    eren, bob, mikasa = people["eren"], people["bob"], people["mikasa"]
    seq = actions.send_message(db, room, eren, "hello @bob", None).seq
    actions.mark_read(db, room.id, bob.id, seq)
    actions.mark_read(db, room.id, mikasa.id, seq)
    assert (mention_count(db, bob), mention_count(db, mikasa)) == (0, 0)

    edit = actions.edit_message(db, room, eren, seq, "hello @bob and @mikasa").seq
    # mikasa had read the message, but not the edit that names her: new to her.
    # bob's mention is the same one he already read: not new again.
    assert (mention_count(db, bob), mention_count(db, mikasa)) == (0, 1)
    actions.mark_read(db, room.id, mikasa.id, edit)
    assert mention_count(db, mikasa) == 0

    # Taken out and put back by later edits: new again from the edit that
    # put it back.
    actions.edit_message(db, room, eren, seq, "hello @bob")
    put_back = actions.edit_message(db, room, eren, seq, "hello @bob, @mikasa").seq
    assert mention_count(db, mikasa) == 1
    actions.mark_read(db, room.id, mikasa.id, put_back)
    assert mention_count(db, mikasa) == 0


def test_a_mention_removed_by_an_edit_no_longer_counts(db, room, people):
    eren, bob = people["eren"], people["bob"]
    seq = actions.send_message(db, room, eren, "hello @bob", None).seq
    assert mention_count(db, bob) == 1
    actions.edit_message(db, room, eren, seq, "hello https://x.example/@bob")
    assert mention_count(db, bob) == 0


def test_an_edit_follows_membership_and_disabled_accounts_as_a_send_does(db, room, people):
    """Only members are recorded: someone who joined since the send is recorded
    by an edit naming them; someone outside the room never."""
    eren, zeke = people["eren"], people["zeke"]
    seq = actions.send_message(db, room, eren, "@zeke @bob", None).seq
    assert records(db, seq) == {"bob"}
    actions.join_room(db, room.id, zeke.id)
    actions.edit_message(db, room, eren, seq, "@zeke @bob, again")
    assert records(db, seq) == {"bob", "zeke"}


# --- the property: records == mentions of the current text -------------------------

# Pieces that meet at the rule's edges: names, URLs, code, links, punctuation.
_PIECES = st.sampled_from(
    [
        "@bob", "@Bob", "@mikasa", "@levi.", "@zeke", "@eren", "@ghost", "@", "@@",
        "https://x.example/", "mailto:", "a", "é", "1", "_", "*", "**", "`", "```\n",
        "[", "](https://y.example)", "<", ">", "(", ")", '"', "\u201c", ",", ":", ";",
        "/", ".", "-", " ", "\n", "\\",
    ]
)  # fmt: skip
_TEXTS = st.lists(
    _PIECES | st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=3),
    min_size=1,
    max_size=12,
).map("".join)


@settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(_TEXTS, min_size=1, max_size=4), batched=st.booleans(), deleted=st.booleans())
def test_records_always_equal_the_mentions_of_the_current_text(
    db, room, people, texts, batched, deleted
):
    """Whatever the text and however many edits: the message's records are
    mentioned(render(current text)) among the room's members, less its author;
    and none once it is deleted (its current text is then empty)."""
    eren = people[AUTHOR]
    first, *edits = texts
    seq = (send_batched if batched else send_single)(db, room, eren, first)
    assert records(db, seq) == recordable(mentioned(render(first)))
    for text in edits:
        actions.edit_message(db, room, eren, seq, text)
        assert records(db, seq) == recordable(mentioned(render(text)))
        assert html_of(db, seq) == render(text)
    if deleted:
        actions.delete_message(db, room, eren, seq)
        assert records(db, seq) == set() == recordable(mentioned(html_of(db, seq)))


# --- migration 0010: the records of rows stored before --------------------------


@pytest.fixture
def at_0008(pg_server):
    with database_at(pg_server, "0008_reaction_identity") as conninfo:
        yield conninfo


def test_0010_makes_old_records_match_the_stored_html(at_0008):
    """Before, edits left the records of the text as sent and deletions kept them.
    The html is left as rendered then; the records come to match it."""
    span = '<span class="mention" data-user="{}">@{}</span>'
    with psycopg.connect(at_0008, autocommit=True, row_factory=dict_row) as conn:
        ids = {}
        for name in ("eren", "Bob", "mikasa", "levi", "zeke"):
            ids[name.lower()] = conn.execute(
                "INSERT INTO users (username, password_hash) VALUES (%s, 'x') RETURNING id",
                (name,),
            ).fetchone()["id"]
            if name != "zeke":
                conn.execute(
                    "INSERT INTO room_members (room_id, user_id) VALUES (1, %s)",
                    (ids[name.lower()],),
                )
        # fmt: off
        rows = [
            # seq, html, edited, deleted, records before
            (1, f"<p>{span.format('bob', 'Bob')}</p>", False, False, {"bob"}),
            (2, f"<p>{span.format('levi', 'levi')} {span.format('zeke', 'zeke')}</p>", True, False, {"mikasa"}),  # noqa: E501
            (3, "", False, True, {"bob"}),
            (4, f"<p>https://x/{span.format('mikasa', 'mikasa')}</p>", False, False, {"mikasa"}),
        ]
        # fmt: on
        for seq, html, edited, deleted, before in rows:
            conn.execute(
                "INSERT INTO messages (room_id, seq, user_id, content, html, kind, edited_at,"
                " deleted_at) VALUES (1, %s, %s, 'x', %s, 'chat', %s, %s)",
                (seq, ids["eren"], html, "2026-01-01" if edited else None,
                 "2026-01-01" if deleted else None),
            )  # fmt: skip
            for name in before:
                conn.execute(
                    "INSERT INTO mentions (user_id, room_id, seq) VALUES (%s, 1, %s)",
                    (ids[name], seq),
                )
        conn.execute("UPDATE rooms SET last_seq = 4 WHERE id = 1")

    assert "0010_mention_since" in migrate.migrate(at_0008)  # (after 0009, if there is one)

    with psycopg.connect(at_0008, autocommit=True, row_factory=dict_row) as conn:
        found = conn.execute(
            "SELECT n.seq, lower(u.username) AS name, n.since_seq FROM mentions n"
            " JOIN users u ON u.id = n.user_id ORDER BY n.seq, name"
        ).fetchall()
    assert [(r["seq"], r["name"], r["since_seq"]) for r in found] == [
        (1, "bob", 1),
        (2, "levi", 2),  # the edited html names levi (and zeke, who is not a member)
        # 3: deleted, no records
        (4, "mikasa", 4),  # the old html still marks it: left as it was rendered
    ]

"""Reaction identity (issue 14, item 7): visually identical reactions are one reaction.

Every path that toggles a reaction (the socket's react frame, the JSON API,
the action itself) stores chat.reactions.canonical(emoji); migration 0008
brings the rows stored before to the same form.
"""

import codecs
import re
import unicodedata

import emoji as emoji_data
import orjson
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from chat import actions, client, migrate, protocol, queries
from chat.reactions import FULLY_QUALIFIED, canonical

from .conftest import ROOT, make_token, make_user, room_row
from .schema import database_at

VS15, VS16, ZWJ = "\ufe0e", "\ufe0f", "\u200d"
RAINBOW = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
PIRATE = "\U0001f3f4\u200d\u2620\ufe0f"  # 🏴‍☠️
HEART_ON_FIRE = "\u2764\ufe0f\u200d\U0001f525"  # ❤️‍🔥

# (one form, another that looks the same, the form both are stored as)
SAME = [
    ("\u2764", "\u2764\ufe0f", "\u2764\ufe0f"),  # ❤ / ❤️
    ("\u2764\ufe0e", "\u2764\ufe0f", "\u2764\ufe0f"),  # ❤︎ (text selector) / ❤️
    ("\u263a", "\u263a\ufe0f", "\u263a\ufe0f"),  # ☺ / ☺️
    ("\u2714", "\u2714\ufe0f", "\u2714\ufe0f"),  # ✔ / ✔️
    ("\u00a9", "\u00a9\ufe0f", "\u00a9\ufe0f"),  # © / ©️
    ("1\u20e3", "1\ufe0f\u20e3", "1\ufe0f\u20e3"),  # 1⃣ / 1️⃣ (keycaps)
    ("#\u20e3", "#\ufe0f\u20e3", "#\ufe0f\u20e3"),  # #⃣ / #️⃣
    ("\U0001f44d\ufe0f", "\U0001f44d", "\U0001f44d"),  # 👍 with a needless selector / 👍
    (RAINBOW.replace(VS16, ""), RAINBOW, RAINBOW),  # 🏳‍🌈 / 🏳️‍🌈 (flags)
    (PIRATE.replace(VS16, ""), PIRATE, PIRATE),  # 🏴‍☠ / 🏴‍☠️
    (HEART_ON_FIRE.replace(VS16, ""), HEART_ON_FIRE, HEART_ON_FIRE),  # ❤‍🔥 / ❤️‍🔥
    ("e\u0301", "\u00e9", "\u00e9"),  # a custom letter reaction, NFD / NFC
    (":cafe\u0301:", ":caf\u00e9:", ":caf\u00e9:"),  # custom, NFD / NFC
    ("\u212b", "\u00c5", "\u00c5"),  # Å ANGSTROM SIGN / Å
    (":party_parrot:\ufe0e", ":party_parrot:", ":party_parrot:"),  # unknown: U+FE0E goes
]  # fmt: skip
# Pairs that look different and stay two reactions.
DIFFERENT = [
    ("\U0001f44d", "\U0001f44d\U0001f3fd"),  # 👍 / 👍🏽 (a skin tone is its own emoji)
    ("\U0001f1ef\U0001f1f5", "\U0001f1ef\U0001f1f2"),  # 🇯🇵 / 🇯🇲
    ("1\ufe0f\u20e3", "1"),  # 1️⃣ / 1
    ("\u2764\ufe0f", "\U0001f9e1"),  # ❤️ / 🧡
    (":party_parrot:", ":Party_parrot:"),
    ("\u00e9", "e"),
]


def _ids(pairs):
    return [" ".join(f"U+{ord(c):04X}" for c in pair[0]) for pair in pairs]


@pytest.fixture
def people(db):
    return make_user(db, "eren"), make_user(db, "mikasa")


@pytest.fixture
def target(db, people) -> int:
    return actions.send_message(db, room_row(db), people[1], "react to me", None).seq


def reactions_of(db, seq: int) -> dict | None:
    rows = queries.messages_between(db, 1, seq - 1, seq + 1, 1)
    return rows[0]["reactions"]


def event_frames(db, after: int) -> list[dict]:
    room = room_row(db)
    return [
        protocol.row_message(room["name"], r)
        for r in queries.messages_between(db, room["id"], after, 2**62, 200)
    ]


# --- the form -----------------------------------------------------------------------


@pytest.mark.parametrize("one, other, stored", SAME, ids=_ids(SAME))
def test_visually_identical_forms_have_one_canonical_form(one, other, stored):
    assert canonical(one) == canonical(other) == stored
    assert protocol.validate_emoji(one) == protocol.validate_emoji(other) == stored


@pytest.mark.parametrize("one, other", DIFFERENT, ids=_ids(DIFFERENT))
def test_different_reactions_stay_different(one, other):
    assert canonical(one) != canonical(other)


@pytest.mark.parametrize("value", ["\ufe0e", "\ufe0e" * 5, "\u0958" * 32])
def test_a_text_whose_canonical_form_breaks_the_limits_is_refused(value):
    """U+FE0E alone is nothing; NFC lengthens U+0958 (composition exclusion)."""
    with pytest.raises(protocol.FrameError) as refusal:
        protocol.validate_emoji(value)
    assert refusal.value.code == "bad_frame"


# Emoji-shaped texts: qualifications and parts of real emoji, selectors,
# joiners, combining marks, letters, and anything else.
_EMOJI = sorted(emoji_data.EMOJI_DATA)
_PARTS = st.sampled_from(_EMOJI) | st.sampled_from(
    [VS15, VS16, ZWJ, "\u20e3", "\u0301", "\u0308", "e", "A", "1", "#", ":", "\u212b"]
)
_TEXTS = st.lists(_PARTS, min_size=1, max_size=4).map("".join) | st.text(max_size=12)


@settings(derandomize=True, max_examples=500, deadline=None)
@given(text=_TEXTS)
def test_canonical_is_idempotent_and_validate_emoji_answers_a_fixed_point(text):
    once = canonical(text)
    assert canonical(once) == once
    try:
        valid = protocol.validate_emoji(text)
    except protocol.FrameError:
        return
    assert protocol.validate_emoji(valid) == valid
    assert canonical(valid) == valid
    assert 1 <= len(valid) <= protocol.EMOJI_MAX


def test_every_form_of_every_known_emoji_is_its_fully_qualified_form():
    """All of the library's qualifications, and with a stray text selector."""
    for text, data in emoji_data.EMOJI_DATA.items():
        if data["status"] == emoji_data.STATUS["component"]:
            continue
        expected = FULLY_QUALIFIED[text.replace(VS16, "")]
        assert canonical(text) == expected, text
        assert canonical(text + VS15) == expected, text
        assert emoji_data.EMOJI_DATA[expected]["status"] == emoji_data.STATUS["fully_qualified"]


# --- toggling, on every path --------------------------------------------------------


def toggle_by_socket(db, room, user, seq, emoji):
    """What the socket does with a react frame: parse, then client.write_event."""
    frame = protocol.parse(
        orjson.dumps({"type": "react", "room": room["name"], "seq": seq, "emoji": emoji}).decode(),
        4000,
        plain_text=False,
    )
    return client.write_event(db, room, user, frame).on


def toggle_by_action(db, room, user, seq, emoji):
    return actions.toggle_reaction(db, room, user, seq, emoji).on


@pytest.mark.parametrize("one, other, stored", SAME, ids=_ids(SAME))
@pytest.mark.parametrize("toggle", [toggle_by_socket, toggle_by_action], ids=lambda f: f.__name__)
def test_the_second_form_toggles_the_first_off(db, people, target, toggle, one, other, stored):
    room, eren = room_row(db), people[0]
    assert toggle(db, room, eren, target, one) is True
    assert reactions_of(db, target) == {stored: ["eren"]}
    assert toggle(db, room, eren, target, other) is False  # the same reaction: off
    assert reactions_of(db, target) is None
    frames = event_frames(db, target)
    assert [(f["emoji"], f["on"]) for f in frames] == [(stored, True), (stored, False)]


@pytest.mark.parametrize("one, other", DIFFERENT, ids=_ids(DIFFERENT))
def test_different_forms_are_two_reactions(db, people, target, one, other):
    room, eren = room_row(db), people[0]
    assert toggle_by_socket(db, room, eren, target, one) is True
    assert toggle_by_socket(db, room, eren, target, other) is True
    assert len(reactions_of(db, target)) == 2


@pytest.mark.parametrize("one, other, stored", SAME, ids=_ids(SAME))
def test_the_api_toggles_one_reaction_for_both_forms(
    client, db, people, target, one, other, stored
):
    headers = {"Authorization": f"Bearer {make_token(db, people[0])}"}
    url = f"/api/rooms/general/messages/{target}/reactions"
    first = client.post(url, json={"emoji": one}, headers=headers)
    assert first.status_code == 200 and first.json["on"] is True
    page = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    assert [m for m in page if m["seq"] == target][0]["reactions"] == {stored: ["eren"]}

    second = client.post(url, json={"emoji": other}, headers=headers)
    assert second.status_code == 200 and second.json["on"] is False
    page = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    assert "reactions" not in [m for m in page if m["seq"] == target][0]
    events = [m for m in page if m.get("type") == "reaction"]
    assert [(e["emoji"], e["on"]) for e in events] == [(stored, True), (stored, False)]


def test_the_frame_announced_live_carries_the_canonical_form(database_url, db, people, target):
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {actions.CHANNEL}")
        toggle_by_socket(db, room_row(db), people[0], target, "\u2764")
        notify = next(listener.notifies(timeout=5, stop_after=1))
    frame = orjson.loads(notify.payload.split(" ", 3)[3])
    assert (frame["type"], frame["emoji"], frame["on"]) == ("reaction", "\u2764\ufe0f", True)


# --- migration 0008 -----------------------------------------------------------------

MIGRATION = migrate.MIGRATIONS_DIR / "0008_reaction_identity.sql"
_ROW = re.compile(r"^    \(E'((?:[^'\\]|\\.)*)', (?:E'((?:[^'\\]|\\.)*)'|NULL)\)[,;]", re.M)


def _unescape(literal: str) -> str:
    return codecs.decode(literal, "unicode_escape")


def test_the_migrations_mapping_is_what_canonical_answers():
    """The VALUES list that bench/emoji_identity_sql.py wrote agrees with the library."""
    pairs = [
        (_unescape(b), _unescape(c) if c else None) for b, c in _ROW.findall(MIGRATION.read_text())
    ]
    assert len(pairs) == len(FULLY_QUALIFIED)
    for bare, fully_qualified in pairs:
        assert canonical(bare) == (fully_qualified or bare), bare


@pytest.fixture
def at_0007(pg_server):
    with database_at(pg_server, "0007_search") as conninfo:
        yield conninfo


def _seed_0007(conn) -> dict:
    """Two people and a message in general, as the schema was at 0007."""
    ids = {}
    for name in ("eren", "mikasa"):
        ids[name] = conn.execute(
            "INSERT INTO users (username, password_hash) VALUES (%s, 'x') RETURNING id", (name,)
        ).fetchone()["id"]
    conn.execute("UPDATE rooms SET last_seq = 1 WHERE id = 1")
    conn.execute(
        "INSERT INTO messages (room_id, seq, user_id, content, kind)"
        " VALUES (1, 1, %s, 'hi', 'chat')",
        (ids["mikasa"],),
    )
    return ids


def _event(conn, user_id: int, kind: str, content: str) -> int:
    seq = conn.execute(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
    ).fetchone()["last_seq"]
    conn.execute(
        "INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq)"
        " VALUES (1, %s, %s, %s, %s, 1)",
        (seq, user_id, content, kind),
    )
    return seq


def _react(conn, user_id: int, emoji: str, at: str) -> None:
    conn.execute(
        "INSERT INTO reactions (room_id, seq, user_id, emoji, created_at)"
        " VALUES (1, 1, %s, %s, %s)",
        (user_id, emoji, at),
    )


def test_0008_brings_stored_reactions_to_their_canonical_form(at_0007):
    heart, heart_fq = "\u2764", "\u2764\ufe0f"
    with psycopg.connect(at_0007, autocommit=True, row_factory=dict_row) as conn:
        ids = _seed_0007(conn)
        eren, mikasa = ids["eren"], ids["mikasa"]
        # eren holds both hearts (the bare one first) and two forms of a custom one
        _react(conn, eren, heart_fq, "2026-01-01 10:00:02+00")
        _react(conn, eren, heart, "2026-01-01 10:00:01+00")
        _react(conn, eren, ":cafe\u0301:", "2026-01-01 10:00:03+00")
        _react(conn, eren, ":caf\u00e9:", "2026-01-01 10:00:04+00")
        # mikasa: one bare keycap, a thumbs up and one with a skin tone (two
        # reactions), an unknown text with a text selector, and U+FE0E alone
        # (allowed before; its canonical form would be empty: left as it is)
        _react(conn, mikasa, "1\u20e3", "2026-01-01 10:00:05+00")
        _react(conn, mikasa, "\U0001f44d", "2026-01-01 10:00:06+00")
        _react(conn, mikasa, "\U0001f44d\U0001f3fd", "2026-01-01 10:00:07+00")
        _react(conn, mikasa, ":parrot:\ufe0e", "2026-01-01 10:00:08+00")
        _react(conn, mikasa, "\ufe0e", "2026-01-01 10:00:09+00")
        events = {
            form: _event(conn, eren, "reaction_add", form)
            for form in (heart_fq, heart, ":cafe\u0301:", "1\u20e3", "\ufe0e", "\U0001f44d")
        }
        removed = _event(conn, mikasa, "reaction_remove", "\u263a")
        edit = _event(conn, eren, "edit", "\u2764 stays as typed")

    assert migrate.migrate(at_0007)[0] == "0008_reaction_identity"

    with psycopg.connect(at_0007, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT user_id, emoji, created_at FROM reactions ORDER BY user_id, created_at"
        ).fetchall()
        held = {(r["user_id"], r["emoji"]) for r in rows}
        assert held == {
            (eren, heart_fq),
            (eren, ":caf\u00e9:"),
            (mikasa, "1\ufe0f\u20e3"),
            (mikasa, "\U0001f44d"),
            (mikasa, "\U0001f44d\U0001f3fd"),
            (mikasa, ":parrot:"),
            (mikasa, "\ufe0e"),
        }
        kept = {(r["user_id"], r["emoji"]): r["created_at"].second for r in rows}
        assert kept[(eren, heart_fq)] == 1  # the earliest of eren's two hearts
        assert kept[(eren, ":caf\u00e9:")] == 3

        content = {
            r["seq"]: r["content"]
            for r in conn.execute("SELECT seq, content FROM messages WHERE seq > 1")
        }
        assert [content[events[f]] for f in events] == [
            heart_fq, heart_fq, ":caf\u00e9:", "1\ufe0f\u20e3", "\ufe0e", "\U0001f44d"
        ]  # fmt: skip
        assert content[removed] == "\u263a\ufe0f"
        assert content[edit] == "\u2764 stays as typed"  # only reaction events change


def test_0008_agrees_with_canonical_on_every_known_form(at_0007):
    """Every emoji of the library in every qualification, with stray selectors and
    in NFD, as reaction events: after 0008 each reads as canonical() says."""
    forms = sorted(
        {
            form
            for text in emoji_data.EMOJI_DATA
            for form in (text, text + VS15, text.replace(VS16, VS15), text + VS16)
        }
        | {unicodedata.normalize("NFD", t) for t in (":caf\u00e9:", "\u00c5", "\u1e9b\u0323")}
        | {"\u212b", ":x:\ufe0f", "e\ufe0e\u0301"}
    )
    forms = [f for f in forms if len(f) <= protocol.EMOJI_MAX]
    with psycopg.connect(at_0007, autocommit=True, row_factory=dict_row) as conn:
        ids = _seed_0007(conn)
        conn.execute(
            "INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq)"
            " SELECT 1, 1 + n, %s, form, 'reaction_add', 1"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS f(form, n)",
            (ids["eren"], forms),
        )
        conn.execute("UPDATE rooms SET last_seq = %s WHERE id = 1", (1 + len(forms),))
    migrate.migrate(at_0007)
    with psycopg.connect(at_0007, autocommit=True, row_factory=dict_row) as conn:
        stored = conn.execute("SELECT seq, content FROM messages WHERE seq > 1 ORDER BY seq")
        got = [row["content"] for row in stored]
    wrong = [(f, g) for f, g in zip(forms, got, strict=True) if g != canonical(f)]
    assert wrong == []


def test_the_pages_palette_offers_canonical_forms():
    """The browser sends a palette button's emoji as is: it must be the stored form,
    or its chip (keyed by the frames' canonical emoji) would not match it."""
    script = (ROOT / "static" / "message_events.js").read_text()
    palette = re.search(r"export const PALETTE = \[(.*?)\];", script).group(1)
    offered = re.findall(r'"([^"]+)"', palette)
    assert offered and all(canonical(e) == e for e in offered), offered

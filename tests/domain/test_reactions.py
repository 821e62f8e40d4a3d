"""Reaction identity (issue 14, item 7): visually identical reactions are one reaction.

Every path that toggles a reaction (the socket's react frame, the JSON API,
the action itself) stores chat.domain.reactions.canonical(emoji); migrations 0008
(presentation selectors) and 0011 (invisible characters) bring the rows
stored before to the same form.
"""

import codecs
import random
import re
import shutil
import sys
import tempfile
import unicodedata
from pathlib import Path

import emoji as emoji_data
import orjson
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.rows import dict_row

from chat import actions
from chat.domain import validate
from chat.domain.errors import ChatError
from chat.domain.reactions import FULLY_QUALIFIED, canonical, known_at
from chat.domain.text import is_blank, is_invisible
from chat.protocol import inbound, outbound
from chat.realtime import client
from chat.storage import bus, migrate, queries

from ..conftest import ROOT, make_token, make_user, room_row
from ..schema import database_at

VS15, VS16, ZWJ = "\ufe0e", "\ufe0f", "\u200d"
RAINBOW = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈
PIRATE = "\U0001f3f4\u200d\u2620\ufe0f"  # 🏴‍☠️
HEART_ON_FIRE = "\u2764\ufe0f\u200d\U0001f525"  # ❤️‍🔥
THUMB = "\U0001f44d"  # 👍
US = "\U0001f1fa\U0001f1f8"  # 🇺🇸: two regional indicators
# 🏴󠁧󠁢󠁥󠁮󠁧󠁿: a black flag, the tags g b e n g, a cancel tag
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
TECHNOLOGIST = "\U0001f468\u200d\U0001f4bb"  # 👨‍💻

# Characters that show nothing (chat.domain.text.is_invisible), of every kind QA met:
# joiners, zero-width spaces, format characters, fillers, the combining
# grapheme joiner, variation selectors (VS1, VS15, VS16, VS17), a tag.
INVISIBLES = [
    "\u200d", "\u200b", "\u2060", "\u00ad", "\ufeff", "\u2063", "\u17b4", "\u180e",
    "\u3164", "\u115f", "\uffa0", "\u034f", "\ufe00", VS15, VS16, "\U000e0100",
    "\U000e0061", "\U000e0001", "\u2800", "\U0001d173",
]  # fmt: skip
# Reactions that show something, with their joiners, tags and selectors.
SHOWN = [
    THUMB, "\u2764\ufe0f", US, TECHNOLOGIST, RAINBOW, ENGLAND, "1\ufe0f\u20e3",
    "\U0001f44d\U0001f3fd", ":party_parrot:", "\u00e9", "\u2122\ufe0f", "ok\u2764\ufe0f",
]  # fmt: skip

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
    (":party_parrot:\ufe0f", ":party_parrot:", ":party_parrot:"),  # a U+FE0F of no emoji goes
    # invisible characters outside the emoji the library knows
    (THUMB + "\u200b", THUMB, THUMB),  # 👍 ZWSP / 👍
    ("\u200b" + THUMB, THUMB, THUMB),
    (THUMB + "\u200d", THUMB, THUMB),  # a joiner that joins nothing
    (THUMB + "\u2060", "\ufeff" + THUMB, THUMB),  # word joiner, BOM
    (THUMB + "\u00ad", THUMB + "\u2063", THUMB),  # soft hyphen, invisible separator
    (THUMB + "\u17b4", THUMB + "\u180e", THUMB),  # Khmer inherent vowel, Mongolian separator
    (THUMB + "\u3164", THUMB + "\u034f", THUMB),  # Hangul filler, combining grapheme joiner
    (THUMB + "\ufe00", THUMB + "\U000e0100", THUMB),  # VS1, VS17
    (THUMB + "\U000e0061", THUMB, THUMB),  # a tag character after no flag
    ("\U0001f1fa\u200b\U0001f1f8", US, US),  # 🇺 ZWSP 🇸 / 🇺🇸
    (TECHNOLOGIST + "\u200b", "\u2060" + TECHNOLOGIST, TECHNOLOGIST),
    (ENGLAND + "\u200d", ENGLAND, ENGLAND),
    ("1\u200b\ufe0f\u20e3", "1\u20e3", "1\ufe0f\u20e3"),  # the keycap read again
    ("ok\u200b!", "ok!", "ok!"),
    ("e\u034f\u0301", "\u00e9", "\u00e9"),  # NFC once the joiner is out
    ("ok\u2764", "ok\u2764\ufe0f", "ok\u2764\ufe0f"),  # a known emoji inside a text
]  # fmt: skip
# Pairs that look different and stay two reactions.
DIFFERENT = [
    ("\U0001f44d", "\U0001f44d\U0001f3fd"),  # 👍 / 👍🏽 (a skin tone is its own emoji)
    ("\U0001f1ef\U0001f1f5", "\U0001f1ef\U0001f1f2"),  # 🇯🇵 / 🇯🇲
    ("1\ufe0f\u20e3", "1"),  # 1️⃣ / 1
    ("\u2764\ufe0f", "\U0001f9e1"),  # ❤️ / 🧡
    (":party_parrot:", ":Party_parrot:"),
    ("\u00e9", "e"),
    # joiners, tags and selectors inside a known sequence are part of it
    (TECHNOLOGIST, "\U0001f468\U0001f4bb"),  # 👨‍💻 / 👨💻
    (TECHNOLOGIST, "\U0001f468\u200b\u200d\U0001f4bb"),  # a ZWSP breaks the sequence
    (RAINBOW, "\U0001f3f3\ufe0f\U0001f308"),  # 🏳️‍🌈 / 🏳️🌈
    (ENGLAND, "\U0001f3f4"),  # 🏴󠁧󠁢󠁥󠁮󠁧󠁿 / 🏴
    ("\U0001f44d\U0001f3fb", "\U0001f44d\U0001f3ff"),  # skin tones stay distinct
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
    return rows[0].reactions


def event_frames(db, after: int) -> list[dict]:
    room = room_row(db)
    return [
        outbound.row_message(room.name, r)
        for r in queries.messages_between(db, room.id, after, 2**62, 200)
    ]


# --- the form -----------------------------------------------------------------------


@pytest.mark.parametrize("one, other, stored", SAME, ids=_ids(SAME))
def test_visually_identical_forms_have_one_canonical_form(one, other, stored):
    assert canonical(one) == canonical(other) == stored
    assert validate.validate_emoji(one) == validate.validate_emoji(other) == stored


@pytest.mark.parametrize("one, other", DIFFERENT, ids=_ids(DIFFERENT))
def test_different_reactions_stay_different(one, other):
    assert canonical(one) != canonical(other)


@pytest.mark.parametrize("shown", SHOWN, ids=_ids([[e] for e in SHOWN]))
@pytest.mark.parametrize("invisible", INVISIBLES, ids=_ids([[c] for c in INVISIBLES]))
def test_an_invisible_character_at_either_end_makes_no_other_reaction(shown, invisible):
    """A joiner, a selector, a tag... before or after a reaction is the same reaction;
    the joiners, tags and selectors inside 👨‍💻, 🏴󠁧󠁢󠁥󠁮󠁧󠁿 or 1️⃣ stay."""
    stored = canonical(shown)
    assert stored == shown
    for text in (shown + invisible, invisible + shown, invisible + shown + invisible):
        assert canonical(text) == stored
        assert validate.validate_emoji(text) == stored


@pytest.mark.parametrize(
    "value",
    [*INVISIBLES, "", VS15 * 5, VS16 * 3, ZWJ * 2, "\u200b\u200d\ufe0f", "\U000e0067\U000e007f"],
    ids=lambda v: " ".join(f"U+{ord(c):04X}" for c in v) or "empty",
)
def test_a_reaction_that_shows_nothing_is_refused(value):
    assert canonical(value) == ""
    with pytest.raises(ChatError) as refusal:
        validate.validate_emoji(value)
    assert (refusal.value.code, refusal.value.message) == (
        "bad_frame",
        "a reaction must show something",
    )


# Every invisible character, and the parts reactions are made of: known emoji
# in every qualification, regional indicators, skin tones, keycap parts,
# letters and combining marks.
_EMOJI = sorted(emoji_data.EMOJI_DATA)
_ALL_INVISIBLE = [
    chr(c)
    for c in range(1, sys.maxunicode + 1)
    if not 0xD800 <= c <= 0xDFFF and is_invisible(chr(c))
]
_INVISIBLE = st.sampled_from(INVISIBLES) | st.sampled_from(_ALL_INVISIBLE)
_PIECES = st.sampled_from(_EMOJI) | st.sampled_from(
    ["\U0001f1fa", "\U0001f1f8", "\U0001f3fd", "\u20e3", "\u0301", "\u0308", "e", "A", "1",
     "#", ":", "\u212b", "\u1100", "\u1161", "\U0001f3f4"]
)  # fmt: skip
_PARTS = _PIECES | _INVISIBLE
_TEXTS = st.lists(_PARTS, min_size=1, max_size=6).map("".join) | st.text(max_size=12)


def _outside_known_emoji(text: str) -> str:
    """What of `text` is not in the known emoji canonical reads in it."""
    rest, pos = [], 0
    while pos < len(text):
        end, found = known_at(text, pos)
        if found is None:
            rest.append(text[pos])
            end = pos + 1
        pos = end
    return "".join(rest)


@given(text=_TEXTS)
def test_a_canonical_form_holds_no_invisible_character_outside_a_known_emoji(text):
    """So two texts that differ in invisible characters alone are one reaction,
    and a canonical form is empty or shows something."""
    stored = canonical(text)
    assert not any(is_invisible(c) for c in _outside_known_emoji(stored))
    assert stored == "" or not is_blank(stored)


@given(
    parts=st.lists(_PIECES, min_size=1, max_size=5),
    between=st.lists(_INVISIBLE.filter(lambda c: c != ZWJ), min_size=6, max_size=6),
)
def test_invisible_characters_between_the_parts_of_a_reaction_make_no_other_reaction(
    parts, between
):
    """One invisible character between any two parts (not a joiner: 👨 ZWJ 💻
    is 👨‍💻) reads as nothing there: 🇺 U+200B 🇸 is 🇺🇸, 👍 U+2060 🏽 is 👍🏽."""
    spaced = "".join(part + invisible for part, invisible in zip(parts, between, strict=False))
    assert canonical(between[-1] + spaced) == canonical("".join(parts))


@given(text=_TEXTS)
def test_canonical_is_idempotent_and_validate_emoji_answers_a_fixed_point(text):
    once = canonical(text)
    assert canonical(once) == once
    try:
        valid = validate.validate_emoji(text)
    except ChatError:
        return
    assert validate.validate_emoji(valid) == valid
    assert canonical(valid) == valid
    assert 1 <= len(valid) <= validate.EMOJI_MAX


def test_every_form_of_every_known_emoji_is_its_fully_qualified_form():
    """All of the library's qualifications, and with a stray text selector."""
    for text, data in emoji_data.EMOJI_DATA.items():
        if data["status"] == emoji_data.STATUS["component"]:
            continue
        expected = FULLY_QUALIFIED[text.replace(VS16, "")]
        assert canonical(text) == expected, text
        assert canonical(text + VS15) == expected, text
        assert emoji_data.EMOJI_DATA[expected]["status"] == emoji_data.STATUS["fully_qualified"]


# --- limits: on the canonical form, after a bound on what is sent -------------------


@pytest.mark.parametrize(
    "value, stored",
    [
        ("x" * 32 + VS15, "x" * 32),  # 33 sent, 32 once U+FE0E is out
        ("e\u0301" * 17, "\u00e9" * 17),  # 34 sent, 17 after NFC
        ("x" * 32 + "\u200b" * 8, "x" * 32),
        (THUMB + "\u200b" * (validate.EMOJI_RAW_MAX - 1), THUMB),  # the most that may be sent
        (ENGLAND * 4 + "\u2764xx", ENGLAND * 4 + "\u2764\ufe0fxx"),  # 31 sent, 32 stored
    ],
    ids=["U+FE0E", "NFD", "ZWSP", "raw limit", "32 once qualified"],
)
def test_every_limit_applies_to_the_canonical_form(value, stored):
    assert validate.validate_emoji(value) == stored


@pytest.mark.parametrize(
    "value, message",
    [
        ("x" * 33, "emoji must be a string of 1 to 32 chars"),
        ("\u0958" * 32, "emoji must be a string of 1 to 32 chars"),  # NFC lengthens it
        # 32 sent, 33 once the heart is fully qualified
        (ENGLAND * 4 + "\u2764xxx", "emoji must be a string of 1 to 32 chars"),
        (THUMB + "\u200b" * validate.EMOJI_RAW_MAX, "emoji must be at most 256 chars as sent"),
        ("\ufe0e" * 5, "a reaction must show something"),
        (1, "emoji must be a string"),
    ],
    ids=["33", "NFC", "qualified", "raw", "nothing", "not a string"],
)
def test_a_text_whose_canonical_form_breaks_the_limits_is_refused(value, message):
    """The raw bound is checked before anything is normalised; every other limit
    on what would be stored."""
    with pytest.raises(ChatError) as refusal:
        validate.validate_emoji(value)
    assert (refusal.value.code, refusal.value.message) == ("bad_frame", message)


def _sendable(text: str) -> bool:
    """No character validate_emoji refuses before reading: spaces, controls, bidi."""
    return not any(
        unicodedata.category(c) in ("Cc", "Zs", "Zl", "Zp") or c in validate._BIDI_CONTROLS
        for c in text
    )


_SENDABLE = st.lists(_PARTS, max_size=40).map("".join).filter(_sendable)


@given(text=_SENDABLE)
def test_validate_emoji_judges_the_canonical_form(text):
    """Accepted exactly when the canonical form shows something and has 1 to 32
    characters, however long the text as sent (within the raw bound)."""
    stored = canonical(text)
    if stored and len(stored) <= validate.EMOJI_MAX:
        assert validate.validate_emoji(text) == stored
    else:
        with pytest.raises(ChatError):
            validate.validate_emoji(text)


# --- toggling, on every path --------------------------------------------------------


def toggle_by_socket(db, room, user, seq, emoji):
    """What the socket does with a react frame: parse, then client.write_event."""
    frame = inbound.parse(
        orjson.dumps({"type": "react", "room": room.name, "seq": seq, "emoji": emoji}).decode(),
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


@pytest.mark.parametrize("value", ["\u200b", VS16, ZWJ, "\U000e0100", "\u3164" + VS15])
def test_a_reaction_that_shows_nothing_is_refused_on_every_path(client, db, people, target, value):
    """The socket's react frame and the API: bad_frame, and nothing stored."""
    with pytest.raises(ChatError) as refusal:
        toggle_by_socket(db, room_row(db), people[0], target, value)
    assert refusal.value.code == "bad_frame"
    headers = {"Authorization": f"Bearer {make_token(db, people[0])}"}
    url = f"/api/rooms/general/messages/{target}/reactions"
    answer = client.post(url, json={"emoji": value}, headers=headers)
    assert answer.status_code == 400
    assert answer.json["error"] == {
        "code": "bad_frame",
        "message": "a reaction must show something",
    }
    assert reactions_of(db, target) is None
    assert event_frames(db, target) == []


def test_the_frame_announced_live_carries_the_canonical_form(database_url, db, people, target):
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {bus.CHANNEL}")
        toggle_by_socket(db, room_row(db), people[0], target, "\u2764")
        notify = next(listener.notifies(timeout=5, stop_after=1))
    frame = orjson.loads(notify.payload.split(" ", 3)[3])
    assert (frame["type"], frame["emoji"], frame["on"]) == ("reaction", "\u2764\ufe0f", True)


# --- migration 0008 -----------------------------------------------------------------

MIGRATION = migrate.MIGRATIONS_DIR / "0008_reaction_identity.sql"
_ROW = re.compile(r"^    \(E'((?:[^'\\]|\\.)*)', (?:E'((?:[^'\\]|\\.)*)'|NULL)\)[,;]", re.M)


def _unescape(literal: str) -> str:
    return codecs.decode(literal, "unicode_escape")


def migrate_through(conninfo: str, last: str) -> list[str]:
    """Apply the pending migrations up to and including `last`, not the later
    ones (which may change the same rows again)."""
    with tempfile.TemporaryDirectory() as folder:
        for path in migrate.migration_files():
            if path.stem <= last:
                shutil.copy(path, Path(folder) / path.name)
        return migrate.migrate(conninfo, Path(folder))


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

    # 0008 only: 0011 takes away U+FE0E alone, which 0008 left as it was
    assert migrate_through(at_0007, "0008_reaction_identity") == ["0008_reaction_identity"]

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


# --- migration 0011: invisible characters in the rows stored before ----------------

MIGRATION_0011 = migrate.MIGRATIONS_DIR / "0011_reaction_invisibles.sql"
_CLASS = re.compile(r"IF c !~ '\[(.*?)\]' THEN")
_RANGE = re.compile(r"\\(?:u([0-9A-F]{4})|U([0-9A-F]{8}))(?:-\\(?:u([0-9A-F]{4})|U([0-9A-F]{8})))?")


def test_0011_is_what_its_generator_writes_and_knows_what_canonical_knows():
    """The file is bench/reaction_invisibles_sql.py's output for today's code: the
    library's emoji, and exactly the characters chat.domain.text.is_invisible names."""
    from bench import reaction_invisibles_sql

    text = MIGRATION_0011.read_text()
    assert text == reaction_invisibles_sql.migration()
    pairs = [(_unescape(b), _unescape(c)) for b, c in _ROW.findall(text)]
    assert dict(pairs) == FULLY_QUALIFIED
    named = set()
    for low_u, low_big, high_u, high_big in _RANGE.findall(_CLASS.search(text).group(1)):
        low = int(low_u or low_big, 16)
        named.update(range(low, int(high_u or high_big or hex(low), 16) + 1))
    assert named == {ord(c) for c in _ALL_INVISIBLE}


@pytest.fixture
def at_0010(pg_server):
    with database_at(pg_server, "0010_mention_since") as conninfo:
        yield conninfo


def _history(conn, user_id: int, seq: int, steps: list[tuple[str, str, str]]) -> None:
    """What toggling did before 0011: for each (kind, emoji, at), the event, and
    the reactions row added or removed with it."""
    for kind, emoji, at in steps:
        _event_on(conn, user_id, kind, emoji, seq)
        if kind == "reaction_add":
            conn.execute(
                "INSERT INTO reactions (room_id, seq, user_id, emoji, created_at)"
                " VALUES (1, %s, %s, %s, %s)",
                (seq, user_id, emoji, at),
            )
        else:
            conn.execute(
                "DELETE FROM reactions WHERE (room_id, seq, user_id, emoji) = (1, %s, %s, %s)",
                (seq, user_id, emoji),
            )


def _event_on(conn, user_id: int, kind: str, content: str, target: int) -> int:
    seq = conn.execute(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
    ).fetchone()["last_seq"]
    conn.execute(
        "INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq)"
        " VALUES (1, %s, %s, %s, %s, %s)",
        (seq, user_id, content, kind, target),
    )
    return seq


def _replayed(conn, seq: int) -> set[tuple[int, str]]:
    """Who holds what on message `seq` once its reaction events are applied in order."""
    held: set[tuple[int, str]] = set()
    for row in conn.execute(
        "SELECT user_id, content, kind FROM messages"
        " WHERE room_id = 1 AND target_seq = %s AND kind LIKE 'reaction%%' ORDER BY seq",
        (seq,),
    ):
        key = (row["user_id"], row["content"])
        if row["kind"] == "reaction_add":
            held.add(key)
        else:
            held.discard(key)
    return held


def _held(conn, seq: int) -> set[tuple[int, str]]:
    rows = conn.execute(
        "SELECT user_id, emoji FROM reactions WHERE room_id = 1 AND seq = %s", (seq,)
    )
    return {(r["user_id"], r["emoji"]) for r in rows}


def test_0011_makes_reactions_that_differ_in_invisibles_one_and_keeps_replay_true(at_0010):
    """Twins merge (the earliest kept), reactions that show nothing or grow past 32
    characters are taken away, and events are appended where replaying them
    would no longer end in the table's state."""
    heart, heart_fq = "\u2764", "\u2764\ufe0f"
    too_long = ENGLAND * 4 + "\u2764xxx"  # 32 stored, 33 once the heart is qualified
    with psycopg.connect(at_0010, autocommit=True, row_factory=dict_row) as conn:
        ids = _seed_0007(conn)
        eren, mikasa = ids["eren"], ids["mikasa"]
        _history(
            conn,
            eren,
            1,
            [
                ("reaction_add", THUMB, "2026-01-01 10:00:01+00"),
                ("reaction_add", THUMB + "\u200b", "2026-01-01 10:00:02+00"),  # a twin
                ("reaction_add", "\u200b", "2026-01-01 10:00:03+00"),  # shows nothing
                # held as heart + U+2060 while the qualified heart came and went
                ("reaction_add", heart + "\u2060", "2026-01-01 10:00:04+00"),
                ("reaction_add", heart_fq, "2026-01-01 10:00:05+00"),
                ("reaction_remove", heart_fq, "2026-01-01 10:00:06+00"),
            ],
        )
        _history(
            conn,
            mikasa,
            1,
            [
                ("reaction_add", "\U0001f1fa\u200b\U0001f1f8", "2026-01-01 10:00:07+00"),
                ("reaction_add", TECHNOLOGIST, "2026-01-01 10:00:08+00"),
                ("reaction_add", ENGLAND, "2026-01-01 10:00:09+00"),
                ("reaction_add", ":parrot:\ufe0f", "2026-01-01 10:00:10+00"),
                ("reaction_add", too_long, "2026-01-01 10:00:11+00"),
                ("reaction_add", "\ufe0e", "2026-01-01 10:00:12+00"),  # 0008 left it
                ("reaction_add", "\u3164", "2026-01-01 10:00:13+00"),
                ("reaction_remove", "\u3164", "2026-01-01 10:00:14+00"),  # gone already
            ],
        )
        # A deleted message: its reactions went with it; its events stay as they are.
        deleted = conn.execute(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
        ).fetchone()["last_seq"]
        conn.execute(
            "INSERT INTO messages (room_id, seq, user_id, content, kind, deleted_at)"
            " VALUES (1, %s, %s, '', 'chat', now())",
            (deleted, eren),
        )
        deleted_event = _event_on(conn, eren, "reaction_add", "\u200b", deleted)
        last_seq = conn.execute("SELECT last_seq FROM rooms WHERE id = 1").fetchone()["last_seq"]

    assert migrate_through(at_0010, "0011_reaction_invisibles") == ["0011_reaction_invisibles"]

    with psycopg.connect(at_0010, autocommit=True, row_factory=dict_row) as conn:
        assert _held(conn, 1) == {
            (eren, THUMB),
            (eren, heart_fq),
            (mikasa, US),
            (mikasa, TECHNOLOGIST),
            (mikasa, ENGLAND),
            (mikasa, ":parrot:"),
        }
        first = conn.execute(
            "SELECT created_at FROM reactions WHERE user_id = %s AND emoji = %s", (eren, THUMB)
        ).fetchone()["created_at"]
        assert first.second == 1  # the earliest of eren's two thumbs
        assert _replayed(conn, 1) == _held(conn, 1)

        appended = conn.execute(
            "SELECT seq, user_id, content, kind, target_seq FROM messages"
            " WHERE room_id = 1 AND seq > %s ORDER BY seq",
            (last_seq,),
        ).fetchall()
        assert [(r["user_id"], r["content"], r["kind"], r["target_seq"]) for r in appended] == [
            (eren, "\u200b", "reaction_remove", 1),
            (eren, heart_fq, "reaction_add", 1),
            (mikasa, "\ufe0e", "reaction_remove", 1),
            (mikasa, too_long, "reaction_remove", 1),
        ]
        assert [r["seq"] for r in appended] == list(range(last_seq + 1, last_seq + 5))
        room = conn.execute("SELECT last_seq FROM rooms WHERE id = 1").fetchone()
        assert room["last_seq"] == last_seq + 4
        content = conn.execute(
            "SELECT content FROM messages WHERE room_id = 1 AND seq = %s", (deleted_event,)
        ).fetchone()["content"]
        assert content == "\u200b"  # not rewritten (nothing stores it), nothing appended


def test_the_migrations_bring_every_stored_form_to_what_canonical_answers(at_0007):
    """Every emoji of the library in every qualification, with stray selectors and
    in NFD; known reactions with invisible characters around them; random texts
    of emoji parts and invisible characters: stored as reaction events at 0007,
    each reads as canonical() says after 0008 and 0011 (or, where canonical()
    would refuse it, as it was)."""
    forms = (
        {
            form
            for text in emoji_data.EMOJI_DATA
            for form in (text, text + VS15, text.replace(VS16, VS15), text + VS16)
        }
        | {unicodedata.normalize("NFD", t) for t in (":caf\u00e9:", "\u00c5", "\u1e9b\u0323")}
        | {"\u212b", ":x:\ufe0f", "e\ufe0e\u0301"}
        | {a + shown + b for shown in SHOWN for a in ("", *INVISIBLES) for b in ("", *INVISIBLES)}
        | set(INVISIBLES)
        | {form for one, other, _ in SAME for form in (one, other)}
    )
    rng = random.Random(14)
    pieces = [
        *sorted(emoji_data.EMOJI_DATA)[::7], *INVISIBLES, "\U0001f1fa", "\U0001f1f8",
        "\U0001f3fd", "\u20e3", "\u0301", "e", "1", ZWJ, VS16, "\U000e0067", "\U000e007f",
    ]  # fmt: skip
    forms |= {"".join(rng.choices(pieces, k=rng.randint(1, 6))) for _ in range(3000)}
    forms = sorted(f for f in forms if 1 <= len(f) <= validate.EMOJI_MAX)
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
        stored = conn.execute(
            "SELECT content FROM messages WHERE seq BETWEEN 2 AND %s ORDER BY seq",
            (1 + len(forms),),
        )
        got = [row["content"] for row in stored]
    storable = {f: canonical(f) for f in forms if 1 <= len(canonical(f)) <= validate.EMOJI_MAX}
    expected = [storable.get(f, f) for f in forms]
    wrong = [(f, g, e) for f, g, e in zip(forms, got, expected, strict=True) if g != e]
    assert wrong == []


def test_the_pages_palette_offers_canonical_forms():
    """The browser sends a palette button's emoji as is: it must be the stored form,
    or its chip (keyed by the frames' canonical emoji) would not match it."""
    script = (ROOT / "static" / "message_events.js").read_text()
    palette = re.search(r"export const PALETTE = \[(.*?)\];", script).group(1)
    offered = re.findall(r'"([^"]+)"', palette)
    assert offered and all(canonical(e) == e for e in offered), offered

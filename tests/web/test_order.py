"""Documented orders survive every surface: the socket, the JSON API, the history page
and the export show reactions (emoji in the order first given, people in the
order they reacted) and frames' fields in the same order.
"""

import csv
import io
import re
import threading

import orjson
import pytest

from chat import actions
from chat.realtime.client import ClientSession

from ..conftest import ScriptedSocket, make_token, make_user, room_row, send_as

# Given in the reverse of code point order (❤ U+2764 < 🎉 U+1F389 < 👍 U+1F44D),
# by people in the reverse of alphabetical order: any sorting shows.
REACTIONS = [("👍", "mikasa"), ("👍", "eren"), ("🎉", "levi"), ("❤️", "eren"), ("🎉", "armin")]
EXPECTED = [("👍", ["mikasa", "eren"]), ("🎉", ["levi", "armin"]), ("❤️", ["eren"])]


@pytest.fixture
def reacted(db, eren):
    people = {"eren": eren}
    for name in ("mikasa", "levi", "armin"):
        people[name] = make_user(db, name)
    seq = send_as(db, eren, "react to me")
    for emoji, name in REACTIONS:
        actions.toggle_reaction(db, room_row(db), people[name], seq, emoji)
    return seq


def test_reactions_keep_their_order_on_the_socket(realtime, db, eren, reacted):
    ws = ScriptedSocket()
    threading.Thread(target=ClientSession(ws, eren, realtime).run, daemon=True).start()
    ws.inbox.put('{"type":"join","room":"general","after":0}')
    ws.wait_for(lambda s: any(f["type"] == "ready" for f in s.sent))
    ws.close()
    frame = next(f for f in ws.sent if f["type"] == "chat" and f["seq"] == reacted)
    assert list(frame["reactions"].items()) == EXPECTED


def test_the_api_keeps_reaction_and_field_order(client, db, eren, reacted):
    headers = {"Authorization": f"Bearer {make_token(db, eren)}"}
    response = client.get("/api/rooms/general/messages", headers=headers)
    message = orjson.loads(response.data)["messages"][0]

    assert list(message["reactions"].items()) == EXPECTED
    # The same fields in the same order as the socket's frame for the row.
    assert list(message) == [
        "type",
        "room",
        "seq",
        "username",
        "content",
        "html",
        "ts",
        "reactions",
    ]
    assert list(orjson.loads(response.data)) == ["room", "last_seq", "messages"]


def test_the_history_page_keeps_reaction_order(client, auth, db, reacted):
    auth.login()
    page = client.get("/rooms/general/history").text
    shown = re.findall(
        r'<li class="reaction" title="([^"]*)"><span class="emoji">([^<]*)</span>', page
    )
    assert [(emoji, people.split(", ")) for people, emoji in shown] == EXPECTED


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_export_keeps_reaction_order(client, db, eren, reacted, fmt):
    actions.join_room(db, room_row(db).id, eren.id)
    headers = {"Authorization": f"Bearer {make_token(db, eren)}"}
    body = client.get(f"/api/rooms/general/export.{fmt}", headers=headers, buffered=True).data
    if fmt == "jsonl":
        row = orjson.loads(body.splitlines()[0])
        reactions = row["reactions"]
    else:
        row = next(csv.DictReader(io.StringIO(body.decode())))
        reactions = orjson.loads(row["reactions"])
    assert list(reactions.items()) == EXPECTED

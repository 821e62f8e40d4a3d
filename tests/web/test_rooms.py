"""Room pages: the list, creating rooms, history pages, the form that works without JavaScript."""

import html
import re

import pytest

from chat import actions
from chat.domain.entities import User

from ..conftest import csrf_token, make_user, room_row

ANCHOR = re.compile(r'<li id="m(\d+)">')


@pytest.fixture
def user(db):
    return make_user(db, "eren", "correct horse")


@pytest.fixture
def logged_in(auth, user):
    assert auth.login("eren", "correct horse").status_code == 302
    return user


def seed(db, user: User, count: int, room: str = "general", text: str = "message {}") -> None:
    """Send `count` messages through the real action, numbered from 1."""
    row = room_row(db, room)
    for i in range(1, count + 1):
        actions.send_message(db, row, user, text.format(i), None)


def seqs_on(html: str) -> list[int]:
    return [int(seq) for seq in ANCHOR.findall(html)]


def link(html: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return match.group(1) if match else None


def create_room(client, name: str, token: str | None = "from-page"):
    data = {"name": name}
    if token == "from-page":
        data["csrf_token"] = csrf_token(client.get("/rooms").text)
    elif token is not None:
        data["csrf_token"] = token
    return client.post("/rooms", data=data)


# --- the list and creating rooms --------------------------------------------


def test_rooms_lists_general(client, logged_in):
    response = client.get("/rooms")
    assert response.status_code == 200
    assert '<a href="/rooms/general">#general</a>' in response.text


def test_rooms_shows_unread_and_mention_counts_of_a_member(client, db, logged_in):
    general = room_row(db)
    actions.join_room(db, general.id, logged_in.id)
    mikasa = make_user(db, "mikasa", "correct horse")
    seed(db, mikasa, 2, text="hi @eren, number {}")
    seed(db, mikasa, 1)
    seed(db, logged_in, 1)  # one's own message is not unread

    item = re.search(
        r'<li class="room-item[^"]*"\s+data-room="general".*?</li>', client.get("/rooms").text, re.S
    )
    assert 'data-unread="3"' in item[0] and 'data-mentions="2"' in item[0]
    assert re.search(r'class="mentions"[^>]*>@2<', item[0])
    assert re.search(r'class="badge"[^>]*>3<', item[0])


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("lobby", "lobby"),
        ("Lobby", "lobby"),
        ("  TEA-time_2  ", "tea-time_2"),
        ("x" * 40, "x" * 40),
    ],
)
def test_create_room(client, db, logged_in, typed, stored):
    response = create_room(client, typed)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/rooms/{stored}"
    row = db.execute(
        "SELECT name, is_private, created_by FROM rooms WHERE name = %s", (stored,)
    ).fetchone()
    assert row == {"name": stored, "is_private": False, "created_by": logged_in.id}
    members = db.execute(
        "SELECT user_id FROM room_members JOIN rooms ON id = room_id WHERE name = %s", (stored,)
    ).fetchall()
    assert members == [{"user_id": logged_in.id}]
    assert f'href="/rooms/{stored}"' in client.get("/rooms").text
    assert client.get(f"/rooms/{stored}").status_code == 200


@pytest.mark.parametrize(
    "name",
    ["", "   ", "two words", "x" * 41, "-lobby", "_lobby", "lob.by", "lobby!", "café", "a/b"],
)
def test_create_room_invalid_name(client, db, logged_in, name):
    response = create_room(client, name)

    assert response.status_code == 400
    assert 'class="error" role="alert"' in response.text
    assert db.execute("SELECT name FROM rooms").fetchall() == [{"name": "general"}]


@pytest.mark.parametrize("name", ["general", "General", " GENERAL "])
def test_create_room_duplicate(client, db, logged_in, name):
    response = create_room(client, name)

    assert response.status_code == 400
    assert "the name &#39;general&#39; is taken" in response.text
    assert db.execute("SELECT count(*) AS n FROM rooms").fetchone()["n"] == 1


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_create_room_needs_csrf(client, db, logged_in, token):
    assert create_room(client, "lobby", token=token).status_code == 400
    assert room_row(db, "lobby") is None


# --- unknown and private rooms ----------------------------------------------


@pytest.mark.parametrize(
    "path", ["/rooms/nope", "/rooms/nope/history", "/rooms/nope/history?before=5"]
)
def test_unknown_room_pages_404(client, logged_in, path):
    assert client.get(path).status_code == 404


def test_unknown_room_post_404(client, db, logged_in):
    token = csrf_token(client.get("/rooms/general").text)
    response = client.post("/rooms/nope/messages", data={"csrf_token": token, "content": "hi"})
    assert response.status_code == 404
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


def test_private_room_is_404_to_non_members(client, db, logged_in):
    owner = make_user(db, "levi")
    actions.create_room(db, "secret", owner.id, is_private=True)
    seed(db, owner, 1, room="secret", text="classified")

    assert "secret" not in client.get("/rooms").text
    for path in ("/rooms/secret", "/rooms/secret/history"):
        response = client.get(path)
        assert response.status_code == 404
        assert "classified" not in response.text
    token = csrf_token(client.get("/rooms/general").text)
    response = client.post("/rooms/secret/messages", data={"csrf_token": token, "content": "hi"})
    assert response.status_code == 404
    assert room_row(db, "secret").last_seq == 1


# --- history ----------------------------------------------------------------


@pytest.fixture
def history_120(db, user):
    seed(db, user, 120)


def test_history_newest_page(client, logged_in, history_120):
    response = client.get("/rooms/general/history")

    assert response.status_code == 200
    html = response.text
    assert seqs_on(html) == list(range(71, 121))
    assert link(html, "prev") == "/rooms/general/history?before=71"
    assert link(html, "next") is None
    # Server-rendered: the messages are in the HTML itself, no script needed.
    assert "message 120" in html and "message 71" in html
    assert "message 70<" not in html
    assert '<strong class="author" title="@eren">eren</strong>' in html
    assert "<script" not in html


def test_history_every_message_is_an_anchor(client, logged_in, history_120):
    html = client.get("/rooms/general/history").text
    for seq in range(71, 121):
        assert f'<li id="m{seq}">' in html
        assert f'href="/rooms/general/history?before=121#m{seq}"' in html


@pytest.mark.parametrize(
    "before, seqs, older, newer",
    [
        ("121", range(71, 121), "?before=71", None),
        ("71", range(21, 71), "?before=21", "?before=121"),
        ("21", range(1, 21), None, "?before=71"),
        ("100", range(50, 100), "?before=50", "?before=121"),
        ("2", [1], None, "?before=52"),
        ("1", [], None, "?before=51"),
        ("0", [], None, "?before=51"),
        ("500", range(71, 121), "?before=71", None),
        ("", range(71, 121), "?before=71", None),
    ],
)
def test_history_pages(client, logged_in, history_120, before, seqs, older, newer):
    response = client.get(f"/rooms/general/history?before={before}")

    assert response.status_code == 200
    html = response.text
    assert seqs_on(html) == list(seqs)
    assert link(html, "prev") == (older and "/rooms/general/history" + older)
    assert link(html, "next") == (newer and "/rooms/general/history" + newer)


@pytest.mark.parametrize("before", ["1", "0"])
def test_history_before_the_first_message_says_so(client, logged_in, history_120, before):
    html = client.get(f"/rooms/general/history?before={before}").text
    assert "No messages before this point." in html
    assert link(html, "prev") is None
    assert link(html, "next") == "/rooms/general/history?before=51"


def test_history_newer_links_walk_back_to_the_newest_page(client, logged_in, history_120):
    url, pages = "/rooms/general/history?before=2", []
    while url:
        html = client.get(url).text
        pages.append(seqs_on(html))
        url = link(html, "next")
    assert pages == [[1], list(range(2, 52)), list(range(52, 102)), list(range(71, 121))]
    # Following "older" from the newest page visits every message exactly once.
    url, seen = "/rooms/general/history", []
    while url:
        html = client.get(url).text
        seen = seqs_on(html) + seen
        url = link(html, "prev")
    assert seen == list(range(1, 121))


def test_history_of_an_empty_room(client, logged_in):
    response = client.get("/rooms/general/history")
    assert response.status_code == 200
    assert seqs_on(response.text) == []
    assert "No messages." in response.text
    assert link(response.text, "prev") is None and link(response.text, "next") is None


@pytest.mark.parametrize("before", ["abc", "-1", "1.5", "1e3", "0x10", "%EF%BC%91", "9" * 19])
def test_history_bad_before_is_400(client, logged_in, before):
    assert client.get(f"/rooms/general/history?before={before}").status_code == 400


def test_history_escapes_message_text(client, db, logged_in):
    seed(db, logged_in, 1, text='<script>alert("x")</script> & <img src=x onerror=alert(1)>')

    html = client.get("/rooms/general/history").text

    assert "&lt;script&gt;alert(" in html  # shown as text (rendered Markdown, sanitised)
    assert "&amp; &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html


# --- the form that works without JavaScript ---------------------------------


def post_message(client, content, token="from-page", room="general"):
    data = {"content": content}
    if token == "from-page":
        data["csrf_token"] = csrf_token(client.get(f"/rooms/{room}").text)
    elif token is not None:
        data["csrf_token"] = token
    return client.post(f"/rooms/{room}/messages", data=data)


def test_room_page_has_a_plain_form(client, logged_in):
    html = client.get("/rooms/general").text
    assert 'method="post" action="/rooms/general/messages"' in html
    assert 'name="content"' in html
    assert 'name="csrf_token"' in html


def test_form_post_stores_the_message(client, db, logged_in):
    response = post_message(client, "hello without JavaScript")

    assert response.status_code == 302
    assert response.headers["Location"] == "/rooms/general/history#m1"  # lands on it
    row = db.execute("SELECT seq, user_id, content, client_id FROM messages").fetchone()
    assert row == {
        "seq": 1,
        "user_id": logged_in.id,
        "content": "hello without JavaScript",
        "client_id": None,
    }
    assert room_row(db).last_seq == 1
    html = client.get("/rooms/general/history").text
    assert seqs_on(html) == [1]
    assert "hello without JavaScript" in html


def test_form_posts_get_consecutive_seqs(client, db, logged_in):
    for text in ("one", "two", "three"):
        assert post_message(client, text).status_code == 302
    rows = db.execute("SELECT seq, content FROM messages ORDER BY seq").fetchall()
    assert rows == [
        {"seq": 1, "content": "one"},
        {"seq": 2, "content": "two"},
        {"seq": 3, "content": "three"},
    ]


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_form_post_needs_csrf(client, db, logged_in, token):
    assert post_message(client, "hi", token=token).status_code == 400
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0
    assert room_row(db).last_seq == 0


@pytest.mark.parametrize("content", ["", "   ", "\n\n", "x" * 4001, "nul\x00"])
def test_form_post_refuses_bad_content(app, client, db, logged_in, content):
    assert app.config["MAX_MESSAGE_CHARS"] == 4000
    assert post_message(client, content).status_code == 400
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("x" * 4001 + " and the end of a long text", "over 4000 characters"),
        ("\u200b\u200d\u2060", "must not be empty"),
        ("/dance with me", "unknown command /dance"),
        ("/stock=$$$", "/stock:"),
    ],
    ids=["too-long", "blank-by-unicode", "unknown-command", "bad-command"],
)
def test_a_refused_form_post_keeps_the_text_in_the_box(client, db, logged_in, content, reason):
    """Without JavaScript the page comes back with the text in the box and the reason."""
    response = post_message(client, content)

    assert response.status_code == 400
    box = re.search(r'<textarea id="content"[^>]*>(.*?)</textarea>', response.text, re.S)
    assert html.unescape(box.group(1)) == content
    assert "Not sent: " in response.text and reason in html.unescape(response.text)
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


def test_form_post_at_the_length_limit(client, db, logged_in):
    assert post_message(client, "x" * 4000).status_code == 302
    assert len(db.execute("SELECT content FROM messages").fetchone()["content"]) == 4000


def test_form_post_needs_login(client, db):
    token = csrf_token(client.get("/login").text)
    response = client.post("/rooms/general/messages", data={"csrf_token": token, "content": "hi"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


# --- slash commands from the form -------------------------------------------


def test_form_me_is_an_action_on_the_history_page(client, db, logged_in):
    response = post_message(client, "/me waves")
    assert response.headers["Location"] == "/rooms/general/history#m1"
    assert db.execute("SELECT content, kind FROM messages").fetchone() == {
        "content": "waves",
        "kind": "action",
    }
    html = client.get("/rooms/general/history").text
    assert re.search(r'<li id="m1" class="action">', html)
    assert '<span class="actor">eren</span> <p>waves</p>' in html


@pytest.mark.parametrize(
    ("content", "flashed"),
    [
        ("/help", "/stock=SYMBOL"),
        ("/stock=AAPL", "Asked stockbot about AAPL.US"),
    ],
)
def test_form_commands_are_answered_with_a_flash(client, db, logged_in, content, flashed):
    response = post_message(client, content)
    assert response.status_code == 302
    assert response.headers["Location"] == "/rooms/general/history"
    assert flashed in client.get("/rooms/general/history").text
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 0


def test_history_links_to_the_room_s_export_in_both_formats(client, db, logged_in):
    general = room_row(db)
    actions.join_room(db, general.id, logged_in.id)
    seed(db, logged_in, 2)
    links = re.findall(
        r'href="(/rooms/general/export\.(?:jsonl|csv))"', client.get("/rooms/general/history").text
    )
    assert links == ["/rooms/general/export.jsonl", "/rooms/general/export.csv"]
    for link in links:
        response = client.get(link, buffered=True)
        assert response.status_code == 200 and "message 2" in response.text


@pytest.mark.parametrize("kind", ["join", "leave", "add", "remove"])
def test_history_shows_every_kind_of_membership_event_as_a_line(client, db, logged_in, kind):
    """Joins, leaves, additions and removals are in the room's sequence: the history
    page shows each as a quiet line between the messages, as the live page does,
    on the page that holds its seq (server-rendered, no script)."""
    mikasa = make_user(db, "mikasa")
    room = actions.create_room(db, "plans", logged_in.id)
    actions.send_message(db, room, logged_in, "first", None)
    if kind in ("join", "leave"):
        actions.join(db, room, mikasa)
        if kind == "leave":
            actions.leave(db, room, mikasa)
    else:
        actions.add_member(db, room, logged_in, "mikasa")
        if kind == "remove":
            actions.remove_member(db, room, logged_in, "mikasa")
    actions.send_message(db, room, logged_in, "last", None)
    line = {
        "join": "mikasa joined #plans",
        "leave": "mikasa left #plans",
        "add": "eren added mikasa",
        "remove": "eren removed mikasa",
    }[kind]
    page = client.get("/rooms/plans/history").text
    events = re.findall(r'<li id="m(\d+)" class="member-event">(.*?)</li>', page, re.S)
    assert events and line in " ".join(events[-1][1].split()), page
    texts = re.findall(r">first<|>last<|member-event", page)
    assert texts.index(">first<") < texts.index("member-event") < texts.index(">last<")
    # A page holds the events from its first message on: before it, none.
    assert 'class="member-event"' not in client.get("/rooms/plans/history?before=2").text


def test_history_says_its_times_are_utc(client, logged_in, history_120):
    page = client.get("/rooms/general/history").text
    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    clock = [(when, text) for when, text in times if "T" in when]
    assert clock and all(text.endswith(" UTC") for _, text in clock), clock
    assert "Times are in UTC." in page

"""Threads on the pages that work without JavaScript (chat/web/thread_pages.py,
docs/protocol.md Threads): the history pages show the main flow with links
into threads, a thread has its own page, the Threads view lists the threads
one follows, search leads into threads and the export says where replies go."""

import csv
import io
import re
from html import escape

import orjson
import pytest

from chat import actions
from chat.domain.entities import User
from chat.domain.threads import ROOT_SNIPPET_CHARS, ReplyTo
from chat.storage import thread_pages as storage_thread_pages
from chat.web import thread_pages

from ..conftest import AuthActions, make_token, make_user, room_row, send_as

ANCHOR = re.compile(r'<li id="m(\d+)"')


def reply(db, user: User, root: int, text: str, room: str = "general", **more) -> int:
    """Reply in the thread of `root` through the real action; the reply's seq."""
    sent = actions.send_message(
        db, room_row(db, room), user, text, None, reply=ReplyTo(thread=root, **more)
    )
    return sent.seq


def quote(db, user: User, quoted: int, text: str, room: str = "general") -> int:
    return actions.send_message(
        db, room_row(db, room), user, text, None, reply=ReplyTo(quote=quoted)
    ).seq


# A quote block's link, with the seq its text names (the anchor it must reach).
QUOTE_LINK = re.compile(r'<blockquote class="quote"><a href="([^"]*#m(\d+))"')


def seqs_on(html: str) -> list[int]:
    return [int(seq) for seq in ANCHOR.findall(html)]


@pytest.fixture
def members(db, eren, mikasa):
    general = room_row(db)
    actions.join(db, general, eren)
    actions.join(db, general, mikasa)
    return eren, mikasa


@pytest.fixture
def thread(db, members):
    """eren asks in #general, mikasa and eren answer in a thread (the last one
    also in the room), and the room goes on."""
    eren, mikasa = members
    root = send_as(db, eren, "Who takes the release?")
    first = reply(db, mikasa, root, "I can take it")
    second = reply(db, eren, root, "thanks <b>mikasa</b>")
    shown = reply(db, mikasa, root, "release is mine", also_in_room=True)
    after = send_as(db, mikasa, "lunch?")
    return {"root": root, "replies": [first, second, shown], "after": after}


def logged_in(app, username: str = "eren"):
    client = app.test_client()
    assert AuthActions(client).login(username).status_code == 302
    return client


# --- the history pages: the main flow -------------------------------------


def test_history_shows_the_main_flow_with_a_link_to_the_thread(app, thread):
    html = logged_in(app).get("/rooms/general/history").text
    root, (*_, shown), after = thread["root"], thread["replies"], thread["after"]

    assert [s for s in seqs_on(html) if s >= root] == [root, shown, after]
    assert "I can take it" not in html and "mikasa</b>" not in html
    assert f'<a href="/rooms/general/threads/{root}">3 replies</a>' in html
    assert "last reply <time" in html
    # The reply also sent to the room says where it belongs.
    assert "replied in a thread" in html
    assert f'href="/rooms/general/threads/{root}#m{shown}"' in html


def test_history_pages_count_main_flow_messages_only(app, db, members, eren, mikasa):
    root = send_as(db, eren, "the root")
    for i in range(60):
        reply(db, mikasa, root, f"threaded {i}")
    for i in range(60):
        send_as(db, eren, f"main {i}")
    client = logged_in(app)

    newest = client.get("/rooms/general/history").text
    seqs = seqs_on(newest)
    assert len(seqs) == 50 and "threaded" not in newest
    older = re.search(r'<a rel="prev" href="([^"]+)"', newest).group(1)
    page = client.get(older).text
    assert "threaded" not in page and "the root" in page
    assert f'<li id="m{root}"' in page
    newer = re.search(r'<a rel="next" href="([^"]+)"', page).group(1)
    assert seqs_on(client.get(newer).text) == seqs


def test_a_quote_reply_shows_the_quoted_author_and_text_escaped(app, db, members, eren, mikasa):
    quoted = send_as(db, eren, "ship <script>alert(1)</script> on Friday?")
    answer = quote(db, mikasa, quoted, "agreed")
    html = logged_in(app).get("/rooms/general/history").text

    item = html[html.index(f'<li id="m{answer}"') :]
    assert f'<blockquote class="quote"><a href="#m{quoted}"><strong>eren</strong>: ' in item
    assert "ship &lt;script&gt;alert(1)&lt;/script&gt; on Friday?" in item
    assert "<script>alert" not in html


def test_every_quote_link_leads_to_a_page_holding_the_quoted_message(
    app, db, members, eren, mikasa
):
    """A quote's link on the pages without script: a quoted reply is on its
    thread's page (never on history's), a quoted main-flow message on a history
    page, wherever the quote itself is shown."""
    root = send_as(db, eren, "who takes the release?")
    in_thread = reply(db, mikasa, root, "I can take it")
    main = send_as(db, eren, "ship on friday?")
    quote(db, mikasa, in_thread, "you said so")  # a reply, quoted in the room
    reply(db, mikasa, root, "as planned", quote=main)  # the main flow, from a thread
    reply(db, eren, root, "thanks", quote=in_thread)  # a reply, from its own thread
    client = logged_in(app)
    checked = 0
    for path in ("/rooms/general/history", f"/rooms/general/threads/{root}"):
        html = client.get(path).text
        for href, quoted in QUOTE_LINK.findall(html):
            target, _, anchor = href.partition("#")
            assert anchor == f"m{quoted}", href
            if target:
                landing = client.get(target)
                if landing.status_code == 302:
                    landing = client.get(landing.headers["Location"])
                html_there = landing.text
            else:
                html_there = html
            assert int(quoted) in seqs_on(html_there), (path, href)
            checked += 1
    assert checked == 3


def test_a_reply_also_in_the_room_names_its_root_as_text_in_one_read(
    app, db, members, eren, mikasa, monkeypatch
):
    long_root = send_as(db, eren, "<b>Who</b> takes   the release\non Friday? " + "x" * 100)
    short_root = send_as(db, mikasa, "lunch?")
    first = reply(db, mikasa, long_root, "me", also_in_room=True)
    reply(db, mikasa, long_root, "me again", also_in_room=True)
    second = reply(db, eren, short_root, "yes", also_in_room=True)
    reads = []
    roots_at = storage_thread_pages.roots_at
    monkeypatch.setattr(
        storage_thread_pages,
        "roots_at",
        lambda conn, room_id, seqs: reads.append(set(seqs)) or roots_at(conn, room_id, seqs),
    )
    html = logged_in(app).get("/rooms/general/history").text

    assert reads == [{long_root, short_root}]  # one read for the page's roots
    start = "<b>Who</b> takes the release on Friday? "  # its spaces collapsed
    snippet = escape(start) + "x" * (ROOT_SNIPPET_CHARS - 1 - len(start))
    item = html[html.index(f'<li id="m{first}"') :]
    assert (
        f'<a class="thread-snippet" href="/rooms/general/threads/{long_root}">'
        f"<strong>eren</strong>: {snippet}…</a>" in item
    )
    item = html[html.index(f'<li id="m{second}"') :]
    assert "<strong>mikasa</strong>: lunch?</a>" in item


@pytest.mark.parametrize(
    ("replied", "words"), [(True, "original message deleted"), (False, "message deleted")]
)
def test_a_deleted_message_says_what_the_live_page_says(
    app, db, members, eren, mikasa, replied, words
):
    gone = send_as(db, eren, "soon gone")
    if replied:
        reply(db, mikasa, gone, "an answer")
    actions.delete_message(db, room_row(db), eren, gone)
    html = logged_in(app).get("/rooms/general/history").text

    item = html[html.index(f'<li id="m{gone}"') :]
    assert f'<div class="content deleted-note">{words}</div>' in item


# --- the thread page --------------------------------------------------------


def test_the_thread_page_lists_the_root_and_its_replies_in_order(app, thread):
    root, replies = thread["root"], thread["replies"]
    response = logged_in(app, "mikasa").get(f"/rooms/general/threads/{root}")

    assert response.status_code == 200
    html = response.text
    assert seqs_on(html) == [root, *replies]
    for seq in replies:
        assert f'href="/rooms/general/threads/{root}#m{seq}"' in html
    assert "thanks &lt;b&gt;mikasa&lt;/b&gt;" in html
    assert f'href="/rooms/general?thread={root}"' in html  # the live thread
    assert 'href="/rooms/general/history"' in html  # back to the room
    assert "lunch?" not in html
    assert "<script" not in html  # works without JavaScript


def test_a_reply_s_seq_redirects_to_its_thread_s_page(app, thread):
    root, (first, *_) = thread["root"], thread["replies"]
    response = logged_in(app).get(f"/rooms/general/threads/{first}")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/rooms/general/threads/{root}#m{first}"


def test_a_reply_past_the_first_page_redirects_to_a_page_holding_it(app, db, members, mikasa):
    root = send_as(db, mikasa, "long one")
    seqs = [reply(db, mikasa, root, f"r{i}") for i in range(thread_pages.REPLIES_PER_PAGE + 2)]
    client = logged_in(app)

    first = client.get(f"/rooms/general/threads/{root}").text
    assert seqs_on(first) == [root, *seqs[: thread_pages.REPLIES_PER_PAGE]]
    later = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert seqs_on(client.get(later).text) == [root, *seqs[thread_pages.REPLIES_PER_PAGE :]]
    location = client.get(f"/rooms/general/threads/{seqs[-1]}").headers["Location"]
    assert seqs[-1] in seqs_on(client.get(location).text)
    # Search finds a reply past the first page: its link leads to it too.
    found = client.get("/search", query_string={"q": f"r{len(seqs) - 1}"}).text
    link = re.search(r'href="(/rooms/general/threads/[^"#]+)#m(\d+)"', found)
    assert int(link.group(2)) == seqs[-1]
    assert seqs[-1] in seqs_on(client.get(client.get(link.group(1)).headers["Location"]).text)


def test_a_deleted_root_leaves_its_replies_readable(app, db, thread, eren):
    root, replies = thread["root"], thread["replies"]
    actions.delete_message(db, room_row(db), eren, root)
    html = logged_in(app, "mikasa").get(f"/rooms/general/threads/{root}").text

    assert "original message deleted" in html
    assert "Who takes the release?" not in html
    assert seqs_on(html) == [root, *replies]
    assert "I can take it" in html
    # The deleted root keeps its author and time, as the live panel shows them.
    head = html[html.index(f'id="m{root}"') : html.index("original message deleted")]
    assert 'title="@eren"' in head and "<time" in head


@pytest.mark.parametrize("path", ["/rooms/general/threads/999", "/rooms/nowhere/threads/1"])
def test_a_seq_or_room_that_does_not_exist_is_404(app, thread, path):
    assert logged_in(app).get(path).status_code == 404


def test_a_private_room_s_thread_is_404_to_a_non_member_like_a_missing_room(app, db, eren, mikasa):
    secret = actions.create_room(db, "secret", eren.id, is_private=True)
    root = send_as(db, eren, "classified plan", room="secret")
    reply(db, eren, root, "classified detail", room="secret")
    outsider = logged_in(app, "mikasa")

    hidden = outsider.get(f"/rooms/secret/threads/{root}")
    missing = outsider.get(f"/rooms/nowhere/threads/{root}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("secret", "nowhere") == missing.text
    assert "classified" not in hidden.text
    actions.add_member(db, secret, eren, "mikasa")
    assert outsider.get(f"/rooms/secret/threads/{root}").status_code == 200


def test_a_public_room_s_thread_is_readable_by_anyone_logged_in(app, db, thread):
    make_user(db, "levi")  # never joined #general
    client = logged_in(app, "levi")
    response = client.get(f"/rooms/general/threads/{thread['root']}")

    assert response.status_code == 200
    assert "I can take it" in response.text
    assert AuthActions(app.test_client()).login("nobody").status_code != 302
    assert app.test_client().get("/rooms/general/threads/1").status_code == 302  # to log in


def test_an_old_room_name_redirects_to_the_current_one(app, db, eren):
    plans = actions.create_room(db, "plans", eren.id)
    root = send_as(db, eren, "the plan", room="plans")
    reply(db, eren, root, "step one", room="plans")
    actions.update_room(db, plans, eren, None, None, "roadmap")
    response = logged_in(app).get(f"/rooms/plans/threads/{root}")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/rooms/roadmap/threads/{root}"


# --- the Threads view ---------------------------------------------------------


def test_the_threads_view_lists_followed_threads_unread_first(app, db, members, eren, mikasa):
    read_root = send_as(db, eren, "already read")
    reply(db, mikasa, read_root, "old news")
    unread_root = send_as(db, eren, "still <i>open</i>")
    reply(db, mikasa, unread_root, "@eren look")
    actions.read_thread(db, room_row(db), eren, read_root, room_row(db).last_seq)
    newest_root = send_as(db, eren, "read and newest")
    last = reply(db, mikasa, newest_root, "done")
    actions.read_thread(db, room_row(db), eren, newest_root, last)

    response = logged_in(app).get("/threads")

    assert response.status_code == 200
    html = response.text
    order = [int(s) for s in re.findall(r'href="/rooms/general\?thread=(\d+)"', html)]
    assert order == [unread_root, newest_root, read_root]
    line = html[html.index(f"?thread={unread_root}") :].split("</li>")[0]
    assert "still &lt;i&gt;open&lt;/i&gt;" in line
    assert "#general" in line and "1 reply" in line and "last reply" in line
    assert '<span class="badge" title="unread replies">1' in line
    assert '<span class="mentions" title="mentions of you">@1' in line
    assert "<title>(1) Threads" in html
    assert 'href="/threads"' in html  # in the header's nav


def test_a_followed_thread_whose_replies_were_all_deleted_says_so(app, db, members, eren, mikasa):
    root = send_as(db, eren, "anyone?")
    only = reply(db, mikasa, root, "me")
    actions.delete_message(db, room_row(db), mikasa, only)
    html = logged_in(app).get("/threads").text
    line = html[html.index(f"?thread={root}") :].split("</li>")[0]
    assert "its replies were deleted" in line and "0 replies" not in line


def test_the_threads_view_says_when_there_are_none(app, members):
    html = logged_in(app).get("/threads").text
    assert "No threads yet" in html


def test_the_sidebar_lists_the_threads_view(app, members):
    html = logged_in(app).get("/rooms").text
    assert '<a href="/threads" id="threads-link">Threads</a>' in html
    assert 'id="threads-badge"' in html


# --- search and export ------------------------------------------------------


def test_a_reply_found_by_search_links_into_its_thread(app, db, thread, eren):
    client = logged_in(app)
    root, (first, *_) = thread["root"], thread["replies"]

    html = client.get("/search", query_string={"q": "take"}).text
    assert f'href="/rooms/general/threads/{first}#m{first}"' in html  # the reply's own
    assert "in a thread" in html
    api = client.get(
        "/api/search",
        query_string={"q": "take"},
        headers={"Authorization": f"Bearer {make_token(db, eren)}"},
    ).json["results"]
    assert [(r["seq"], r["thread"], r["url"]) for r in api] == [
        (first, root, f"/rooms/general/threads/{first}#m{first}")
    ]
    # The link leads to the thread's page that holds the reply, at it.
    landing = client.get(api[0]["url"].split("#")[0])
    assert landing.status_code == 302 and landing.headers["Location"].endswith(f"#m{first}")
    assert first in seqs_on(client.get(landing.headers["Location"]).text)
    main = client.get("/api/search", query_string={"q": "lunch"}).json["results"]
    assert main[0]["thread"] is None and "/history?before=" in main[0]["url"]


def test_the_export_says_which_thread_each_reply_is_in(app, db, thread, eren, mikasa):
    quoted = quote(db, eren, thread["after"], "yes")
    headers = {"Authorization": f"Bearer {make_token(db, eren)}"}
    client = app.test_client()
    root, (first, second, shown) = thread["root"], thread["replies"]

    lines = client.get("/api/rooms/general/export.jsonl", headers=headers, buffered=True).data
    rows = {r["seq"]: r for r in map(orjson.loads, lines.splitlines())}
    assert (rows[root]["thread"], rows[first]["thread"], rows[shown]["thread"]) == (
        None,
        root,
        root,
    )
    assert [rows[s]["also_in_room"] for s in (first, second, shown)] == [False, False, True]
    assert rows[quoted]["quote"] == thread["after"] and rows[first]["quote"] is None

    text = client.get("/api/rooms/general/export.csv", headers=headers, buffered=True).data
    table = {r["seq"]: r for r in csv.DictReader(io.StringIO(text.decode(), newline=""))}
    assert (table[str(first)]["thread"], table[str(root)]["thread"]) == (str(root), "")
    assert table[str(shown)]["also_in_room"] == "true"
    assert table[str(quoted)]["quote"] == str(thread["after"])

"""Full-text search (chat/web/search.py): ranking, highlighting and escaping, the query syntax,
filters, pages, events and deleted messages left out, and visibility (docs/security.md row 4)."""

from urllib.parse import quote

import pytest

from chat import actions
from chat.domain.entities import User
from chat.storage import search as stored
from chat.web import search

from ..conftest import add_event, make_token, make_user, room_row, send_as


@pytest.fixture
def headers(db, eren) -> dict:
    return {"Authorization": f"Bearer {make_token(db, eren)}"}


def bearer(db, user: User) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


send = send_as


def found(client, headers, **params) -> list[tuple[str, int]]:
    response = client.get("/api/search", query_string=params, headers=headers)
    assert response.status_code == 200, response.json
    return [(r["room"], r["seq"]) for r in response.json["results"]]


def results(client, headers, **params) -> list[dict]:
    response = client.get("/api/search", query_string=params, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["results"]


# --- ranking and the query syntax -------------------------------------------


def test_results_are_ranked_best_first(client, db, eren, headers):
    once = send(db, eren, "the deploy needs a reviewer before friday afternoon")
    thrice = send(db, eren, "deploy deploy deploy")
    twice = send(db, eren, "deploy now, deploy later")
    send(db, eren, "nothing to see here")

    hits = results(client, headers, q="deploy")

    assert [r["seq"] for r in hits] == [thrice, twice, once]
    ranks = [r["rank"] for r in hits]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("red", [1, 2, 3]),
        ('"red panda"', [1]),  # a phrase: the words next to each other, in order
        ("red panda", [1, 2]),  # all words, anywhere
        ("red -panda", [3]),
        ("panda or fox", [1, 2, 4]),
        ("RED PANDA", [1, 2]),  # case does not matter
        ("ERR-42", [5]),  # codes stay whole ('simple' configuration)
        ("straße", [6]),
    ],
)
def test_the_query_syntax(client, db, eren, headers, q, expected):
    for text in [
        "a red panda in the tree",
        "the panda is not red",
        "red sky at night",
        "a fox",
        "build failed with ERR-42 again",
        "Wir treffen uns in der Straße",
    ]:
        send(db, eren, text)
    assert sorted(seq for _, seq in found(client, headers, q=q)) == expected


# --- highlighting and escaping ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        ("find the needle here", "find the <mark>needle</mark> here"),
        (
            "<img src=x onerror=alert(1)> needle",
            "&lt;img src=x onerror=alert(1)&gt; <mark>needle</mark>",
        ),
        ('needle & "quotes" < > \'', "<mark>needle</mark> &amp; &#34;quotes&#34; &lt; &gt; &#39;"),
        # The markers ts_headline is given cannot come from the text: they are removed first.
        ("a\x01b needle c\x02d", "ab <mark>needle</mark> cd"),
        # What the text-search parser takes for a tag it drops from headlines (a space);
        # what it does not, like the <img ...> above, is escaped.
        ("\x01needle\x02 <mark>x</mark>", "<mark>needle</mark>  x "),
        ("needle <mark", "<mark>needle</mark> &lt;mark"),
    ],
)
def test_snippets_are_escaped_and_marked(client, db, eren, headers, text, snippet):
    send(db, eren, text)
    (hit,) = results(client, headers, q="needle")
    assert hit["snippet"] == snippet


def test_a_script_tag_never_reaches_the_page_as_markup(client, db, eren, auth):
    send(db, eren, "<script>window.pwned=1</script> needle <img src=x onerror=alert(1)>")
    auth.login("eren")
    page = client.get("/search?q=needle").text
    assert "<mark>needle</mark>" in page
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    ("headline", "html"),
    [
        ("\x01a\x02 b", "<mark>a</mark> b"),
        ("\x01ERR\x02\x01-42\x02", "<mark>ERR-42</mark>"),  # adjacent marks join
        ("<b>\x01x\x02</b>", "&lt;b&gt;<mark>x</mark>&lt;/b&gt;"),
        ("plain", "plain"),
    ],
)
def test_snippet_html(headline, html):
    assert str(search.snippet_html(headline)) == html


# --- filters --------------------------------------------------------------------


def test_filter_by_room_and_by_author(client, db, eren, mikasa, headers):
    actions.create_room(db, "ops", eren.id)
    a = send(db, eren, "rollout in general")
    b = send(db, mikasa, "rollout by mikasa")
    c = send(db, mikasa, "rollout in ops", room="ops")

    assert sorted(found(client, headers, q="rollout")) == sorted(
        [("general", a), ("general", b), ("ops", c)]
    )
    assert sorted(found(client, headers, q="rollout", room="general")) == [
        ("general", a),
        ("general", b),
    ]
    assert sorted(found(client, headers, q="rollout", author="Mikasa")) == sorted(
        [("general", b), ("ops", c)]
    )
    assert found(client, headers, q="rollout", author="@mikasa", room="ops") == [("ops", c)]
    assert found(client, headers, q="rollout", author="nobody") == []


# --- pages ------------------------------------------------------------------------


def test_pages_cover_every_match_once_in_rank_order(client, db, eren, headers):
    # Three ranks among 45 matches, so ties cross page boundaries.
    for i in range(45):
        send(db, eren, " ".join(["page"] * (1 + i % 3)) + f" number {i}")
    seen, ranks, cursor, pages = [], [], None, 0
    while True:
        params = {"q": "page"} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/search", query_string=params, headers=headers).json
        pages += 1
        assert len(body["results"]) <= stored.PAGE_SIZE
        seen += [r["seq"] for r in body["results"]]
        ranks += [r["rank"] for r in body["results"]]
        if pages == 1:
            # New messages arriving between pages do not shift the following pages.
            for _ in range(5):
                send(db, eren, "page page page fresh")
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == list(range(1, 46))  # each once; the newer ones rank above page 1
    assert ranks == sorted(ranks, reverse=True)


def test_the_cursor_round_trips_exactly():
    cursor = stored.Cursor(0.10000000149011612, 7, 12345)
    assert stored.Cursor.decode(cursor.encode()) == cursor


# --- what is never found ----------------------------------------------------------


def test_events_and_deleted_messages_are_never_found(client, db, eren, headers):
    kept = send(db, eren, "original wording")
    edited = send(db, eren, "first draft")
    # An edit: the message's own row takes the new text, the event carries a copy.
    db.execute(
        "UPDATE messages SET content = 'second draft zebra', edited_at = now() WHERE seq = %s",
        (edited,),
    )
    add_event(db, eren, "edit", edited, "second draft zebra")
    add_event(db, eren, "reaction_add", kept, "zebra")
    add_event(db, eren, "reaction_remove", kept, "zebra")
    deleted = send(db, eren, "secret zebra text")
    db.execute(
        "UPDATE messages SET content = '', html = '', deleted_at = now() WHERE seq = %s",
        (deleted,),
    )
    add_event(db, eren, "delete", deleted, "")
    # A deleted row whose text was somehow left behind is not found either.
    stale = send(db, eren, "stale zebra text")
    db.execute("UPDATE messages SET deleted_at = now() WHERE seq = %s", (stale,))

    hits = results(client, headers, q="zebra")
    assert [(r["seq"], r["edited"]) for r in hits] == [(edited, True)]
    assert found(client, headers, q="first draft") == []  # the old text is not searched
    assert found(client, headers, q="original") == [("general", kept)]
    assert found(client, headers, q="secret") == []


# --- visibility (docs/security.md row 4) ------------------------------------------


@pytest.fixture
def private_plans(db, mikasa):
    """A private room of mikasa's with a word that appears nowhere else."""
    actions.create_room(db, "plans", mikasa.id, is_private=True)
    return send(db, mikasa, "the xylophonist attacks at dawn", room="plans")


def test_an_outsider_never_finds_a_private_rooms_messages(
    client, db, mikasa, headers, private_plans
):
    assert found(client, headers, q="xylophonist") == []
    assert found(client, headers, q="xylophonist or dawn or attacks") == []
    assert found(client, headers, q="xylophonist", author="mikasa") == []
    # A member does find it.
    assert found(client, bearer(db, mikasa), q="xylophonist") == [("plans", private_plans)]


def test_a_room_filter_on_a_hidden_room_answers_like_a_missing_room(
    client, db, headers, private_plans
):
    hidden = client.get("/api/search?q=xylophonist&room=plans", headers=headers)
    missing = client.get("/api/search?q=xylophonist&room=nosuchroom", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json == missing.json
    assert hidden.json["error"]["code"] == "not_found"


def test_a_member_who_leaves_stops_finding_the_room(client, db, eren, mikasa, private_plans):
    plans = room_row(db, "plans")
    actions.add_member(db, plans, mikasa, "eren")
    headers = bearer(db, eren)
    assert found(client, headers, q="xylophonist") == [("plans", private_plans)]
    actions.remove_member(db, plans, eren, "eren")
    assert found(client, headers, q="xylophonist") == []
    assert client.get("/api/search?q=x&room=plans", headers=headers).status_code == 404


def test_direct_rooms_are_found_by_their_two_people_only(client, db, eren, mikasa, headers):
    name = actions.open_direct(db, eren, "mikasa")
    seq = send(db, mikasa, "our quokka secret", room=name)
    levi = make_user(db, "levi")
    assert found(client, bearer(db, levi), q="quokka") == []
    (hit,) = results(client, headers, q="quokka")
    assert (hit["room"], hit["seq"], hit["room_title"]) == (name, seq, "@mikasa")


# --- bad requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "q is required"),
        ("q=", "q is required"),
        ("q=%20%20", "q is required"),
        ("q=" + "a" * (search.MAX_QUERY_CHARS + 1), "over 200 characters"),
        ("q=%21%21%21", "no words"),
        ("q=-dog", "not only -excluded"),
        ("q=a%00b", "NUL"),
        ("q=dog&cursor=nonsense", "cursor"),
        ("q=dog&cursor=1_2", "cursor"),
        ("q=dog&cursor=nan_1_2", "cursor"),
        ("q=dog&cursor=-1.0_1_2", "cursor"),
        ("q=dog&cursor=0.1_x_2", "cursor"),
        ("q=dog&cursor=" + quote("0.1_1_2; DROP TABLE messages"), "cursor"),
        ("q=dog&author=" + "a" * 65, "author"),
    ],
)
def test_bad_parameters_get_a_clear_400(client, headers, query, message):
    response = client.get(f"/api/search?{query}", headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert message in response.json["error"]["message"]


def test_search_needs_credentials(client):
    response = client.get("/api/search?q=hello")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert client.get("/search?q=hello").status_code == 302  # to the login page


# --- the HTML page ----------------------------------------------------------------


def test_the_search_page_links_each_result_to_its_place_in_history(client, db, eren, auth):
    for i in range(1, 121):
        send(db, eren, f"filler {i}" if i != 30 else "the walrus was here")
    auth.login("eren")

    page = client.get("/search?q=walrus")
    assert page.status_code == 200
    link = "/rooms/general/history?before=31#m30"
    assert f'href="{link}"' in page.text
    history = client.get(link.split("#")[0]).text
    assert 'id="m30"' in history and "the walrus was here" in history


def test_the_search_page_without_a_query_shows_the_form_and_with_a_bad_one_a_400(
    client, db, eren, auth
):
    auth.login("eren")
    empty = client.get("/search")
    assert empty.status_code == 200
    assert 'name="q"' in empty.text and "No messages found" not in empty.text
    bad = client.get("/search?q=-dog")
    assert bad.status_code == 400
    assert "not only -excluded" in bad.text
    none = client.get("/search?q=unicorn")
    assert none.status_code == 200 and "No messages found" in none.text


def test_the_search_page_pages_with_a_next_link(client, db, eren, auth):
    for i in range(stored.PAGE_SIZE + 5):
        send(db, eren, f"lemming {i}")
    auth.login("eren")
    first = client.get("/search?q=lemming").text
    assert first.count('class="result"') == stored.PAGE_SIZE
    next_href = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(next_href).text
    assert second.count('class="result"') == 5
    assert 'rel="next"' not in second


def test_the_header_has_a_search_box_for_people_who_are_logged_in(client, db, eren, auth):
    assert 'role="search"' not in client.get("/login").text
    auth.login("eren")
    page = client.get("/rooms").text
    assert 'action="/search"' in page and 'id="header-q"' in page


def test_edits_deletions_and_reactions_through_the_real_actions(client, db, eren, headers):
    room = room_row(db)
    edited = send(db, eren, "a typo in the platypus")
    deleted = send(db, eren, "the platypus is secret")
    actions.edit_message(db, room, eren, edited, "the platypus, corrected")
    actions.toggle_reaction(db, room, eren, edited, "🦫")
    actions.delete_message(db, room, eren, deleted)

    hits = results(client, headers, q="platypus")
    assert [(r["seq"], r["edited"]) for r in hits] == [(edited, True)]
    assert found(client, headers, q="typo") == []
    assert found(client, headers, q="secret") == []


# --- file names (docs/files.md) -------------------------------------------------------


def sent_with_file(db, user: User, name: str, text: str = "", room: str = "general") -> int:
    """A message of `user`'s carrying one stored text file named `name`; its seq."""
    upload = actions.store_upload(db, user, name, [b"plain text\n"], 10**9, 10**8)
    return actions.send_message(db, room_row(db, room), user, text, None, files=(upload.key,)).seq


def test_a_message_is_found_by_its_files_names(client, db, eren, mikasa, headers):
    seq = sent_with_file(db, eren, "quarterly-report.pdf", "as promised")
    send(db, eren, "nothing to do with reports")
    actions.store_upload(db, eren, "quarterly-draft.pdf", [b"never sent\n"], 10**9, 10**8)
    assert found(client, headers, q="quarterly") == [("general", seq)]
    (result,) = results(client, headers, q="quarterly")
    assert "quarterly-report.pdf" in result["snippet"]  # the snippet names the file
    # A file name and a word of the text: one result for the message.
    both = sent_with_file(db, eren, "roadmap.txt", "the roadmap is attached")
    assert found(client, headers, q="roadmap") == [("general", both)]


def test_a_file_name_is_as_private_as_its_message(client, db, eren, mikasa, headers):
    actions.create_room(db, "plans", mikasa.id, is_private=True)
    hidden = sent_with_file(db, mikasa, "xylophone-secrets.txt", room="plans")
    assert found(client, headers, q="xylophone") == []
    assert found(client, bearer(db, mikasa), q="xylophone") == [("plans", hidden)]
    actions.delete_message(db, room_row(db, "plans"), mikasa, hidden)
    assert found(client, bearer(db, mikasa), q="xylophone") == []

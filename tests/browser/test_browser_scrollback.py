"""Scrollback and reading comfort on the live room page, in real headless Chromium against
the real gunicorn and PostgreSQL: scrolling up loads older messages (static/scrollback.js)
once each, in order, down to "Start of #room", without moving what is on screen; "Jump to
first unread"; permalinks (#m<seq>); groups under one header, day lines and avatars
(static/message_groups.js, static/avatar.js), live and on the history page.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from chat import actions
from chat.domain.entities import User

from ..conftest import ROOT, make_user, room_row
from .axe import violations_within
from .ui import PASSWORD, log_in, open_room, send

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "shots"
# The live page's permalink, from a message's time.
PERMALINK = re.compile(r"/rooms/general#m(\d+)$")


@pytest.fixture
def people(db):
    return {name: make_user(db, name, PASSWORD) for name in ("eren", "alice", "bob")}


def seed(db, authors: list[User], room: str = "general") -> list[int]:
    """One message per author, in order, stored in one batch (one transaction, so one
    created_at for all) through the real send path; their seqs."""
    target = room_row(db, room)
    sends = [
        actions.Send.of(target, user, f"message {i}", None) for i, user in enumerate(authors, 1)
    ]
    return [sent.seq for sent in actions.send_messages(db, sends)]


def set_time(db, seq: int, at: datetime, room: str = "general") -> None:
    db.execute(
        "UPDATE messages SET created_at = %s WHERE seq = %s"
        " AND room_id = (SELECT id FROM rooms WHERE name = %s)",
        (at, seq, room),
    )


def in_utc(page) -> None:
    """The page's clock in UTC, so "today" is the same day for the test and the page."""
    page.context.new_cdp_session(page).send("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})


def ids(page) -> list[str]:
    return page.eval_on_selector_all("#messages li.message", "items => items.map(i => i.id)")


def scroll_to_top(page) -> tuple[str, float]:
    """Scroll #messages to its top; the first message and its height on screen, as
    they are before the page that the scroll asks for arrives."""
    return page.evaluate(
        """() => {
            const list = document.getElementById("messages");
            list.scrollTop = 0;
            const first = list.querySelector("li.message");
            return [first.id, first.getBoundingClientRect().top];
        }"""
    )


def in_view(page, selector: str) -> bool:
    return page.evaluate(
        """(selector) => {
            const box = document.querySelector(selector).getBoundingClientRect();
            const view = document.getElementById("messages").getBoundingClientRect();
            return box.top >= view.top - 1 && box.bottom <= view.bottom + 1;
        }""",
        selector,
    )


def watch_requests(page) -> dict:
    """Count the page's requests for older messages, and the most at once."""
    seen = {"now": 0, "most": 0, "all": 0}

    def started(request):
        if "only=main" in request.url:
            seen["now"] += 1
            seen["all"] += 1
            seen["most"] = max(seen["most"], seen["now"])

    def ended(request):
        if "only=main" in request.url:
            seen["now"] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    return seen


def test_scrolling_up_loads_every_message_once_in_order_down_to_the_start(
    server, db, people, pages
):
    # 520 messages in runs of 7 by alice, then bob: groups cross every page's edge.
    authors = [people["alice"] if (i // 7) % 2 == 0 else people["bob"] for i in range(520)]
    seed(db, authors)
    eren = pages()
    requests = watch_requests(eren)
    log_in(eren, server, "eren")
    open_room(eren, server)
    messages = eren.locator("#messages li.message")
    expect(messages).to_have_count(50)  # the catch-up: the last 50 seqs
    assert eren.locator("#jump-unread").is_hidden()  # eren never joined: nothing unread

    pages_loaded = 0
    while eren.locator("#messages li.room-start").count() == 0:
        shown = messages.count()
        top_id, top_y = scroll_to_top(eren)
        expect(messages).not_to_have_count(shown)
        expect(eren.locator("#messages")).to_have_attribute("aria-busy", "false")
        # The message that was at the top has not moved.
        assert abs(eren.locator(f"#{top_id}").bounding_box()["y"] - top_y) <= 2, top_id
        pages_loaded += 1
        assert pages_loaded <= 11, "more pages than 470 older messages need"

    assert ids(eren) == [f"m{seq}" for seq in range(1, 521)]  # each once, in order
    assert requests["most"] == 1 and requests["all"] == pages_loaded
    first = eren.locator("#messages > li").first
    assert first.inner_text() == "Start of #general"
    expect(eren.locator("#scrollback-status")).to_contain_text("start of #general reached")
    # One day: one day line, above the first message.
    assert eren.locator("#messages li.day").count() == 1
    assert eren.evaluate("document.getElementById('m1').previousElementSibling.className") == "day"
    # A header for each run of 7, however the pages cut them.
    starts = eren.eval_on_selector_all(
        "#messages li.message.group-start", "items => items.map(i => Number(i.dataset.seq))"
    )
    assert starts == list(range(1, 521, 7))
    assert eren.locator("#messages li.message.continued .avatar").count() == 0


def test_jump_to_first_unread_loads_back_to_it(server, db, people, pages):
    room = room_row(db)
    actions.join_room(db, room.id, people["eren"].id)  # a member, everything (nothing) read
    seed(db, [people["alice"]] * 300)
    actions.mark_read(db, room.id, people["eren"].id, 100)
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)

    jump = eren.locator("#jump-unread")
    expect(jump).to_be_visible()  # the first unread message is older than the catch-up
    assert eren.locator("#messages li.divider").count() == 0
    jump.click()
    expect(jump).to_be_hidden()
    divider = eren.locator("#messages li.divider")
    expect(divider).to_have_count(1)
    assert eren.evaluate("document.getElementById('m101').previousElementSibling.className")
    assert eren.evaluate(
        "document.getElementById('m101').previousElementSibling.classList.contains('divider')"
    )
    assert in_view(eren, "#m101") and in_view(eren, "#messages li.divider")
    shown = ids(eren)
    assert shown == [f"m{seq}" for seq in range(int(shown[0][1:]), 301)]  # no gap, none twice


def test_a_permalink_opens_the_live_room_at_an_old_message(server, db, people, pages):
    seed(db, [people["alice"], people["bob"]] * 150)
    eren = pages()
    log_in(eren, server, "eren")
    eren.goto(f"{server.url}/rooms/general#m7")
    target = eren.locator("#m7.highlight")
    target.wait_for()
    assert in_view(eren, "#m7")
    assert eren.locator("#messages li.highlight").count() == 1
    assert PERMALINK.search(target.locator("a.permalink").get_attribute("href")).group(1) == "7"

    # Another message's time, followed on the page: that one is shown and marked.
    other = eren.locator("#m9")
    other.hover()
    other.locator("a.permalink").click()
    eren.wait_for_url(re.compile(r"/rooms/general#m9$"))
    eren.locator("#m9.highlight").wait_for()
    assert eren.locator("#messages li.highlight").count() == 1
    assert in_view(eren, "#m9")
    assert ids(eren) == [f"m{seq}" for seq in range(1, 301)]  # loaded back to the start, once each


def test_live_messages_and_events_while_scrolled_back_keep_order_and_count(
    server, db, people, pages
):
    alice = people["alice"]
    seed(db, [alice] * 300)
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    messages = eren.locator("#messages li.message")
    expect(messages).to_have_count(50)

    # An edit of an old message arrives live while the page that holds it is on its
    # way, with that message as it was before: it is shown edited once the page is in.
    held = []

    def answer_read_before_an_edit(route):
        stale = route.fetch()  # the server's answer (m201-m250), read before the edit
        actions.edit_message(db, room_row(db), alice, 220, "message 220, edited")  # seq 301
        seed(db, [alice])  # seq 302: once it is shown, the edit has arrived too
        held.append((route, stale))

    eren.route("**/api/rooms/general/messages?*only=main*", answer_read_before_an_edit)
    scroll_to_top(eren)
    eren.locator("#m302").wait_for()
    route, stale = held.pop()
    route.fulfill(response=stale)
    eren.unroute("**/api/rooms/general/messages?*only=main*")
    expect(eren.locator("#m220 .content")).to_have_text("message 220, edited")
    expect(eren.locator("#m220 .meta .edited")).to_have_count(1)

    # Live messages while scrolled back go to the end, once.
    seed(db, [people["bob"]] * 2)
    eren.locator("#m304").wait_for()
    while eren.locator("#messages li.room-start").count() == 0:
        shown = messages.count()
        scroll_to_top(eren)
        expect(messages).not_to_have_count(shown)
    expected = [f"m{seq}" for seq in [*range(1, 301), 302, 303, 304]]
    assert ids(eren) == expected


def test_groups_day_lines_and_avatars_live_and_in_history(server, db, people, pages):
    alice, bob = people["alice"], people["bob"]
    seqs = seed(db, [alice, alice, alice, alice, bob, alice, alice])
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    times = [noon - timedelta(days=1)] + [noon + timedelta(seconds=s) for s in range(5)]
    for seq, at in zip(seqs, [*times, noon + timedelta(minutes=10)], strict=True):
        set_time(db, seq, at)
    # m1 yesterday; m2-m4 alice within seconds; m5 bob; m6 alice; m7 alice 10 minutes on.
    eren = pages()
    in_utc(eren)
    log_in(eren, server, "eren")
    open_room(eren, server)
    expect(eren.locator("#messages li.message")).to_have_count(7)

    def before(seq: int) -> str:
        return eren.evaluate(f"document.getElementById('m{seq}').previousElementSibling.innerText")

    def header_seqs() -> list[int]:
        return eren.eval_on_selector_all(
            "#messages li.message.group-start", "items => items.map(i => Number(i.dataset.seq))"
        )

    assert before(1) == "Yesterday" and before(2) == "Today"
    assert eren.locator("#messages li.day h2").all_inner_texts() == ["Yesterday", "Today"]
    assert header_seqs() == [1, 2, 5, 6, 7]
    for seq in (3, 4):
        item = eren.locator(f"#m{seq}")
        assert "continued" in item.get_attribute("class")
        assert item.locator(".avatar").count() == 0
        assert item.locator(".author").bounding_box()["width"] <= 1  # for screen readers only
    avatar = eren.locator("#m2 > .avatar")
    assert avatar.inner_text() == "A" and avatar.get_attribute("aria-hidden") == "true"
    colours = {
        name: eren.locator(f"#m{seq} > .avatar").get_attribute("data-colour")
        for name, seq in (("alice", 2), ("bob", 5))
    }

    SHOTS.mkdir(exist_ok=True)
    for width, height in ((1280, 800), (390, 844)):
        eren.set_viewport_size({"width": width, "height": height})
        eren.screenshot(path=str(SHOTS / f"room-{width}x{height}.png"), full_page=width < 760)
        overflow = eren.evaluate(
            "(l => l.scrollWidth - l.clientWidth)(document.getElementById('messages'))"
        )
        assert overflow <= 0, f"the messages are {overflow}px too wide at {width}px"
    eren.set_viewport_size({"width": 1100, "height": 800})

    found = violations_within(eren, "#messages")
    assert not found, "\n".join(str(v) for v in found)

    # A deletion changes no group: its message keeps its place, author and time.
    actions.delete_message(db, room_row(db), alice, 2)
    actions.delete_message(db, room_row(db), alice, 3)
    eren.locator("#m3.deleted").wait_for()
    assert header_seqs() == [1, 2, 5, 6, 7]
    assert eren.locator("#m2 > .avatar").count() == 1

    # Live: two of bob's in a row, within seconds, are one group.
    live = seed(db, [bob]) + seed(db, [bob])
    eren.locator(f"#m{live[1]}").wait_for()
    assert header_seqs()[-1] == live[0]
    assert "continued" in eren.locator(f"#m{live[1]}").get_attribute("class")

    # The history page (no script) shows the same groups, days and avatar colours.
    eren.goto(f"{server.url}/rooms/general/history")
    assert eren.locator("ol.messages .day-line time").all_inner_texts()[:2] == [
        f"{(noon - timedelta(days=1)).day} {(noon - timedelta(days=1)):%B %Y}",
        f"{noon.day} {noon:%B %Y}",
    ]
    assert eren.locator("ol.messages > li").first.get_attribute("id") == "m1"  # items are messages
    continued = eren.eval_on_selector_all(
        "ol.messages li[id]:has(> .meta.continued)", "items => items.map(i => i.id)"
    )
    assert continued == ["m3", "m4", f"m{live[1]}"]
    for name, seq in (("alice", 6), ("bob", 5)):
        assert eren.locator(f"#m{seq} > .avatar").get_attribute("data-colour") == colours[name]
    eren.screenshot(path=str(SHOTS / "history-1100x800.png"), full_page=True)
    found = violations_within(eren, "ol.messages")
    assert not found, "\n".join(str(v) for v in found)


def test_messages_sent_in_an_empty_room_go_below_its_start_line(server, db, people, pages):
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    start = eren.locator("#messages > li.room-start")
    expect(start).to_have_text("Start of #general")  # nothing to load: the start is here
    send(eren, "first words")
    send(eren, "second words")
    eren.locator("#m2").wait_for()
    expect(eren.locator("#messages li.pending")).to_have_count(0)
    items = eren.eval_on_selector_all(
        "#messages > li", "items => items.map(i => i.id || i.className)"
    )
    assert items == ["room-start", "day", "m1", "m2"]
    assert "continued" in eren.locator("#m2").get_attribute("class")


# Initials: the first letters of the first two parts of a name, else its first.
INITIALS = {
    "alice": "A",
    "levi.ackerman": "LA",
    "hange_zoe": "HZ",
    "x-": "X",
    "_q": "Q",
    "__": "_",
    "Ymir": "Y",
}


def test_avatars_are_the_same_live_and_in_history(server, db, pages):
    make_user(db, "eren", PASSWORD)
    seed(db, [make_user(db, name, PASSWORD) for name in INITIALS])
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    expect(eren.locator("#messages li.message")).to_have_count(len(INITIALS))

    def avatars() -> list[tuple[str, str]]:
        return eren.eval_on_selector_all(
            "li[id^=m] > .avatar", "items => items.map(i => [i.textContent, i.dataset.colour])"
        )

    live = avatars()
    assert [letters for letters, _ in live] == list(INITIALS.values())
    assert len({colour for _, colour in live}) > 1  # a colour of one's own, not one for all
    eren.goto(f"{server.url}/rooms/general/history")
    assert avatars() == live


def luminance(hex_colour: str) -> float:
    """WCAG 2's relative luminance of #rrggbb."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_every_avatar_colour_gives_its_white_initials_aa_contrast():
    """Every colour static/messages.css gives avatars, as many as static/avatar.js
    picks from, under white initials: at least WCAG AA's 4.5:1 for normal text."""
    css = (ROOT / "static" / "messages.css").read_text()
    colours = dict(
        re.findall(r'\.avatar\[data-colour="(\d+)"\] \{ background: (#[0-9a-f]{6}); \}', css)
    )
    count = int(
        re.search(r"AVATAR_COLOURS = (\d+);", (ROOT / "static" / "avatar.js").read_text())[1]
    )
    assert sorted(map(int, colours)) == list(range(count))
    assert re.search(r"\.avatar \{[^}]*\bcolor: #fff;", css)
    for index, colour in colours.items():
        ratio = (1 + 0.05) / (luminance(colour) + 0.05)
        assert ratio >= 4.5, f"colour {index} ({colour}): {ratio:.2f}:1"

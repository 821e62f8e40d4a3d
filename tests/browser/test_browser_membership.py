"""Membership and the per-user channel in real headless Chromium (issue 16, items 1-2):
joining from the page, a mention of a non-member reported with one click to add
them, counts that survive a reload, direct conversations and invitations that
appear live, and reading on one tab clearing the badge on another."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import make_user, room_row
from .ui import PASSWORD, log_in, open_room, post, send, wait_until_read

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "membership"


@pytest.fixture
def team(db):
    """alice, bob, carol and dave; #design is carol's, and dave has only joined it."""
    people = {name: make_user(db, name, PASSWORD) for name in ("alice", "bob", "carol", "dave")}
    design = actions.create_room(db, "design", people["carol"].id)
    actions.join(db, design, people["dave"])
    actions.join(db, room_row(db), people["bob"])
    return people


def item(page, room: str):
    return page.locator(f'nav.sidebar li.room-item[data-room="{room}"]')


def test_a_public_room_is_joined_from_its_page_and_stays_in_the_sidebar(server, team, pages, db):
    dave = pages()
    log_in(dave, server, "dave")
    open_room(dave, server, "general")
    expect(item(dave, "general")).to_have_count(0)  # watching: not his room
    dave.click("#join-banner button")
    expect(item(dave, "general")).to_have_count(1)
    expect(dave.locator("#join-banner")).to_be_hidden()
    expect(dave.locator("li.notice.member-event", has_text="You joined #general")).to_be_visible()
    dave.locator("header .room-leave button").click()
    dave.wait_for_url(f"{server.url}/rooms")
    expect(dave.locator('li.room-item[data-room="general"]')).to_have_count(0)
    expect(dave.locator('.directory-item[data-room="general"] button')).to_have_text("Join")


def test_the_dave_scenario_a_mention_of_a_non_member_is_offered_and_survives_reload(
    server, team, pages, db
):
    bob, dave = pages(), pages()
    log_in(bob, server, "bob")
    log_in(dave, server, "dave")
    open_room(bob, server, "general")
    open_room(dave, server, "design")
    send(bob, "hello @dave")
    offer = bob.locator("li.not-members", has_text="dave is not in #general")
    offer.get_by_role("button", name="Add dave").click()
    expect(bob.locator("li.not-members", has_text="Added dave")).to_be_visible()
    # dave's sidebar gains #general live; the next mention counts there.
    expect(item(dave, "general")).to_have_count(1)
    send(bob, "welcome @dave")
    mentions = item(dave, "general").locator(".mentions")
    expect(mentions).to_have_text("@1")
    dave.reload()
    dave.wait_for_selector("#status:has-text('live')")
    expect(item(dave, "general").locator(".mentions")).to_have_text("@1")
    expect(item(dave, "general").locator(".badge")).to_have_text("1")


def test_a_direct_message_and_an_invitation_appear_live(server, team, pages, db):
    alice, bob, carol = pages(), pages(), pages()
    for page, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        log_in(page, server, name)
    open_room(alice, server, "general")
    open_room(bob, server, "general")
    # carol starts a conversation with alice: it appears in alice's sidebar.
    carol.fill("#dm-username", "alice")
    carol.get_by_role("button", name="Start conversation").click()
    carol.wait_for_selector("#status:has-text('live')")
    send(carol, "psst")
    direct = alice.locator("nav.sidebar li.room-item.direct a", has_text="@carol")
    expect(direct).to_be_visible()
    expect(alice.locator("nav.sidebar li.room-item.direct .badge")).to_have_text("1")
    # carol makes a private room and adds bob: it appears in bob's sidebar.
    carol.goto(f"{server.url}/rooms")
    carol.fill("#name", "secret")
    carol.check("#private")
    carol.get_by_role("button", name="Create room").click()
    carol.wait_for_selector("#status:has-text('live')")
    carol.fill("#invite-username", "bob")
    carol.get_by_role("button", name="Add", exact=True).click()
    carol.wait_for_selector("#status:has-text('live')")  # the page the form reloaded
    expect(item(bob, "secret")).to_have_count(1)
    send(carol, "for your eyes @bob")
    expect(item(bob, "secret").locator(".mentions")).to_have_text("@1")


def test_reading_on_one_tab_clears_the_badge_on_another(server, team, pages, db):
    first = pages()
    log_in(first, server, "bob")
    second = first.context.new_page()
    open_room(first, server, "design")  # bob is not in #design: #general is in his sidebar
    second.goto(f"{server.url}/rooms")
    badge = second.locator('li.room-item[data-room="general"] .badge')
    post(server, db, team["alice"], "news for everyone")
    expect(badge).to_have_text("1")
    expect(item(first, "general").locator(".badge")).to_have_text("1")
    open_room(first, server, "general")  # reading it here...
    wait_until_read(server, db, team["bob"])
    expect(badge).to_be_hidden()  # ...clears it there, without a reload


def test_a_renamed_room_moves_live_and_its_old_link_still_works(server, team, pages, db):
    """carol renames #design from its page: dave, reading it, is taken to
    #pixels with his draft; alice's sidebar item follows without a reload; the
    old link still opens the room."""
    actions.join(db, room_row(db, "design"), team["alice"])
    carol, dave, alice = pages(), pages(), pages()
    for page, name in ((carol, "carol"), (dave, "dave"), (alice, "alice")):
        log_in(page, server, name)
    open_room(dave, server, "design")
    open_room(alice, server, "general")
    dave.fill("#content", "half a thought")
    open_room(carol, server, "design")
    SHOTS.mkdir(parents=True, exist_ok=True)
    carol.locator("#room-name").scroll_into_view_if_needed()
    carol.screenshot(path=str(SHOTS / "room-settings.png"))
    carol.fill("#room-name", "pixels")
    carol.get_by_role("button", name="Rename").click()
    carol.wait_for_url(f"{server.url}/rooms/pixels")

    dave.wait_for_url(f"{server.url}/rooms/pixels")
    dave.wait_for_selector("#status:has-text('live')")
    expect(dave.locator("#content")).to_have_value("half a thought")
    expect(
        dave.locator("li.room-renamed", has_text="carol renamed #design to #pixels")
    ).to_be_visible()
    expect(item(alice, "pixels")).to_have_count(1)
    expect(item(alice, "design")).to_have_count(0)
    post(server, db, team["carol"], "in the renamed room", room="pixels")
    expect(item(alice, "pixels").locator(".badge")).to_have_text("1")
    alice.goto(f"{server.url}/rooms/design")
    alice.wait_for_url(f"{server.url}/rooms/pixels")
    expect(alice.locator("li.message", has_text="in the renamed room")).to_be_visible()


def test_the_open_rooms_membership_changes_show_live_without_a_reload(server, team, pages, db):
    """Joining by posting (the server joins silently) turns the viewer's page into a
    member's: the Join banner goes and Leave appears. Leaving elsewhere turns it back."""
    dave = pages()
    log_in(dave, server, "dave")
    open_room(dave, server, "general")
    banner, leave = dave.locator("#join-banner"), dave.locator("header .room-leave")
    expect(banner).to_be_visible()
    expect(leave).to_be_hidden()
    send(dave, "hello, I am new here")
    expect(item(dave, "general")).to_have_count(1)
    expect(banner).to_be_hidden()
    expect(leave).to_be_visible()
    actions.leave(db, room_row(db), team["dave"])  # in another tab, say
    expect(dave.locator("li.notice.removed")).to_be_visible()
    expect(banner).to_be_visible()
    expect(leave).to_be_hidden()
    expect(dave.locator("#content")).to_be_enabled()  # posting in a public room joins it again


def test_removal_from_a_private_room_closes_the_message_box(server, team, pages, db):
    """Removed from a private room, the page can no longer send there: the box is
    disabled with the reason (its text kept), not left to fail on the next send."""
    dave = pages()
    log_in(dave, server, "dave")
    carol = team["carol"]
    room = actions.create_room(db, "secret", carol.id, is_private=True)
    actions.add_member(db, room, carol, "dave")
    open_room(dave, server, "secret")
    dave.fill("#content", "a draft")
    actions.remove_member(db, room, carol, "dave")
    expect(dave.locator("#send-closed")).to_contain_text("no longer a member of #secret")
    expect(dave.locator("#content")).to_be_disabled()
    expect(dave.locator("#send button[type=submit]")).to_be_disabled()
    expect(dave.locator("#content")).to_have_value("a draft")
    expect(dave.locator("header .room-leave")).to_be_hidden()


def member_rows(*usernames: str) -> list:
    """#members' items in order, each the person's avatar (initials, or a picture:
    no text) and then their shown name."""
    return [re.compile(rf"^\s*[A-Z0-9?]{{0,2}}\s*{re.escape(name)}\b") for name in usernames]


def change_members(db, team, change: str) -> list[str]:
    """Change #design's members elsewhere (another page, a script); the names the
    people panel should then list, in order."""
    design, carol = room_row(db, "design"), team["carol"]
    if change == "join":
        actions.join(db, design, team["bob"])
        return ["bob", "carol", "dave"]
    if change == "leave":
        actions.leave(db, design, team["dave"])
        return ["carol"]
    if change == "add":
        actions.add_member(db, design, carol, "alice")
        return ["Alice Liddell", "carol", "dave"]
    if change == "remove":
        actions.remove_member(db, design, carol, "dave")
        return ["carol"]
    # a burst: one change after another, coalesced into as few reads
    actions.add_member(db, design, carol, "alice")
    actions.add_member(db, design, carol, "bob")
    actions.remove_member(db, design, carol, "dave")
    return ["Alice Liddell", "bob", "carol"]


@pytest.mark.parametrize("change", ["join", "leave", "add", "remove", "burst"])
def test_the_people_panel_follows_the_open_rooms_members_live(server, team, pages, db, change):
    """Every change of #design's members shows on carol's page without a reload:
    the list (display names included), its count, and her "Remove a member"."""
    actions.set_display_name(db, team["alice"].id, "Alice Liddell")
    carol = pages(viewport={"width": 1280, "height": 800})
    log_in(carol, server, "carol")
    open_room(carol, server, "design")
    rows, count = carol.locator("#members li"), carol.locator("#members-count")
    removable = carol.locator("#remove-username option")
    expect(rows).to_have_text(member_rows("carol", "dave"))
    expect(count).to_have_text("(2)")
    expect(removable).to_have_text(["dave"])

    shown = change_members(db, team, change)
    expect(rows).to_have_text(member_rows(*shown))
    expect(count).to_have_text(f"({len(shown)})")
    others = [name for name in shown if name != "carol"]
    labels = [f"{name} (@alice)" if name == "Alice Liddell" else name for name in others]
    expect(removable).to_have_text(labels)
    expect(carol.locator("#remove-form")).to_have_js_property("hidden", not others)
    expect(carol.locator("#members li.empty")).to_have_count(0)
    if change == "add":
        expect(rows.first.locator(".handle")).to_have_text("@alice")
        SHOTS.mkdir(parents=True, exist_ok=True)
        carol.screenshot(path=str(SHOTS / "members-live.png"))


def test_someone_who_joins_by_posting_appears_in_the_people_panel(server, team, pages, db):
    """Posting joins a public room with no `member` frame: the panel lists them all the same."""
    carol = pages()
    log_in(carol, server, "carol")
    open_room(carol, server, "design")
    rows = carol.locator("#members li")
    expect(rows).to_have_text(member_rows("carol", "dave"))
    post(server, db, team["bob"], "hello, design", room="design")
    expect(rows).to_have_text(member_rows("bob", "carol", "dave"))
    expect(carol.locator("#members-count")).to_have_text("(3)")


def test_a_removed_reader_loses_the_tools_of_a_member(server, team, pages, db):
    """Removed from #design, dave's page hides what only a member may use:
    "Add people", "Mute" and the room's settings, and "Leave"."""
    dave = pages(viewport={"width": 1280, "height": 800})
    log_in(dave, server, "dave")
    open_room(dave, server, "design")
    for tool in ("#invite-form", "#mute-toggle", "header .room-leave"):
        expect(dave.locator(tool)).to_be_visible()
    actions.remove_member(db, room_row(db, "design"), team["carol"], "dave")
    expect(dave.locator("#members li")).to_have_text(member_rows("carol"))
    for tool in ("#invite-form", "#room-settings", "#mute-toggle", "header .room-leave"):
        expect(dave.locator(tool)).to_be_hidden()


@pytest.mark.parametrize("departure", ["removed", "left"])
def test_removal_from_a_public_room_closes_the_box_and_leaving_does_not(
    server, team, pages, db, departure
):
    """Removed from public #design by carol, dave's box closes until he joins again
    (posting would have joined him silently, undoing the removal unawares); having
    left it himself (another tab), his box stays usable, as anyone's in a public room.
    Joining again (in another tab, or by the banner) opens it."""
    dave = pages()
    log_in(dave, server, "dave")
    open_room(dave, server, "design")
    dave.fill("#content", "still here?")
    design = room_row(db, "design")
    if departure == "removed":
        actions.remove_member(db, design, team["carol"], "dave")
    else:
        actions.leave(db, design, team["dave"])
    expect(dave.locator("#join-banner")).to_be_visible()
    expect(dave.locator("li.notice.removed")).to_be_visible()
    box, closed = dave.locator("#content"), dave.locator('#send-closed[data-reason="removed"]')
    if departure == "left":
        expect(box).to_be_enabled()
        expect(closed).to_have_count(0)
        return
    expect(closed).to_have_text("You were removed from #design. Join it again to write here.")
    expect(box).to_be_disabled()
    expect(box).to_have_value("still here?")

    actions.join(db, room_row(db, "design"), team["dave"])  # in another tab
    expect(box).to_be_enabled()
    expect(closed).to_have_count(0)
    actions.remove_member(db, room_row(db, "design"), team["carol"], "dave")
    expect(box).to_be_disabled()
    dave.click("#join-banner button")
    dave.wait_for_selector("#status:has-text('live')")
    expect(dave.locator("#content")).to_be_enabled()
    expect(dave.locator("#content")).to_have_value("still here?")
    send(dave, "back again")
    expect(dave.locator("li.message", has_text="back again")).to_have_attribute(
        "id", re.compile(r"^m\d+$")
    )


@pytest.mark.parametrize(
    ("meanwhile", "reason"),
    [
        pytest.param("joined", "bob is already a member", id="taken"),
        pytest.param("archived", "#design is archived", id="forbidden"),
    ],
)
def test_a_refused_add_says_the_servers_reason(server, team, pages, db, meanwhile, reason):
    """The "Add bob" button of a mention of a non-member, refused by the API
    ({"error":{"code","message"}}), shows the server's message and stays to try again."""
    carol = pages()
    log_in(carol, server, "carol")
    open_room(carol, server, "design")
    send(carol, "a look at this, @bob?")
    offer = carol.locator("li.not-members", has_text="bob is not in #design")
    expect(offer).to_be_visible()
    design = room_row(db, "design")
    if meanwhile == "joined":
        actions.join(db, design, team["bob"])
    else:
        actions.update_room(db, design, team["carol"], archived=True)
    offer.get_by_role("button", name="Add bob").click()
    refused = carol.locator("li.not-members", has_text="bob was not added")
    expect(refused).to_have_text(f"bob was not added: {reason} Add bob")
    expect(refused.get_by_role("button", name="Add bob")).to_be_enabled()

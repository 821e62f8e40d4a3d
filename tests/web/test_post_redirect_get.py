"""Post/Redirect/Get for every HTML form: a form that did what it asked answers
with a redirect to a page, never with a page of its own, so that reloading the
page a person lands on repeats nothing (a second token, a second message, a
second room). A form that was refused (nothing done) answers with the page and
the reason beside the field: reloading that one only asks again.

The table below names one successful submission per form route; a form route
missing from it fails the test, so a new form is checked too.
"""

import pytest

from chat import actions

from ..conftest import AuthActions, csrf_token, make_user, room_row

# endpoint -> (path, form fields) of a submission that succeeds, for eren, logged in,
# a member of #general (with mikasa), with a private room #secret of his own (with
# mikasa, not levi), a public room #open he has not joined and one other login
# session. `{session}`, `{token}`, `{webhook}` and `{outgoing}` are the ids of that
# session, of an API token of his, of an incoming webhook he made in #secret and
# of an outgoing webhook of #general.
SUCCESSFUL = {
    "auth.register": ("/register", {"username": "armin", "password": "correct horse",
                                    "confirm": "correct horse"}),
    "auth.login": ("/login", {"username": "eren", "password": "correct horse"}),
    "auth.logout": ("/logout", {}),
    "rooms.index": ("/rooms", {"name": "plans"}),
    "rooms.direct": ("/direct", {"username": "mikasa"}),
    "rooms.join": ("/rooms/open/join", {}),
    "rooms.leave": ("/rooms/general/leave", {}),
    "rooms.mute": ("/rooms/general/mute", {"muted": "true"}),
    "rooms.settings": ("/rooms/secret/settings", {"topic": "plans"}),
    "rooms.remove": ("/rooms/secret/remove", {"username": "mikasa"}),
    "rooms.invite": ("/rooms/secret/invite", {"username": "levi"}),
    "rooms.post_message": ("/rooms/general/messages", {"content": "hello"}),
    "settings.display_name": ("/settings/display-name", {"display_name": "Eren"}),
    "settings.password": ("/settings/password", {"current_password": "correct horse",
                          "new_password": "a new horse", "confirm_password": "a new horse"}),
    "settings.log_out_session": ("/settings/sessions/{session}/logout", {}),
    "settings.create_token": ("/settings/tokens", {"name": "deploy bot"}),
    "settings.revoke_token": ("/settings/tokens/{token}/revoke", {}),
    "settings.avatar": ("/settings/avatar", {"remove": "1"}),
    "webhooks.create": ("/rooms/secret/webhooks", {"name": "CI"}),
    "webhooks.revoke": ("/rooms/secret/webhooks/{webhook}/revoke", {}),
    "webhooks.create_outgoing": ("/rooms/general/outgoing-webhooks", {"name": "deploybot",
                             "url": "https://ci.example.com/chat", "trigger_words": "!deploy"}),
    "webhooks.delete_outgoing": ("/rooms/general/outgoing-webhooks/{outgoing}/delete", {}),
}  # fmt: skip
LOGGED_OUT = {"auth.register", "auth.login"}


def form_routes(app) -> set[str]:
    """Every route a page's form posts to (the JSON API and sockets are not forms)."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith(("/api/", "/ws"))
    }


def test_every_form_route_is_in_the_table(app):
    assert form_routes(app) == set(SUCCESSFUL)


@pytest.fixture
def world(app, db, eren, mikasa):
    general = room_row(db)
    actions.join(db, general, eren)
    actions.join(db, general, mikasa)
    actions.create_room(db, "open", mikasa.id)
    secret = actions.create_room(db, "secret", eren.id, is_private=True)
    actions.add_member(db, secret, eren, "mikasa")
    make_user(db, "levi")
    AuthActions(app.test_client()).login("eren")  # another session of eren's
    return {
        "session": db.execute("SELECT min(id) AS id FROM user_sessions").fetchone()["id"],
        "token": actions.new_token(db, eren.id, "old").listing.id,
        "webhook": actions.create_incoming(db, secret, eren, "old").listing.id,
        "outgoing": actions.create_webhook(
            db, general, eren, "oldbot", "https://ci.example.com/old", ()
        ).id,
    }


@pytest.mark.parametrize("endpoint", sorted(SUCCESSFUL))
def test_a_form_that_succeeds_redirects_to_a_page(app, db, world, endpoint):
    client = app.test_client()
    if endpoint not in LOGGED_OUT:
        assert AuthActions(client).login("eren").status_code in (302, 303)
    path, fields = SUCCESSFUL[endpoint]
    page = client.get("/login" if endpoint in LOGGED_OUT else "/settings").text
    response = client.post(path.format(**world), data={"csrf_token": csrf_token(page), **fields})
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    landing = client.get(response.headers["Location"])
    assert landing.status_code == 200, landing.status_code


def test_a_new_token_is_shown_once_and_a_reload_makes_no_other(app, db, eren):
    client = app.test_client()
    AuthActions(client).login("eren")
    page = client.get("/settings").text
    made = client.post(
        "/settings/tokens", data={"csrf_token": csrf_token(page), "name": "deploy bot"}
    )
    assert made.status_code == 303
    assert made.headers["Location"] == "/settings#tokens"
    shown = client.get("/settings")
    assert shown.headers["Cache-Control"] == "no-store"
    assert 'id="new-token"' in shown.text
    reloaded = client.get("/settings")  # what a reload does: a GET, not the POST again
    assert 'id="new-token"' not in reloaded.text
    assert db.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"] == 1

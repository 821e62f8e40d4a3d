"""Outgoing webhooks over the JSON API and the HTML forms (chat/web/outgoing.py): members
only, the secret shown once, and every invalid input refused with its reason and
nothing changed (the answers are checked against chat/web/openapi.yaml too)."""

import pytest

from chat import actions

from ..conftest import AuthActions, csrf_token, db_state, make_token, room_row

API = "/api/rooms/general/outgoing-webhooks"
GOOD = {"name": "deploybot", "url": "https://ci.example.com/chat", "trigger_words": ["!deploy"]}


@pytest.fixture
def headers(db, eren):
    actions.join(db, room_row(db), eren)
    return {"Authorization": f"Bearer {make_token(db, eren)}"}


def hooks_state(db) -> dict:
    return {
        **db_state(db),
        "webhooks": db.execute("SELECT count(*) AS n FROM outgoing_webhooks").fetchone()["n"],
    }


def test_a_member_makes_lists_and_deletes_one(client, db, headers):
    made = client.post(API, json=GOOD, headers=headers)
    assert made.status_code == 201
    body = made.get_json()
    secret, hook = body["secret"], body["webhook"]
    assert len(secret) == 64
    assert (hook["name"], hook["url"], hook["trigger_words"]) == (
        "deploybot",
        GOOD["url"],
        ["!deploy"],
    )
    assert (hook["created_by"], hook["last_status"], hook["last_delivery_at"]) == (
        "eren",
        None,
        None,
    )
    listed = client.get(API, headers=headers)
    assert listed.get_json()["webhooks"] == [hook]
    assert secret not in listed.text
    gone = client.delete(f"{API}/{hook['id']}", headers=headers)
    assert gone.status_code == 204
    assert client.get(API, headers=headers).get_json()["webhooks"] == []
    again = client.delete(f"{API}/{hook['id']}", headers=headers)
    assert again.status_code == 404
    assert client.delete(f"{API}/{2**64}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"url": "http://ci.example.com/chat"}, "https"),
        ({"url": "https://ci.example.com/" + "x" * 2000}, "2000"),
        ({"url": "https://ci example.com/"}, "spaces"),
        ({"url": "https://user:pw@ci.example.com/"}, "user name"),
        ({"url": "https://127.0.0.1/chat"}, "loopback"),
        ({"url": "https://10.0.0.2/chat"}, "private"),
        ({"url": "https://169.254.169.254/latest"}, "link-local"),
        ({"url": "https://0x7f.1/"}, "plain name"),
        ({"url": None}, "url"),
        ({"trigger_words": [f"w{i}" for i in range(11)]}, "at most 10"),
        ({"trigger_words": ["two words"]}, "one word"),
        ({"trigger_words": 5}, "trigger_words"),
        ({"name": "no spaces please"}, "name"),
        ({"name": "eren"}, "taken"),
        ({"name": "stockbot"}, "reserved"),
    ],
)
def test_invalid_input_is_refused_with_its_reason_and_nothing_changes(
    client, db, headers, fields, reason
):
    before = hooks_state(db)
    answer = client.post(API, json={**GOOD, **fields}, headers=headers)
    assert answer.status_code == 400, answer.text
    assert reason in answer.get_json()["error"]["message"]
    assert hooks_state(db) == before


def test_a_body_that_is_not_an_object_is_refused(client, headers):
    assert client.post(API, data="x", headers=headers).status_code == 400


def test_an_allowed_test_address_may_be_used(make_app, db, headers):
    """EGRESS_ALLOW (tests only) lets the creation check through, as it does the worker."""
    client = make_app(EGRESS_ALLOW=(("127.0.0.1", 8443),)).test_client()
    url = "https://127.0.0.1:8443/hook"
    assert client.post(API, json={**GOOD, "url": url}, headers=headers).status_code == 201


def test_only_members_see_or_touch_a_rooms_webhooks(client, db, headers, eren, mikasa):
    hook = client.post(API, json=GOOD, headers=headers).get_json()["webhook"]
    outsider = {"Authorization": f"Bearer {make_token(db, mikasa)}"}
    assert client.get(API, headers=outsider).status_code == 403
    assert client.post(API, json={**GOOD, "name": "x"}, headers=outsider).status_code == 403
    assert client.delete(f"{API}/{hook['id']}", headers=outsider).status_code == 403
    actions.create_room(db, "secret", eren.id, is_private=True)
    hidden = "/api/rooms/secret/outgoing-webhooks"
    assert client.get(hidden, headers=outsider).status_code == 404


def test_a_room_has_at_most_ten(client, db, headers):
    for i in range(10):
        answer = client.post(API, json={**GOOD, "name": f"bot{i}"}, headers=headers)
        assert answer.status_code == 201
    refused = client.post(API, json={**GOOD, "name": "bot10"}, headers=headers)
    assert refused.status_code == 400 and "10" in refused.get_json()["error"]["message"]


# --- the page and its forms -------------------------------------------------------------


@pytest.fixture
def browser(app, db, eren):
    actions.join(db, room_row(db), eren)
    client = app.test_client()
    AuthActions(client).login("eren")
    return client


PAGE = "/rooms/general/webhooks"
FORM = "/rooms/general/outgoing-webhooks"


def test_the_form_makes_one_and_the_page_shows_its_secret_once(browser, db):
    page = browser.get(PAGE)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    made = browser.post(
        FORM,
        data={"csrf_token": csrf_token(page.text), "name": "deploybot",
              "url": "https://ci.example.com/chat", "trigger_words": "!deploy, !status"},
    )  # fmt: skip
    assert made.status_code == 303 and made.headers["Location"].endswith(
        "/rooms/general/webhooks#outgoing-webhooks"
    )
    secret = db.execute("SELECT secret FROM outgoing_webhooks").fetchone()["secret"]
    shown = browser.get(PAGE)
    assert 'id="new-webhook-secret"' in shown.text and secret in shown.text
    assert "!status" in shown.text and "nothing delivered yet" in shown.text
    reloaded = browser.get(PAGE)
    assert secret not in reloaded.text and "deploybot" in reloaded.text


def test_a_refused_form_answers_with_the_reason_beside_the_field(browser, db):
    page = browser.get(PAGE)
    refused = browser.post(
        FORM,
        data={"csrf_token": csrf_token(page.text), "name": "deploybot",
              "url": "https://192.168.1.5/hook", "trigger_words": ""},
    )  # fmt: skip
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text and "private" in refused.text
    assert 'value="https://192.168.1.5/hook"' in refused.text  # nothing typed is lost
    assert db.execute("SELECT count(*) AS n FROM outgoing_webhooks").fetchone()["n"] == 0


def test_the_delete_button_deletes_it(browser, db, eren):
    made = actions.create_webhook(db, room_row(db), eren, "deploybot", GOOD["url"], ())
    page = browser.get(PAGE)
    gone = browser.post(f"{FORM}/{made.id}/delete", data={"csrf_token": csrf_token(page.text)})
    assert gone.status_code == 303
    assert "is deleted" in browser.get(PAGE).text
    assert room_row(db) is not None
    assert db.execute("SELECT deleted_at IS NOT NULL AS d FROM outgoing_webhooks").fetchone()["d"]


def test_a_room_has_at_most_its_share_of_outgoing_webhooks(client, db, headers):
    from chat.domain.outgoing import WEBHOOKS_PER_ROOM_MAX

    for i in range(WEBHOOKS_PER_ROOM_MAX):
        made = client.post(API, json={**GOOD, "name": f"bot{i}"}, headers=headers)
        assert made.status_code == 201
    refused = client.post(API, json={**GOOD, "name": "onemore"}, headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "too_many_webhooks"

"""What a person does in the chat's pages, step by step, for the browser tests."""

import re
import time

from chat.domain.entities import User

from ..conftest import make_token
from ..servers import http

PASSWORD = "correct horse"


def log_in(page, server, username: str):
    page.goto(f"{server.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/rooms$"))


def open_room(page, server, room: str = "general"):
    page.goto(f"{server.url}/rooms/{room}")
    page.wait_for_selector("#status:has-text('live')")


def in_the_room(pages, server, name: str, **options):
    """A new page (`pages` fixture, with its options) of `name`, logged in, in #general."""
    page = pages(**options)
    log_in(page, server, name)
    open_room(page, server)
    return page


def send(page, text: str):
    page.fill("#content", text)
    page.press("#content", "Enter")


# Drag events carrying files ([{b64, name, type}]) over an element, as a drag from
# the desktop would: window.__drag keeps the DataTransfer between calls.
_DRAG_JS = """([target, kind, files]) => {
  if (files) {
    const dt = new DataTransfer();
    for (const f of files) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    window.__drag = dt;
  }
  const init = { bubbles: true, cancelable: true, dataTransfer: window.__drag };
  document.getElementById(target).dispatchEvent(new DragEvent(kind, init));
}"""


def drag(page, target: str, kind: str, files: list[dict] | None = None) -> None:
    """Dispatch a `kind` drag event ("dragenter", "drop"...) on the element with id
    `target`; `files` ([{b64, name, type}]) start a new drag, else the last one goes on."""
    page.evaluate(_DRAG_JS, [target, kind, files])


def message(page, text: str):
    return page.locator("#messages li.message", has_text=text)


def words(text: str) -> str:
    """Text with its whitespace collapsed (innerText puts line breaks around every <p>)."""
    return " ".join(text.split())


def post(server, db, user: User, text: str, room: str = "general") -> None:
    """Send `text` as `user` through the JSON API (a script, not a page)."""
    api = http()
    api.headers["Authorization"] = f"Bearer {make_token(db, user)}"
    response = api.post(f"{server.url}/api/rooms/{room}/messages", json={"content": text})
    assert response.status_code == 201, response.text


def wait_until_read(server, db, user: User, room: str = "general") -> None:
    """Until the server has the room read (the page reports reads, throttled)."""
    api = http()
    api.headers["Authorization"] = f"Bearer {make_token(db, user)}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # each check is a round trip to the server
        rooms = api.get(f"{server.url}/api/rooms").json()["rooms"]
        if next(r for r in rooms if r["name"] == room)["unread"] == 0:
            return
    raise AssertionError(f"{room} never marked read")


def thread_state(server, db, user: User, seq: int, room: str = "general") -> dict | None:
    """`user`'s state of the thread of `seq` as the API has it (None: never followed)."""
    api = http()
    api.headers["Authorization"] = f"Bearer {make_token(db, user)}"
    response = api.get(f"{server.url}/api/rooms/{room}/threads/{seq}")
    assert response.status_code == 200, response.text
    return response.json()["state"]


def reply(server, db, user: User, root: int, text: str, room: str = "general") -> int:
    """Reply in the thread of `root` as `user` through the JSON API; the reply's seq."""
    api = http()
    api.headers["Authorization"] = f"Bearer {make_token(db, user)}"
    response = api.post(
        f"{server.url}/api/rooms/{room}/messages", json={"content": text, "thread": root}
    )
    assert response.status_code == 201, response.text
    return response.json()["seq"]

"""Regenerate the README's screenshots: `.venv/bin/python docs/screenshots.py`.

Runs the real server on a scratch database, has two people chat in headless
Chromium (Debian's /usr/bin/chromium) and saves docs/screenshot-*.png.
"""

import sys
from pathlib import Path

import psycopg
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from tests.servers import Gunicorn, scratch_database  # noqa: E402

PASSWORD = "correct horse"


def main() -> None:
    with scratch_database() as url:
        shoot(url)


def shoot(url: str) -> None:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        eren = actions.create_user(conn, "eren", PASSWORD)
        mikasa = actions.create_user(conn, "mikasa", PASSWORD)
        for user in (eren, mikasa):  # as registering does: members of #general
            actions.join_first_room(conn, user)
        actions.create_room(conn, "random", eren.id)
        actions.create_room(conn, "plans", eren.id, is_private=True)
    server = Gunicorn(url, Path("/tmp") / "screenshots.log", workers=2).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-background-networking"],
            )
            pages = {}
            for user in ("eren", "mikasa"):
                page = browser.new_context(viewport={"width": 1200, "height": 760}).new_page()
                page.goto(f"{server.url}/login")
                page.fill("#username", user)
                page.fill("#password", PASSWORD)
                page.click("form button[type=submit]")
                page.wait_for_url("**/rooms")
                page.goto(f"{server.url}/rooms/general")
                page.wait_for_selector("#status:has-text('live')")
                pages[user] = page
            lines = [
                ("eren", "Morning! Did the deploy go out?"),
                (
                    "mikasa",
                    "It did: **all green**. Release notes: [changelog](https://example.com)",
                ),
                ("eren", "Nice. Running `make test` on the branch now."),
                ("mikasa", "Ping me if anything is flaky."),
            ]
            for user, text in lines:
                pages[user].fill("#content", text)
                pages[user].press("#content", "Enter")
                pages["eren"].wait_for_selector(
                    f"#messages li.message:not(.pending) >> text={text.split()[0]}"
                )
            # Longer than the 2 s typing throttle, so a notice gets through after the sends.
            pages["mikasa"].type("#content", "Also, the nginx config needs a look", delay=120)
            pages["eren"].wait_for_selector("#typing:has-text('mikasa')")
            pages["eren"].screenshot(path=str(ROOT / "docs" / "screenshot-room.png"))
            pages["eren"].goto(f"{server.url}/rooms")
            pages["eren"].screenshot(path=str(ROOT / "docs" / "screenshot-rooms.png"))
            pages["eren"].goto(f"{server.url}/rooms/general/history")
            pages["eren"].screenshot(path=str(ROOT / "docs" / "screenshot-history.png"))
            phone = browser.new_context(
                viewport={"width": 390, "height": 780},
                storage_state=pages["mikasa"].context.storage_state(),
            ).new_page()
            phone.goto(f"{server.url}/rooms/general")
            phone.wait_for_selector("#status:has-text('live')")
            phone.screenshot(path=str(ROOT / "docs" / "screenshot-phone.png"))
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""What a person does in the chat's pages, step by step, for the browser tests."""

import re

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


def send(page, text: str):
    page.fill("#content", text)
    page.press("#content", "Enter")


def message(page, text: str):
    return page.locator("#messages li.message", has_text=text)


def words(text: str) -> str:
    """Text with its whitespace collapsed (innerText puts line breaks around every <p>)."""
    return " ".join(text.split())

"""The browser tests' fixtures: Debian's Chromium (one for the session), pages (one per
person, scanned by axe-core, screenshots of each when a test fails), the server they
load, and two people.
"""

import re
from pathlib import Path

import pytest

from ..conftest import ROOT, make_user, missing_part
from .axe import AXE_JS, AxeScans
from .ui import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
# Generous: two browsers, two workers and PostgreSQL share two cores.
WAIT_MS = 20_000


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one for the whole session
    (Playwright's sync API allows one at a time), shared by every browser test file."""
    if not CHROMIUM.exists():
        missing_part("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",  # we run as root
                "--disable-gpu",
                "--disable-background-networking",  # no calls to the outside world
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe():
    """axe-core from npm (`make test` runs `npm ci`), for the scans of every page."""
    if not AXE_JS.exists():
        missing_part(f"axe-core is not installed ({AXE_JS}; `npm ci` installs it)")
    return AxeScans(AXE_JS)


@pytest.fixture
def pages(browser, axe, request):
    """Open pages, each in its own browser context (its own cookies): one per person.
    `pages()` opens a desktop-sized page; keyword arguments are the context's options
    (`pages(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)`).

    axe-core scans every page these contexts open (pages a test opens with
    `page.context.new_page()` too): each document when it has loaded, and each open
    page's final state when the test ends, so what scripts drew live (messages, menus,
    drawers) is scanned as well (tests/browser/axe.py). The test fails at teardown if a
    scan found a violation, listing each rule, its impact, the elements and the rule's
    help page. No rule is turned off. Every WebSocket frame these pages receive is
    checked against chat/protocol/frames.schema.yaml (tests/contract.py), like the
    frames of the tests' own clients.

    A failing test leaves screenshots of every open page in test-output/<test name>/."""
    contexts = []
    violations = []

    def new_page(**options):
        # Reduced motion: a scan sees where a fade or a slide ends, not a frame of it.
        defaults = {"viewport": {"width": 1100, "height": 800}, "reduced_motion": "reduce"}
        context = browser.new_context(**{**defaults, **options})
        axe.watch(context, violations)
        context.on("page", _check_frames)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        return page

    yield new_page
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    if failed:
        out = ROOT / "test-output" / re.sub(r"[^\w.-]", "_", request.node.name)
        out.mkdir(parents=True, exist_ok=True)
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                page.screenshot(path=str(out / f"page-{i}-{j}.png"), full_page=True)
        print(f"screenshots in {out}")
    for context in contexts:
        for page in context.pages:
            axe.scan(page, violations)
        context.close()
    if violations:
        listed = "\n".join(str(v) for v in violations)
        pytest.fail(f"axe-core found {len(violations)} accessibility violation(s):\n{listed}")


def _check_frames(page) -> None:
    """Check each text frame the page's sockets receive (a mismatch is recorded
    and fails the test at its end: a Playwright callback cannot raise into it)."""
    from ..contract import check_server_frame

    def watch(socket) -> None:
        socket.on(
            "framereceived",
            lambda payload: (
                isinstance(payload, str)
                and check_server_frame(payload, "a browser page", raise_=False)
            ),
        )

    page.on("websocket", watch)


@pytest.fixture
def server(start_server):
    return start_server(RATE_LIMIT_PER_SEC="0")


@pytest.fixture
def people(db):
    return {name: make_user(db, name, PASSWORD) for name in ("eren", "mikasa")}

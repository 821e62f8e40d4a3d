"""The error pages (chat/web/errors.py) in Chromium: a 404 and a 400 page at desktop and
phone sizes, with screenshots in test-output/error-pages/, no horizontal overflow, an
axe-core scan (the `pages` fixture's), and the way back. What each error answers is
tests/web/test_error_pages.py.
"""

import re

import pytest

from chat.web import errors

from ..conftest import ROOT, make_user

OUTPUT = ROOT / "test-output" / "error-pages"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


# A page of each shape: the plain one, and one with the code's own words in a box.
BROWSER_PAGES = {404: "/rooms/nowhere", 400: "/rooms/general/history?before=abc"}


@pytest.mark.e2e
@pytest.mark.parametrize("size", SIZES)
def test_a_404_page_fits_the_screen_and_passes_axe(start_server, db, pages, size):
    make_user(db, "eren")
    server = start_server(workers=1)
    width, height = SIZES[size]
    page = pages(viewport={"width": width, "height": height})
    page.goto(f"{server.url}/login")
    page.fill("#username", "eren")
    page.fill("#password", "correct horse")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/rooms$"))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for status, path in BROWSER_PAGES.items():
        response = page.goto(server.url + path)
        assert response.status == status
        assert page.locator("h1").inner_text() == errors.PAGES[status].title
        page.screenshot(path=str(OUTPUT / f"{status}-{size}.png"), full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px of horizontal overflow at {width}x{height}"
    page.click("text=Back to your rooms")
    page.wait_for_url(re.compile(r"/rooms$"))

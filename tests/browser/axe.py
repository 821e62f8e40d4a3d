"""axe-core (from npm, node_modules/axe-core, pinned in package-lock.json) scanning the
pages the browser tests open, for the `pages` fixture in conftest.py.

The script is added to every document of a watched context before the page's own
scripts (an init script, so the pages' strict CSP, which refuses inline scripts, is
neither loosened nor tripped). Scans run in the page, one at a time.
"""

from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import BrowserContext, Error, Page

from ..conftest import ROOT

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"

# Queued, so that a scan asked while another runs waits for it (axe refuses to run
# twice at once); only in the top document (the pages have no frames of their own).
# `selector`, if given, limits the scan to that part of the page.
_RUNNER = """
if (window.top === window && !window.__chatAxe) {
%s
  let queue = Promise.resolve();
  window.__chatAxe = (selector) => {
    const context = selector ? {include: [[selector]]} : document;
    queue = queue.catch(() => null).then(() => axe.run(context, {resultTypes: ["violations"]}));
    return queue.then((result) => result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      targets: v.nodes.map((node) => node.target.join(" ")),
    })));
  };
}
"""


@dataclass(frozen=True)
class Violation:
    url: str
    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        where = "".join(f"\n      {target}" for target in self.targets)
        head = f"  {self.rule} ({self.impact}) on {self.url}: {self.help}"
        return f"{head}\n    {self.help_url}{where}"


class AxeScans:
    """Scans of every page a watched context opens: one each time a document has
    loaded (the handler runs while the test waits in its next Playwright call, so a
    test that navigates on at once may cut it short: that page is then scanned at
    its next load), and one of every open page's final state when the test ends
    (what scripts drew after the load: live messages, menus, drawers). They make
    the browser tests about a tenth slower (test_browser.py and
    test_browser_events.py: 105 s against 95 s without them)."""

    def __init__(self, source: Path = AXE_JS):
        self.script = _RUNNER % source.read_text(encoding="utf-8")

    def watch(self, context: BrowserContext, found: list[Violation]) -> None:
        context.add_init_script(script=self.script)
        context.on("page", lambda page: page.on("load", lambda p: self.scan(p, found)))

    def scan(self, page: Page, found: list[Violation]) -> bool:
        """Scan `page` now, adding what is new to `found`; False if the page went away
        (closed, or navigated) before the scan finished."""
        if page.is_closed():
            return False
        url = page.url
        try:
            results = page.evaluate("() => window.__chatAxe ? window.__chatAxe() : null")
        except Error:
            return False
        if results is None:
            return False
        for v in results:
            violation = Violation(
                url, v["id"], v["impact"] or "", v["help"], v["helpUrl"], tuple(v["targets"])
            )
            if violation not in found:
                found.append(violation)
        return True


def violations_within(page: Page, selector: str) -> list[Violation]:
    """axe-core's violations inside `selector` of a page the `pages` fixture opened,
    now: for what a test shows for a moment (a menu, a picker) and closes again,
    which the scans at load and at the end of the test would not see."""
    results = page.evaluate("(selector) => window.__chatAxe(selector)", selector)
    return [
        Violation(
            page.url, v["id"], v["impact"] or "", v["help"], v["helpUrl"], tuple(v["targets"])
        )
        for v in results
    ]

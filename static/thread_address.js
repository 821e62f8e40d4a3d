// The thread panel in the page's address and history (static/thread_panel.js):
// ?thread=<seq> while a thread is open, so that a reload opens it again.
// Opening pushes a history entry, so Back (a phone's above all, where the
// panel is the whole screen) closes the panel and stays in the room; closing
// goes back over that entry (none is left behind); Forward opens it again.
// An entry the page did not push (a link's ?thread=) is replaced instead.
// A permalink of the room (#m<seq>) clicked while ?thread= is in the address
// stays on this page: only its hash changes, as it would without ?thread=.

// ?thread=<seq> in the page's address, else null.
export function linkedThread() {
  const seq = Number(new URLSearchParams(location.search).get("thread"));
  return Number.isInteger(seq) && seq > 0 ? seq : null;
}

export class ThreadAddress {
  // closed(): Back (or Forward) reached an entry without ?thread=;
  // opened(seq): one with ?thread=<seq>.
  constructor({ closed, opened }) {
    Object.assign(this, { closed, opened });
    this.goingBack = null; // a history.back() of ours, until its popstate
    window.addEventListener("popstate", () => this.onHistory());
    document.addEventListener("click", (event) => this.samePageLink(event));
  }

  // Resolves once a history.back() of ours has landed (at once if none).
  settled() {
    return this.goingBack ?? Promise.resolve();
  }

  // how: "push" (an entry Back closes), "replace", "none", or, with seq null,
  // "close" (back over the entry that opened it, if the page pushed it).
  remember(seq, how) {
    if (how === "none") return;
    if (how === "close" && history.state?.threadPanel) {
      this.goingBack = new Promise((resolve) => {
        this.wentBack = resolve;
      });
      history.back();
      return;
    }
    const url = new URL(location.href);
    if (seq === null) url.searchParams.delete("thread");
    else url.searchParams.set("thread", String(seq));
    if (how === "push") history.pushState({ ...history.state, threadPanel: true }, "", url);
    else history.replaceState(history.state, "", url);
  }

  onHistory() {
    if (this.goingBack) {
      this.goingBack = null;
      this.wentBack();
    }
    const seq = linkedThread();
    if (seq === null) this.closed();
    else this.opened(seq);
  }

  samePageLink(event) {
    const link = event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || url.pathname !== location.pathname || !/^#m\d+$/.test(url.hash)) return;
    if (url.search === location.search) return; // the browser goes there itself
    event.preventDefault();
    location.hash = url.hash;
  }
}

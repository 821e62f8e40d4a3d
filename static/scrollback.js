// Older messages on the live room page. Scrolling near the top of #messages
// loads the messages before the oldest one shown, a page at a time, from
// GET /api/rooms/<name>/messages?before=<seq>&only=main (docs/protocol.md:
// keyset paging on seq, each message in its current state), until the room's
// first message, above which a "Start of #room" line ends the list. The
// message that was at the top of the view stays exactly where it was.
//
// One request at a time; each message is shown once (a page only holds seqs
// below every seq the page has had, and one already shown is skipped). An
// edit, deletion or reaction that arrives, live, for a message not shown yet
// while a page is on its way is applied once the page has put it in (`park`):
// the page may have been read before it. Earlier events are in the page's
// current state already.
//
//   const scrollback = new Scrollback({ list, room, title, status, prepend });
//   scrollback.note(seq);           // every stored frame of the catch-up
//   scrollback.start();             // after the first `ready`
//   await scrollback.loadBackTo(seq);   // a permalink, the first unread message
//
// The thread panel (static/thread_panel.js) pages its replies back with one of
// its own: `load` reads its pages (the thread API), `showStart` puts in what
// tops its list once every reply is in (the root), `nouns` name what it
// loads, and `reset()` empties it for the next thread.
//
// Stable hooks for browser tests:
//   #messages[aria-busy=true]   while a page loads
//   #scrollback-status          role=status: says a page is loading, then how
//                               many messages came and whether the start is reached
//   li.room-start               "Start of #room", the list's first item once reached
//   (the panel's: #thread-messages[aria-busy], #thread-scrollback-status)

// Older messages are asked for this far (px) before the top is reached, so a
// steady scroll rarely has to wait for them: a screen or so.
const LOAD_AHEAD_PX = 600;
// Messages a page while scrolling: several screens, and a quick answer.
const PAGE = 50;
// Messages a page when going back to one message: the API's most (chat/web/api.py
// MAX_LIMIT), for fewer round trips.
const LONG_PAGE = 200;
// After a failed request, scrolling asks again no sooner than this.
const RETRY_MS = 3000;

// The room's older messages: a page of the main flow before `before`, and
// whether it reaches the room's first message (fewer than asked for).
async function roomPage(room, before, limit) {
  const query = `before=${before}&limit=${limit}&only=main`;
  const response = await fetch(`/api/rooms/${encodeURIComponent(room)}/messages?${query}`, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const frames = (await response.json()).messages;
  return { frames, atStart: frames.length < limit };
}

export class Scrollback {
  // title: the room as people read it ("#general"); status: the role=status
  // element; prepend(frames, parked): puts older messages (oldest first) into
  // the list, then applies the parked events. load(before, limit): a Promise
  // of { frames, atStart } (the room's main flow by default); showStart():
  // puts what goes above the oldest message at the top of the list ("Start of
  // #room" by default); nouns: what is loaded, one and many.
  constructor({ list, room, title, status, prepend, load = null, showStart = null, nouns = ["message", "messages"] }) {
    Object.assign(this, { list, room, title, status, prepend, nouns });
    this.load = load ?? ((before, limit) => roomPage(room, before, limit));
    this.showStart = showStart ?? (() => this.list.prepend(this.roomStart()));
    this.listeners = new Set();
    this.reset();
    this.liveMode = list.getAttribute("aria-live") ?? "polite"; // restored after each quiet change
    list.addEventListener("scroll", () => this.maybeLoad(), { passive: true });
  }

  // Nothing loaded yet (a new list): a page still on its way is dropped.
  reset() {
    this.oldest = null; // the lowest seq the page has had, message or event
    this.started = false;
    this.atStart = false;
    this.startShown = false;
    this.loading = null; // the request under way, a Promise of whether it worked
    this.retryAt = 0;
    this.parked = []; // events for messages not shown, arrived while a page loads
    this.generation = (this.generation ?? 0) + 1;
    this.busy(false, "");
  }

  // Call fn() after each page is put in.
  onChange(fn) {
    this.listeners.add(fn);
  }

  note(seq) {
    if (this.oldest === null || seq < this.oldest) this.oldest = seq;
  }

  // The catch-up is complete: what is older comes from here on.
  start() {
    if (this.started) return;
    this.started = true;
    if (this.oldest === null || this.oldest <= 1) this.keepingView(() => this.reachStart());
    this.maybeLoad();
  }

  // Whether this event (for a message not in the list) waits for the page on
  // its way, which may bring that message in an older state.
  park(frame) {
    if (!this.loading || frame.target_seq >= this.oldest) return false;
    this.parked.push(frame);
    return true;
  }

  maybeLoad() {
    if (!this.started || this.atStart || this.loading || Date.now() < this.retryAt) return;
    if (this.list.scrollTop > LOAD_AHEAD_PX) return;
    // Still near the top after a page (a short one, a tall screen): the next one.
    this.loadOlder(PAGE).then((ok) => ok && this.maybeLoad());
  }

  // Load the page before the oldest seq shown; resolves to whether it worked.
  loadOlder(limit = PAGE) {
    if (this.atStart) return Promise.resolve(true);
    this.loading ??= this.fetchPage(limit).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  // Older pages until `seq` is shown (or the start); false if a request failed.
  async loadBackTo(seq) {
    while (this.started && !this.atStart && this.oldest > seq) {
      if (!(await this.loadOlder(LONG_PAGE))) return false;
    }
    return true;
  }

  async fetchPage(limit) {
    const before = this.oldest;
    const generation = this.generation;
    this.busy(true, `Loading older ${this.nouns[1]}…`);
    let page;
    try {
      page = await this.load(before, limit);
    } catch {
      if (generation !== this.generation) return false;
      this.retryAt = Date.now() + RETRY_MS;
      this.busy(false, `Could not load older ${this.nouns[1]}. Scroll up to try again.`);
      this.parked = [];
      return false;
    }
    if (generation !== this.generation) return false; // the list was emptied meanwhile
    const older = page.frames.filter((frame) => frame.type === "chat" && frame.seq < before);
    const parked = this.parked;
    this.parked = [];
    this.keepingView(() => {
      for (const frame of older) this.note(frame.seq);
      if (page.atStart || this.oldest <= 1) this.reachStart();
      this.prepend(older, parked);
    });
    this.parked = []; // events for messages older still: the next page is read after them
    const count = `${older.length} older ${older.length === 1 ? this.nouns[0] : this.nouns[1]}`;
    this.busy(false, this.atStart ? `${count} loaded: start of ${this.title} reached.` : `${count} loaded.`);
    for (const fn of this.listeners) fn();
    return true;
  }

  reachStart() {
    this.atStart = true;
    if (this.startShown) return;
    this.startShown = true;
    this.showStart();
  }

  roomStart() {
    const start = document.createElement("li");
    start.className = "room-start";
    start.textContent = `Start of ${this.title}`;
    return start;
  }

  // Change the list above the view without moving what is in it: the first
  // message in view stays at the same height on screen. Not announced: the
  // list's live region is for new messages, and #scrollback-status tells.
  keepingView(change) {
    const top = this.list.getBoundingClientRect().top;
    let anchor = this.list.querySelector(":scope > li.message");
    while (anchor && (!anchor.matches("li.message") || anchor.getBoundingClientRect().bottom <= top)) {
      anchor = anchor.nextElementSibling;
    }
    const y = anchor?.getBoundingClientRect().top;
    this.list.setAttribute("aria-live", "off");
    change();
    if (anchor?.isConnected) this.list.scrollTop += anchor.getBoundingClientRect().top - y;
    // Back on once the accessibility tree has taken the change in.
    requestAnimationFrame(() => setTimeout(() => this.list.setAttribute("aria-live", this.liveMode)));
  }

  busy(on, text) {
    this.list.setAttribute("aria-busy", String(on));
    this.status.textContent = text;
    this.status.classList.toggle("loading", on);
  }
}

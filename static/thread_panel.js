// The thread panel of the live room page (issue 18, docs/protocol.md "Threads
// and replies"): beside the room on wide screens, the whole screen on phones
// (style.css), headed "Thread in #room". It reads the thread's newest replies
// with GET /api/rooms/<room>/threads/<seq>, and older pages (before=<the
// oldest shown>) as the reader scrolls up, keeping the view still
// (static/scrollback.js); the root tops the list once every reply is in. It
// follows the room's socket, which carries every reply of the room: replies
// are placed by seq, each once, however they come (a page, live, an ack), and
// drawn, edited, deleted and reacted to by the room's own modules
// (static/message_list.js, message_events.js, message_media.js) on its own list.
// Its box (static/thread_box.js: the room's static/composer.js, with "Also
// send to #room" and a quote chip) keeps a draft per thread. A reply shows at
// once as "sending…" and is settled by its client_id (static/own_sends.js);
// a refused one goes back into its thread's box with the reason, its quote
// and its "Also send" choice.
// Follow/Unfollow: static/thread_follow.js (a refusal puts it back and says
// why). While open, the page visible and its list scrolled to the end, it
// reads the thread up to its last reply (`read`, followers only).
// Opening pushes a history entry (?thread=<seq>: static/thread_address.js):
// Back closes it, closing goes back over that entry, Forward or a reload
// opens it again. A click opens it with the focus in its box; an address
// leaves the focus where it is (phones: on the panel, which covers the room).
// The room's permalinks to a reply open it there, loaded back to that reply
// (openAt, from static/jumps.js).
//
// Stable hooks for browser tests:
//   #thread-panel (region "Thread", hidden when closed; .room-layout.thread-open)
//   #thread-title "Thread in #room"
//   #thread-messages  li.message#t<seq> each, oldest first, under the root
//                     (li.thread-root, then li.thread-replies) once all are in;
//                     own replies li.pending until stored (as in the room); the
//                     reply a link or a quote opened: li.highlight, here
//   #thread-messages[aria-busy], #thread-scrollback-status: older replies
//   #thread-follow    aria-pressed, "Follow" / "Following" (hidden for a
//                     non-member); #thread-close
//   #thread-send, #thread-content, #thread-also, #thread-note (why not sent,
//   why not followed), #thread-quote-chip, #thread-emoji-button,
//   #thread-attach-button, #thread-attachments, #thread-drop-zone (as the room's)
import { el } from "./dom.js";
import { OwnSends } from "./own_sends.js";
import { newClientId } from "./socket.js";
import { threadsKey } from "./unsent.js";
import { MessageList } from "./message_list.js";
import { MessageEvents } from "./message_events.js";
import { MessageMedia } from "./message_media.js";
import { ThreadMarks } from "./thread_marks.js";
import { Scrollback } from "./scrollback.js";
import { ThreadBox } from "./thread_box.js";
import { ThreadFollow } from "./thread_follow.js";
import { ThreadAddress, linkedThread } from "./thread_address.js";

// Replies a page: the newest when the panel opens, then older ones as the
// reader scrolls up (as the room's pages: static/scrollback.js).
const PAGE = 50;
// Where the panel covers the whole room (threads.css, phones).
const COVERS_ROOM = "(max-width: 760px)";
// The list counts as read to its end within this much of its bottom (px).
const END_SLACK_PX = 24;
// What the panel covers there: inert while it is open (no Tab, no screen
// reader in it). The emoji picker and the lightbox live outside these.
const COVERED = "body > a.skip, body > header.top, #rooms-drawer, #room, #people-drawer";

export class ThreadPanel {
  // opts: socket, room, me, names (static/names.js), roomUrl, moderator, maxChars,
  // lightbox (the room's), picker (the room's static/emoji_picker.js), online()
  // (as static/composer.js's), layout (.room-layout), report(text) (a notice in the room).
  constructor(opts) {
    Object.assign(this, opts);
    matchMedia(COVERS_ROOM).addEventListener("change", () => this.cover());
    this.panel = document.getElementById("thread-panel");
    this.list = document.getElementById("thread-messages");
    this.thread = null; // the root's seq while open
    this.rootFrame = null; // the root as the API gave it (null: deleted)
    this.quotedBy = new Map(); // client_id -> what its quote chip showed
    this.readSent = 0;
    this.opener = null;
    const nameOf = (username) => this.names.of(username);
    this.view = new MessageList({ list: this.list, me: this.me, roomUrl: this.roomUrl, names: this.names, idPrefix: "t" });
    this.view.threadMarks = new ThreadMarks({ roomUrl: this.roomUrl, nameOf });
    this.view.events = new MessageEvents({
      socket: this.socket, list: this.list, room: this.room, me: this.me, moderator: this.moderator,
      maxChars: this.maxChars, idPrefix: "t", replyTool: false, report: this.report,
      fillContent: (node, frame) => this.view.fillContent(node, frame),
      missing: (frame) => this.scrollback.park(frame), // a reply a page on its way may bring
      pickEmoji: (anchor, onPick) => this.picker.open({ anchor, onPick }),
      media: new MessageMedia({ list: this.list, room: this.room, me: this.me, lightbox: this.lightbox }),
    });
    this.scrollback = new Scrollback({
      list: this.list, room: this.room, title: "the thread", nouns: ["reply", "replies"],
      status: document.getElementById("thread-scrollback-status"),
      load: (before, limit) => this.fetchThread(this.thread, { before, limit })
        .then((data) => ({ frames: data.replies, atStart: !data.more })),
      showStart: () => this.showRoot(),
      prepend: (frames, parked) => {
        this.view.prepend(frames);
        for (const frame of parked) this.view.events.replay(frame);
      },
    });
    this.names.onChange((usernames) => usernames.forEach((u) => this.view.rename(u)));
    this.setUpBox(nameOf);
    // A quote of a message of this thread: to it, here (the room's list has
    // only the root and replies also sent to it).
    this.list.addEventListener("click", (event) => this.showQuoted(event));
    this.follow = new ThreadFollow({
      socket: this.socket, room: this.room, button: document.getElementById("thread-follow"),
      section: document.getElementById("room"), say: (text) => this.composer.meter.say(text),
    });
    document.getElementById("thread-close").addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      if (event.target.closest(".edit-form, .palette, li.actions-open")) return; // theirs first
      event.preventDefault();
      this.close();
    });
    this.address = new ThreadAddress({
      closed: () => this.close({ fromHistory: true }),
      opened: (seq) => seq !== this.thread && this.open(seq, { entry: "none" }),
    });
    this.socket.on("chat", (frame) => this.onChat(frame));
    this.socket.on("thread_updated", (frame) => this.onThreadUpdated(frame));
    this.socket.on("ack", (frame) => this.onAck(frame));
    this.socket.on("error", (frame) => this.onError(frame));
    document.addEventListener("visibilitychange", () => this.markRead());
    this.list.addEventListener("scroll", () => this.markRead(), { passive: true });
    this.sends.restore(); // this tab's replies not stored yet, from its last page
  }

  // "Reply in thread", a root's summary, a "replied in a thread" link in `list`.
  openFrom(list) {
    list.addEventListener("click", (event) => {
      const opener = event.target.closest("button.reply, button.thread-summary, a.thread-link");
      if (!opener) return;
      event.preventDefault();
      const seq = opener.dataset.thread ?? opener.closest("li.message[data-seq]")?.dataset.seq;
      if (seq) this.open(Number(seq), { opener, focus: true });
    });
  }

  // The thread the address names (?thread=<seq>: the Threads view's links,
  // a reload), if any.
  openLinked(opener) {
    const seq = linkedThread();
    if (seq !== null) this.open(seq, { opener, entry: "replace" });
  }

  get isOpen() {
    return this.thread !== null;
  }

  setUpBox(nameOf) {
    this.box = new ThreadBox({
      form: document.getElementById("thread-send"), list: this.list, room: this.room, me: this.me,
      max: this.maxChars, picker: this.picker, online: this.online, dropTarget: this.panel, nameOf,
      onSend: (text, files) => this.sendReply(text, files),
      onEditLast: () => this.view.events.editLast(this.box.input),
    });
    this.composer = this.box.composer;
    this.sends = new OwnSends({
      socket: this.socket, list: this.list, room: this.room, me: this.me, composer: this.composer,
      scrollToBottom: () => this.scrollToEnd(), authorParts: () => this.view.authorParts(this.me),
      unsentKey: threadsKey(this.room), giveBack: true,
    });
  }

  async fetchThread(seq, params) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
    const url = `/api/rooms/${encodeURIComponent(this.room)}/threads/${seq}?${query}`;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }

  // Open the thread of `seq` (a root's, or a reply's: the server names its
  // thread). opener: gets the focus back on close; focus: into the box (a
  // click); entry: "push" a history entry, "replace" the current one, or
  // "none" (Back, Forward); at: a reply to show (a permalink's); data: the
  // thread's newest page, read already.
  async open(seq, { opener = document.activeElement, focus = false, entry = "push", at = null, data = null } = {}) {
    await this.address.settled();
    const switching = this.isOpen;
    this.opener = opener;
    this.thread = seq;
    this.rootFrame = null;
    this.readSent = 0;
    this.list.replaceChildren();
    this.scrollback.reset();
    this.box.switchTo(seq);
    this.composer.reopen("no-thread");
    this.follow.showFor(seq, null);
    this.panel.hidden = false;
    this.layout.classList.add("thread-open");
    this.cover();
    this.address.remember(seq, switching && entry === "push" ? "replace" : entry);
    if (focus) this.composer.focus();
    else if (matchMedia(COVERS_ROOM).matches) this.panel.focus();
    try {
      data ??= await this.fetchThread(seq, { limit: PAGE });
    } catch (error) {
      if (this.thread === seq) this.unavailable(error.message === "404");
      return;
    }
    if (this.thread !== seq) return; // another one was opened meanwhile
    this.thread = data.thread;
    if (data.thread !== seq) {
      this.box.retarget(data.thread);
      this.address.remember(data.thread, "replace");
    }
    this.rootFrame = data.root;
    for (const reply of data.replies) this.showReply(reply);
    // Own replies to it still on their way (sent before a reload, or before
    // another thread was opened), after the stored ones.
    for (const own of this.sends.entries.values()) if (own.fields.thread === data.thread) this.list.append(own.li);
    if (data.replies.length) this.scrollback.note(data.replies[0].seq);
    if (!data.more) this.scrollback.reachStart();
    this.follow.showFor(data.thread, data.state);
    this.readSent = data.state?.last_read_seq ?? 0;
    this.scrollToEnd();
    this.scrollback.start();
    this.markRead();
    if (at !== null) await this.showAt(at);
  }

  // No such thread (?thread= of a deleted or made-up seq), or no answer: said in
  // the panel, with neither a box nor a Follow button to use.
  unavailable(missing) {
    const why = missing ? "There is no such thread in this room." : "This thread could not be loaded.";
    this.list.replaceChildren(el("li", "notice", why));
    this.follow.showFor(null, null);
    this.composer.close(missing ? "There is no thread here to reply to." : why, null, "no-thread");
  }

  // A permalink's seq that the main flow has not got: if it is a reply, its
  // thread opens at it. Resolves to whether it was one.
  async openAt(seq) {
    if (this.isOpen && document.getElementById(`t${seq}`)) return this.showAt(seq);
    let data;
    try {
      data = await this.fetchThread(seq, { limit: PAGE });
    } catch {
      return false; // an event's seq, a message deleted for good, the network
    }
    if (data.thread === seq) return false; // a root: the room's to show
    if (this.isOpen && data.thread === this.thread) return this.showAt(seq);
    await this.open(data.thread, { at: seq, data });
    return true;
  }

  // Reply `seq` of the open thread, loading older pages back to it: in the
  // middle of the panel's view, highlighted.
  async showAt(seq) {
    if (!(await this.scrollback.loadBackTo(seq))) return true; // the status says why
    const li = document.getElementById(`t${seq}`);
    if (li) this.highlight(li);
    return true;
  }

  highlight(li) {
    for (const old of this.list.querySelectorAll("li.highlight")) old.classList.remove("highlight");
    li.classList.add("highlight");
    this.list.scrollTop = li.offsetTop - Math.max(0, (this.list.clientHeight - li.offsetHeight) / 2);
  }

  // On a phone the open panel is the whole screen: what it covers is inert.
  cover() {
    const covering = this.isOpen && matchMedia(COVERS_ROOM).matches;
    for (const node of document.querySelectorAll(COVERED)) node.inert = covering;
  }

  // fromHistory: Back has closed it already; else the entry that opened it
  // is gone back over (none is left behind), or the address loses ?thread=.
  close({ fromHistory = false } = {}) {
    if (!this.isOpen) return;
    this.box.leave();
    this.thread = null;
    this.scrollback.reset();
    this.panel.hidden = true;
    this.layout.classList.remove("thread-open");
    this.cover();
    this.list.replaceChildren();
    if (!fromHistory) this.address.remember(null, "close");
    let back = this.opener?.isConnected && this.opener !== document.body ? this.opener : null;
    // A tool folded away again (phones: "⋯"): that message's "⋯" instead.
    if (back && !back.checkVisibility()) back = back.closest("li.message")?.querySelector("button.actions-toggle") ?? null;
    (back ?? document.getElementById("content"))?.focus();
  }

  // The root and the "Replies" line, at the top once every reply is in.
  showRoot() {
    const root = this.rootFrame;
    const li = this.view.fillMessage(el("li"), root ?? { seq: this.thread, username: "", deleted: true });
    li.classList.add("thread-root");
    if (li.classList.contains("deleted")) li.querySelector(".content").textContent = "original message deleted";
    // A line under the root: the first reply starts a group of its own.
    this.list.prepend(li, el("li", "notice thread-replies", "Replies"));
    this.view.groups.settleAround(li); // the first reply's day line goes if the root's says it
  }

  showReply(frame) {
    const shown = document.getElementById(`t${frame.seq}`);
    if (shown) this.view.redraw(shown, frame);
    else this.view.place(this.view.fillMessage(el("li"), frame), frame.seq);
  }

  // A reply of this thread: drawn, or settles the pending line of an own one.
  onChat(frame) {
    if (frame.room !== this.room) return;
    const own = frame.thread ? this.sends.take(frame.client_id) : undefined;
    this.quotedBy.delete(frame.client_id);
    if (!this.isOpen || frame.thread !== this.thread) {
      own?.li.remove(); // sent in a thread not open any more
      return;
    }
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight <= END_SLACK_PX;
    const shown = document.getElementById(`t${frame.seq}`);
    if (shown) {
      own?.li.remove();
      this.view.redraw(shown, frame);
    } else this.view.place(this.view.fillMessage(own?.li ?? el("li"), frame), frame.seq);
    if (atEnd || frame.username === this.me) this.scrollToEnd();
    this.markRead();
  }

  // An own reply stored: its line takes its place (its frame redraws it).
  onAck(frame) {
    if (frame.room !== undefined && frame.room !== this.room) return;
    const entry = this.sends.take(frame.client_id);
    this.quotedBy.delete(frame.client_id);
    if (!entry) return;
    if (!entry.li.isConnected || document.getElementById(`t${frame.seq}`)) {
      entry.li.remove();
      return;
    }
    this.view.fillMessage(entry.li, { seq: frame.seq, username: this.me });
    this.view.place(entry.li, frame.seq);
  }

  // A quote's link: to the quoted reply here, loaded back to if need be; a
  // quoted message of the main flow is the room's to show.
  showQuoted(event) {
    const seq = Number(event.target.closest("a.quote-link")?.hash.match(/^#m(\d+)$/)?.[1]);
    if (!seq) return;
    event.preventDefault();
    const li = document.getElementById(`t${seq}`);
    if (li) this.highlight(li);
    else this.openAt(seq).then((reply) => reply || (location.hash = `#m${seq}`));
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  lastReplySeq() {
    const items = this.list.querySelectorAll("li.message[data-seq]:not(.thread-root)");
    return items.length ? Number(items[items.length - 1].dataset.seq) : 0;
  }

  // Read up to the last reply shown, while it can be seen (followers only: the
  // server keeps no read seq for others).
  // Read up to the last reply, once the reader is at the end of the list
  // (scrolled back to older replies, what arrives stays unread until seen).
  markRead() {
    if (!this.isOpen || document.visibilityState !== "visible" || !this.follow.following) return;
    if (this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight > END_SLACK_PX) return;
    const seq = this.lastReplySeq();
    if (seq <= this.readSent) return;
    this.readSent = seq;
    this.socket.send({ type: "read", room: this.room, thread: this.thread, seq });
  }

  onThreadUpdated(frame) {
    if (frame.room !== this.room || frame.thread !== this.thread) return;
    this.follow.updated(frame);
    this.markRead();
  }

  sendReply(text, files) {
    const { fields, quoted } = this.box.take();
    const clientId = newClientId();
    if (quoted) this.quotedBy.set(clientId, quoted);
    this.sends.send(text, files, { thread: this.thread, ...fields }, clientId);
    this.follow.replied();
  }

  onError(frame) {
    const entry = this.sends.get(frame.client_id);
    if (entry) this.refuseReply(frame, entry);
    else if (frame.room === this.room && frame.client_id === undefined) this.follow.refused(frame);
  }

  // A refused reply: its text, files, quote and "Also send" choice back in its
  // thread's box, the reason under it (or, for a thread not open, in the room).
  refuseReply(frame, entry) {
    const { thread, quote, also_in_room: also = false } = entry.fields;
    const shown = quote ? document.getElementById(`t${quote}`) : null;
    const quoted = quote ? this.quotedBy.get(frame.client_id) ?? { seq: quote, user: shown?.dataset.user ?? "", source: "" } : null;
    this.quotedBy.delete(frame.client_id);
    if (thread === this.thread || entry.files.length) {
      this.sends.refuse(frame.client_id, frame);
      if (thread === this.thread) this.box.giveBack({ quoted, also });
      return;
    }
    this.sends.take(frame.client_id);
    entry.li.remove();
    this.box.keepRefused(thread, { text: entry.content, quoted, also });
    const reason = (frame.message || frame.code).replace(/[.\s]*$/, ".");
    this.report(`A reply to a thread was not sent: ${reason} It is back in that thread's box.`);
  }
}

// The thread panel of the live room page (issue 18, docs/protocol.md "Threads
// and replies"): beside the room on wide screens, the whole screen on phones
// (style.css). It reads the thread with GET /api/rooms/<room>/threads/<seq>,
// then follows the room's socket, which carries every reply of the room: it
// shows the root ("original message deleted" once gone) and the replies in
// order, drawn, edited, deleted and reacted to by the room's own modules
// (static/message_list.js, message_events.js, message_media.js) on its own list.
// Its box is the room's (static/composer.js: Enter sends, @ completes names,
// files, the emoji button) with "Also send to #room"; a reply shows at once as
// "sending…" and is settled by its client_id (static/own_sends.js), and a
// refused one goes back into the box with the reason. A message's "Quote"
// quotes it in the thread (static/quote.js: the reply carries `quote` too).
// Follow/Unfollow sends `follow` and follows `thread_updated`; while it is open
// and the page visible it reads the thread up to its last reply (`read`).
// Opening /rooms/<name>?thread=<seq> opens it (the Threads view links there).
//
// Stable hooks for browser tests:
//   #thread-panel (region "Thread", hidden when closed; .room-layout.thread-open)
//   #thread-messages  li.message#t<seq> each, the root first (li.thread-root);
//                     own replies li.pending until stored (as in the room); a
//                     quote's link to one of them: li.highlight, here
//   #thread-follow    aria-pressed, "Follow" / "Following"; #thread-close
//   #thread-send, #thread-content, #thread-also, #thread-note (why not sent),
//   #thread-quote-chip, #thread-emoji-button, #thread-attach-button,
//   #thread-attachments, #thread-drop-zone (as the room's, static/composer.js)
import { el } from "./dom.js";
import { Composer } from "./composer.js";
import { OwnSends } from "./own_sends.js";
import { QuoteChip } from "./quote.js";
import { threadsKey } from "./unsent.js";
import { MessageList } from "./message_list.js";
import { MessageEvents } from "./message_events.js";
import { MessageMedia } from "./message_media.js";
import { ThreadMarks } from "./thread_marks.js";

export class ThreadPanel {
  // opts: socket, room, me, names (static/names.js), roomUrl, moderator, maxChars,
  // lightbox (the room's), picker (the room's static/emoji_picker.js), online()
  // (as static/composer.js's), layout (.room-layout), report(text) (a notice in the room).
  constructor(opts) {
    Object.assign(this, opts);
    this.panel = document.getElementById("thread-panel");
    this.list = document.getElementById("thread-messages");
    this.form = document.getElementById("thread-send");
    this.also = document.getElementById("thread-also");
    this.followButton = document.getElementById("thread-follow");
    this.thread = null; // the root's seq while open
    this.state = null; // the reader's state of it (following, last_read_seq…)
    this.readSent = 0;
    this.opener = null;
    const nameOf = (username) => this.names.of(username);
    this.view = new MessageList({ list: this.list, me: this.me, roomUrl: this.roomUrl, names: this.names, idPrefix: "t" });
    this.view.threadMarks = new ThreadMarks({ roomUrl: this.roomUrl, nameOf });
    this.view.events = new MessageEvents({
      socket: this.socket, list: this.list, room: this.room, me: this.me, moderator: this.moderator,
      maxChars: this.maxChars, idPrefix: "t", replyTool: false, report: this.report,
      fillContent: (node, frame) => this.view.fillContent(node, frame),
      pickEmoji: (anchor, onPick) => this.picker.open({ anchor, onPick }),
      media: new MessageMedia({ list: this.list, room: this.room, me: this.me, lightbox: this.lightbox }),
    });
    this.names.onChange((usernames) => usernames.forEach((u) => this.view.rename(u)));
    this.setUpBox(nameOf);
    // A quote of a message of this thread: to it, here (the room's list has
    // only the root and replies also sent to it).
    this.list.addEventListener("click", (event) => this.showQuoted(event));
    this.followButton.addEventListener("click", () => this.toggleFollow());
    document.getElementById("thread-close").addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      if (event.target.closest(".edit-form, .palette, li.actions-open")) return; // theirs first
      event.preventDefault();
      this.close();
    });
    this.socket.on("chat", (frame) => this.onChat(frame));
    this.socket.on("thread_updated", (frame) => this.onThreadUpdated(frame));
    this.socket.on("ack", (frame) => this.onAck(frame));
    this.socket.on("error", (frame) => this.onError(frame));
    document.addEventListener("visibilitychange", () => this.markRead());
    this.sends.restore(); // this tab's replies not stored yet, from its last page
  }

  // "Reply in thread", a root's summary, a "replied to a thread" link in `list`.
  openFrom(list) {
    list.addEventListener("click", (event) => {
      const opener = event.target.closest("button.reply, button.thread-summary, a.thread-link");
      if (!opener) return;
      event.preventDefault();
      const seq = opener.dataset.thread ?? opener.closest("li.message[data-seq]")?.dataset.seq;
      if (seq) this.open(Number(seq), opener);
    });
  }

  // The thread the address names (?thread=<seq>: the Threads view's links), if any.
  openLinked(opener) {
    const seq = Number(new URLSearchParams(location.search).get("thread"));
    if (Number.isInteger(seq) && seq > 0) this.open(seq, opener);
  }

  get isOpen() {
    return this.thread !== null;
  }

  // The box, the chip of a quote and the own sends: the room's modules, the
  // panel's elements.
  setUpBox(nameOf) {
    this.composer = new Composer({
      form: this.form, max: this.maxChars, room: this.room, me: this.me, picker: this.picker,
      online: this.online, idPrefix: "thread-", dropTarget: this.panel, drafts: false,
      onSend: (text, files) => this.sendReply(text, files),
      onEditLast: () => this.view.events.editLast(this.composer.input),
    });
    this.quoteChip = new QuoteChip({
      form: this.form, list: this.list, nameOf, focus: () => this.composer.focus(), id: "thread-quote-chip",
    });
    this.sends = new OwnSends({
      socket: this.socket, list: this.list, room: this.room, me: this.me, composer: this.composer,
      scrollToBottom: () => this.scrollToEnd(), authorParts: () => this.view.authorParts(this.me),
      unsentKey: threadsKey(this.room), giveBack: true,
    });
  }

  // Open the thread of `seq` (a root's, or a reply's: the server names its
  // thread); `opener` gets the focus back on close.
  async open(seq, opener = document.activeElement) {
    this.opener = opener;
    this.thread = seq;
    this.state = null;
    this.readSent = 0;
    this.list.replaceChildren();
    this.showFollow();
    this.panel.hidden = false;
    this.layout.classList.add("thread-open");
    this.rememberInAddress(seq);
    this.panel.focus();
    let data;
    try {
      const url = `/api/rooms/${encodeURIComponent(this.room)}/threads/${seq}`;
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(String(response.status));
      data = await response.json();
    } catch {
      if (this.thread === seq) this.list.replaceChildren(el("li", "notice", "This thread could not be loaded."));
      return;
    }
    if (this.thread !== seq) return; // another one was opened meanwhile
    this.thread = data.thread;
    this.rememberInAddress(data.thread);
    this.showRoot(data.root, data.thread);
    for (const reply of data.replies) this.showReply(reply);
    // Own replies to it still on their way (sent before a reload, or before
    // another thread was opened), after the stored ones.
    for (const entry of this.sends.entries.values()) if (entry.fields.thread === data.thread) this.list.append(entry.li);
    this.state = data.state;
    this.readSent = data.state?.last_read_seq ?? 0;
    this.showFollow();
    this.scrollToEnd();
    this.markRead();
  }

  close() {
    if (!this.isOpen) return;
    this.thread = null;
    this.panel.hidden = true;
    this.layout.classList.remove("thread-open");
    this.list.replaceChildren();
    this.rememberInAddress(null);
    let back = this.opener?.isConnected && this.opener !== document.body ? this.opener : null;
    // A tool folded away again (phones: "⋯"): that message's "⋯" instead.
    if (back && !back.checkVisibility()) back = back.closest("li.message")?.querySelector("button.actions-toggle") ?? null;
    (back ?? document.getElementById("content"))?.focus();
  }

  // ?thread=<seq> while open, so that a reload opens it again.
  rememberInAddress(seq) {
    const url = new URL(location.href);
    if (seq === null) url.searchParams.delete("thread");
    else url.searchParams.set("thread", String(seq));
    history.replaceState(history.state, "", url);
  }

  showRoot(root, seq) {
    let li;
    if (root) li = this.view.fillMessage(el("li"), root);
    else li = this.view.fillMessage(el("li"), { seq, username: "", deleted: true });
    li.classList.add("thread-root");
    if (li.classList.contains("deleted")) li.querySelector(".content").textContent = "original message deleted";
    // A line under the root: the first reply starts a group of its own.
    this.list.prepend(li, el("li", "notice thread-replies", "Replies"));
    this.view.groups.settle(li);
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
    if (!this.isOpen || frame.thread !== this.thread) {
      own?.li.remove(); // sent in a thread not open any more
      return;
    }
    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
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
    if (!entry) return;
    if (!entry.li.isConnected || document.getElementById(`t${frame.seq}`)) {
      entry.li.remove();
      return;
    }
    this.view.fillMessage(entry.li, { seq: frame.seq, username: this.me });
    this.view.place(entry.li, frame.seq);
  }

  showQuoted(event) {
    const seq = event.target.closest("a.quote-link")?.hash.match(/^#m(\d+)$/)?.[1];
    const li = seq && document.getElementById(`t${seq}`);
    if (!li) return;
    event.preventDefault();
    for (const old of this.list.querySelectorAll("li.highlight")) old.classList.remove("highlight");
    li.classList.add("highlight");
    li.scrollIntoView({ block: "center" });
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
  markRead() {
    if (!this.isOpen || document.visibilityState !== "visible" || !this.state?.following) return;
    const seq = this.lastReplySeq();
    if (seq <= this.readSent) return;
    this.readSent = seq;
    this.socket.send({ type: "read", room: this.room, thread: this.thread, seq });
  }

  onThreadUpdated(frame) {
    if (frame.room !== this.room || frame.thread !== this.thread) return;
    this.state = { ...this.state, ...frame };
    this.showFollow();
    this.markRead();
  }

  toggleFollow() {
    const following = !this.state?.following;
    this.socket.send({ type: "follow", room: this.room, thread: this.thread, following });
    this.state = { ...this.state, following };
    this.showFollow();
  }

  showFollow() {
    const following = Boolean(this.state?.following);
    this.followButton.setAttribute("aria-pressed", String(following));
    this.followButton.textContent = following ? "Following" : "Follow";
    this.followButton.title = following ? "Stop following this thread" : "Follow this thread";
  }

  sendReply(text, files) {
    const fields = { thread: this.thread, ...this.quoteChip.take() };
    if (this.also.checked) fields.also_in_room = true;
    this.sends.send(text, files, fields);
    // Replying follows the thread (the server says so with thread_updated).
    this.state = { ...this.state, following: true };
    this.showFollow();
  }

  // A refused reply: its text and files back in the box, the reason under it.
  onError(frame) {
    if (this.sends.get(frame.client_id)) this.sends.refuse(frame.client_id, frame);
  }
}

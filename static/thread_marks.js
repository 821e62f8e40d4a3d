// What threads add to a message drawn by static/message_list.js (issue 18,
// docs/protocol.md "Threads and replies"):
//   - a quote-reply's quote: the quoted author and the start of their text, as
//     text (it is Markdown source, never HTML), linked to the quoted message;
//     kept as the quoted message is now: its chat_edit and chat_delete frames
//     change every quote of it, in the room's list and the thread panel's
//     (`requote`, wired by static/room_threads.js), as a reload would show it;
//   - in the room's main flow, a root's replies summary ("3 replies · last reply
//     5 min ago" with the repliers' faces), a button that opens the thread;
//   - a reply also sent to the room: a "replied in a thread" link that opens it,
//     and beside it the root's author and the start of its text
//     (static/thread_roots.js).
//
// A root read from the table says how many replies it had then (`replies`);
// live frames of the root never change, so the room page counts the reply
// frames that follow (`noteReply`, those past its last_seq) and the deletions
// of replies (`noteDelete`). A root with replies is li.has-replies: deleted, it
// says "original message deleted" (static/message_events.js deletedNote).
//
// Stable hooks for browser tests:
//   li.message blockquote.quote[data-quote]  (the quoted seq) a.quote-link (href "…#m<seq>"):
//                                    .quote-author, .quote-text
//                                    (.quote-text.deleted "original message deleted")
//   li.message.has-replies           a root with replies (in the main flow)
//   li.message button.thread-summary[data-thread]  .thread-faces (span.avatar each),
//                                    .thread-count "N replies", .thread-last "last reply …"
//   li.message .thread-ref           a reply also in the room: a.thread-link[data-thread]
//                                    "replied in a thread", then a.thread-snippet[data-thread]
//                                    (static/thread_roots.js), both opening the thread
import { avatar } from "./avatar.js";
import { el } from "./dom.js";
import { ORIGINAL_DELETED, deletedNote } from "./message_events.js";

// The summaries' "3 min ago" is written again this often: finer than a minute
// would only move seconds nobody reads.
const RELABEL_MS = 60 * 1000;
// The faces a summary shows; the server lists 5 at most.
const FACES = 3;
// A quote's text is the quoted message's start: as the server cuts it
// (chat/domain/threads.py QUOTE_CHARS), in code points as PostgreSQL's left().
const QUOTE_CHARS = 200;

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

// "just now", "3 min ago", "2 hours ago", "yesterday", "5 days ago".
export function ago(ts, now = Date.now()) {
  const seconds = Math.round((now - new Date(ts).getTime()) / 1000);
  if (seconds < 60) return "just now";
  const steps = [[60, "minute", 60], [3600, "hour", 24], [86400, "day", 30]];
  for (const [size, unit, most] of steps) {
    const count = Math.floor(seconds / size);
    if (count < most) return relative.format(-count, unit);
  }
  return new Date(ts).toLocaleDateString();
}

export class ThreadMarks {
  // roomUrl: the live room's path (the quote's link); nameOf(username): the name
  // shown; summaries: whether roots show their replies (the main flow), in `list`;
  // roots: the snippets of roots beside "replied in a thread" (static/thread_roots.js).
  constructor({ roomUrl, nameOf, list = null, summaries = false, roots = null }) {
    Object.assign(this, { roomUrl, nameOf, list, summaries, roots });
    this.threads = new Map(); // root seq -> { count, lastSeq, lastTs, users }
    if (summaries) setInterval(() => this.relabel(), RELABEL_MS);
  }

  // Called by MessageList.fillMessage, before the message's tools are drawn.
  decorate(li, frame) {
    if (frame.quote) li.querySelector(":scope > .content").before(this.quoteBlock(frame.quote));
    if (this.summaries && frame.thread && frame.also_in_room) {
      const link = el("a", "thread-link", "replied in a thread");
      link.href = `${this.roomUrl}?thread=${frame.thread}`;
      link.dataset.thread = String(frame.thread);
      // One piece: in a group's later message (.meta is display: contents) they stay together.
      const ref = el("span", "thread-ref");
      ref.append(link);
      if (this.roots) ref.append(" ", this.roots.snippet(frame.thread));
      li.querySelector(":scope > .meta").append(" ", ref);
    }
    if (!this.summaries || frame.thread) return;
    const known = this.threads.get(frame.seq);
    if (frame.replies && (!known || frame.replies.last_seq >= known.lastSeq)) {
      const { count, last_seq: lastSeq, last_ts: lastTs, users } = frame.replies;
      this.threads.set(frame.seq, { count, lastSeq, lastTs, users: [...users] });
    }
    // Before static/message_events.js draws it: a deleted root says so.
    li.classList.toggle("has-replies", this.count(frame.seq) > 0);
    // Drawn once the rest is there (MessageEvents.decorate adds the tools after).
    queueMicrotask(() => this.render(frame.seq));
  }

  quoteBlock(quote) {
    const block = el("blockquote", "quote");
    block.dataset.quote = String(quote.seq);
    block.dataset.user = quote.username;
    const link = el("a", "quote-link");
    link.href = `${this.roomUrl}#m${quote.seq}`;
    block.append(link);
    this.fillQuote(block, quote);
    return block;
  }

  fillQuote(block, quote) {
    const link = block.querySelector(".quote-link");
    const text = quote.deleted
      ? el("span", "quote-text deleted", ORIGINAL_DELETED)
      : el("span", "quote-text", quote.content);
    link.replaceChildren(el("span", "quote-author", this.nameOf(quote.username)), " ", text);
    // The shown words inside the name (axe-core: label-content-name-mismatch).
    link.setAttribute("aria-label", `Quoting ${this.nameOf(quote.username)}: ${quote.deleted ? ORIGINAL_DELETED : quote.content}`);
  }

  // A chat_edit or chat_delete of this room: every quote of its message in
  // `lists` shows it as it is now (a deletion is final: later edits are ignored).
  requote(lists, frame) {
    const seq = frame.target_seq;
    const deleted = frame.type === "chat_delete";
    for (const list of lists) {
      for (const block of list.querySelectorAll(`blockquote.quote[data-quote="${seq}"]`)) {
        if (block.querySelector(".quote-text.deleted")) continue;
        const content = deleted ? "" : [...(frame.content ?? "")].slice(0, QUOTE_CHARS).join("");
        this.fillQuote(block, { seq, username: block.dataset.user, content, deleted });
      }
    }
  }

  // A reply's chat frame (live, or in a catch-up): its root's summary counts it
  // unless the root's own state already did.
  noteReply(frame) {
    const known = this.threads.get(frame.thread);
    if (known && frame.seq <= known.lastSeq) return;
    const root = this.list?.querySelector(`#m${frame.thread}`);
    if (!known && !root) return; // a root not loaded: its page will say
    const state = known ?? { count: 0, lastSeq: 0, lastTs: null, users: [] };
    state.count += 1;
    state.lastSeq = frame.seq;
    state.lastTs = frame.ts ?? new Date().toISOString();
    state.users = [frame.username, ...state.users.filter((u) => u !== frame.username)].slice(0, 5);
    this.threads.set(frame.thread, state);
    this.render(frame.thread);
  }

  // A reply deleted (a live chat_delete with `thread`).
  noteDelete(frame) {
    const known = this.threads.get(frame.thread);
    if (!known || frame.seq <= known.lastSeq) return;
    known.count = Math.max(0, known.count - 1);
    known.lastSeq = frame.seq;
    this.render(frame.thread);
  }

  count(seq) {
    return this.threads.get(seq)?.count ?? 0;
  }

  render(seq) {
    const li = this.list?.querySelector(`#m${seq}`);
    if (!li) return;
    const state = this.threads.get(seq);
    let summary = li.querySelector(":scope > .thread-summary");
    li.classList.toggle("has-replies", Boolean(state?.count));
    if (li.classList.contains("deleted")) li.querySelector(":scope > .content").textContent = deletedNote(li);
    if (!state || state.count === 0) {
      summary?.remove();
      return;
    }
    if (!summary) {
      summary = el("button", "thread-summary");
      summary.type = "button";
      summary.dataset.thread = String(seq);
      const tools = li.querySelector(":scope > .actions-toggle");
      if (tools) tools.before(summary);
      else li.append(summary);
    }
    const faces = el("span", "thread-faces");
    faces.append(...state.users.slice(0, FACES).map((u) => avatar(u, "avatar tiny", this.nameOf(u))));
    const count = el("span", "thread-count", `${state.count} ${state.count === 1 ? "reply" : "replies"}`);
    const last = el("span", "thread-last", state.lastTs ? `last reply ${ago(state.lastTs)}` : "");
    summary.replaceChildren(faces, count, last);
    summary.title = state.users.length ? `Replies by ${state.users.map((u) => this.nameOf(u)).join(", ")}` : "";
  }

  relabel() {
    for (const seq of this.threads.keys()) this.render(seq);
  }
}

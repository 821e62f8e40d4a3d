// The live room page's threads (issue 18, docs/protocol.md "Threads and
// replies"), wired in one place for static/room.js: the main flow's marks
// (quotes, a root's replies summary: static/thread_marks.js; the root beside a
// reply also in the room: static/thread_roots.js), the quote chip over the
// room's box (static/quote.js) and the thread panel with its own box
// (static/thread_panel.js, static/thread_box.js: a draft per thread), with
// its own "X is typing…" line (#thread-typing, static/typing.js: the replies
// typed in the open thread). What closes the room's box (logged out, removed,
// archived) closes the panel's too: `boxes`. An edit or a deletion changes
// every quote of its message, in both lists, and every root snippet of it.
import { ThreadMarks } from "./thread_marks.js";
import { ThreadRoots } from "./thread_roots.js";
import { ThreadPanel } from "./thread_panel.js";
import { QuoteChip } from "./quote.js";
import { Typing } from "./typing.js";

// The main flow: every message without `thread`, and replies also sent to the room.
export const inMainFlow = (frame) => !frame.thread || frame.also_in_room === true;

export class RoomThreads {
  // view: the room's static/message_list.js; composer: the room's box; picker:
  // the page's emoji picker; lightbox: the room's; online(): usernames online;
  // report(text): a notice in the room; caughtUp(): the catch-up is shown;
  // typingIntervalMs: as the room's static/typing.js.
  constructor({ socket, room, me, names, view, composer, picker, lightbox, maxChars, moderator, online, report, caughtUp, typingIntervalMs }) {
    const nameOf = (username) => names.of(username);
    const list = view.list;
    const roomUrl = location.pathname;
    this.roots = new ThreadRoots({ room, roomUrl, list, nameOf });
    this.marks = new ThreadMarks({ roomUrl, nameOf, list, summaries: true, roots: this.roots });
    view.threadMarks = this.marks;
    this.quoteChip = new QuoteChip({ form: composer.form, list, nameOf, focus: () => composer.focus() });
    this.panel = new ThreadPanel({
      socket, room, me, names, roomUrl, maxChars, moderator, lightbox, picker, online, report,
      layout: document.getElementById("room-layout"),
    });
    this.panel.openFrom(list);
    let typingIn = null; // the thread the typing line is about
    socket.on("typing", () => { // before the line's own handler: a thread opened since starts it afresh
      if (typingIn !== this.panel.thread) typing.clear();
      typingIn = this.panel.thread;
    });
    const typing = new Typing({
      socket, room, me, nameOf, line: document.getElementById("thread-typing"),
      input: this.panel.composer.input, intervalMs: typingIntervalMs, thread: () => this.panel.thread,
    });
    socket.on("chat", (frame) => {
      if (frame.room === room && frame.thread) typing.stop(frame.username); // their reply came
    });
    list.addEventListener("click", (event) => {
      const snippet = event.target.closest("a.thread-snippet[data-thread]");
      if (!snippet) return;
      event.preventDefault();
      this.panel.open(Number(snippet.dataset.thread), { opener: snippet, focus: true });
    });
    const both = [composer, this.panel.composer];
    // Closed as rendered (an archived room): the panel's box is closed for the same reasons.
    for (const [reason, why] of composer.closures) this.panel.composer.close(why.message, why.link, reason);
    this.boxes = {
      close: (...why) => both.forEach((box) => box.close(...why)),
      reopen: (reason) => both.forEach((box) => box.reopen(reason)),
    };
    // A reply deleted live: its root counts one less (a catch-up's roots count
    // from the table).
    socket.on("chat_delete", (frame) => {
      if (frame.room === room && frame.thread && caughtUp()) this.marks.noteDelete(frame);
    });
    // The quoted message or a root, as it is now (set/replace: a replay changes nothing).
    const lists = [list, this.panel.list];
    for (const type of ["chat_edit", "chat_delete"]) {
      socket.on(type, (frame) => {
        if (frame.room !== room) return;
        this.marks.requote(lists, frame);
        this.roots.onEvent(frame);
        if (frame.type === "chat_delete") {
          for (const chip of [this.quoteChip, this.panel.box.quoteChip]) chip.gone(frame.target_seq);
        }
      });
    }
  }
}

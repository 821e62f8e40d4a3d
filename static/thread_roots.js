// The roots named beside "replied in a thread" (issue 18, docs/protocol.md
// "Threads and replies"): a reply also sent to the room shows, in the room's
// main flow, its root's author and the start of its text, as text (Markdown
// source, never HTML), linked to the thread, as the history pages do
// (templates/_message.html). A reply's frame carries only `thread`, the root's
// seq: a root in the room's list is read from there; any other is asked once,
// from GET /api/rooms/<room>/threads/<seq>?limit=1 (its `root`), and kept per
// seq. The root's chat_edit and chat_delete frames change every snippet of it
// (`onEvent`, wired by static/room_threads.js).
//
// Stable hooks for browser tests:
//   li.message a.thread-snippet[data-thread]  .thread-snippet-author, .thread-snippet-text
//                                    (.deleted "original message deleted"); empty
//                                    (and hidden) until the root is known
import { el } from "./dom.js";
import { ORIGINAL_DELETED } from "./message_events.js";

// The start of a root shown: a line's worth beside the reply's name and time
// (chat/domain/threads.py ROOT_SNIPPET_CHARS, the history pages').
const SNIPPET_CHARS = 80;

function cut(text) {
  const chars = [...text.replace(/\s+/g, " ").trim()];
  // As the pages cut it (chat/domain/threads.py snippet): the ellipsis is one of them.
  return chars.length > SNIPPET_CHARS ? `${chars.slice(0, SNIPPET_CHARS - 1).join("")}…` : chars.join("");
}

export class ThreadRoots {
  // room: the room's name; roomUrl: the live room's path; list: the room's
  // #messages; nameOf(username): the name shown.
  constructor({ room, roomUrl, list, nameOf }) {
    Object.assign(this, { room, roomUrl, list, nameOf });
    this.asked = new Map(); // root seq -> Promise of { username, content, deleted }, or of null
  }

  // The snippet link of the root `seq`, filled now or once the root is known.
  snippet(seq) {
    const link = el("a", "thread-snippet");
    link.href = `${this.roomUrl}?thread=${seq}`;
    link.dataset.thread = String(seq);
    link.hidden = true;
    const shown = this.shown(seq);
    if (shown) this.fill(link, shown);
    // The answer as it is by then (an edit or a deletion may have come meanwhile: onEvent).
    else this.ask(seq).then(() => this.asked.get(seq)).then((root) => root && this.fill(link, root));
    return link;
  }

  // The root as the room's list shows it, if it is there.
  shown(seq) {
    const li = this.list.querySelector(`#m${seq}[data-seq]`);
    if (!li) return null;
    const content = li.dataset.source ?? li.querySelector(":scope > .content")?.textContent ?? "";
    return { username: li.dataset.user, content, deleted: li.classList.contains("deleted") };
  }

  ask(seq) {
    if (!this.asked.has(seq)) {
      const url = `/api/rooms/${encodeURIComponent(this.room)}/threads/${seq}?limit=1`;
      const answer = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : Promise.reject(new Error(String(response.status)))))
        .then(({ root }) => root && { username: root.username, content: root.content, deleted: Boolean(root.deleted) })
        .catch(() => {
          this.asked.delete(seq); // the next reply of this thread asks again
          return null;
        });
      this.asked.set(seq, answer);
    }
    return this.asked.get(seq);
  }

  fill(link, root) {
    const author = el("span", "thread-snippet-author", this.nameOf(root.username));
    const text = root.deleted
      ? el("span", "thread-snippet-text deleted", ORIGINAL_DELETED)
      : el("span", "thread-snippet-text", cut(root.content));
    link.replaceChildren(author, ": ", text);
    link.dataset.user = root.username;
    link.title = `Open the thread of ${this.nameOf(root.username)}'s message`;
    link.hidden = false;
  }

  // A chat_edit or chat_delete of this room: the snippets of that root, if it
  // is one, show it as it is now (a deletion is final).
  onEvent(frame) {
    const seq = frame.target_seq;
    const links = this.list.querySelectorAll(`a.thread-snippet[data-thread="${seq}"]`);
    if (!links.length && !this.asked.has(seq)) return;
    const deleted = frame.type === "chat_delete";
    const update = (root) => {
      if (!root || root.deleted) return root;
      return { ...root, content: deleted ? "" : frame.content ?? "", deleted };
    };
    if (this.asked.has(seq)) this.asked.set(seq, this.asked.get(seq).then(update));
    for (const link of links) {
      if (link.querySelector(".deleted")) continue;
      const username = link.dataset.user;
      if (username) this.fill(link, update({ username, content: "", deleted: false }));
    }
  }
}

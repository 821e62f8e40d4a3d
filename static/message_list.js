// The live room's list of messages: how a stored message is drawn from its
// frame, and where it goes. Stored messages stay in seq order above the tail
// of this tab's unsent ones (static/own_sends.js), each under its group's
// header and its day's line (static/message_groups.js), however they come:
// live at the end, a page of older ones at the top (static/scrollback.js), a
// send settled by its ack in between.
//
// A stored message (see static/room.js for the page's other hooks):
//   li.message#m<seq>[data-seq][data-user][data-ts]  .mine for the reader's own
//     span.avatar (first of a group only), .meta: .author (the display name, else
//     the username; title "@username"), .handle ("@username", under a display
//     name only), a.permalink (href "/rooms/<name>#m<seq>": the live room opened
//     at that message) around time[datetime]
//     .content, then its files and link preview (static/message_media.js), the
//     tools and reactions of static/message_events.js
import { avatar } from "./avatar.js";
import { el } from "./dom.js";
import { MessageGroups } from "./message_groups.js";

// What tops a list once its first message is in: the room's "Start of #room"
// (static/scrollback.js), the thread panel's "Replies" line under its root.
const START = ":scope > .room-start, :scope > .thread-replies";
// Day lines say the day; a message's own line says the time.
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

export class MessageList {
  // me: the reader's username; roomUrl: the live room's path, for permalinks;
  // names: the page's DisplayNames (static/names.js), else usernames are shown.
  // idPrefix: a message's id is idPrefix + seq ("m" in the room, another in the
  // thread panel, static/thread_panel.js, which shows some of the same messages).
  constructor({ list, me, roomUrl, names = null, idPrefix = "m" }) {
    this.list = list;
    this.idPrefix = idPrefix;
    this.me = me;
    this.roomUrl = roomUrl;
    this.names = names;
    // @me in a message's HTML (chat/domain/render.py writes data-user lower-cased).
    this.mentionOfMe = `.mention[data-user="${CSS.escape(me.toLowerCase())}"]`;
    this.groups = new MessageGroups(list, (username) => this.nameOf(username));
    this.events = null; // the page's MessageEvents, which draws with fillContent: set once made
    // What a message adds for threads (static/thread_marks.js: quote, replies
    // summary, "replied in a thread"): set by the page, or none.
    this.threadMarks = null;
  }

  nameOf(username) {
    return this.names ? this.names.of(username) : username;
  }

  // The header's name: the display name (text, never HTML) with the @username
  // as its title and, when they differ, beside it in muted text.
  authorParts(username) {
    const name = this.nameOf(username);
    const author = el("span", "author", name);
    author.title = `@${username}`;
    return name === username ? [author] : [author, " ", el("span", "handle", `@${username}`)];
  }

  // A person's name changed (static/names.js): their messages' headers,
  // avatars and `/me` lines show the new one.
  rename(username) {
    const name = this.nameOf(username);
    for (const li of this.list.querySelectorAll(`li.message[data-user="${CSS.escape(username)}"]`)) {
      const meta = li.querySelector(":scope > .meta");
      const author = meta?.querySelector(":scope > .author");
      if (author) {
        meta.querySelector(":scope > .handle")?.remove();
        author.replaceWith(...this.authorParts(username));
      }
      const actor = li.querySelector(":scope > .content > .actor");
      if (actor) actor.textContent = name;
      li.querySelector(":scope > .avatar")?.replaceWith(avatar(username, "avatar", name));
    }
  }

  timeElement(date) {
    const time = el("time");
    time.dateTime = date.toISOString();
    time.textContent = timeFormat.format(date);
    time.title = fullFormat.format(date);
    return time;
  }

  permalink(seq, date) {
    const link = el("a", "permalink");
    link.href = `${this.roomUrl}#m${seq}`;
    link.title = `${fullFormat.format(date)}: link to this message`;
    link.append(this.timeElement(date));
    return link;
  }

  // Server-rendered, sanitised HTML when the frame has it, else the plain text.
  fillContent(node, frame) {
    if (typeof frame.html === "string") {
      node.className = "content";
      node.innerHTML = frame.html;
      for (const mention of node.querySelectorAll(this.mentionOfMe)) mention.classList.add("me");
    } else {
      node.className = "content plain";
      node.textContent = frame.content;
    }
  }

  // Make `li` show a stored message: for new items, and to settle a pending
  // one. Its group and day line come with draw/place (it may not be in the list yet).
  fillMessage(li, frame) {
    li.className = "message";
    if (frame.username === this.me) li.classList.add("mine");
    li.id = `${this.idPrefix}${frame.seq}`;
    li.dataset.seq = String(frame.seq);
    li.dataset.user = frame.username;
    const date = frame.ts ? new Date(frame.ts) : new Date();
    li.dataset.ts = date.toISOString();
    const meta = el("div", "meta");
    meta.append(...this.authorParts(frame.username), " ", this.permalink(frame.seq, date));
    const content = li.querySelector(".content") ?? el("div");
    if (frame.html !== undefined || frame.content !== undefined) {
      this.fillContent(content, frame);
      if (frame.kind === "action") content.prepend(el("span", "actor", this.nameOf(frame.username)), " ");
    }
    if (frame.kind === "action" || content.querySelector(".actor")) li.classList.add("action");
    // An ack's bare frame: a pending send's files stay shown until its own frame.
    const files = frame.content === undefined ? li.querySelector(":scope > ul.files") : null;
    li.replaceChildren(meta, content);
    if (files) content.after(files);
    if (frame.content !== undefined) li.dataset.source = frame.content; // what "Edit" starts from
    this.threadMarks?.decorate(li, frame);
    this.events.decorate(li, frame);
    return li;
  }

  // Draw a message already in the list again (its frame came after its ack).
  redraw(li, frame) {
    this.fillMessage(li, frame);
    this.groups.settleAround(li);
  }

  // Put a stored message in its place by seq. Usually that is the end; but an
  // ack can settle a send after later messages arrived, so: find the last
  // stored message (or the divider, or else the "Start of" line) below this
  // seq, then step over the notices that follow it, stopping at anything
  // stored later or unsent.
  place(li, seq) {
    let anchor = this.list.lastElementChild;
    while (anchor && !this.isBelow(anchor, li, seq)) anchor = anchor.previousElementSibling;
    anchor ??= this.list.querySelector(START);
    let before = anchor ? anchor.nextElementSibling : this.list.firstElementChild;
    while (before && (before === li || before.classList.contains("notice"))) before = before.nextElementSibling;
    this.list.insertBefore(li, before);
    this.groups.settleAround(li);
  }

  isBelow(node, li, seq) {
    if (node === li) return false;
    if (node.classList.contains("divider")) return Number(node.dataset.seq) < seq;
    const stored = node.classList.contains("message") && node.dataset.seq !== undefined
      && !node.classList.contains("pending") && !node.classList.contains("failed");
    return stored && Number(node.dataset.seq) < seq;
  }

  // Notices go above any pending tail, like stored messages.
  placeNotice(li) {
    let before = null;
    for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
      if (!node.classList.contains("pending") && !node.classList.contains("failed")) break;
      before = node;
    }
    this.list.insertBefore(li, before);
  }

  // Older messages (frames oldest first, all older than any shown) at the top,
  // each once: a message already shown is skipped. The items put in.
  prepend(frames) {
    const items = [];
    for (const frame of frames) {
      if (document.getElementById(`${this.idPrefix}${frame.seq}`)) continue;
      items.push(this.fillMessage(el("li"), frame));
    }
    const start = this.list.querySelector(START);
    const fragment = document.createDocumentFragment();
    fragment.append(...items);
    this.list.insertBefore(fragment, start ? start.nextElementSibling : this.list.firstElementChild);
    for (const li of items) this.groups.settle(li);
    const after = items.length ? this.groups.nextMessage(items.at(-1)) : null;
    if (after) this.groups.settle(after);
    return items;
  }

  // The "New" line right above `li`, which then starts a group.
  markNew(li) {
    const divider = el("li", "divider", "New");
    divider.dataset.seq = String(Number(li.dataset.seq) - 0.5); // sorts just above it (place)
    li.before(divider);
    this.groups.settle(li);
    return divider;
  }
}

// Unread and mention badges for the rooms listed on a page
// (li.room-item[data-room]), kept live from the tab's one socket: each room
// is followed from its rendered last_seq, so no backlog is sent, and every
// new chat frame in a room other than the open one bumps its
// .badge[data-room="<name>"] (and .mentions[data-room] when it names the user).
//
// The page renders the server's counts (data-unread, data-mentions: others'
// messages after the user's read seq); from there each chat frame with a seq
// beyond the last one seen counts once. Edits, deletions and reactions have
// seqs too but arrive as other frame types, so they are not counted. Rooms
// other than the open one are joined with watch: true (no presence, no
// membership); a room the user never joined (data-unread="") counts what
// arrives while the page is open. The user's own message in a room resets
// its counts: having just written there, they have seen it.
//
// An edit or a deletion changes whom a message mentions (docs/protocol.md,
// Mentions): a mention an edit adds counts as new, one it removes (or a
// deletion) no longer counts. For a message that arrived while the page was
// open the badge follows exactly, from the new html; for an older one only
// the server knows whether it was counted, so the room's counts are asked
// again from GET /api/rooms (a deletion also asks: unread counts skip
// deleted messages).

// The sidebar follows the user's channel (docs/protocol.md, "Your rooms"): the
// `rooms` frame every /ws socket gets first (and again if its server may have
// missed something) makes the list exactly the user's rooms with the server's
// counts; `room_added`, `room_removed` and `room_updated` change one item, and
// `read` (the user read a room, on any device) sets its counts. Each carries
// the room's last_seq as of its counts, so a chat frame at or below it is not
// counted twice. A muted room shows no badge and counts nothing in the title.

import { el } from "./dom.js";
import { ThreadsBadge } from "./threads_badge.js";

// Asking again when frames overtook the answer: a few times, then the next
// event asks. Bounds the requests a busy room can cause.
const REFRESH_TRIES = 3;

export class UnreadBadges {
  constructor(socket, { me, openRoom = null }) {
    this.me = me;
    this.mention = `.mention[data-user="${CSS.escape(me.toLowerCase())}"]`;
    this.openRoom = openRoom;
    this.baseTitle = document.title;
    this.rooms = new Map(); // name -> { lastSeq, unread, mentions }
    this.openRoomUnseen = 0; // messages in the open room not yet seen (tab hidden or scrolled up)
    for (const item of document.querySelectorAll("li.room-item[data-room]")) {
      const name = item.dataset.room;
      if (name === openRoom || this.rooms.has(name)) continue;
      const lastSeq = Number(item.dataset.lastSeq) || 0;
      const unread = Number(item.dataset.unread) || 0;
      const mentions = Number(item.dataset.mentions) || 0;
      // liveFrom: messages after it arrived here, and mentioning holds those
      // of them counted as mentions of the user.
      const muted = item.dataset.muted === "true";
      this.rooms.set(name, { lastSeq, unread, mentions, liveFrom: lastSeq, mentioning: new Set(), muted });
      socket.follow(name, lastSeq);
    }
    this.socket = socket;
    socket.on("chat", (frame) => this.onChat(frame));
    socket.on("chat_edit", (frame) => this.onEdit(frame));
    socket.on("chat_delete", (frame) => this.onDelete(frame));
    socket.on("rooms", (frame) => this.onRooms(frame.rooms ?? []));
    socket.on("room_added", (frame) => this.upsert(frame.room));
    socket.on("room_updated", (frame) => {
      if (frame.previous) this.renamed(frame.previous, frame.room.name);
      this.upsert(frame.room);
    });
    socket.on("room_removed", (frame) => this.remove(frame.room));
    socket.on("read", (frame) => this.onRead(frame));
    // The sidebar's Threads entry; its unread replies count in the tab's title too.
    this.threadsUnread = 0;
    this.threadsBadge = new ThreadsBadge(socket, {
      onChange: (unread) => {
        this.threadsUnread = unread;
        this.renderTitle();
      },
    });
    this.renderTitle();
  }

  // --- the user's channel --------------------------------------------------

  // The whole list as the server has it now.
  onRooms(listings) {
    const names = new Set(listings.map((r) => r.name));
    for (const item of document.querySelectorAll("li.room-item[data-room]")) {
      const name = item.dataset.room;
      if (!names.has(name) && name !== this.openRoom) this.remove(name);
    }
    for (const listing of listings) this.upsert(listing);
  }

  // A room of the user's, new or changed: its item, its counts, followed.
  upsert(listing) {
    const name = listing.name;
    let item = this.itemOf(name);
    if (!item) {
      item = roomItem(listing);
      insertSorted(this.listFor(listing), item);
    }
    item.dataset.lastSeq = String(listing.last_seq);
    if (listing.direct && listing.partner_status) {
      item.dataset.status = listing.partner_status;
      const text = item.querySelector(".presence-text");
      if (text) text.textContent = listing.partner_status;
    }
    if (listing.muted) item.dataset.muted = "true";
    else delete item.dataset.muted;
    showArchived(item, Boolean(listing.archived));
    if (name === this.openRoom) return;
    const room = this.rooms.get(name);
    if (!room) {
      this.rooms.set(name, {
        lastSeq: listing.last_seq,
        unread: listing.unread ?? 0,
        mentions: listing.mentions ?? 0,
        liveFrom: listing.last_seq,
        mentioning: new Set(),
        muted: Boolean(listing.muted),
      });
      this.socket.follow(name, listing.last_seq);
    } else {
      room.muted = Boolean(listing.muted);
      this.setCounts(room, listing);
    }
    this.render(name);
  }

  // A room of the user's was renamed: its item and counts go under the new name.
  renamed(previous, name) {
    this.itemOf(previous)?.remove();
    const room = this.rooms.get(previous);
    if (room && !this.rooms.has(name)) {
      this.rooms.delete(previous);
      this.rooms.set(name, room);
    }
    this.socket.renamed(previous, name);
  }

  // The user read a room (here or on another device).
  onRead(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    this.setCounts(room, frame);
    this.render(frame.room);
  }

  // Counts from the server as of its last_seq, unless frames newer than that
  // were counted here already (then the next read or refresh settles it).
  setCounts(room, counts) {
    if (counts.last_seq < room.lastSeq) return;
    room.lastSeq = room.liveFrom = counts.last_seq;
    room.mentioning.clear();
    room.unread = counts.unread ?? 0;
    room.mentions = counts.mentions ?? 0;
  }

  remove(name) {
    this.itemOf(name)?.remove();
    if (name === this.openRoom) return;
    this.rooms.delete(name);
    this.socket.unfollow(name);
    this.renderTitle();
  }

  itemOf(name) {
    return document.querySelector(`li.room-item[data-room="${CSS.escape(name)}"]`);
  }

  listFor(listing) {
    const heading = listing.direct ? "dm-heading" : "rooms-heading";
    return document.querySelector(`ul.rooms[aria-labelledby="${heading}"]`);
  }

  // Whether a message's (sanitised, server-rendered) HTML mentions the user.
  mentionsMe(html) {
    if (typeof html !== "string" || !html.includes("mention")) return false;
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content.querySelector(this.mention) !== null;
  }

  onChat(frame) {
    const room = this.rooms.get(frame.room);
    if (!room || frame.seq <= room.lastSeq) return;
    room.lastSeq = frame.seq;
    if (frame.username === this.me) {
      room.unread = 0;
      room.mentions = 0;
      room.mentioning.clear();
    } else if (!frame.deleted) {
      // A reply counts in its thread (static/threads_badge.js), not in the
      // room, unless it was also sent to the room; a mention in it still
      // counts in the room's mentions until the thread is read (docs/protocol.md, Threads).
      if (frame.thread == null || frame.also_in_room) room.unread += 1;
      if (this.mentionsMe(frame.html)) {
        room.mentions += 1;
        room.mentioning.add(frame.seq);
      }
    }
    this.render(frame.room);
  }

  // The room of a new event, or null for one seen already or not followed.
  eventRoom(frame) {
    const room = this.rooms.get(frame.room);
    if (!room || frame.seq <= room.lastSeq) return null;
    room.lastSeq = frame.seq;
    return room;
  }

  onEdit(frame) {
    const room = this.eventRoom(frame);
    // Only its author edits a message, and one's own message mentions no one for one.
    if (!room || frame.username === this.me) return;
    const target = frame.target_seq;
    if (target <= room.liveFrom) {
      this.refresh(frame.room);
      return;
    }
    const now = this.mentionsMe(frame.html);
    if (now === room.mentioning.has(target)) return;
    if (now) room.mentioning.add(target);
    else room.mentioning.delete(target);
    room.mentions += now ? 1 : -1;
    this.render(frame.room);
  }

  onDelete(frame) {
    if (this.eventRoom(frame)) this.refresh(frame.room);
  }

  // The room's counts from the server, unless frames newer than its answer
  // arrived meanwhile (then ask again).
  async refresh(name, tries = REFRESH_TRIES) {
    const room = this.rooms.get(name);
    if (room.refreshing) {
      room.refreshAgain = true;
      return;
    }
    room.refreshing = true;
    let stale = false;
    try {
      const response = await fetch("/api/rooms", { credentials: "same-origin" });
      const found = response.ok ? (await response.json()).rooms.find((r) => r.name === name) : null;
      if (found && found.last_seq >= room.lastSeq) {
        room.lastSeq = room.liveFrom = found.last_seq;
        room.mentioning.clear();
        if (found.unread !== null) room.unread = found.unread;
        if (found.mentions !== null) room.mentions = found.mentions;
        this.render(name);
      } else if (found) {
        stale = true;
      }
    } catch {
      // Offline: the next event, or the next page load, asks again.
    } finally {
      room.refreshing = false;
    }
    const again = room.refreshAgain || stale;
    room.refreshAgain = false;
    if (again && tries > 1) this.refresh(name, tries - 1);
  }

  render(name) {
    const room = this.rooms.get(name);
    if (!room) return;
    const selector = (kind) => `.${kind}[data-room="${CSS.escape(name)}"]`;
    for (const badge of document.querySelectorAll(selector("badge"))) {
      badge.textContent = room.unread >= 1000 ? "999+" : String(room.unread);
      badge.hidden = room.unread === 0 || room.muted;
    }
    for (const badge of document.querySelectorAll(selector("mentions"))) {
      badge.textContent = `@${room.mentions}`;
      badge.hidden = room.mentions === 0 || room.muted;
    }
    this.renderTitle();
  }

  setOpenRoomUnseen(count) {
    if (count === this.openRoomUnseen) return;
    this.openRoomUnseen = count;
    this.renderTitle();
  }

  // "(3) #general · Chat": the tab shows there is something new.
  renderTitle() {
    let total = this.openRoomUnseen + this.threadsUnread;
    for (const room of this.rooms.values()) if (!room.muted) total += room.unread;
    document.title = total > 0 ? `(${total}) ${this.baseTitle}` : this.baseTitle;
  }
}

// A sidebar item for a room added live, as templates/_rooms.html renders one.
function roomItem(listing) {
  const item = el("li", listing.direct ? "room-item direct" : "room-item");
  item.dataset.room = listing.name;
  const link = el("a", "", listing.title ?? `#${listing.name}`);
  link.href = `/rooms/${encodeURIComponent(listing.name)}`;
  if (listing.direct && listing.partner) {
    item.dataset.partner = listing.partner;
    item.dataset.status = listing.partner_status ?? "offline";
    const dot = el("span", "presence-dot");
    dot.setAttribute("aria-hidden", "true");
    item.append(dot, link, el("span", "visually-hidden presence-text", item.dataset.status));
  } else {
    item.append(link);
  }
  if (listing.private && !listing.direct) {
    const tag = el("span", "tag", "private");
    tag.title = "Only members can see this room";
    item.append(" ", tag);
  }
  for (const [kind, title] of [["mentions", "mentions of you"], ["badge", "unread messages"]]) {
    const badge = el("span", kind);
    badge.dataset.room = listing.name;
    badge.title = title;
    badge.hidden = true;
    item.append(" ", badge);
  }
  return item;
}

// An archived room's item is muted and tagged (as templates/_rooms.html draws it).
function showArchived(item, archived) {
  if (archived) item.dataset.archived = "true";
  else delete item.dataset.archived;
  const tag = item.querySelector(".tag.archived");
  if (archived && !tag) {
    const added = el("span", "tag archived", "archived");
    added.title = "Read-only: nobody can write in it";
    (item.querySelector(".mentions") ?? item.lastChild).before(added, " ");
  } else if (!archived && tag) {
    tag.remove();
  }
}

// Items stay in name order (the server's), after the list's "none yet" line goes.
function insertSorted(list, item) {
  if (!list) return;
  list.querySelector("li.empty")?.remove();
  const name = item.dataset.room;
  const next = [...list.querySelectorAll("li.room-item")].find((li) => li.dataset.room > name);
  list.insertBefore(item, next ?? null);
}

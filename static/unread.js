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
      this.rooms.set(name, { lastSeq, unread, mentions, liveFrom: lastSeq, mentioning: new Set() });
      socket.follow(name, lastSeq);
    }
    socket.on("chat", (frame) => this.onChat(frame));
    socket.on("chat_edit", (frame) => this.onEdit(frame));
    socket.on("chat_delete", (frame) => this.onDelete(frame));
    this.renderTitle();
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
      room.unread += 1;
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
    const selector = (kind) => `.${kind}[data-room="${CSS.escape(name)}"]`;
    for (const badge of document.querySelectorAll(selector("badge"))) {
      badge.textContent = room.unread >= 1000 ? "999+" : String(room.unread);
      badge.hidden = room.unread === 0;
    }
    for (const badge of document.querySelectorAll(selector("mentions"))) {
      badge.textContent = `@${room.mentions}`;
      badge.hidden = room.mentions === 0;
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
    let total = this.openRoomUnseen;
    for (const room of this.rooms.values()) total += room.unread;
    document.title = total > 0 ? `(${total}) ${this.baseTitle}` : this.baseTitle;
  }
}

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
      this.rooms.set(name, { lastSeq, unread, mentions });
      socket.follow(name, lastSeq);
    }
    socket.on("chat", (frame) => this.onChat(frame));
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
    } else if (!frame.deleted) {
      room.unread += 1;
      if (this.mentionsMe(frame.html)) room.mentions += 1;
    }
    this.render(frame.room);
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

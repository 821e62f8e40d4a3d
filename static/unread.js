// Unread badges for the rooms listed on a page (li.room-item[data-room]),
// kept live from the tab's one socket: each room is followed from its
// rendered last_seq, so no backlog is sent, and every new chat frame in a
// room other than the open one bumps its .badge[data-room="<name>"].
//
// unread = last seq - read seq, as the server counts it. Rooms other than the
// open one are joined with watch: true (no presence, no membership). A room
// the user never joined (data-unread="") therefore has no read seq on the
// server; its badge counts what arrives while the page is open, from its
// first `ready`. The user's own messages are not counted: having just
// written in a room, they have seen it.

export class UnreadBadges {
  constructor(socket, { me, openRoom = null, countsMessages = false }) {
    this.me = me;
    this.openRoom = openRoom;
    this.countsMessages = countsMessages;
    this.baseTitle = document.title;
    this.rooms = new Map(); // name -> { lastSeq, readSeq, fresh }
    this.openRoomUnseen = 0; // messages in the open room not yet seen (tab hidden or scrolled up)
    for (const item of document.querySelectorAll("li.room-item[data-room]")) {
      const name = item.dataset.room;
      if (name === openRoom || this.rooms.has(name)) continue;
      const lastSeq = Number(item.dataset.lastSeq) || 0;
      const fresh = item.dataset.unread === "";
      const unread = fresh ? 0 : Number(item.dataset.unread) || 0;
      this.rooms.set(name, { lastSeq, readSeq: lastSeq - unread, fresh });
      socket.follow(name, lastSeq);
    }
    socket.on("chat", (frame) => this.onChat(frame));
    socket.on("ready", (frame) => this.onReady(frame));
    this.renderTitle();
  }

  onReady(frame) {
    const room = this.rooms.get(frame.room);
    if (!room || !room.fresh) return;
    room.fresh = false;
    room.readSeq = Math.max(room.readSeq, frame.last_seq);
    this.render(frame.room);
  }

  onChat(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return;
    room.lastSeq = Math.max(room.lastSeq, frame.seq);
    if (frame.username === this.me) room.readSeq = Math.max(room.readSeq, frame.seq);
    this.render(frame.room);
  }

  render(name) {
    const room = this.rooms.get(name);
    const unread = Math.max(0, room.lastSeq - room.readSeq);
    for (const badge of document.querySelectorAll(`.badge[data-room="${CSS.escape(name)}"]`)) {
      badge.textContent = String(unread);
      badge.hidden = unread === 0;
    }
    if (this.countsMessages) {
      for (const count of document.querySelectorAll(`.count[data-room="${CSS.escape(name)}"]`)) {
        count.textContent = `${room.lastSeq} message${room.lastSeq === 1 ? "" : "s"}`;
      }
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
    for (const room of this.rooms.values()) total += Math.max(0, room.lastSeq - room.readSeq);
    document.title = total > 0 ? `(${total}) ${this.baseTitle}` : this.baseTitle;
  }
}

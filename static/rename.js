// A room renamed (docs/protocol.md, "Renaming a room"): the `room_renamed`
// frame, an event in the room's sequence, is one quiet line,
// li.notice.member-event.room-renamed[data-seq]. When the open room is the one
// renamed live, the page moves to the room's new address: its drafts (the
// room's and its threads') and unsent messages go with it, and everything on
// the new page (sends, links, the socket's join) uses the new name. The old
// address keeps working.
import { draftKey } from "./composer.js";
import { moveUnsent } from "./unsent.js";
import { threadDraftsKey } from "./thread_box.js";

export function renamedText(frame, me) {
  const actor = frame.username === me ? "You" : frame.username;
  return `${actor} renamed #${frame.previous} to #${frame.name}`;
}

// `notice(text, className)` adds a line to the room's list and returns it;
// `before()` runs before the page leaves (saving the composer's draft).
export function followRenames({ socket, room, me, notice, before }) {
  socket.on("room_renamed", (frame) => {
    if (frame.room !== room && frame.previous !== room) return;
    const li = notice(renamedText(frame, me), "notice member-event room-renamed");
    li.dataset.seq = String(frame.seq);
    if (frame.previous !== room || frame.room === room) return; // caught up: already here
    before();
    for (const key of [draftKey, threadDraftsKey]) {
      try {
        const draft = localStorage.getItem(key(me, room));
        if (draft !== null) localStorage.setItem(key(me, frame.room), draft);
        localStorage.removeItem(key(me, room));
      } catch {
        // Storage disabled: the drafts stay under the old name.
      }
    }
    moveUnsent(room, frame.room);
    location.replace(`/rooms/${encodeURIComponent(frame.room)}${location.hash}`);
  });
}

// The open room's state as its page shows it: whether the reader is a member
// (section#room's data-member) and whether the room is archived (data-archived),
// with what depends on them, kept live without a reload:
//   - archived (docs/protocol.md, "Your rooms": `room_updated` for the open
//     room, or the `rooms` frame after a reconnect): #archived-banner shows,
//     the message box closes with the reason (static/composer.js, reason
//     "archived"), "Add people" and the creator's rename form hide, the
//     archive button offers "Unarchive"; unarchived, all of it goes back;
//   - the topic: the header's p.room-topic follows it (added, changed, removed);
//   - membership (static/membership.js sets data-member): "Leave", "Add people"
//     and the room's settings (mute, topic, archive, removing people: all need
//     a member) are shown only to a member; the Join banner only to a viewer of
//     a room that can be joined (not an archived one).
// These frames reach members only: a viewer's page learns of an archive on reload.

// What a room's page tells when it is archived (the same as templates/room.html).
export function archivedText(room) {
  return `#${room} is archived: you can read it, and nobody can write in it.`;
}

// The room's tools as data-member and data-archived allow them.
export function showRoomTools(section) {
  const member = section.dataset.member === "true";
  const archived = section.dataset.archived === "true";
  const hide = (id, hidden) => {
    const node = document.getElementById(id);
    if (node) node.hidden = hidden;
  };
  hide("join-banner", member || archived);
  hide("leave-form", !member);
  hide("invite-form", !member || archived);
  hide("room-settings", !member);
  hide("rename-form", archived);
  hide("archived-banner", !archived);
  const value = document.getElementById("archive-value");
  if (value) {
    value.value = archived ? "false" : "true";
    document.getElementById("archive-toggle").textContent = `${archived ? "Unarchive" : "Archive"} #${section.dataset.room}`;
  }
}

function showTopic(section, topic) {
  let line = section.querySelector("p.room-topic");
  if (!topic) {
    line?.remove();
    return;
  }
  if (!line) {
    line = document.createElement("p");
    line.className = "room-topic";
    section.querySelector("header.room-head").after(line);
  }
  line.textContent = topic;
}

// `section`: the page's section#room; `composer`: static/composer.js's.
export function followRoomState({ socket, room, section, composer }) {
  const apply = (listing) => {
    if (listing?.name !== room) return;
    showTopic(section, listing.topic ?? "");
    const archived = Boolean(listing.archived);
    section.dataset.archived = String(archived);
    showRoomTools(section);
    if (archived) composer.close(archivedText(room), null, "archived");
    else composer.reopen("archived");
  };
  socket.on("room_updated", (frame) => apply(frame.room));
  socket.on("rooms", (frame) => apply((frame.rooms ?? []).find((listing) => listing.name === room)));
}

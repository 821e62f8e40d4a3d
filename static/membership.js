// Membership in the live room (docs/protocol.md, "Members"):
//   - a `member` frame (someone joined, left, was added or removed: an event in
//     the room's sequence) is one quiet line, li.notice.member-event[data-seq];
//   - a `not_members` frame tells the sender that their message mentions people
//     who are not members (they were not notified), with a button per person
//     that adds them (POST /api/rooms/<room>/members); for a reply shown only
//     in the thread panel, under that reply there, where it was written;
//   - `room_added` for the open room (joined by the banner, by posting, in
//     another tab, or added by someone) hides the "Join" banner and shows
//     "Leave", as a reload would;
//   - `room_removed` for the open room says so and does the reverse: a public
//     room offers "Join" again; a private room or a direct conversation can no
//     longer be written to, so the message box is closed (the server stopped
//     sending its traffic to this socket);
//   - removed from a public room by its creator, the reader's box is closed too
//     ("Join it again to write here": posting would join them again, and
//     undo the removal unawares) until they join again; having left it
//     themselves, the box stays usable (posting joins, as it does for anyone).
//     Which it was, the room's own `member` frames tell (the last live one
//     naming the reader: "remove" or "leave"); that the reader is no longer a
//     member, the user channel (`room_removed`, or the `rooms` frame after a
//     reconnect). The two travel apart and may come in either order, so the
//     box is settled whenever either arrives.
import { refusal } from "./api.js";
import { el } from "./dom.js";
import { showRoomTools } from "./room_state.js";

// "carol added bob", with "you" for the reader.
export function memberText(frame, me) {
  const who = (name) => (name === me ? "you" : name);
  const actor = frame.username === me ? "You" : frame.username;
  switch (frame.event) {
    case "join":
      return `${actor} joined #${frame.room}`;
    case "leave":
      return `${actor} left #${frame.room}`;
    case "add":
      return `${actor} added ${who(frame.member)}`;
    case "remove":
      return `${actor} removed ${who(frame.member)}`;
    default:
      return `${actor} changed the members`;
  }
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

async function addMember(room, username) {
  const response = await fetch(`/api/rooms/${encodeURIComponent(room)}/members`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ username }),
  });
  if (response.ok) return null;
  return refusal(response, `could not add ${username}`);
}

// The open room's page as a member (true) or a viewer (false): the Join banner
// and the Leave button are both rendered (templates/room.html), one hidden;
// static/room_state.js decides what else a member sees.
function showMember(section, isMember) {
  section.dataset.member = String(isMember);
  showRoomTools(section);
}

// `notice(text, className, role)` adds a line to the room's list and returns it;
// `section` is the page's section#room (its data-member, data-private, data-direct);
// A not_members line in the thread panel, under the reply it is about.
function underReply(reply, text) {
  const line = el("span", "", text);
  line.setAttribute("role", "status");
  const li = el("li", "notice local not-members");
  li.append(line);
  reply.after(li);
  return li;
}

// `composer` is static/composer.js's, closed when the room can no longer be written to.
export function showMembership({ socket, room, me, notice, section, composer }) {
  socket.on("member", (frame) => {
    if (frame.room !== room) return;
    const li = notice(memberText(frame, me), "notice member-event");
    li.dataset.seq = String(frame.seq);
  });

  socket.on("not_members", (frame) => {
    if (frame.room !== room) return;
    const reply = document.getElementById(`m${frame.seq}`) ? null : document.getElementById(`t${frame.seq}`);
    for (const username of frame.users ?? []) {
      const text = `${username} is not in #${room} and was not notified. `;
      const li = reply ? underReply(reply, text) : notice(text, "notice local not-members", "status");
      const button = el("button", "ghost", `Add ${username}`);
      button.type = "button";
      button.addEventListener("click", async () => {
        button.disabled = true;
        const refusal = await addMember(room, username).catch(() => "the server could not be reached");
        if (refusal === null) {
          li.replaceChildren(`Added ${username} to #${room}.`);
        } else {
          button.disabled = false;
          li.replaceChildren(`${username} was not added: ${refusal} `, button);
        }
      });
      li.append(button);
    }
  });

  // Frames up to the room's last seq when the page was drawn are history that
  // data-member already reflects; a later one tells how the reader's
  // membership changed (live, or in the catch-up after a reconnect).
  const drawnSeq = Number(section.dataset.lastSeq) || 0;
  let departure = null; // the event of the last such member frame naming the reader
  const closes = section.dataset.private === "true" || section.dataset.direct === "true";

  const settle = () => {
    if (section.dataset.member === "true") composer.reopen("removed");
    else if (departure === "remove" && !closes) {
      composer.close(`You were removed from #${room}. Join it again to write here.`, null, "removed");
    }
  };

  socket.on("member", (frame) => {
    if (frame.room !== room || frame.member !== me || frame.seq <= drawnSeq) return;
    departure = frame.event;
    settle();
  });

  // Joined (by the button in another tab, by posting here, or added by someone):
  // the invitation to join goes.
  const joined = () => {
    showMember(section, true);
    settle();
  };

  const removed = () => {
    if (section.dataset.member === "false") return;
    showMember(section, false);
    notice(`You are no longer a member of #${room}.`, "notice local removed", "alert");
    if (closes) composer.close(`You are no longer a member of #${room}: you cannot write here.`, null, "not-member");
    settle();
  };

  socket.on("room_added", (frame) => {
    if (frame.room?.name === room) joined();
  });
  socket.on("room_removed", (frame) => {
    if (frame.room === room) removed();
  });
  // After a reconnect: what changed while this socket was away.
  socket.on("rooms", (frame) => {
    const listed = (frame.rooms ?? []).some((listing) => listing.name === room);
    if (listed && section.dataset.member === "false") joined();
    else if (!listed && section.dataset.member === "true") removed();
  });
}

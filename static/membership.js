// Membership in the live room (docs/protocol.md, "Members"):
//   - a `member` frame (someone joined, left, was added or removed: an event in
//     the room's sequence) is one quiet line, li.notice.member-event[data-seq];
//   - a `not_members` frame tells the sender that their message mentions people
//     who are not members (they were not notified), with a button per person
//     that adds them (POST /api/rooms/<room>/members);
//   - `room_added` for the open room removes the "Join" banner;
//   - `room_removed` for the open room says so.
import { el } from "./dom.js";

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
  const body = await response.json().catch(() => ({}));
  return body.message ?? body.error ?? `could not add ${username} (${response.status})`;
}

// `notice(text, className, role)` adds a line to the room's list and returns it.
export function showMembership({ socket, room, me, notice }) {
  socket.on("member", (frame) => {
    if (frame.room !== room) return;
    const li = notice(memberText(frame, me), "notice member-event");
    li.dataset.seq = String(frame.seq);
  });

  socket.on("not_members", (frame) => {
    if (frame.room !== room) return;
    for (const username of frame.users ?? []) {
      const li = notice(`${username} is not in #${room} and was not notified. `, "notice local not-members", "status");
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

  // Joined (by the button in another tab, by posting here, or added by someone):
  // the invitation to join goes.
  socket.on("room_added", (frame) => {
    if (frame.room?.name === room) document.getElementById("join-banner")?.remove();
  });

  socket.on("room_removed", (frame) => {
    if (frame.room !== room) return;
    notice(`You are no longer a member of #${room}.`, "notice local removed", "alert");
  });
}

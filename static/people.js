// Presence per person (docs/protocol.md, "Presence"): online, away or offline
// across the whole app.
//
// Shows it: every element with [data-user] or [data-partner] and a
// [data-status] (the room's #members list, a direct room's header and its
// sidebar item) follows `presence` frames, which the server sends to every
// room the person is a member of. After each (re)connect the open room's
// members are read again (GET /api/rooms/<room>/members, static/members_panel.js):
// presence is never replayed, so a socket that was away from the server may
// have missed some. The same read brings their display names (static/names.js;
// showName draws one).
//
// Reports it: this tab tells the server when the person is away (the page
// hidden for HIDDEN_AWAY_MS, or no input for IDLE_AWAY_MS) and when they are
// back, so "online" means someone is there.

import { avatar } from "./avatar.js";

const HIDDEN_AWAY_MS = 2 * 60 * 1000;
const IDLE_AWAY_MS = 5 * 60 * 1000;
const ACTIVITY = ["pointerdown", "keydown", "wheel", "touchstart", "focus"];

function show(node, status) {
  node.dataset.status = status;
  const text = node.matches(".presence-text") ? node : node.querySelector(".presence-text");
  if (text) text.textContent = status;
}

export function setStatus(username, status) {
  const name = CSS.escape(username);
  for (const node of document.querySelectorAll(`[data-user="${name}"][data-status], li.room-item[data-partner="${name}"]`)) {
    show(node, status);
  }
}

// The room's members [{username, status, display_name}]; null if the server
// could not be asked (offline: the next reconnect asks again).
export async function fetchMembers(room) {
  try {
    const response = await fetch(`/api/rooms/${encodeURIComponent(room)}/members`, { credentials: "same-origin" });
    if (!response.ok) return null;
    return (await response.json()).members ?? [];
  } catch {
    return null;
  }
}

// A person's name in #members (li > .person > .person-name, and .handle, the
// @username, under a display name) and their avatar (span.avatar.small: the
// picture static/avatar.js knows, else initials), after either changed
// (static/names.js).
export function showName(username, displayName) {
  for (const li of document.querySelectorAll(`#members li[data-user="${CSS.escape(username)}"]`)) {
    const person = li.querySelector(".person");
    if (!person) continue;
    li.querySelector(":scope > .avatar")?.replaceWith(avatar(username, "avatar small", displayName || username));
    if (displayName) li.dataset.name = displayName;
    else delete li.dataset.name;
    person.querySelector(".person-name").textContent = displayName || username;
    person.querySelector(".handle")?.remove();
    if (displayName) {
      const handle = document.createElement("span");
      handle.className = "handle";
      handle.textContent = `@${username}`;
      person.append(" ", handle);
    }
  }
}

export function followPresence(socket) {
  socket.on("presence", (frame) => setStatus(frame.username, frame.status));

  let away = false;
  let timer = null;
  const report = (isAway) => {
    if (isAway === away) return;
    away = isAway;
    socket.send({ type: "presence", status: away ? "away" : "online" });
  };
  const arm = () => {
    clearTimeout(timer);
    const hidden = document.visibilityState === "hidden";
    timer = setTimeout(() => report(true), hidden ? HIDDEN_AWAY_MS : IDLE_AWAY_MS);
  };
  const active = () => {
    if (document.visibilityState === "visible") report(false);
    arm();
  };
  for (const type of ACTIVITY) window.addEventListener(type, active, { passive: true, capture: true });
  document.addEventListener("visibilitychange", active);
  // A new socket starts active on the server: tell it again if the person is away.
  socket.on("open", () => {
    if (away) socket.send({ type: "presence", status: "away" });
  });
  arm();
}

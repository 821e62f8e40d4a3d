// Own messages not stored yet, kept for this tab in sessionStorage, per room:
// those still "sending…" and those the server refused.
//
// A reload, or a navigation away and back, while a send is unanswered would
// otherwise lose it silently: the frame may never have left the browser. The
// next page shows it again as pending and sends it again with its client_id,
// which the server makes idempotent (the original ack if it was stored). A
// refused one comes back as refused, its text still a click away.
// sessionStorage, not localStorage: another tab has sends of its own.

const KEY = "chat:unsent:";

// [{ clientId, content, refusal: null | { code, message } }, …] in the order
// written; [] when none or unreadable.
export function loadUnsent(room) {
  let entries;
  try {
    entries = JSON.parse(sessionStorage.getItem(KEY + room) ?? "[]");
  } catch {
    return []; // storage disabled, or a value this code did not write
  }
  if (!Array.isArray(entries)) return [];
  return entries.filter((e) => typeof e?.clientId === "string" && typeof e?.content === "string");
}

// Where the replies sent from the thread panel are kept (static/thread_panel.js):
// beside the room's own (a room's name has no space).
export function threadsKey(room) {
  return `${room} threads`;
}

// The room was renamed: its unsent messages (and replies) go under its new name.
export function moveUnsent(previous, room) {
  for (const [from, to] of [[previous, room], [threadsKey(previous), threadsKey(room)]]) {
    const entries = loadUnsent(from);
    if (entries.length === 0) continue;
    saveUnsent(to, [...loadUnsent(to), ...entries]);
    saveUnsent(from, []);
  }
}

export function saveUnsent(room, entries) {
  try {
    if (entries.length === 0) sessionStorage.removeItem(KEY + room);
    else sessionStorage.setItem(KEY + room, JSON.stringify(entries));
  } catch {
    // Storage full or disabled: the page still works, a reload just cannot resend.
  }
}

// Groups and day lines in the live room's message list.
//
// A person's messages in a row show one header (avatar, name, time) while
// each follows the one before within GROUP_GAP_MS on the same day; the others
// (li.message.continued) show their text, their time on hover or focus. A
// message by someone else, after a longer pause, on another day, or after
// anything that is not a message (a notice, the "New" divider) starts a new
// group (li.message.group-start). Days are the reader's local days; a day line
// (li.day, a heading: "Today", "Yesterday", "Tuesday, November 24") goes above
// the first message of each, the topmost one included.
//
// The state of a message depends only on the message before it, so whatever
// is put into the list (live at the end, a page of older ones at the top, a
// send settled by its ack in the middle) stays right by settling the new
// messages and the one after them (settle / settleAround). A deletion keeps
// its message's author and time, so it changes no group.
//
// Stable hooks for browser tests:
//   li.message.group-start   the first of a group: span.avatar, then .meta (.author, time)
//   li.message.continued     the rest: .author visually hidden, time shown on hover/focus
//   li.day[data-day="YYYY-MM-DD"]  h2.day-label, the local day's name
import { avatar } from "./avatar.js";
import { el } from "./dom.js";

// A pause longer than this starts a new group, as in Slack and Zulip: past a
// few minutes it reads as a new thought, and a header tells when it came.
export const GROUP_GAP_MS = 5 * 60 * 1000;

const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
const yearFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric", year: "numeric" });

function pad(n) {
  return String(n).padStart(2, "0");
}

// The local day of a Date, as YYYY-MM-DD.
export function dayKey(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function dateOfKey(key) {
  const [year, month, day] = key.split("-").map(Number);
  return new Date(year, month - 1, day);
}

// "Today", "Yesterday", else the weekday and date (and the year, if not this one).
export function dayLabel(key, now = new Date()) {
  if (key === dayKey(now)) return "Today";
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(yesterday)) return "Yesterday";
  const date = dateOfKey(key);
  return (date.getFullYear() === now.getFullYear() ? weekdayFormat : yearFormat).format(date);
}

// A message the server has stored (not a pending or refused send of this tab).
export function isStored(node) {
  return Boolean(node?.classList.contains("message") && node.dataset.seq !== undefined && node.dataset.ts
    && !node.classList.contains("pending") && !node.classList.contains("failed"));
}

function timeOf(li) {
  return new Date(li.dataset.ts);
}

export class MessageGroups {
  // nameOf(username): the name shown for them (static/names.js), for the avatar's initials.
  constructor(list, nameOf = (username) => username) {
    this.list = list;
    this.nameOf = nameOf;
    this.relabelAtMidnight();
  }

  previousMessage(li) {
    for (let node = li.previousElementSibling; node; node = node.previousElementSibling) {
      if (isStored(node)) return node;
    }
    return null;
  }

  nextMessage(li) {
    for (let node = li.nextElementSibling; node; node = node.nextElementSibling) {
      if (isStored(node)) return node;
    }
    return null;
  }

  // Settle a message and the one after it: after li was put into the list or moved.
  settleAround(li) {
    this.settle(li);
    const next = this.nextMessage(li);
    if (next) this.settle(next);
  }

  // Give li the day line above it (if it starts a day) and its header (if it starts a group).
  settle(li) {
    if (!isStored(li)) return;
    const prev = this.previousMessage(li);
    const key = dayKey(timeOf(li));
    const newDay = !prev || dayKey(timeOf(prev)) !== key;
    this.placeDayLine(li, prev, newDay ? key : null);
    // Either way: two writers' commits can store times a little out of seq order.
    const gap = prev ? Math.abs(timeOf(li) - timeOf(prev)) : Infinity;
    const continued = !newDay && li.previousElementSibling === prev
      && prev.dataset.user === li.dataset.user && gap <= GROUP_GAP_MS;
    this.showHeader(li, !continued);
  }

  // Exactly one day line between prev and li when `key` is given (just above li,
  // or above the "New" divider right above it), none otherwise.
  placeDayLine(li, prev, key) {
    let kept = null;
    for (let node = li.previousElementSibling; node && node !== prev;) {
      const above = node.previousElementSibling;
      if (node.classList.contains("day")) {
        if (key !== null && kept === null && node.dataset.day === key) kept = node;
        else node.remove();
      }
      node = above;
    }
    if (key === null) return;
    const line = kept ?? this.dayLine(key);
    const divider = li.previousElementSibling?.classList.contains("divider") ? li.previousElementSibling : null;
    const spot = divider ?? li;
    if (spot.previousElementSibling !== line) this.list.insertBefore(line, spot);
  }

  dayLine(key) {
    const line = el("li", "day");
    line.dataset.day = key;
    const heading = el("h2", "day-label");
    const time = el("time", "", dayLabel(key));
    time.dateTime = key;
    heading.append(time);
    line.append(heading);
    return line;
  }

  showHeader(li, start) {
    li.classList.toggle("group-start", start);
    li.classList.toggle("continued", !start);
    const shown = li.querySelector(":scope > .avatar");
    if (start && !shown) li.prepend(avatar(li.dataset.user, "avatar", this.nameOf(li.dataset.user)));
    if (!start) shown?.remove();
  }

  // "Today" becomes "Yesterday" at midnight, for a page left open.
  relabelAtMidnight() {
    const now = new Date();
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 1);
    setTimeout(() => {
      for (const time of this.list.querySelectorAll("li.day time")) time.textContent = dayLabel(time.dateTime);
      this.relabelAtMidnight();
    }, midnight - now);
  }
}

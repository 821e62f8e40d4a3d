// Display names in the live room: the name a person chose on the settings page,
// shown wherever they appear, with their @username beside it; their username
// when they chose none.
//
// Frames carry usernames only (a frame is encoded once for every reader of a
// room, and this is the hot path: docs/protocol.md), so the page keeps the map
// username -> display name itself:
//   - from #members as the server drew it (li[data-user][data-name]), at once;
//   - from GET /api/rooms/<room>/members, which static/members_panel.js reads
//     on each `ready` and after each `member` frame anyway (learn);
//   - when a `presence` or `chat` frame names someone it has not
//     seen (ask; posting joins a public room without a `member` frame): the
//     members again, at most once per REFRESH_MS, for all of them at once;
//     someone still not listed (they left) is then known by their username;
//   - from the reader's own `profile` frames, so their own change shows at once
//     (set). Others' pages learn a change on their next read of the members.
//
//   const names = new DisplayNames({ members: document.getElementById("members"), fetchMembers });
//   names.of("bob");                          // "Bob Builder", or "bob"
//   names.onChange((usernames) => redraw(usernames));
//
// Names are text: they go into textContent and title, never into HTML.
//
// The same reads bring each person's avatar (`avatar`: its URL, or null) and
// li[data-avatar]; the map hands them to static/avatar.js (setPicture), and a
// changed picture is a change like a changed name (onChange redraws them).

import { setPicture } from "./avatar.js";

// Someone unknown can be named by a burst of frames (a join, then their
// presence, then others'): one read of the members answers them all, and a
// busy room costs the server one read per this interval at most.
export const REFRESH_MS = 5000;

export class DisplayNames {
  // members: the #members list (or null); fetchMembers(): a Promise of the
  // room's members [{username, display_name, status}], or null when it failed.
  constructor({ members = null, fetchMembers = async () => null } = {}) {
    this.fetchMembers = fetchMembers;
    this.names = new Map(); // username -> display name (null: none chosen)
    this.pictures = new Map(); // username -> avatar URL (null: none)
    this.listeners = [];
    this.lastAsked = -Infinity;
    this.timer = null;
    this.asked = new Set(); // the unknown people the next read is for
    for (const li of members?.querySelectorAll("li[data-user]") ?? []) {
      this.names.set(li.dataset.user, li.dataset.name || null);
      this.pictures.set(li.dataset.user, li.dataset.avatar || null);
      setPicture(li.dataset.user, li.dataset.avatar || null);
    }
  }

  // What people see for `username`: their display name, else the username.
  of(username) {
    return this.names.get(username) || username;
  }

  // Their display name, or null (none chosen, or not known here).
  displayName(username) {
    return this.names.get(username) || null;
  }

  knows(username) {
    return this.names.has(username);
  }

  onChange(fn) {
    this.listeners.push(fn);
  }

  // One person's name as their own `profile` frame tells it (null: removed).
  set(username, displayName) {
    this.update([{ username, display_name: displayName ?? null }]);
  }

  // The room's members as the members endpoint lists them.
  learn(members) {
    this.update(members);
  }

  // Their avatar's URL, or null.
  pictureOf(username) {
    return this.pictures.get(username) || null;
  }

  update(members) {
    const changed = [];
    for (const member of members) {
      const { username, display_name: name } = member;
      const value = name || null;
      // A `profile` frame (set) says nothing of pictures: the one known stays.
      const picture = "avatar" in member ? member.avatar || null : this.pictureOf(username);
      if (this.names.has(username) && this.names.get(username) === value
          && this.pictureOf(username) === picture) continue;
      this.names.set(username, value);
      this.pictures.set(username, picture);
      setPicture(username, picture);
      changed.push(username);
    }
    if (changed.length) for (const fn of this.listeners) fn(changed);
  }

  // A frame named `username`: read the members if they are someone new, at
  // most once per REFRESH_MS (a request within it waits for its end).
  // Someone the read does not list (they left) is then known by their username,
  // and asks no more.
  ask(username) {
    if (!username || this.knows(username)) return;
    this.asked.add(username);
    if (this.timer !== null) return;
    const wait = this.lastAsked + REFRESH_MS - performance.now();
    this.timer = setTimeout(() => this.refresh(), Math.max(0, wait));
  }

  async refresh() {
    this.lastAsked = performance.now();
    const asked = [...this.asked];
    this.asked.clear();
    try {
      const members = await this.fetchMembers();
      if (!members) return; // offline: the next frame that names them asks again
      this.learn(members);
      for (const username of asked) if (!this.knows(username)) this.names.set(username, null);
    } finally {
      this.timer = null;
      // Named while the read was on its way (it may predate them): one more, in turn.
      const waiting = [...this.asked];
      this.asked.clear();
      for (const username of waiting) this.ask(username);
    }
  }
}

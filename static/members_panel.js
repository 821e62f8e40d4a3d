// The open room's people panel (templates/room.html, aside#people-drawer),
// kept live: #members (li[data-user][data-status], [data-name] for a display
// name), its count #members-count, and for the room's creator the "Remove a
// member" select (#remove-username in #remove-form, hidden while nobody else
// is a member).
//
// The members are read (GET /api/rooms/<room>/members, static/people.js's
// fetchMembers) after every `ready` of the room (presence is never replayed,
// so a socket that was away may have missed some) and after every live
// `member` frame (a join, leave, addition or removal), then drawn as the
// server lists them, by username, each with their status and display name.
// Posting joins a public room with no `member` frame, so a live message from
// someone the panel does not list asks for a read too (once per person until a
// `member` frame names them: a bot may post without being a member).
// Frames of a catch-up are covered by the read its `ready` brings.

import { avatar, setPicture } from "./avatar.js";
import { el } from "./dom.js";
import { setStatus } from "./people.js";

// A burst of changes (several people added at once, a catch-up's worth of
// joins) costs one read per this interval at most; a lone change is read at once.
export const MEMBERS_REFRESH_MS = 1000;

// One person of #members, as templates/room.html draws them: their picture
// (the members read says whose: `avatar`, a URL or null), else initials.
function memberItem({ username, status, display_name: displayName, avatar: picture }, me) {
  const li = el("li");
  li.dataset.user = username;
  li.dataset.status = status;
  if (displayName) li.dataset.name = displayName;
  if (picture !== undefined) setPicture(username, picture || null);
  if (picture) li.dataset.avatar = picture;
  const dot = el("span", "presence-dot");
  dot.setAttribute("aria-hidden", "true");
  const person = el("span", "person");
  person.append(el("span", "person-name", displayName || username));
  if (username === me) person.append(" ", el("span", "muted", "(you)"));
  if (displayName) person.append(" ", el("span", "handle", `@${username}`));
  li.append(dot, avatar(username, "avatar small", displayName || username), person, " ",
    el("span", "presence-text", status));
  return li;
}

export class MembersPanel {
  // onMembers(members): each read's members, for static/names.js.
  constructor({ socket, room, me, fetchMembers, onMembers = () => {} }) {
    Object.assign(this, { socket, room, me, fetchMembers, onMembers });
    this.list = document.getElementById("members");
    this.count = document.getElementById("members-count");
    this.select = document.getElementById("remove-username");
    this.lastRead = -Infinity;
    this.timer = null;
    this.reading = false;
    this.again = false; // a change arrived while a read was on its way
    this.unlisted = new Set(); // posted, and not listed by the read that followed
    this.asked = new Set(); // posted while not listed: the next read says whether they are
    socket.on("ready", (frame) => {
      if (frame.room === room) this.request();
    });
    socket.on("member", (frame) => {
      if (frame.room !== room) return;
      this.unlisted.delete(frame.member);
      if (socket.isReady(room)) this.request();
    });
    socket.on("chat", (frame) => {
      if (frame.room !== room || !socket.isReady(room) || this.lists(frame.username)) return;
      if (this.unlisted.has(frame.username)) return;
      this.asked.add(frame.username);
      this.request();
    });
  }

  // Read the members soon: at once, or at the end of the interval of the last read.
  request() {
    if (this.timer !== null) return; // the read already planned will see this change
    if (this.reading) {
      this.again = true; // its answer may predate this change
      return;
    }
    const wait = this.lastRead + MEMBERS_REFRESH_MS - performance.now();
    this.timer = setTimeout(() => this.refresh(), Math.max(0, wait));
  }

  lists(username) {
    return Boolean(this.list?.querySelector(`li[data-user="${CSS.escape(username)}"]`));
  }

  async refresh() {
    this.timer = null;
    this.reading = true;
    this.lastRead = performance.now();
    const asked = [...this.asked];
    this.asked.clear();
    try {
      const members = await this.fetchMembers();
      if (members === null) return; // offline: the next `ready` reads again
      this.show(members);
      for (const username of asked) if (!this.lists(username)) this.unlisted.add(username);
    } finally {
      this.reading = false;
      if (this.again) {
        this.again = false;
        this.request();
      }
    }
  }

  show(members) {
    for (const member of members) setStatus(member.username, member.status); // a direct room's header, the sidebar
    if (this.list) {
      const items = members.map((member) => memberItem(member, this.me));
      if (items.length === 0) items.push(el("li", "muted empty", "No members yet."));
      this.list.replaceChildren(...items);
    }
    if (this.count) this.count.textContent = `(${members.length})`;
    this.showRemovable(members.filter((member) => member.username !== this.me));
    this.onMembers(members);
  }

  // The creator's "Remove a member": everyone else, the choice kept if they still are.
  showRemovable(others) {
    if (!this.select) return;
    const chosen = this.select.value;
    this.select.replaceChildren(...others.map(({ username, display_name: displayName }) => {
      const option = el("option", "", displayName ? `${displayName} (@${username})` : username);
      option.value = username;
      return option;
    }));
    if (others.some((member) => member.username === chosen)) this.select.value = chosen;
    document.getElementById("remove-form").hidden = others.length === 0;
  }
}

// The live room page, over the tab's one WebSocket to /ws (static/socket.js).
//
// Stable hooks for browser tests:
//   #status          connection state: "connecting…", "live", "reconnecting…" (data-state too)
//   #messages        the message list (ol)
//   li.message       one message; id="m<seq>" once stored, data-seq, data-user, data-ts
//     .pending       own send waiting for the server (no id yet), also while
//                    disconnected or after a reload; .failed: refused by the server;
//                    .held: kept for after a new login (static/own_sends.js)
//     .author, .content, a.permalink (to "#m<seq>" on this page), time[datetime]
//     .group-start / .continued, span.avatar, li.day: static/message_groups.js
//     .mention.me    an @mention of the reader inside .content
//     .action        a `/me` message ("eren waves"); .content starts with span.actor
//     .highlight     the message a permalink (#m<seq>) opened (a reply: in #thread-panel)
//   li.notice.member-event  "X joined #room", "X added Y" (static/membership.js);
//                    .room-renamed "X renamed #a to #b" (static/rename.js)
//   li.notice.local  for this tab only, never stored: .help (/help's list), .queued
//                    ("stockbot will answer"), .error (a refused command)
//   li.divider       "New" line above the first unread message (found on load, or
//                    once older pages reach it)
//   li.room-start, #scrollback-status: older messages (static/scrollback.js)
//   (edit, delete and reaction hooks: static/message_events.js)
//   (threads: quotes, replies summaries: static/thread_marks.js; #quote-chip:
//    static/quote.js; #thread-panel: static/thread_panel.js; all wired by
//    static/room_threads.js)
//   (files: #attach-button, #attachments chips, #drop-zone: static/attachments.js;
//    ul.files in a message: static/files_view.js; dialog#lightbox: static/lightbox.js;
//    .preview-card: static/previews.js)
//   #members         the room's members, li[data-user][data-status] (online, away,
//                    offline; static/people.js keeps it live), [data-name] for a
//                    display name: .person-name shows it, .handle the @username
//                    (the names on this page: static/names.js); #members-count
//                    "(N)"; who they are follows joins, leaves, additions and
//                    removals, as does the creator's #remove-username
//                    (static/members_panel.js)
//   #typing          "X is typing…", empty when no one is (static/typing.js)
//   #send, #content  the form and its textarea: Enter sends, Shift+Enter is a newline
//                    (#send-counter, #send-note: static/composer.js); closed,
//                    #send-closed[data-reason] says why: logged out (with a link to
//                    log in again), removed from the room, the room archived
//   #archived-banner shown while the room is archived; #invite-form ("Add people"),
//                    #room-settings, #rename-form, #archive-toggle follow the room's
//                    state and the reader's membership (static/room_state.js)
//   #jump            "New messages ↓" button, shown when scrolled up and more arrive
//   #jump-unread     "Jump to first unread" button, shown while unread messages are
//                    above the view (or not loaded yet)
//   .badge[data-room="<name>"]  unread count of another room in the sidebar
//   li.room-item[data-archived]  an archived room in the sidebar, with its .tag.archived
import { ChatSocket } from "./socket.js";
import { showStatus, socketOptions } from "./status.js";
import { Composer } from "./composer.js";
import { isBlank } from "./message_text.js";
import { OwnSends } from "./own_sends.js";
import { MessageEvents } from "./message_events.js";
import { MessageMedia } from "./message_media.js";
import { MessageList } from "./message_list.js";
import { Scrollback } from "./scrollback.js";
import { FirstUnread, Permalinks } from "./jumps.js";
import { UnreadBadges } from "./unread.js";
import { showMembership } from "./membership.js";
import { followRenames } from "./rename.js";
import { followRoomState } from "./room_state.js";
import { fetchMembers, followPresence, showName } from "./people.js";
import { MembersPanel } from "./members_panel.js";
import { DisplayNames } from "./names.js";
import { notifyWhileAway } from "./notify.js";
import { Drawers } from "./drawer.js";
import { el } from "./dom.js";
import { EmojiPicker } from "./emoji_picker.js";
import { RoomSwitcher, sidebarRooms } from "./room_switcher.js";
import { RoomThreads, inMainFlow } from "./room_threads.js";
import { Typing } from "./typing.js";

// Refusals of a slash command (docs/protocol.md): the text goes back to the box.
const COMMAND_ERRORS = new Set(["unknown_command", "bad_command", "too_many_requests"]);
// Within this many pixels of the end counts as "scrolled to the bottom".
const BOTTOM_SLACK_PX = 24;
// Read receipts are sent at most this often while scrolling.
const READ_THROTTLE_MS = 1000;

const section = document.getElementById("room");
const room = section.dataset.room;
const me = section.dataset.me;
const readAtLoad = Number(section.dataset.lastReadSeq) || 0;
const typingIntervalMs = (Number(section.dataset.typingInterval) || 2) * 1000;
// The server's MAX_MESSAGE_CHARS, in code points.
const maxChars = Number(section.dataset.maxChars) || 4000;

const list = document.getElementById("messages");
const form = document.getElementById("send");
const statusEl = document.getElementById("status");
const jump = document.getElementById("jump");
const jumpUnread = document.getElementById("jump-unread");
// One emoji picker for the message boxes and for reactions; Ctrl+K switches rooms.
const picker = new EmojiPicker();
const online = () => [...document.querySelectorAll('#members li[data-status="online"]')].map((li) => li.dataset.user);
const composer = new Composer({
  form, max: maxChars, room, me, picker, online,
  onSend: (text, files) => sends.send(text, files, threads.quoteChip.take()),
  onEditLast: () => events.editLast(composer.input),
});
new RoomSwitcher({ rooms: sidebarRooms(document.querySelector(".sidebar")) });
new Drawers(document.getElementById("room-layout")); // phones: rooms and people as drawers

// Who is who: display names by username, for headers, avatars, #members and typing.
const names = new DisplayNames({
  members: document.getElementById("members"),
  fetchMembers: () => fetchMembers(room),
});

let firstReady = true;
let readSent = readAtLoad; // the last read seq told to the server
let seenSeq = readAtLoad; // the highest seq the user has had on screen
let readTimer = null;

const socket = new ChatSocket({ primary: room, ...socketOptions(section.dataset) });
socket.follow(room, null);
const typing = new Typing({
  socket, room, me, line: document.getElementById("typing"), nameOf: (u) => names.of(u),
  input: composer.input, intervalMs: typingIntervalMs,
});
const badges = new UnreadBadges(socket, { me, openRoom: room });
const view = new MessageList({ list, me, roomUrl: location.pathname, names });
names.onChange((usernames) => {
  for (const username of usernames) {
    view.rename(username);
    showName(username, names.displayName(username));
  }
  typing.render();
});
const moderator = section.dataset.moderator === "true";
const events = new MessageEvents({
  socket, list, room, me, moderator, maxChars,
  fillContent: (node, frame) => view.fillContent(node, frame),
  report: (text) => notice(text, "notice local error", "alert"),
  // An event for a message not shown: one a page on its way may bring.
  missing: (frame) => scrollback.park(frame),
  pickEmoji: (anchor, onPick) => picker.open({ anchor, onPick }),
  media: new MessageMedia({ list, room, me }),
});
view.events = events;
// Threads (issue 18): replies go to their thread, not the main flow (but for
// those also sent to the room); roots say how many they have.
const threads = new RoomThreads({
  socket, room, me, names, view, composer, picker, lightbox: events.media.lightbox, maxChars, online, moderator,
  report: (text) => notice(text, "notice local error", "alert"),
  caughtUp: () => !firstReady, typingIntervalMs,
});
const scrollback = new Scrollback({
  list,
  room,
  title: document.getElementById("room-title").textContent,
  status: document.getElementById("scrollback-status"),
  prepend: (frames, parked) => {
    view.prepend(frames.filter(inMainFlow));
    for (const frame of parked) events.replay(frame);
    firstUnread.place(); // above the view, within the page's change: nothing moves
  },
});
// The sidebar's count for this room, as the server had it (null: not a member).
const unreadItem = document.querySelector(`li.room-item[data-room="${CSS.escape(room)}"]`);
const firstUnread = new FirstUnread({
  list,
  view,
  scrollback,
  button: jumpUnread,
  me,
  readSeq: readAtLoad,
  unread: unreadItem?.dataset.unread ? Number(unreadItem.dataset.unread) : null,
});
scrollback.onChange(() => firstUnread.update());
const permalinks = new Permalinks({ list, scrollback, notFound: () => scrollToBottom(), elsewhere: (seq) => threads.panel.openAt(seq) });

// --- rendering -------------------------------------------------------------

// A line in the list; a `role` (status, alert) goes on its text, so that the
// item stays a list item of #messages (axe: list, aria-allowed-role).
function notice(text, className = "notice", role = null) {
  const li = el("li", className, role ? undefined : text);
  if (role) {
    const line = el("span", "", text);
    line.setAttribute("role", role);
    li.append(line);
  }
  const atBottom = isAtBottom();
  view.placeNotice(li);
  if (atBottom) scrollToBottom();
  return li;
}

// --- scrolling and reading -------------------------------------------------

function isAtBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight <= BOTTOM_SLACK_PX;
}

function scrollToBottom() {
  list.scrollTop = list.scrollHeight;
  jump.hidden = true;
}

// What the user has actually had on screen: the end of the list, tab visible.
function noteSeen() {
  if (document.visibilityState === "visible" && isAtBottom()) {
    seenSeq = Math.max(seenSeq, socket.seqOf(room) ?? 0);
  }
}

// Tell the server how far the user has seen, at most once per READ_THROTTLE_MS
// unless `now` (the tab is being hidden or left).
function markRead({ now = false } = {}) {
  noteSeen();
  if (seenSeq <= readSent || !socket.isReady(room)) return;
  if (readTimer !== null && !now) return;
  socket.send({ type: "read", room, seq: seenSeq });
  readSent = seenSeq;
  badges.setOpenRoomUnseen(Math.max(0, (socket.seqOf(room) ?? 0) - readSent));
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    readTimer = null;
    markRead();
  }, READ_THROTTLE_MS);
}

list.addEventListener("scroll", () => {
  if (isAtBottom()) jump.hidden = true;
  firstUnread.update();
  markRead();
}, { passive: true });
// Hiding or leaving the page: what was seen in the last interval still counts.
document.addEventListener("visibilitychange", () => markRead({ now: document.visibilityState === "hidden" }));
window.addEventListener("pagehide", () => markRead({ now: true }));
window.addEventListener("focus", () => markRead());
jump.addEventListener("click", () => {
  scrollToBottom();
  composer.focus();
});

// --- frames ----------------------------------------------------------------

function onChat(frame) {
  if (frame.room !== room) return;
  names.ask(frame.username); // posting joins a public room, with no `member` frame
  typing.stop(frame.username);
  const atBottom = isAtBottom();
  const own = sends.take(frame.client_id);
  scrollback.note(frame.seq);
  if (frame.thread) threads.marks.noteReply(frame);
  if (!inMainFlow(frame)) {
    markRead();
    return;
  }
  const shown = document.getElementById(`m${frame.seq}`);
  if (shown && !own) {
    view.redraw(shown, frame); // settled by its ack earlier: now with its time and HTML
    markRead();
    return;
  }
  const li = view.fillMessage(own ? own.li : el("li"), frame);
  view.place(li, frame.seq);
  if (firstReady) return; // the catch-up is scrolled once, on ready
  if (atBottom || own) scrollToBottom();
  else jump.hidden = false;
  markRead();
  if (frame.username !== me) badges.setOpenRoomUnseen(Math.max(0, socket.seqOf(room) - readSent));
}

// The catch-up is shown: the view opens at a permalink's message, else at the
// "New" line above the first unread message, else at the end; from here on
// scrolling up loads older messages.
function onReady(frame) {
  if (frame.room !== room) return;
  if (firstReady) {
    firstReady = false;
    firstUnread.place();
    const linked = permalinks.linked();
    if (linked === null && firstUnread.divider) firstUnread.scrollToLine();
    else if (linked === null) scrollToBottom();
    scrollback.start();
    if (linked !== null) permalinks.show(linked);
    else permalinks.ready = true;
    firstUnread.update();
  }
  markRead(); // pending sends go out again now, in order (ChatSocket.flush)
}

function onAck(frame) {
  if (frame.room !== undefined && frame.room !== room) return;
  const entry = sends.take(frame.client_id);
  if (!entry) return;
  const existing = document.getElementById(`m${frame.seq}`);
  if (existing) {
    entry.li.remove(); // the chat frame came first through another path
    return;
  }
  view.fillMessage(entry.li, { seq: frame.seq, username: me });
  view.place(entry.li, frame.seq);
}

// A refusal stored nothing, and the text is never lost. A refused command
// goes back into an empty box, the reason shown to this tab only; any other
// refusal (or a command while a new draft is in the box) leaves its line as
// "Not sent: <reason>", with the text a click away.
function onError(frame) {
  const entry = sends.get(frame.client_id);
  if (entry && COMMAND_ERRORS.has(frame.code) && isBlank(composer.text)) {
    sends.take(frame.client_id);
    entry.li.remove();
    notice(frame.message, "notice local error", "alert");
    composer.restore(entry.content);
  } else if (entry) sends.refuse(frame.client_id, frame);
  else if (frame.code !== "rate_limited") console.warn("chat error", frame);
}

// /help, or "a bot will answer": for this tab only, in place of the pending item.
function onNotice(frame) {
  if (frame.room !== room) return;
  sends.take(frame.client_id)?.li.remove();
  notice(frame.content, `notice local ${frame.code}`, "status");
}

// Someone's last tab in the room closed: their typing line goes with it.
function onPresence(frame) {
  if (frame.room === room) typing.stop(frame.username);
}

// --- sending ---------------------------------------------------------------

const sends = new OwnSends({
  socket, list, room, me, composer, scrollToBottom,
  // The message ends the others' indicator; the next keystroke restarts it.
  onTransmit: () => typing.sent(),
  authorParts: () => view.authorParts(me),
});

// --- connection ------------------------------------------------------------

// This tab's login session ended (logged out here or elsewhere, a password
// change): nothing can be sent until the person logs in again. The box says so,
// with the way back here; the sends on their way say they are waiting for it
// (this tab keeps them: after logging in again, this page sends them).
function loggedOut() {
  const login = `/login?next=${encodeURIComponent(location.pathname)}`;
  threads.boxes.close("You were logged out —", { href: login, text: "log in again" }, "logged-out");
  for (const own of [sends, threads.panel.sends]) own.hold("Not sent yet: you were logged out. Log in again in this tab to send it.");
}


socket.on("chat", onChat);
socket.on("ready", onReady);
socket.on("ack", onAck);
socket.on("error", onError);
socket.on("notice", onNotice);
// Opening or closing a tab is not news: user_joined and user_left draw no line.
socket.on("user_left", onPresence);
showMembership({ socket, room, me, notice, section, composer: threads.boxes });
followRoomState({ socket, room, section, composer: threads.boxes });
followPresence(socket);
new MembersPanel({ socket, room, me, fetchMembers: () => fetchMembers(room), onMembers: (members) => names.learn(members) });
// Someone new (a join, an addition, a presence in this room): their name is read.
socket.on("presence", (frame) => {
  if (frame.room === room) names.ask(frame.username);
});
// The reader changed their own name (the settings page, another tab or device).
socket.on("profile", (frame) => {
  if (frame.username === me) names.set(me, frame.display_name);
});
notifyWhileAway(socket, { me, openRoom: room, openIsDirect: section.dataset.direct === "true" });
// An edit, deletion, reaction, thumbnail or preview moves the room's seq too:
// what was seen is read.
for (const type of ["chat_edit", "chat_delete", "reaction", "chat_files", "link_preview"]) {
  socket.on(type, (frame) => {
    if (frame.room === room) scrollback.note(frame.seq);
    markRead();
  });
}
// A membership event or a rename has its seq too (their lines:
// static/membership.js, static/rename.js). Whoever it names is in the members
// the people panel reads after it (static/members_panel.js), names included.
socket.on("member", (frame) => {
  if (frame.room === room) scrollback.note(frame.seq);
});
socket.on("room_renamed", (frame) => {
  if (frame.room === room) scrollback.note(frame.seq);
});
followRenames({ socket, room, me, notice, before: () => composer.saveDraft() });
socket.on("status", (state) => {
  showStatus(statusEl, state);
  if (state === "signed-out") loggedOut();
});
showStatus(statusEl, "connecting");
document.getElementById("send-hint").hidden = false; // the keys it describes need this script
sends.restore();
socket.connect();
composer.focus();
threads.panel.openLinked(composer.input);

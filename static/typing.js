// "X is typing…" on the live room page (docs/protocol.md, `typing`): the line
// under the list says who else is typing in the room, and this tab's own
// typing is told to the others, at most once per the server's interval. The
// room's line is about its main flow; a thread panel has its own, about the
// replies typed in its thread (frames with that `thread`).
//
// Moved out of static/room.js as one concern: the others' indicator (each
// hidden a little after their last frame, at once when their message or
// their leaving arrives) and this tab's frames.
//
// Stable hook for browser tests:
//   #typing   "X is typing…", empty when no one is
import { isBlank } from "./message_text.js";

// Others' indicator disappears this long after their last typing frame;
// a little over the server's 2 s typing interval so it does not flicker.
const TYPING_HIDE_MS = 3000;

export class Typing {
  // line: p#typing; nameOf(username): the name shown; input: the room's
  // textarea, whose typing is told (every intervalMs at most); thread() the
  // root seq of the thread this box replies in (null, or left out: the room).
  constructor({ socket, room, me, line, nameOf, input, intervalMs, thread = () => null }) {
    Object.assign(this, { socket, room, me, line, nameOf, intervalMs, thread });
    this.typists = new Map(); // username -> hide timer
    this.lastSent = 0;
    socket.on("typing", (frame) => this.onTyping(frame));
    socket.on("close", () => this.clear());
    input.addEventListener("input", () => {
      const now = Date.now();
      if (isBlank(input.value) || now - this.lastSent < this.intervalMs) return;
      const thread = this.thread();
      const frame = thread === null ? { type: "typing", room } : { type: "typing", room, thread };
      if (socket.isReady(room) && socket.send(frame)) this.lastSent = now;
    });
  }

  // A message was sent: it ends the others' indicator, the next keystroke restarts it.
  sent() {
    this.lastSent = 0;
  }

  render() {
    const typing = [...this.typists.keys()].map((username) => this.nameOf(username));
    if (typing.length === 0) this.line.textContent = "";
    else if (typing.length === 1) this.line.textContent = `${typing[0]} is typing…`;
    else if (typing.length <= 3) this.line.textContent = `${typing.slice(0, -1).join(", ")} and ${typing.at(-1)} are typing…`;
    else this.line.textContent = "Several people are typing…";
  }

  onTyping(frame) {
    if (frame.room !== this.room || frame.username === this.me) return;
    if ((frame.thread ?? null) !== this.thread()) return; // typed elsewhere in the room
    clearTimeout(this.typists.get(frame.username));
    this.typists.set(frame.username, setTimeout(() => this.stop(frame.username), TYPING_HIDE_MS));
    this.render();
  }

  // No one is typing here any more: the socket closed, or a panel shows another thread.
  clear() {
    for (const username of [...this.typists.keys()]) this.stop(username);
  }

  // Their message or their leaving: their line goes at once.
  stop(username) {
    if (!this.typists.has(username)) return;
    clearTimeout(this.typists.get(username));
    this.typists.delete(username);
    this.render();
  }
}

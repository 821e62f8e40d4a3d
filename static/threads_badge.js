// The sidebar's Threads entry (templates/_rooms.html threads_entry): the
// unread replies (#threads-badge) and mentions (#threads-mentions) of the
// threads the user follows, kept live from the tab's socket
// (docs/protocol.md, Threads). The `threads` frame every /ws connection gets
// right after `rooms` lists the followed threads with unread replies or
// mentions; each `thread_updated` replaces one thread's entry (keyed by room
// and thread): one with nothing unread, or no longer followed, leaves the
// list. The badges show the sums: the sidebar's, and the page header's
// Threads link (templates/base.html a.nav-threads: #nav-threads-badge, and the
// link's label, "Threads, 3 unread", "Threads, 3 unread, 1 mention").

export class ThreadsBadge {
  // onChange(total): told when the unread total changes (the tab's title).
  constructor(socket, { onChange = () => {} } = {}) {
    this.threads = new Map(); // "room\nthread" -> { unread, mentions }
    this.badge = document.getElementById("threads-badge");
    this.mentionsBadge = document.getElementById("threads-mentions");
    this.navLink = document.querySelector("a.nav-threads");
    this.navBadge = document.getElementById("nav-threads-badge");
    this.onChange = onChange;
    this.unread = 0;
    socket.on("threads", (frame) => this.onThreads(frame));
    socket.on("thread_updated", (frame) => this.onUpdated(frame));
  }

  onThreads(frame) {
    this.threads.clear();
    for (const state of frame.threads ?? []) this.set(state);
    this.render();
  }

  onUpdated(frame) {
    this.set(frame);
    this.render();
  }

  set(state) {
    const key = `${state.room}\n${state.thread}`;
    if (!state.following || (!state.unread && !state.mentions)) this.threads.delete(key);
    else this.threads.set(key, { unread: state.unread ?? 0, mentions: state.mentions ?? 0 });
  }

  render() {
    let unread = 0;
    let mentions = 0;
    for (const thread of this.threads.values()) {
      unread += thread.unread;
      mentions += thread.mentions;
    }
    for (const badge of [this.badge, this.navBadge]) {
      if (!badge) continue;
      badge.textContent = unread >= 1000 ? "999+" : String(unread);
      badge.hidden = unread === 0;
    }
    this.labelNav(unread, mentions);
    if (this.mentionsBadge) {
      this.mentionsBadge.textContent = `@${mentions}`;
      this.mentionsBadge.hidden = mentions === 0;
    }
    if (unread !== this.unread) {
      this.unread = unread;
      this.onChange(unread);
    }
  }

  // The header link's name says what its badge shows (the badge alone would read "3"),
  // its shown words first ("Threads 3": axe-core's label-content-name-mismatch).
  labelNav(unread, mentions) {
    if (!this.navLink) return;
    const parts = ["Threads"];
    if (unread) parts.push(`${unread} unread`);
    if (mentions) parts.push(`${mentions} ${mentions === 1 ? "mention" : "mentions"}`);
    if (parts.length > 1) this.navLink.setAttribute("aria-label", parts.join(", "));
    else this.navLink.removeAttribute("aria-label");
  }
}

// The thread panel's Follow button (static/thread_panel.js, docs/protocol.md
// "Following"): it sends `follow` and shows the answer at once; the server's
// `thread_updated` confirms it. A refusal (an `error` frame for the room with
// no client_id: a follow carries none) puts the button back to what is true
// and says why. Only members follow: the button is hidden while the page
// knows its reader is not one (#room[data-member], kept live by
// static/membership.js).
export class ThreadFollow {
  // button: #thread-follow; section: #room; say(text): why, under the box.
  constructor({ socket, room, button, section, say }) {
    Object.assign(this, { socket, room, button, section, say });
    this.thread = null;
    this.state = null; // the reader's state of it (following, last_read_seq…)
    this.asked = null; // a follow sent and not answered: { thread, previous }
    button.addEventListener("click", () => this.toggle());
    new MutationObserver(() => this.show()).observe(section, { attributeFilter: ["data-member"] });
  }

  get following() {
    return Boolean(this.state?.following);
  }

  // The thread now shown, and the reader's state of it (null: never followed).
  showFor(thread, state) {
    this.thread = thread;
    this.state = state;
    this.asked = null;
    this.show();
  }

  // thread_updated for the open thread.
  updated(frame) {
    this.asked = null;
    this.state = { ...this.state, ...frame };
    this.show();
  }

  // Replying follows (the server says so with thread_updated).
  replied() {
    this.state = { ...this.state, following: true };
    this.show();
  }

  toggle() {
    const following = !this.following;
    this.asked = { thread: this.thread, previous: this.state };
    this.socket.send({ type: "follow", room: this.room, thread: this.thread, following });
    this.state = { ...this.state, following };
    this.show();
  }

  // An error about the room that answers no send: the follow asked for, refused.
  refused(frame) {
    const asked = this.asked;
    if (!asked) return;
    this.asked = null;
    if (asked.thread !== this.thread) return;
    const wanted = !asked.previous?.following;
    this.state = asked.previous;
    this.show();
    const reason = (frame.message || frame.code).replace(/[.\s]*$/, ".");
    this.say(`${wanted ? "Not followed" : "Still following"}: ${reason}`);
  }

  show() {
    const following = this.following;
    this.button.hidden = this.section.dataset.member === "false" || this.thread === null;
    this.button.setAttribute("aria-pressed", String(following));
    this.button.textContent = following ? "Following" : "Follow";
    this.button.title = following ? "Stop following this thread" : "Follow this thread";
  }
}

// Going to one message on the live room page, loading older pages back to it
// first (static/scrollback.js): the first unread one, and a permalink's.
//
// FirstUnread: the "New" line (li.divider) goes above the first message of
// someone else's after the reader's read seq, once the messages on the page
// reach back that far (at once when the catch-up does). While unread messages
// are above the view, or older than what is loaded, #jump-unread ("Jump to
// first unread") offers to go there; once that line has been in view (or
// jumped to), the button is gone for good.
//
// Permalinks: a message's time links to "#m<seq>" on the live page. Opening
// /rooms/<name>#m<seq>, or following such a link on the page, shows that
// message (li.message.highlight) in the middle of the view. A seq the main
// flow has not got may be a reply: `elsewhere` shows it in its thread (the
// thread panel, static/thread_panel.js). For an event's seq, or a message
// deleted for good, the first message after it.

// Room left above the "New" line when it is scrolled to the top of the view.
const LINE_MARGIN_PX = 8;

function scrollToTop(list, node) {
  list.scrollTop = node.offsetTop - LINE_MARGIN_PX; // #messages is position: relative
}

export class FirstUnread {
  // readSeq: the reader's read seq when the page loaded; unread: how many
  // messages of others came after it (0, or null for someone not a member).
  constructor({ list, view, scrollback, button, me, readSeq, unread }) {
    Object.assign(this, { list, view, scrollback, button, me, readSeq });
    this.state = unread > 0 ? "pending" : "none"; // then "placed" (the line is in), "seen"
    this.divider = null;
    button.addEventListener("click", () => this.jump());
  }

  // The "New" line, if the loaded messages now reach the first unread one.
  // Call it where a change above the view is kept from moving it (Scrollback.keepingView).
  place() {
    const reached = this.scrollback.atStart || this.scrollback.oldest <= this.readSeq + 1;
    if (this.state !== "pending" || !reached) return;
    const first = [...this.list.querySelectorAll("li.message[data-seq]")].find((li) =>
      Number(li.dataset.seq) > this.readSeq && li.dataset.user !== this.me
      && !li.classList.contains("deleted") && !li.classList.contains("pending"));
    this.divider = first ? this.view.markNew(first) : null;
    this.state = first ? "placed" : "none";
  }

  // The button, for where the view is now.
  update() {
    if (this.state === "placed") {
      const inViewOrBelow = this.divider.getBoundingClientRect().bottom > this.list.getBoundingClientRect().top;
      if (inViewOrBelow) this.state = "seen";
    }
    this.button.hidden = this.state !== "pending" && this.state !== "placed";
  }

  scrollToLine() {
    if (this.divider) scrollToTop(this.list, this.divider);
  }

  async jump() {
    if (this.button.disabled) return;
    this.button.disabled = true;
    const loaded = await this.scrollback.loadBackTo(this.readSeq + 1);
    this.button.disabled = false;
    if (!loaded) return; // #scrollback-status says so; the button stays for another try
    this.place();
    this.scrollToLine();
    this.state = this.divider ? "seen" : "none";
    this.update();
    this.list.focus({ preventScroll: true }); // the button is gone: keep the keyboard here
  }
}

export class Permalinks {
  // notFound(): what to do for a seq the room does not have (yet);
  // elsewhere(seq): a Promise of whether it was shown outside the main flow.
  constructor({ list, scrollback, notFound, elsewhere = async () => false }) {
    Object.assign(this, { list, scrollback, notFound, elsewhere });
    this.ready = false;
    window.addEventListener("hashchange", () => {
      const seq = this.linked();
      if (this.ready && seq !== null) this.show(seq);
    });
  }

  // The seq of "#m<seq>" in the page's address, else null (seqs start at 1).
  linked() {
    const match = /^#m([1-9]\d{0,17})$/.exec(location.hash);
    return match ? Number(match[1]) : null;
  }

  async show(seq) {
    this.ready = true;
    if (!(await this.scrollback.loadBackTo(seq))) return;
    const items = [...this.list.querySelectorAll("li.message[data-seq]")];
    const exact = items.some((item) => Number(item.dataset.seq) === seq);
    if (!exact && (await this.elsewhere(seq))) return;
    const li = items.find((item) => Number(item.dataset.seq) >= seq);
    if (!li) {
      this.notFound();
      return;
    }
    for (const old of this.list.querySelectorAll("li.highlight")) old.classList.remove("highlight");
    li.classList.add("highlight");
    this.list.scrollTop = li.offsetTop - Math.max(0, (this.list.clientHeight - li.offsetHeight) / 2);
  }
}

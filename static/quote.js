// Quote-replies from the room's message box (issue 18, docs/protocol.md
// "Threads and replies"): a message's "Quote" puts a chip above the box
// ("Replying to @eren: snippet…", × to cancel), and the next message sent
// carries `quote`: that message's seq. The quote itself is drawn by
// static/thread_marks.js once the server has the message. If the quoted
// message is deleted meanwhile, the chip says so and the message goes
// without the quote (the server refuses a quote of a deleted message).
//
// Stable hooks for browser tests:
//   #quote-chip        the chip (hidden when none): .quote-chip-text, button.quote-cancel
//   li.message .tools button.quote   a message's "Quote"
// The thread panel has one of its own (#thread-quote-chip): a quote inside the
// thread, sent with the reply's `thread` (static/thread_panel.js).
import { el } from "./dom.js";

// The snippet in the chip: enough to recognise the message on one line.
const SNIPPET_CHARS = 80;

export class QuoteChip {
  // form: the room's form#send; list: #messages (its "Quote" buttons);
  // nameOf(username): the name shown; focus(): back to the message box; id: the chip's.
  // In a thread the message is a reply already: the chip says "Quoting".
  constructor({ form, list, nameOf, focus, id = "quote-chip", verb = "Replying to" }) {
    Object.assign(this, { form, nameOf, focus, verb });
    this.seq = null;
    this.chip = el("div", "quote-chip");
    this.chip.id = id;
    this.chip.hidden = true;
    this.text = el("span", "quote-chip-text");
    const cancel = el("button", "quote-cancel ghost", "×");
    cancel.type = "button";
    cancel.setAttribute("aria-label", "Cancel the quote");
    cancel.addEventListener("click", () => {
      this.clear();
      this.focus();
    });
    this.chip.append(this.text, cancel);
    form.prepend(this.chip);
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button.quote");
      const li = button?.closest("li.message[data-seq]");
      if (li) this.quote(li);
    });
    form.querySelector("textarea").addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || this.chip.hidden || event.defaultPrevented) return;
      event.preventDefault(); // the quote goes, not the thread panel around the box
      this.clear();
    });
  }

  quote(li) {
    this.seq = Number(li.dataset.seq);
    const source = li.dataset.source ?? li.querySelector(".content")?.textContent ?? "";
    const flat = source.replace(/\s+/g, " ").trim();
    const snippet = flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS)}…` : flat;
    this.text.textContent = `${this.verb} @${li.dataset.user}: ${snippet}`;
    this.text.title = this.nameOf(li.dataset.user);
    this.chip.hidden = false;
    this.focus();
  }

  // Message `seq` was deleted: if it is the one quoted, the chip says so.
  gone(seq) {
    if (this.seq !== seq) return;
    this.seq = null;
    this.text.textContent = "The quoted message was deleted: yours goes without the quote.";
  }

  // The fields the next message carries, and the chip goes.
  take() {
    if (this.seq === null) {
      this.clear(); // a chip saying its message was deleted
      return {};
    }
    const fields = { quote: this.seq };
    this.clear();
    return fields;
  }

  clear() {
    this.seq = null;
    this.chip.hidden = true;
    this.text.textContent = "";
  }
}

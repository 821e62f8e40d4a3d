// The thread panel's box (static/thread_panel.js) and its drafts, one per
// thread: what is typed, the quote chip's message and "Also send to #room"
// belong to the thread they were given in. Switching to another thread shows
// that thread's draft (an empty box if none), coming back finds it again, and
// closing the panel keeps it. Drafts are kept in localStorage, per user and
// room, as the room's box keeps its own (static/composer.js), so a reload or
// another visit finds them; sending takes the thread's draft out at once.
// Files in the box stay in the box (they are uploads, not kept across pages).
//
// The box itself is the room's (static/composer.js, with "thread-" ids), its
// quote chip static/quote.js's (#thread-quote-chip).
import { Composer } from "./composer.js";
import { QuoteChip } from "./quote.js";
import { isBlank } from "./message_text.js";
import { el } from "./dom.js";

const KEY = "chat:thread-drafts:";
// Drafts kept per room: the threads most recently typed in. Enough for every
// thread a person is in the middle of answering, without letting a room's
// entry grow without bound in storage shared with every other room.
const MAX_DRAFTS = 50;
// A quoted message's text kept with a draft: the chip shows less (static/quote.js).
const QUOTE_SOURCE_CHARS = 200;

// Where the user's thread drafts for a room are kept (static/rename.js moves them).
export function threadDraftsKey(me, room) {
  return `${KEY}${me}:${room}`;
}

function loadAll(key) {
  try {
    const all = JSON.parse(localStorage.getItem(key) ?? "{}");
    return all && typeof all === "object" && !Array.isArray(all) ? all : {};
  } catch {
    return {}; // storage disabled, or a value this code did not write
  }
}

function saveAll(key, all) {
  const newest = Object.entries(all).sort(([, a], [, b]) => (b.at ?? 0) - (a.at ?? 0)).slice(0, MAX_DRAFTS);
  try {
    if (newest.length === 0) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(Object.fromEntries(newest)));
  } catch {
    // Storage full or disabled: the box still works, a reload just loses the drafts.
  }
}

const EMPTY = { text: "", quote: null, also: false };

// What the chip needs to show a quoted message again: its seq, author and text.
function quotedOf(li) {
  const source = li.dataset.source ?? li.querySelector(".content")?.textContent ?? "";
  return { seq: Number(li.dataset.seq), user: li.dataset.user ?? "", source: source.slice(0, QUOTE_SOURCE_CHARS) };
}

export class ThreadBox {
  // form: #thread-send; list: #thread-messages (its "Quote" buttons); me, room:
  // whose drafts; the rest as static/composer.js's options. onSend(text, files).
  constructor({ form, list, room, me, max, picker, online, dropTarget, nameOf, onSend, onEditLast }) {
    this.composer = new Composer({
      form, max, room, me, picker, online, onSend, onEditLast, dropTarget, idPrefix: "thread-", drafts: false,
    });
    this.input = this.composer.input;
    this.also = form.querySelector("#thread-also");
    this.quiet = false; // a chip put back from a draft does not take the focus
    this.quoteChip = new QuoteChip({
      form, list, nameOf, id: "thread-quote-chip", verb: "Quoting", focus: () => this.quiet || this.composer.focus(),
    });
    this.quoted = null; // the chip's message, as quotedOf gives it
    this.key = threadDraftsKey(me, room);
    this.thread = null; // whose draft the box holds
    // After the chip's own listener: it has taken the quote.
    list.addEventListener("click", (event) => {
      const li = event.target.closest("button.quote")?.closest("li.message[data-seq]");
      if (li) this.quoted = quotedOf(li);
    });
    // The chip set, cancelled (×, Escape) or taken: the draft follows.
    new MutationObserver(() => this.save()).observe(this.quoteChip.chip, { attributes: true, attributeFilter: ["hidden"] });
    this.input.addEventListener("input", () => this.save());
    this.also.addEventListener("change", () => this.save());
  }

  // The draft of thread `seq` ({ text, quote, also }; empty when none).
  draftOf(seq) {
    const draft = loadAll(this.key)[seq];
    const quote = draft?.quote;
    return {
      text: typeof draft?.text === "string" ? draft.text : "",
      quote: Number.isInteger(quote?.seq) && typeof quote.user === "string" && typeof quote.source === "string" ? quote : null,
      also: draft?.also === true,
    };
  }

  keep(seq, draft) {
    const all = loadAll(this.key);
    if (isBlank(draft.text) && !draft.quote && !draft.also) delete all[seq];
    else all[seq] = { ...draft, at: Date.now() };
    saveAll(this.key, all);
  }

  // What the box holds now, as a draft.
  current() {
    const seq = this.quoteChip.seq;
    const quote = seq === null ? null : this.quoted?.seq === seq ? this.quoted : { seq, user: "", source: "" };
    return { text: this.input.value, quote, also: this.also.checked };
  }

  save() {
    if (this.thread !== null) this.keep(this.thread, this.current());
  }

  // The box now holds thread `seq`'s draft (the one it held is kept).
  switchTo(seq) {
    if (seq === this.thread) return;
    this.save();
    this.thread = seq;
    this.show(this.draftOf(seq));
  }

  // The panel is closed: the draft stays kept, the box empty.
  leave() {
    this.save();
    this.thread = null;
    this.show(EMPTY);
  }

  // The thread opened by a reply's seq is its root's: what was typed meanwhile
  // joins that thread's draft.
  retarget(seq) {
    const typed = this.input.value;
    if (this.thread !== null) this.keep(this.thread, EMPTY);
    this.thread = null;
    this.switchTo(seq);
    if (isBlank(typed)) return;
    this.input.value = isBlank(this.input.value) ? typed : `${this.input.value}\n${typed}`;
    this.composer.changed();
    this.save();
  }

  show({ text, quote, also }) {
    this.input.value = text;
    this.showQuote(quote);
    this.also.checked = also;
    this.composer.meter.say(""); // a reason given for another thread's reply
    this.composer.changed();
  }

  // The chip for `quote` ({ seq, user, source }), or none.
  showQuote(quote) {
    this.quoted = quote;
    if (!quote) {
      this.quoteChip.clear();
      return;
    }
    const li = el("li");
    Object.assign(li.dataset, { seq: String(quote.seq), user: quote.user, source: quote.source });
    this.quiet = true;
    this.quoteChip.quote(li);
    this.quiet = false;
  }

  // The fields of the reply being sent (`quote`, `also_in_room`), and what
  // the chip showed (to put it back if the reply is refused); the box's
  // choices go back to none.
  take() {
    const quoted = this.current().quote;
    const fields = this.quoteChip.take();
    if (this.also.checked) fields.also_in_room = true;
    this.also.checked = false;
    this.quoted = null;
    this.save();
    return { fields, quoted };
  }

  // A refused reply of the open thread is back in the box (static/own_sends.js
  // gave its text and files): its quote and its "Also send to #room" too.
  giveBack({ quoted, also }) {
    if (quoted) this.showQuote(quoted);
    if (also) this.also.checked = true;
    this.save();
  }

  // A refused reply of a thread not open: back into that thread's draft.
  keepRefused(seq, { text, quoted, also }) {
    const draft = this.draftOf(seq);
    this.keep(seq, {
      text: isBlank(draft.text) ? text : `${text}\n${draft.text}`,
      quote: quoted ?? draft.quote,
      also: also || draft.also,
    });
  }
}

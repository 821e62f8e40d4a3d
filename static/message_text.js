// Message text as the server judges it (chat/domain/validate.py), and the length
// meter under every box where a message is written (the composer, the edit box).
//
// The text in a box is never cut or changed here: a text the server would
// refuse stays in its box, with the reason beside it, until the writer fixes it.
//
// Stable hooks for browser tests:
//   .counter        "3,812 / 4,000", shown from 90 % of the limit; .over above it
//   .text-note      why the text was not sent or saved (role=alert, hidden when empty)

// Blank by Unicode, the server's rule exactly (chat/domain/text.py): white space,
// control and format characters, Unicode's default-ignorable code points
// (zero-width spaces and joiners, bidi marks, soft hyphen, BOM, the combining
// grapheme joiner, Hangul fillers, variation selectors, tags…) and the braille
// blank. Text made only of these shows nothing.
const BLANK = /^[\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]*$/u;
// The counter appears from this share of the limit: early enough to plan the
// rest of the message, late enough not to distract from the usual short ones.
const SHOW_FROM = 0.9;

const numbers = new Intl.NumberFormat();

// The server counts Python's len(): code points, not UTF-16 units (an emoji is one).
export function codePoints(text) {
  return [...text].length;
}

export function isBlank(text) {
  return BLANK.test(text);
}

// Why `text` cannot be sent as it is ("" for an empty box: say nothing), or null.
// `verb` names the action: "send", "save".
export function refusal(text, max, verb = "send") {
  if (text === "") return "";
  if (isBlank(text)) return `Nothing to ${verb}: the text is only spaces or invisible characters.`;
  if (codePoints(text) > max) {
    // No count here: the counter beside it has the live one.
    const advice = verb === "send" ? "Shorten it or split it into two messages." : "Shorten it.";
    return `Too long to ${verb}: over the limit of ${numbers.format(max)} characters. ${advice}`;
  }
  return null;
}

// Keeps a box's counter, its submit button and its note up to date.
export class LengthMeter {
  // box: textarea; counter, note: elements it fills; submit: disabled while over.
  constructor({ box, counter, note, submit, max, verb = "send" }) {
    Object.assign(this, { box, counter, note, submit, max, verb });
    box.addEventListener("input", () => this.update());
    this.update();
  }

  update() {
    const count = codePoints(this.box.value);
    const over = count > this.max;
    this.counter.hidden = count < this.max * SHOW_FROM;
    this.counter.textContent = `${numbers.format(count)} / ${numbers.format(this.max)}`;
    this.counter.classList.toggle("over", over);
    this.counter.title = over ? `${numbers.format(count - this.max)} characters over the limit` : "";
    if (over) this.box.setAttribute("aria-invalid", "true");
    else this.box.removeAttribute("aria-invalid");
    if (this.submit) this.submit.disabled = over;
    // A note goes once the text no longer deserves it (a server's reason, at the first change).
    if (this.note.textContent !== "" && refusal(this.box.value, this.max, this.verb) !== this.note.textContent) {
      this.say("");
    }
  }

  // Whether the text may go; if not, the note says why (and the text stays).
  check() {
    const reason = refusal(this.box.value, this.max, this.verb);
    if (reason === null) return true;
    this.say(reason);
    return false;
  }

  say(text) {
    this.note.textContent = text;
    this.note.hidden = text === "";
  }
}

// The message box of the live room page (form#send, textarea#content).
//
// Enter sends, Shift+Enter adds a line. A text the server would refuse
// (blank by Unicode, or over MAX_MESSAGE_CHARS code points) is not sent: it
// stays in the box, whole, with the reason under it (static/message_text.js).
//
// Stable hooks for browser tests:
//   #send-counter   "3,812 / 4,000" from 90 % of the limit; .over above it (Send is disabled)
//   #send-note      why the text in the box was not sent
import { LengthMeter, isBlank } from "./message_text.js";

export class Composer {
  // onSend(text): a text the server should accept, now out of the box.
  constructor({ form, max, onSend }) {
    this.form = form;
    this.input = form.querySelector("textarea");
    this.onSend = onSend;
    // Checked here, with a reason in the page, not by the browser's bubble.
    form.noValidate = true;
    this.meter = new LengthMeter({
      box: this.input,
      counter: form.querySelector("#send-counter"),
      note: form.querySelector("#send-note"),
      submit: form.querySelector("button[type=submit]"),
      max,
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      event.preventDefault();
      form.requestSubmit();
    });
    this.input.addEventListener("input", () => this.resize());
  }

  get text() {
    return this.input.value;
  }

  submit() {
    if (!this.meter.check()) return;
    const text = this.input.value;
    this.input.value = "";
    this.changed();
    this.onSend(text);
  }

  // A text that was not sent comes back to be edited: into the box, before
  // whatever draft is there already (nothing is overwritten).
  restore(text) {
    const draft = this.input.value;
    this.input.value = isBlank(draft) ? text : `${text}\n${draft}`;
    this.changed();
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
  }

  focus() {
    this.input.focus();
  }

  changed() {
    this.meter.update();
    this.resize();
  }

  // The textarea grows with its text, up to the CSS max-height: by CSS
  // (field-sizing) where supported, else here.
  resize() {
    if (CSS.supports("field-sizing", "content")) return;
    this.input.style.height = "auto";
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }
}

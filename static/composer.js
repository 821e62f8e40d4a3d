// The message box of the live room page (form#send, textarea#content).
//
// Enter sends, Shift+Enter adds a line. A text the server would refuse
// (blank by Unicode, or over MAX_MESSAGE_CHARS code points) is not sent: it
// stays in the box, whole, with the reason under it (static/message_text.js).
//
// What is typed is kept as the room's draft (localStorage, per user and room),
// so a reload, a crash or a visit to another room finds it again; sending takes
// it out at once (the sent text is then the socket's to deliver: static/own_sends.js
// keeps it until the server has it), so a sent message never comes back as a
// draft. Other tabs of the same room follow the draft while they have not
// changed it themselves.
//
// Files go with the text as one message (static/attachments.js): the box
// sends once every upload has finished, text or no text, and a refused send
// gives back both (restore).
//
// While typing: `@name`, `/command` and `:emoji` open suggestions
// (static/autocomplete.js); the emoji button opens the picker
// (static/emoji_picker.js), which inserts at the caret; Up in an empty box
// edits your last message (onEditLast).
//
// Stable hooks for browser tests:
//   #send-counter   "3,812 / 4,000" from 90 % of the limit; .over above it (Send is disabled)
//   #send-note      why the text in the box was not sent
//   #emoji-button   opens the emoji picker for the box
//   #send-closed    why the box can no longer send, [data-reason]: "logged-out",
//                   "removed" (from the room), "archived" (the room is read-only);
//                   .closed on the form, the textarea and buttons disabled. The
//                   server renders it closed (form[data-closed]) for an archived room
// The thread panel (static/thread_panel.js) has a second box made by this class:
// its ids are the same with "thread-" before them (#thread-emoji-button,
// #thread-send-closed, its files' ids), and keeps no draft itself: static/thread_box.js
// keeps one per thread.
import { LengthMeter, isBlank } from "./message_text.js";
import { Autocomplete } from "./autocomplete.js";
import { Attachments } from "./attachments.js";
import { el } from "./dom.js";

const DRAFT_KEY = "chat:draft:";

// Where the user's draft for a room is kept (static/rename.js moves it).
export function draftKey(me, room) {
  return `${DRAFT_KEY}${me}:${room}`;
}

// The room's draft for this user; "" when none or storage is unavailable.
function loadDraft(key) {
  try {
    return localStorage.getItem(key) ?? "";
  } catch {
    return "";
  }
}

function saveDraft(key, text) {
  try {
    if (isBlank(text)) localStorage.removeItem(key);
    else localStorage.setItem(key, text);
  } catch {
    // Storage full or disabled: the box still works, a reload just loses the draft.
  }
}

export class Composer {
  // onSend(text, files): a text the server should accept (or "" with files), and
  // the uploaded files that go with it (their JSON, in order), now out of the box.
  // room, me: whose draft it is. picker: static/emoji_picker.js's. onEditLast():
  // open the edit box of your last message; false when there is none.
  // online(): the usernames the page shows online (first among suggestions).
  // idPrefix: before the ids this box makes (a second box on the page);
  // dropTarget: where files may be dropped (the room by default); drafts: whether
  // the text is kept as the room's draft.
  constructor({ form, max, onSend, room, me, picker = null, onEditLast = () => false, online, idPrefix = "", dropTarget = form.closest(".room"), drafts = true }) {
    this.form = form;
    this.input = form.querySelector("textarea");
    this.submitButton = form.querySelector("button[type=submit]");
    // Why the box is closed, by reason: each is lifted on its own (reopen), and
    // the box opens once none is left. The server may have closed it already.
    this.closures = new Map(); // reason -> { message, link }
    this.idPrefix = idPrefix;
    const rendered = form.querySelector(".send-closed");
    if (form.dataset.closed && rendered) {
      this.closures.set(form.dataset.closed, { message: rendered.textContent, link: null });
    }
    this.onSend = onSend;
    this.onEditLast = onEditLast;
    this.draftKey = drafts ? draftKey(me, room) : null;
    // Checked here, with a reason in the page, not by the browser's bubble.
    form.noValidate = true;
    this.meter = new LengthMeter({
      box: this.input,
      counter: form.querySelector(".counter"),
      note: form.querySelector(".text-note"),
      submit: this.submitButton,
      max,
    });
    this.suggestions = new Autocomplete({ input: this.input, anchor: form, room, me, online, id: `${idPrefix}suggestions` });
    this.attachments = new Attachments({ form, dropTarget, idPrefix, onChange: () => this.meter.update() });
    if (picker) this.addEmojiButton(picker);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => this.onKeydown(event));
    this.input.addEventListener("input", () => {
      this.resize();
      this.saveDraft();
    });
    if (drafts) {
      this.restoreDraft();
      window.addEventListener("storage", (event) => this.onOtherTab(event));
    } else this.changed();
    if (this.closed) this.showClosed(); // the meter and the emoji button it just drew stay off
  }

  get closed() {
    return this.closures.size > 0;
  }

  get text() {
    return this.input.value;
  }

  onKeydown(event) {
    if (this.suggestions.handleKey(event)) return;
    if (event.isComposing) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      this.form.requestSubmit();
    } else if (event.key === "ArrowUp" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey
      && this.input.value === "" && this.onEditLast()) {
      event.preventDefault();
    }
  }

  submit() {
    if (this.closed) return;
    const { attachments } = this;
    if (attachments.uploading) {
      this.meter.say("Not sent yet: wait until the files have uploaded, or remove them (×).");
      return;
    }
    if (attachments.failed) {
      this.meter.say("Not sent: remove the files that could not be uploaded (×) first.");
      return;
    }
    const files = attachments.files;
    // With files the text may be empty; its length is checked all the same.
    if (!(files.length > 0 && isBlank(this.input.value)) && !this.meter.check()) return;
    const text = this.input.value;
    this.input.value = "";
    this.suggestions.close();
    attachments.clear();
    this.changed(); // the draft goes with the text, before the send is even queued
    this.onSend(text, files);
  }

  // A message that was not sent comes back to be edited: its text into the box,
  // before whatever draft is there already (nothing is overwritten), its files
  // (uploaded already) as chips again, and `reason` under the box.
  restore(text, { files = [], reason = "" } = {}) {
    if (!isBlank(text)) {
      const draft = this.input.value;
      this.input.value = isBlank(draft) ? text : `${text}\n${draft}`;
    }
    if (files.length) this.attachments.restore(files);
    this.changed();
    if (reason) this.meter.say(reason);
    this.input.focus();
    if (!isBlank(text)) this.input.setSelectionRange(text.length, text.length);
  }

  // Nothing can be sent from here (the session was logged out, the reader was
  // removed from the room, the room was archived): the box and its buttons are
  // disabled and `message` says why, followed by `link` ({ href, text }) when
  // given. `reason` names the cause, for reopen. What is in the box stays (and
  // stays the draft), to be sent once it opens again.
  close(message, link = null, reason = "closed") {
    const current = this.closures.get(reason);
    if (current?.message === message && current?.link === link) return;
    this.closures.delete(reason); // the newest reason is the one shown
    this.closures.set(reason, { message, link });
    this.suggestions.close();
    this.showClosed();
  }

  // The cause `reason` is gone (the room was unarchived, the reader joined it
  // again): the box opens, unless another reason still holds it closed.
  reopen(reason) {
    if (!this.closures.delete(reason)) return;
    this.showClosed();
  }

  showClosed() {
    this.form.querySelector(".send-closed")?.remove();
    const closure = [...this.closures.values()].at(-1);
    const closed = closure !== undefined;
    delete this.form.dataset.closed;
    this.form.classList.toggle("closed", closed);
    this.input.disabled = closed;
    // Every control: Send, attach, emoji, a thread box's "Also send" (not the CSRF field).
    for (const control of this.form.querySelectorAll("button, input:not([type=hidden])")) control.disabled = closed;
    // Closed, the length meter no longer enables Send; open, it decides again.
    this.meter.submit = closed ? null : this.submitButton;
    if (!closed) {
      this.meter.update();
      return;
    }
    const line = el("p", "send-closed", closure.message);
    line.id = `${this.idPrefix}send-closed`;
    line.dataset.reason = [...this.closures.keys()].at(-1);
    line.setAttribute("role", "alert");
    if (closure.link) {
      const a = el("a", "", closure.link.text);
      a.href = closure.link.href;
      line.append(" ", a);
    }
    this.form.prepend(line);
  }

  // Text at the caret (over any selection), as if typed.
  insert(text) {
    const { selectionStart, selectionEnd } = this.input;
    this.input.focus();
    this.input.setRangeText(text, selectionStart, selectionEnd, "end");
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // meter, draft, typing
  }

  focus() {
    this.input.focus();
  }

  changed() {
    this.meter.update();
    this.resize();
    this.saveDraft();
  }

  saveDraft() {
    if (this.draftKey === null) return;
    saveDraft(this.draftKey, this.input.value);
    this.savedDraft = this.input.value;
  }

  // The draft left here before; a text the page already has (the server's
  // form answer keeps a refused text) wins over it.
  restoreDraft() {
    if (this.input.value === "") this.input.value = loadDraft(this.draftKey);
    this.savedDraft = this.input.value;
    this.changed();
  }

  // Another tab of this room changed the draft (or sent it): follow it, unless
  // this box holds something else that was typed here.
  onOtherTab(event) {
    if (event.key !== this.draftKey || event.storageArea !== localStorage) return;
    if (this.input.value !== this.savedDraft) return;
    this.input.value = event.newValue ?? "";
    this.savedDraft = this.input.value;
    this.meter.update();
    this.resize();
  }

  addEmojiButton(picker) {
    const button = el("button", "emoji-button ghost", "☺");
    button.type = "button";
    button.id = `${this.idPrefix}emoji-button`;
    button.title = "Insert an emoji";
    button.setAttribute("aria-label", "Insert an emoji");
    button.setAttribute("aria-haspopup", "dialog");
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", () => picker.open({ anchor: button, onPick: (emoji) => this.insert(emoji) }));
    this.form.querySelector("button[type=submit]").before(button);
  }

  // The textarea grows with its text, up to the CSS max-height: by CSS
  // (field-sizing) where supported, else here.
  resize() {
    if (CSS.supports("field-sizing", "content")) return;
    this.input.style.height = "auto";
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }
}

// Own messages on the live room page until the server has stored them.
//
// Each shows at once as a pending line ("sending…") at the end of the list
// and goes out through the socket's request queue (static/socket.js): after
// a reconnect it is sent again, in order, with its client_id, so a
// disconnect never shows it as failed. It is kept for this tab across a
// reload too (static/unsent.js). Only a refusal by the server makes it
// "Not sent: <reason>", with Edit (the text back into the box), Retry where a
// retry can succeed, and Discard. A message with files is sent together or
// not at all: refused, its text and its files go straight back into the box
// (static/composer.js restore), with the reason under it.
//
// Stable hooks for browser tests (on li.message, see static/room.js):
//   .pending        waiting for the server; data-client-id; .state "sending…"
//   .failed         refused: .state "Not sent: <reason>", button.restore ("Edit"),
//                   button.retry (only where it can help), button.discard
//   .held           the tab was logged out: .state says it waits for a new login
//                   (kept as pending for this tab: the page after the login sends it)
// The thread panel (static/thread_panel.js) keeps its replies with a second
// one, on its own list and box: every refusal there gives the text (and files)
// back to its box with the reason (giveBack), and its unsent are kept apart.
import { newClientId } from "./socket.js";
import { filesList } from "./files_view.js";
import { loadUnsent, saveUnsent } from "./unsent.js";
import { el } from "./dom.js";

// Refusals that the same text can get past later (a Retry): too fast, the
// database away, too many bot requests waiting. Any other refusal (too_large,
// bad_frame, forbidden, not_found, unknown_command, bad_command) would be
// refused again: the text is offered back for editing instead.
const RETRYABLE = new Set(["rate_limited", "unavailable", "too_many_requests"]);

export class OwnSends {
  // composer: static/composer.js's, for Edit; onTransmit(): a chat frame is on its way.
  // authorParts(): the reader's name as a message header shows it (static/message_list.js).
  // unsentKey: where this tab's unsent are kept (static/unsent.js; the room's
  // name by default); giveBack: a refusal always goes back to the box.
  constructor({ socket, list, room, me, composer, onTransmit = () => {}, scrollToBottom, authorParts = null, unsentKey = room, giveBack = false }) {
    Object.assign(this, { socket, list, room, me, composer, onTransmit, scrollToBottom, unsentKey, giveBack });
    this.authorParts = authorParts ?? (() => [el("span", "author", me)]);
    this.entries = new Map(); // client_id -> { li, content, files, refusal }: sending, or refused
    list.addEventListener("click", (event) => this.onClick(event));
  }

  // What the last page of this tab left unsent: pending ones go out again.
  restore() {
    for (const { clientId, content, refusal, files, fields } of loadUnsent(this.unsentKey)) {
      const entry = this.item(clientId, content, Array.isArray(files) ? files : []);
      entry.fields = fields ?? {};
      if (refusal) this.refuse(clientId, refusal);
      else this.transmit(clientId, entry);
    }
  }

  // files: the uploads that go with it (their JSON, static/attachments.js);
  // fields: more of the chat frame (`quote`: static/quote.js).
  send(content, files = [], fields = {}, clientId = newClientId()) {
    const entry = this.item(clientId, content, files);
    entry.fields = fields;
    this.transmit(clientId, entry);
  }

  get(clientId) {
    return clientId === undefined ? undefined : this.entries.get(clientId);
  }

  // The server has it (or answered it another way): the entry, no longer kept.
  take(clientId) {
    const entry = this.get(clientId);
    if (entry) {
      this.entries.delete(clientId);
      this.remember();
    }
    return entry;
  }

  item(clientId, content, files = []) {
    const li = el("li", "message mine");
    li.dataset.user = this.me;
    li.dataset.clientId = clientId;
    li.append(el("div", "meta"), el("div", "content plain", content));
    const shown = filesList(files, true);
    if (shown) li.append(shown);
    const entry = { li, content, files, fields: {}, refusal: null };
    this.entries.set(clientId, entry);
    this.list.append(li);
    this.scrollToBottom();
    return entry;
  }

  transmit(clientId, entry) {
    entry.refusal = null;
    entry.li.className = "message mine pending";
    entry.li.querySelector(".meta").replaceChildren(...this.authorParts(), " ", el("span", "state", "sending…"));
    const frame = { ...entry.fields, type: "chat", room: this.room, content: entry.content, client_id: clientId };
    if (entry.files.length) frame.files = entry.files.map((file) => file.id);
    this.socket.request(frame);
    this.onTransmit();
    this.remember();
  }

  // The server refused it: say why, and offer what can help.
  refuse(clientId, frame) {
    const entry = this.entries.get(clientId);
    if (entry.files.length || this.giveBack) {
      this.take(clientId);
      entry.li.remove();
      const reason = (frame.message || frame.code).replace(/[.\s]*$/, ".");
      this.composer.restore(entry.content, { files: entry.files, reason: `Not sent: ${reason}` });
      return;
    }
    entry.refusal = { code: frame.code, message: frame.message };
    entry.li.className = "message mine failed";
    const reason = (frame.message || frame.code).replace(/[.\s]*$/, ".");
    const state = el("span", "state", `Not sent: ${reason}`);
    state.setAttribute("role", "alert");
    const tools = el("span", "failed-tools");
    tools.append(this.button("restore", "Edit", clientId, "Edit: put the text back in the message box"));
    if (RETRYABLE.has(frame.code)) tools.append(this.button("retry", "Retry", clientId));
    tools.append(this.button("discard ghost", "Discard", clientId, "Discard this unsent message"));
    entry.li.querySelector(".meta").replaceChildren(...this.authorParts(), " ", state, " ", tools);
    this.remember();
  }

  // Nothing more will go out from this page (its session ended): every send
  // still on its way says so, instead of "sending…" for ever. They stay stored
  // as pending, so the next page of this tab (after logging in) sends them.
  hold(reason) {
    for (const { li, refusal } of this.entries.values()) {
      if (refusal) continue;
      li.className = "message mine held";
      li.querySelector(".state").textContent = reason;
    }
  }

  button(className, text, clientId, label) {
    const button = el("button", className, text);
    button.type = "button";
    button.dataset.clientId = clientId;
    if (label) button.setAttribute("aria-label", label);
    return button;
  }

  onClick(event) {
    const button = event.target.closest("li.failed button[data-client-id]");
    const clientId = button?.dataset.clientId;
    const entry = this.get(clientId);
    if (!entry) return;
    if (button.classList.contains("retry")) {
      this.transmit(clientId, entry);
      this.composer.focus();
      return;
    }
    this.take(clientId);
    entry.li.remove();
    if (button.classList.contains("restore")) this.composer.restore(entry.content);
    else this.composer.focus();
  }

  // What a reload must show again: sends still pending (to go out again) and
  // refused ones (their text, the reason and what can be done).
  remember() {
    const entries = [...this.entries].map(([clientId, { content, files, fields, refusal }]) => ({ clientId, content, files, fields, refusal }));
    saveUnsent(this.unsentKey, entries);
  }
}

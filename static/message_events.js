// Edits, deletions and reactions on the live room page (docs/protocol.md).
//
// Each message shows its current state: a `chat` frame (live or caught up)
// carries it whole ("edited", "deleted", "reactions"), and the chat_edit,
// chat_delete and reaction frames after it change it. Applying one is a
// set/replace, never an increment, so replaying events after a catch-up row
// that already shows their result changes nothing; a deletion is final, and
// later events for a deleted message are ignored. An event for a message not
// in the list goes to `missing` (static/scrollback.js keeps those that a page
// of older messages on its way may need, and gives them back to `replay`).
//
// Stable hooks for browser tests:
//   li.message .tools          the message's buttons: button.react, button.edit (own),
//                              button.delete (own, or any for the room's owner)
//   li.message button.actions-toggle  "⋯", where nothing hovers or the screen is
//                              narrow (style.css): shows .tools (li.actions-open)
//                              until an action, Esc or a tap elsewhere
//   li.message .palette        the emoji palette, button[data-emoji] each, and button.more
//                              ("More…": the emoji picker, static/emoji_picker.js)
//   li.message form.edit-form  the edit box (textarea, Save, Cancel; .counter and
//                              .text-note as in static/message_text.js). It stays open
//                              until the server has the edit; a refusal keeps it open
//                              (or opens it again) with the text and the reason.
//   li.message .edited         "(edited)" marker
//   li.message.deleted         "message deleted" placeholder (.content.deleted-note);
//                              a thread's root says "original message deleted" (deletedNote)
//   li.message .reactions      chips: button.reaction[data-emoji] with .count, aria-pressed when yours
//   (files and link previews: static/message_media.js, which `media` is)
import { newClientId } from "./socket.js";
import { LengthMeter } from "./message_text.js";
import { el } from "./dom.js";

export const PALETTE = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

// What a deleted message says, one rule for the live lists and the pages
// (templates/_message.html): a thread's root (the thread panel's li.thread-root,
// or a root with replies in the room, li.has-replies: static/thread_marks.js)
// "original message deleted", as a quote of a deleted message; any other
// "message deleted".
export const ORIGINAL_DELETED = "original message deleted";
export const deletedNote = (li) => (li.matches(".thread-root, .has-replies") ? ORIGINAL_DELETED : "message deleted");

function button(className, text, label) {
  const node = el("button", className, text);
  node.type = "button";
  if (label) node.setAttribute("aria-label", label);
  return node;
}

export class MessageEvents {
  // socket: ChatSocket; room, me: names; moderator: whether `me` owns the room;
  // maxChars: the server's MAX_MESSAGE_CHARS; fillContent(node, frame) renders a
  // frame's text; report(text) shows a local notice; missing(frame) is told of
  // an event for a message the list does not have; pickEmoji(anchor, onPick)
  // opens the emoji picker beside `anchor` (the palette's "More…"). media: what
  // draws a message's files and preview, and follows their frames (`types`).
  // idPrefix: the messages' ids are idPrefix + seq (static/message_list.js).
  // replyTool, quoteTool: whether messages get "Reply in thread" and "Quote" (button.reply,
  // button.quote; what they do is static/thread_panel.js's and static/quote.js's).
  constructor({ socket, list, room, me, moderator, maxChars, fillContent, report, missing = () => {}, pickEmoji = null, media = null, idPrefix = "m", replyTool = true, quoteTool = true }) {
    Object.assign(this, { socket, list, room, me, moderator, maxChars, fillContent, report, missing, pickEmoji, media, idPrefix, replyTool, quoteTool });
    this.returnFocus = new WeakMap(); // li -> where the focus goes when its edit box closes
    // client_id -> { what, seq, text }: what was asked, to explain a refusal
    // (and for an edit, to give its text back); gone once answered.
    this.requests = new Map();
    this.reactions = new Map(); // seq -> Map(emoji -> Set(usernames))
    this.meters = new WeakMap(); // edit form -> its LengthMeter
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("keydown", (event) => this.onKeydown(event));
    document.addEventListener("click", (event) => this.closeActionsOutside(event));
    socket.on("chat_edit", (frame) => this.onEdit(frame));
    socket.on("chat_delete", (frame) => this.onDelete(frame));
    socket.on("reaction", (frame) => this.onReaction(frame));
    for (const type of media?.types ?? []) socket.on(type, (frame) => this.onMedia(frame));
    socket.on("ack", (frame) => this.answered(frame.client_id));
    socket.on("error", (frame) => this.onError(frame));
  }

  // --- showing state ---------------------------------------------------------

  // Called whenever a stored message is (re)drawn from a frame: its tools, and
  // the state the frame carries.
  decorate(li, frame) {
    const seq = Number(li.dataset.seq);
    if (frame.deleted) {
      this.showDeleted(li);
      return;
    }
    if (frame.edited) this.markEdited(li, frame.edited);
    this.media?.decorate(li, frame);
    if (frame.reactions !== undefined || frame.content !== undefined) {
      // A frame from the table is the whole truth about its reactions.
      const map = new Map(Object.entries(frame.reactions ?? {}).map(([e, users]) => [e, new Set(users)]));
      this.reactions.set(seq, map);
    }
    li.append(this.actionsToggle(li), this.tools(li));
    this.renderReactions(li);
  }

  // The "⋯" that opens the tools on phones; style.css hides it on desktops.
  actionsToggle(li) {
    const toggle = button("actions-toggle", "⋯", "Message actions");
    toggle.setAttribute("aria-expanded", "false");
    toggle.setAttribute("aria-controls", `tools-${li.id}`);
    return toggle;
  }

  tools(li) {
    const tools = el("div", "tools");
    tools.id = `tools-${li.id}`;
    tools.setAttribute("role", "group");
    tools.setAttribute("aria-label", "Message actions");
    const react = button("react", "☺+", "Add a reaction");
    react.setAttribute("aria-haspopup", "true");
    react.setAttribute("aria-expanded", "false");
    tools.append(react);
    const name = li.dataset.user;
    if (this.replyTool) tools.append(button("reply", "Reply", `Reply in thread to ${name}`));
    if (this.quoteTool) tools.append(button("quote", "Quote", `Quote ${name}`));
    const mine = li.dataset.user === this.me;
    if (mine) tools.append(button("edit", "Edit"));
    if (mine || this.moderator) tools.append(button("delete", "Delete"));
    return tools;
  }

  markEdited(li, ts) {
    const meta = li.querySelector(".meta");
    let marker = meta.querySelector(".edited");
    if (!marker) {
      marker = el("span", "edited", "(edited)");
      meta.append(" ", marker);
    }
    marker.title = `edited ${new Date(ts).toLocaleString()}`;
  }

  showDeleted(li) {
    li.classList.add("deleted");
    li.classList.remove("action");
    this.reactions.delete(Number(li.dataset.seq));
    for (const node of li.querySelectorAll(".actions-toggle, .tools, .palette, .edit-form, .reactions, .edited, .files, .preview-card, :scope > blockquote.quote")) node.remove();
    const content = li.querySelector(".content") ?? li.appendChild(el("div"));
    content.className = "content deleted-note";
    content.textContent = deletedNote(li);
  }

  renderReactions(li) {
    const map = this.reactions.get(Number(li.dataset.seq)) ?? new Map();
    let chips = li.querySelector(".reactions");
    const entries = [...map].filter(([, users]) => users.size > 0);
    if (entries.length === 0) {
      chips?.remove();
      return;
    }
    if (!chips) {
      chips = el("div", "reactions");
      chips.setAttribute("role", "group");
      chips.setAttribute("aria-label", "Reactions");
      const above = li.querySelector(":scope > .preview-card") ?? li.querySelector(":scope > .files");
      (above ?? li.querySelector(".content")).after(chips);
    }
    chips.replaceChildren(...entries.map(([emoji, users]) => {
      const chip = button("reaction");
      chip.dataset.emoji = emoji;
      chip.setAttribute("aria-pressed", String(users.has(this.me)));
      chip.title = [...users].join(", ");
      chip.setAttribute("aria-label", `${emoji} ${users.size}: ${chip.title}`);
      chip.append(el("span", "emoji", emoji), " ", el("span", "count", String(users.size)));
      return chip;
    }));
  }

  // --- frames ------------------------------------------------------------------

  target(frame) {
    if (frame.room !== this.room) return null;
    const li = document.getElementById(`${this.idPrefix}${frame.target_seq}`);
    if (!li) this.missing(frame);
    return li && !li.classList.contains("deleted") ? li : null;
  }

  // Apply an event again, now that its message is in the list.
  replay(frame) {
    if (frame.type === "chat_edit") this.onEdit(frame);
    else if (frame.type === "chat_delete") this.onDelete(frame);
    else if (frame.type === "reaction") this.onReaction(frame);
    else if (this.media?.types.includes(frame.type)) this.onMedia(frame);
  }

  onEdit(frame) {
    if (frame.room === this.room) this.answered(frame.client_id); // stored: the ack may have been lost
    const li = this.target(frame);
    if (!li) return;
    const content = li.querySelector(".content");
    const actor = content.querySelector(".actor");
    this.fillContent(content, frame);
    li.dataset.source = frame.content;
    if (li.classList.contains("action")) content.prepend(actor ?? el("span", "actor", li.dataset.user), " ");
    this.markEdited(li, frame.ts);
    this.media?.edited(li);
  }

  onDelete(frame) {
    if (frame.room === this.room) this.answered(frame.client_id);
    const li = this.target(frame);
    if (li) this.showDeleted(li);
  }

  onReaction(frame) {
    if (frame.room === this.room) this.answered(frame.client_id);
    const li = this.target(frame);
    if (!li) return;
    const seq = frame.target_seq;
    if (!this.reactions.has(seq)) this.reactions.set(seq, new Map());
    const map = this.reactions.get(seq);
    if (!map.has(frame.emoji)) map.set(frame.emoji, new Set());
    const users = map.get(frame.emoji);
    if (frame.on) users.add(frame.username);
    else users.delete(frame.username);
    if (users.size === 0) map.delete(frame.emoji);
    this.renderReactions(li);
  }

  // A message's files (a thumbnail made) or its link preview (added, removed).
  onMedia(frame) {
    const li = this.target(frame);
    if (li) this.media.apply(li, frame);
  }

  // The server has it: an edit's box, kept open until now, closes.
  answered(clientId) {
    const asked = clientId === undefined ? undefined : this.requests.get(clientId);
    if (!asked) return;
    this.requests.delete(clientId);
    const form = document.getElementById(`${this.idPrefix}${asked.seq}`)?.querySelector("form.edit-form");
    if (asked.what === "edit" && form?.dataset.clientId === clientId) this.closeEditor(form.closest("li"));
  }

  onError(frame) {
    const asked = frame.client_id ? this.requests.get(frame.client_id) : undefined;
    if (!asked) return;
    this.requests.delete(frame.client_id);
    const li = document.getElementById(`${this.idPrefix}${asked.seq}`);
    const form = li?.querySelector(".edit-form");
    // A box opened again since, with a new text in it, is not overwritten.
    const busy = form && form.dataset.clientId !== frame.client_id
      && form.querySelector("textarea").value !== form.querySelector("textarea").defaultValue;
    if (asked.what === "edit" && li && !li.classList.contains("deleted") && !busy) {
      this.openEditor(li, { text: asked.text, reason: `Not saved: ${frame.message}.` });
    } else {
      this.report(`Could not ${asked.what}: ${frame.message}`);
    }
  }

  // --- asking ------------------------------------------------------------------

  // Queued on the socket until answered: made while disconnected, it goes
  // out after the reconnect, in order with the room's other requests.
  request(what, frame, text = null) {
    const clientId = newClientId();
    this.requests.set(clientId, { what, seq: frame.seq, text });
    this.socket.request({ ...frame, room: this.room, client_id: clientId });
    return clientId;
  }

  onClick(event) {
    const target = event.target.closest("button");
    const li = target?.closest("li.message[data-seq]");
    if (!li || li.classList.contains("pending") || li.classList.contains("failed")) return;
    const seq = Number(li.dataset.seq);
    if (target.classList.contains("actions-toggle")) {
      this.showActions(li, !li.classList.contains("actions-open"));
      return;
    }
    if (target.closest(".tools")) this.showActions(li, false); // an action chosen: the menu closes
    if (target.classList.contains("react")) this.togglePalette(li, target);
    else if (target.classList.contains("more")) this.pickMore(li, target);
    else if (target.dataset.emoji !== undefined) {
      this.request("react", { type: "react", seq, emoji: target.dataset.emoji });
      if (target.closest(".palette")) this.closePalette(li, true);
    } else if (target.classList.contains("edit")) this.openEditor(li);
    else if (target.classList.contains("delete")) {
      // eslint-disable-next-line no-alert -- a native confirm is keyboard-accessible and CSP-safe
      if (window.confirm("Delete this message for everyone?")) this.request("delete", { type: "delete", seq });
    } else if (target.classList.contains("cancel")) this.closeEditor(li);
  }

  onKeydown(event) {
    const li = event.target.closest?.("li.message[data-seq]");
    if (!li || event.key !== "Escape") return;
    if (li.querySelector(".edit-form")) this.closeEditor(li);
    else if (li.querySelector(".palette")) this.closePalette(li, true);
    else if (li.classList.contains("actions-open")) {
      this.showActions(li, false);
      li.querySelector("button.actions-toggle").focus();
    }
  }

  // The tools opened from "⋯" (one message at a time).
  showActions(li, open) {
    if (open) for (const other of this.list.querySelectorAll("li.actions-open")) this.showActions(other, false);
    li.classList.toggle("actions-open", open);
    li.querySelector("button.actions-toggle")?.setAttribute("aria-expanded", String(open));
    if (open) li.querySelector(".tools").scrollIntoView({ block: "nearest" });
  }

  closeActionsOutside(event) {
    for (const li of this.list.querySelectorAll("li.actions-open")) {
      if (!li.contains(event.target)) this.showActions(li, false);
    }
  }

  // After a palette or an editor closes: the tool that opened it, or the "⋯"
  // where the tools are folded away.
  focusTool(li, selector) {
    const tool = li.querySelector(`.tools ${selector}`);
    (tool?.checkVisibility() ? tool : li.querySelector("button.actions-toggle"))?.focus();
  }

  togglePalette(li, opener) {
    if (li.querySelector(".palette")) {
      this.closePalette(li, false);
      return;
    }
    for (const open of this.list.querySelectorAll("li.message .palette")) this.closePalette(open.closest("li"), false);
    const palette = el("div", "palette");
    palette.setAttribute("role", "group");
    palette.setAttribute("aria-label", "Choose a reaction");
    for (const emoji of PALETTE) {
      const choice = button("", emoji, `React with ${emoji}`);
      choice.dataset.emoji = emoji;
      palette.append(choice);
    }
    if (this.pickEmoji) {
      const more = button("more", "More…");
      more.setAttribute("aria-haspopup", "dialog");
      more.setAttribute("aria-expanded", "false");
      palette.append(more);
    }
    li.querySelector(".tools").after(palette);
    opener.setAttribute("aria-expanded", "true");
    palette.querySelector("button").focus();
  }

  // Any emoji, from the picker; the palette closes once one is chosen.
  pickMore(li, more) {
    const seq = Number(li.dataset.seq);
    this.pickEmoji(more, (emoji) => {
      this.request("react", { type: "react", seq, emoji });
      this.closePalette(li, true);
    });
  }

  closePalette(li, refocus) {
    li.querySelector(".palette")?.remove();
    const opener = li.querySelector(".tools .react");
    opener?.setAttribute("aria-expanded", "false");
    if (refocus) this.focusTool(li, ".react");
  }

  // The edit box, starting from the message's source text, or from `text`
  // with `reason` (a refused edit, given back).
  openEditor(li, { text = null, reason = "" } = {}) {
    const open = li.querySelector(".edit-form");
    if (open && text === null) {
      open.querySelector("textarea").focus();
      return;
    }
    const form = open ?? this.editor(li);
    const box = form.querySelector("textarea");
    if (text !== null) box.value = text;
    this.saving(form, false);
    this.meters.get(form).say(reason);
    box.focus();
  }

  editor(li) {
    const content = li.querySelector(".content");
    const form = el("form", "edit-form");
    form.noValidate = true;
    const label = el("label", "visually-hidden", "Edit message");
    const box = el("textarea");
    box.id = `edit-${li.id}`;
    label.htmlFor = box.id;
    box.rows = 2;
    box.value = li.dataset.source ?? content.innerText.trim();
    box.defaultValue = box.value;
    const save = el("button", "save", "Save");
    save.type = "submit";
    const status = el("p", "text-status");
    const note = el("span", "text-note");
    note.setAttribute("role", "alert");
    note.hidden = true;
    const counter = el("span", "counter");
    status.append(note, counter);
    box.setAttribute("aria-describedby", `${box.id}-counter`);
    counter.id = `${box.id}-counter`;
    form.append(label, box, save, " ", button("cancel ghost", "Cancel"), status);
    this.meters.set(form, new LengthMeter({ box, counter, note, submit: save, max: this.maxChars, verb: "save" }));
    content.hidden = true;
    content.after(form);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save(li, form);
    });
    return form;
  }

  // Unchanged: nothing to do. Refused here (blank, too long): the box stays
  // open with the reason. Otherwise it stays open, read-only, until answered.
  save(li, form) {
    const box = form.querySelector("textarea");
    if (form.dataset.clientId) return; // already on its way
    if (box.value === box.defaultValue) {
      this.closeEditor(li);
      return;
    }
    if (!this.meters.get(form).check()) return;
    const clientId = this.request("edit", { type: "edit", seq: Number(li.dataset.seq), content: box.value }, box.value);
    form.dataset.clientId = clientId;
    this.saving(form, true);
  }

  saving(form, on) {
    const box = form.querySelector("textarea");
    const save = form.querySelector("button.save");
    box.readOnly = on;
    save.textContent = on ? "Saving…" : "Save";
    if (on) save.disabled = true;
    else {
      delete form.dataset.clientId;
      this.meters.get(form).update(); // enables Save unless the text is over the limit
    }
  }

  closeEditor(li) {
    li.querySelector(".edit-form")?.remove();
    const content = li.querySelector(".content");
    if (content) content.hidden = false;
    const back = this.returnFocus.get(li);
    this.returnFocus.delete(li);
    if (back?.isConnected) back.focus();
    else this.focusTool(li, ".edit");
  }

  // Your newest message that can still be edited, opened in its edit box (Up in
  // an empty message box); the focus goes back to `returnTo` when the box
  // closes. False when there is none.
  editLast(returnTo) {
    const mine = this.list.querySelectorAll("li.message.mine[data-seq]:not(.pending, .failed, .deleted)");
    const li = [...mine].reverse().find((item) => item.querySelector(".tools .edit"));
    if (!li) return false;
    if (returnTo) this.returnFocus.set(li, returnTo);
    this.openEditor(li);
    li.scrollIntoView({ block: "nearest" });
    return true;
  }
}

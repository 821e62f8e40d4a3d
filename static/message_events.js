// Edits, deletions and reactions on the live room page (docs/protocol.md).
//
// Each message shows its current state: a `chat` frame (live or caught up)
// carries it whole ("edited", "deleted", "reactions"), and the chat_edit,
// chat_delete and reaction frames after it change it. Applying one is a
// set/replace, never an increment, so replaying events after a catch-up row
// that already shows their result changes nothing; a deletion is final, and
// later events for a deleted (or unknown) message are ignored.
//
// Stable hooks for browser tests:
//   li.message .tools          the message's buttons: button.react, button.edit (own),
//                              button.delete (own, or any for the room's owner)
//   li.message .palette        the emoji palette, button[data-emoji] each
//   li.message form.edit-form  the edit box (textarea, Save, Cancel)
//   li.message .edited         "(edited)" marker
//   li.message.deleted         "message deleted" placeholder (.content.deleted-note)
//   li.message .reactions      chips: button.reaction[data-emoji] with .count, aria-pressed when yours
import { newClientId } from "./socket.js";

export const PALETTE = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, label) {
  const node = el("button", className, text);
  node.type = "button";
  if (label) node.setAttribute("aria-label", label);
  return node;
}

export class MessageEvents {
  // socket: ChatSocket; room, me: names; moderator: whether `me` owns the room;
  // fillContent(node, frame) renders a frame's text; report(text) shows a local notice.
  constructor({ socket, list, room, me, moderator, fillContent, report }) {
    Object.assign(this, { socket, list, room, me, moderator, fillContent, report });
    this.requests = new Map(); // client_id -> what it asked for, to explain a refusal
    this.reactions = new Map(); // seq -> Map(emoji -> Set(usernames))
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("keydown", (event) => this.onKeydown(event));
    socket.on("chat_edit", (frame) => this.onEdit(frame));
    socket.on("chat_delete", (frame) => this.onDelete(frame));
    socket.on("reaction", (frame) => this.onReaction(frame));
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
    if (frame.reactions !== undefined || frame.content !== undefined) {
      // A frame from the table is the whole truth about its reactions.
      const map = new Map(Object.entries(frame.reactions ?? {}).map(([e, users]) => [e, new Set(users)]));
      this.reactions.set(seq, map);
    }
    li.append(this.tools(li));
    this.renderReactions(li);
  }

  tools(li) {
    const tools = el("div", "tools");
    tools.setAttribute("role", "group");
    tools.setAttribute("aria-label", "Message actions");
    const react = button("react", "☺+", "Add a reaction");
    react.setAttribute("aria-haspopup", "true");
    react.setAttribute("aria-expanded", "false");
    tools.append(react);
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
    for (const node of li.querySelectorAll(".tools, .palette, .edit-form, .reactions, .edited")) node.remove();
    const content = li.querySelector(".content") ?? li.appendChild(el("div"));
    content.className = "content deleted-note";
    content.textContent = "message deleted";
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
      li.querySelector(".content").after(chips);
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
    const li = document.getElementById(`m${frame.target_seq}`);
    return li && !li.classList.contains("deleted") ? li : null;
  }

  onEdit(frame) {
    const li = this.target(frame);
    if (!li) return;
    const content = li.querySelector(".content");
    const actor = content.querySelector(".actor");
    this.fillContent(content, frame);
    li.dataset.source = frame.content;
    if (li.classList.contains("action")) content.prepend(actor ?? el("span", "actor", li.dataset.user), " ");
    this.markEdited(li, frame.ts);
  }

  onDelete(frame) {
    const li = this.target(frame);
    if (li) this.showDeleted(li);
  }

  onReaction(frame) {
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

  onError(frame) {
    const asked = frame.client_id ? this.requests.get(frame.client_id) : undefined;
    if (!asked) return;
    this.requests.delete(frame.client_id);
    this.report(`Could not ${asked}: ${frame.message}`);
  }

  // --- asking ------------------------------------------------------------------

  request(what, frame) {
    const clientId = newClientId();
    if (!this.socket.send({ ...frame, room: this.room, client_id: clientId })) {
      this.report(`Could not ${what}: not connected; try again when live.`);
      return;
    }
    this.requests.set(clientId, what);
    // Forget it once it must have been answered; only refusals need it.
    setTimeout(() => this.requests.delete(clientId), 60000);
  }

  onClick(event) {
    const target = event.target.closest("button");
    const li = target?.closest("li.message[data-seq]");
    if (!li || li.classList.contains("pending") || li.classList.contains("failed")) return;
    const seq = Number(li.dataset.seq);
    if (target.classList.contains("react")) this.togglePalette(li, target);
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
    li.querySelector(".tools").after(palette);
    opener.setAttribute("aria-expanded", "true");
    palette.querySelector("button").focus();
  }

  closePalette(li, refocus) {
    li.querySelector(".palette")?.remove();
    const opener = li.querySelector(".tools .react");
    opener?.setAttribute("aria-expanded", "false");
    if (refocus) opener?.focus();
  }

  openEditor(li) {
    if (li.querySelector(".edit-form")) return;
    const content = li.querySelector(".content");
    const form = el("form", "edit-form");
    const label = el("label", "visually-hidden", "Edit message");
    const box = el("textarea");
    box.id = `edit-${li.dataset.seq}`;
    label.htmlFor = box.id;
    box.rows = 2;
    box.value = li.dataset.source ?? content.innerText.trim();
    const save = el("button", "save", "Save");
    save.type = "submit";
    form.append(label, box, save, " ", button("cancel ghost", "Cancel"));
    content.hidden = true;
    content.after(form);
    box.focus();
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = box.value;
      if (text.trim() !== "" && text !== box.defaultValue) {
        this.request("edit", { type: "edit", seq: Number(li.dataset.seq), content: text });
      }
      this.closeEditor(li);
    });
    box.defaultValue = box.value;
  }

  closeEditor(li) {
    li.querySelector(".edit-form")?.remove();
    const content = li.querySelector(".content");
    if (content) content.hidden = false;
    li.querySelector(".tools .edit")?.focus();
  }
}

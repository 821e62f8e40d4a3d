// The emoji picker: a search box over every emoji the server knows
// (static/emoji_data.js), the ones this browser used last first. One picker
// serves the message box (it inserts at the caret) and reactions ("More…" in a
// message's palette).
//
// A non-modal dialog beside what opened it (a sheet at the bottom on a phone).
// The search box has the focus; Down or Tab goes to the grid, where the arrow
// keys move and Enter or Space picks; Enter in the box picks the first match;
// Esc, a click outside or the focus leaving closes it, and the focus goes back
// to what opened it.
//
// Stable hooks for browser tests:
//   #emoji-picker                  the dialog (hidden when closed)
//   #emoji-picker input[type=search]
//   #emoji-picker button[data-emoji]  one emoji; aria-label: its name
import { el } from "./dom.js";
import { loadEmoji, noteEmojiUsed, recentEmoji, searchEmoji } from "./emoji_data.js";

// A search shows this many at most: more than a screen, fewer than slow a phone.
const MAX_RESULTS = 160;
// Shown first, before the ones used here: the quick reactions everyone knows.
const FAVOURITES = ["👍", "❤️", "😂", "🎉", "😮", "😢"];
// The grid's columns (static/composer.css .emoji-grid), for Up and Down.
const COLUMNS = 8;

function emojiButton({ emoji, names }) {
  const button = el("button", "emoji-choice", emoji);
  button.type = "button";
  button.dataset.emoji = emoji;
  const name = (names[0] ?? "").replaceAll("_", " ");
  button.setAttribute("aria-label", name || emoji);
  button.title = names.length ? `:${names[0]}:` : emoji;
  button.tabIndex = -1; // one stop in the tab order: the grid's current button
  return button;
}

export class EmojiPicker {
  constructor() {
    this.node = el("div", "emoji-picker");
    this.node.id = "emoji-picker";
    this.node.setAttribute("role", "dialog");
    this.node.setAttribute("aria-label", "Choose an emoji");
    this.node.hidden = true;
    const label = el("label", "visually-hidden", "Search emoji");
    this.search = el("input");
    this.search.type = "search";
    this.search.id = "emoji-search";
    this.search.placeholder = "Search emoji";
    this.search.autocomplete = "off";
    this.search.spellcheck = false;
    label.htmlFor = this.search.id;
    this.status = el("p", "emoji-status muted");
    this.status.setAttribute("role", "status");
    this.grid = el("div", "emoji-grid");
    this.grid.setAttribute("role", "group");
    this.grid.setAttribute("aria-label", "Emoji");
    this.node.append(label, this.search, this.status, this.grid);
    document.body.append(this.node);
    this.search.addEventListener("input", () => this.fill());
    this.search.addEventListener("keydown", (event) => this.onSearchKey(event));
    this.grid.addEventListener("keydown", (event) => this.onGridKey(event));
    this.grid.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-emoji]");
      if (button) this.pick(button.dataset.emoji);
    });
    this.node.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.close();
      }
    });
    this.node.addEventListener("focusout", (event) => {
      if (!this.isOpen || this.node.contains(event.relatedTarget)) return;
      if (event.relatedTarget === null) return; // a click on nothing focusable: pointerdown decides
      this.close({ refocus: false });
    });
    document.addEventListener("pointerdown", (event) => {
      if (this.isOpen && !this.node.contains(event.target) && !this.opener?.contains(event.target)) {
        this.close({ refocus: false });
      }
    });
    window.addEventListener("resize", () => this.place());
  }

  get isOpen() {
    return !this.node.hidden;
  }

  // Opens beside `anchor` (or closes, if it is open for it already); onPick(emoji)
  // is called with the one chosen, after the picker has closed.
  async open({ anchor, onPick }) {
    if (this.isOpen) {
      const same = this.opener === anchor;
      this.close();
      if (same) return;
    }
    this.opener = anchor;
    this.onPick = onPick;
    anchor.setAttribute("aria-expanded", "true");
    this.search.value = "";
    this.node.hidden = false;
    this.place();
    this.search.focus();
    this.status.textContent = "Loading…";
    try {
      this.emoji = await loadEmoji();
    } catch {
      this.status.textContent = "The emoji could not be loaded. Close and try again.";
      return;
    }
    if (this.opener === anchor && this.isOpen) this.fill();
  }

  close({ refocus = true } = {}) {
    if (!this.isOpen) return;
    this.node.hidden = true;
    this.grid.replaceChildren();
    const opener = this.opener;
    this.opener = null;
    opener?.setAttribute("aria-expanded", "false");
    if (refocus && opener?.isConnected) opener.focus();
  }

  pick(emoji) {
    const onPick = this.onPick;
    noteEmojiUsed(emoji);
    this.close();
    onPick?.(emoji);
  }

  // The grid: the search's matches, or the favourites and recent ones, then all.
  fill() {
    if (!this.emoji) return;
    const query = this.search.value;
    const sections = [];
    if (query.trim() === "") {
      const byEmoji = new Map(this.emoji.map((entry) => [entry.emoji, entry]));
      const first = [...new Set([...recentEmoji(), ...FAVOURITES])]
        .map((emoji) => byEmoji.get(emoji) ?? { emoji, names: [] });
      sections.push(["Frequently used", first], ["All emoji", this.emoji]);
      this.status.textContent = "";
    } else {
      const found = searchEmoji(this.emoji, query, MAX_RESULTS);
      sections.push(["Results", found]);
      this.status.textContent = found.length ? `${found.length} found` : "No emoji found";
    }
    this.grid.replaceChildren(...sections.filter(([, list]) => list.length).flatMap(([title, list]) => {
      const heading = el("p", "emoji-heading", title);
      const row = el("div", "emoji-row");
      row.append(...list.map(emojiButton));
      return [heading, row];
    }));
    const first = this.grid.querySelector("button");
    if (first) first.tabIndex = 0;
  }

  buttons() {
    return [...this.grid.querySelectorAll("button[data-emoji]")];
  }

  onSearchKey(event) {
    const first = this.grid.querySelector("button[data-emoji]");
    if (event.key === "Enter") {
      event.preventDefault();
      if (first) this.pick(first.dataset.emoji);
    } else if ((event.key === "ArrowDown" || (event.key === "Tab" && !event.shiftKey)) && first) {
      event.preventDefault();
      this.move(first);
    }
  }

  onGridKey(event) {
    const buttons = this.buttons();
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS }[event.key];
    if (event.key === "Home") this.move(buttons[0]);
    else if (event.key === "End") this.move(buttons.at(-1));
    else if (event.key === "ArrowUp" && at < COLUMNS) this.search.focus();
    else if (step !== undefined) this.move(buttons[Math.min(Math.max(at + step, 0), buttons.length - 1)]);
    else if (event.key === "Tab" && event.shiftKey) this.search.focus();
    else return;
    event.preventDefault();
  }

  // Roving focus: the grid is one stop in the tab order, at its current button.
  move(button) {
    for (const other of this.grid.querySelectorAll("button[tabindex='0']")) other.tabIndex = -1;
    button.tabIndex = 0;
    button.focus();
  }

  // Above the opener (its bottom edge fixed there, so that a status line
  // grows it upwards), right edges aligned, kept inside the window; below it
  // when there is no room above. On a phone the stylesheet makes it a sheet
  // at the bottom instead.
  place() {
    if (!this.isOpen || !this.opener) return;
    const style = this.node.style;
    style.left = style.top = style.bottom = "";
    if (window.matchMedia("(max-width: 600px)").matches) return;
    const anchor = this.opener.getBoundingClientRect();
    const box = this.node.getBoundingClientRect();
    const margin = 8;
    const left = Math.min(anchor.right - box.width, window.innerWidth - box.width - margin);
    style.left = `${Math.max(left, margin)}px`;
    if (anchor.top - box.height - margin >= margin) {
      style.bottom = `${window.innerHeight - anchor.top + margin}px`;
    } else {
      style.top = `${Math.max(Math.min(anchor.bottom + margin, window.innerHeight - box.height - margin), margin)}px`;
    }
  }
}

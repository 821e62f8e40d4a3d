// Ctrl+K (Cmd+K on a Mac) anywhere on the page: a dialog to go to another room by
// typing part of its name. It lists the rooms and conversations of the page's
// sidebar, filtered as one types; Up/Down choose, Enter opens the room, Esc
// closes the dialog and the focus goes back where it was.
//
// The filter box is an ARIA combobox over a listbox of rooms.
//
// Stable hooks for browser tests:
//   dialog#room-switcher               open while switching
//   #room-switcher input[role=combobox]
//   #room-switcher [role=option]        one room; data-room; aria-selected on the chosen one
import { el } from "./dom.js";

export class RoomSwitcher {
  // rooms(): [{ name, title, href, current }] of the page, read when it opens.
  constructor({ rooms }) {
    this.rooms = rooms;
    this.matches = [];
    this.active = 0;
    this.dialog = el("dialog", "room-switcher");
    this.dialog.id = "room-switcher";
    this.dialog.setAttribute("aria-labelledby", "room-switcher-title");
    const title = el("h2", "visually-hidden", "Switch to a room");
    title.id = "room-switcher-title";
    this.input = el("input");
    this.input.type = "text";
    this.input.id = "room-switcher-filter";
    this.input.placeholder = "Go to a room…";
    this.input.autocomplete = "off";
    this.input.spellcheck = false;
    this.input.setAttribute("role", "combobox");
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-controls", "room-switcher-list");
    this.input.setAttribute("aria-labelledby", "room-switcher-title");
    this.list = el("ul", "room-switcher-list");
    this.list.id = "room-switcher-list";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-labelledby", "room-switcher-title");
    const hint = el("p", "room-switcher-hint muted", "↑↓ to choose, Enter to open, Esc to close");
    this.dialog.append(title, this.input, this.list, hint);
    document.body.append(this.dialog);

    document.addEventListener("keydown", (event) => {
      if (event.key.toLowerCase() !== "k" || !(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return;
      event.preventDefault();
      if (this.dialog.open) this.dialog.close();
      else this.open();
    });
    this.input.addEventListener("input", () => this.filter());
    this.input.addEventListener("keydown", (event) => this.onKey(event));
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // the box keeps the focus
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.go(Number(option.dataset.index));
    });
    this.dialog.addEventListener("close", () => this.restoreFocus());
    // A click on the backdrop (outside the dialog's box) closes it.
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close();
    });
  }

  open() {
    this.returnTo = document.activeElement;
    this.input.value = "";
    this.dialog.showModal();
    this.input.focus();
    this.filter();
  }

  restoreFocus() {
    const back = this.returnTo;
    this.returnTo = null;
    if (back?.isConnected && typeof back.focus === "function") back.focus();
  }

  // Rooms whose title holds what was typed, those it starts (after the # or @) first.
  filter() {
    const query = this.input.value.trim().toLowerCase().replace(/^[#@]/, "");
    const rooms = this.rooms();
    const scored = [];
    rooms.forEach((room, index) => {
      const name = room.title.toLowerCase().replace(/^[#@]/, "");
      const at = name.indexOf(query);
      if (at >= 0) scored.push({ room, rank: at === 0 ? 0 : 1, index });
    });
    scored.sort((a, b) => a.rank - b.rank || a.index - b.index);
    this.matches = scored.map((s) => s.room);
    this.list.replaceChildren(...this.matches.map((room, index) => {
      const li = el("li", room.current ? "current" : "", room.title);
      li.id = `room-switcher-${index}`;
      li.setAttribute("role", "option");
      li.dataset.index = String(index);
      li.dataset.room = room.name;
      if (room.current) li.append(" ", el("span", "muted", "(this room)"));
      return li;
    }));
    if (this.matches.length === 0) {
      this.list.append(el("li", "muted empty", "No room by that name"));
      this.input.removeAttribute("aria-activedescendant");
      return;
    }
    // The first match, unless that is the room already open and there are others.
    this.highlight(this.matches.length > 1 && this.matches[0].current ? 1 : 0);
  }

  highlight(index) {
    this.active = index;
    for (const li of this.list.querySelectorAll("[role=option]")) {
      li.setAttribute("aria-selected", String(Number(li.dataset.index) === index));
    }
    const current = this.list.querySelector(`#room-switcher-${index}`);
    this.input.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  }

  onKey(event) {
    const count = this.matches.length;
    if (event.key === "ArrowDown" && count) this.highlight((this.active + 1) % count);
    else if (event.key === "ArrowUp" && count) this.highlight((this.active - 1 + count) % count);
    else if (event.key === "Enter" && count) this.go(this.active);
    else return;
    event.preventDefault();
  }

  go(index) {
    const room = this.matches[index];
    if (!room) return;
    if (room.current) {
      this.dialog.close();
      return;
    }
    this.returnTo = null; // leaving the page
    window.location.assign(room.href);
  }
}

// The rooms of the page's sidebar (templates/_rooms.html): one per li[data-room].
export function sidebarRooms(sidebar) {
  return () => [...(sidebar?.querySelectorAll("li[data-room]") ?? [])].flatMap((li) => {
    const link = li.querySelector("a[href]");
    if (!link) return [];
    return [{
      name: li.dataset.room,
      title: link.textContent.trim(),
      href: link.href,
      current: li.classList.contains("current") || link.getAttribute("aria-current") === "page",
    }];
  });
}

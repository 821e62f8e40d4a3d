// Completion in the message box while typing: `@name` (the room's members first,
// then, in a public room, anyone by name), `/command` (the slash commands the
// server knows, with their help) and `:emoji` (shortcodes of the emoji package).
// A person is found by their username or by any word of their display name
// ("@lid" finds alice, "Alice Liddell"), shown by both, and inserted as
// @username: mentions are of usernames (chat/domain/render.py).
//
// The box keeps the focus; a listbox of suggestions opens above it. As ARIA's
// combobox pattern has it, the box names the listbox (aria-controls) and the
// highlighted option (aria-activedescendant), with aria-autocomplete="list";
// role=combobox itself is not allowed on a <textarea>, which keeps its textbox
// role. Up/Down move, Enter or Tab take the option, Esc closes; a click takes one.
// Enter on a suggestion typed out in full sends the message instead.
//
// Stable hooks for browser tests:
//   #suggestions                  the listbox (hidden when closed); data-kind: mention, command, emoji
//   #suggestions [role=option]    one suggestion; aria-selected="true" on the highlighted one;
//                                 data-value: the name, command or emoji it inserts
//     .suggestion-main            a person's display name (else @username), a command, an emoji
//     .suggestion-handle          a person's @username, under a display name
import { el } from "./dom.js";
import { loadEmoji, noteEmojiUsed, searchEmoji } from "./emoji_data.js";

// Enough to choose from at a glance, few enough to show without scrolling
// (the box keeps the focus, so a list would have to scroll itself); more letters
// narrow the list.
const MAX_SHOWN = 8;
// Before the caret: what is being completed, and where its trigger character is.
// A mention or a shortcode starts a word (after a space or an opening bracket or
// quote, as the server reads mentions); a command is the whole text so far.
const OPENERS = String.raw`\s([{<"'«“‘`;
const TRIGGERS = [
  { kind: "command", re: /^\/([A-Za-z][\w-]*)?$/ },
  // Letters of any script: a display name may be "Jäger" or "李".
  { kind: "mention", re: new RegExp(`(?:^|[${OPENERS}])@([\\p{L}\\p{M}\\p{N}_.-]{0,32})$`, "u") },
  // Two letters at least, as in Slack: "10:3" or ":)" opens nothing.
  { kind: "emoji", re: new RegExp(`(?:^|[${OPENERS}]):([A-Za-z0-9_+-]{2,64})$`, "u") },
];

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// Who can be mentioned here: the room's members (asked once), the people the
// page shows online, and for a public room anyone by name (asked once per prefix).
class People {
  constructor(room) {
    this.room = room;
    this.members = null; // Promise of { private, members }
    this.byPrefix = new Map(); // lower-cased prefix -> Promise of [{username, display_name}]
  }

  inRoom() {
    this.members ??= getJson(`/api/rooms/${encodeURIComponent(this.room)}/members`).catch(() => {
      this.members = null;
      return { private: true, members: [] };
    });
    return this.members;
  }

  named(prefix) {
    const key = prefix.toLowerCase();
    if (!this.byPrefix.has(key)) {
      const url = `/api/users?prefix=${encodeURIComponent(prefix)}`;
      this.byPrefix.set(key, getJson(url).then((data) => data.people).catch(() => {
        this.byPrefix.delete(key);
        return [];
      }));
    }
    return this.byPrefix.get(key);
  }
}

// A person as a suggestion: their display name with the @username under it
// (or the @username alone), and what they are to this room.
function personOption({ username, display_name: name }, detail) {
  const insert = `@${username}`;
  return name
    ? { value: username, label: name, handle: insert, detail, insert }
    : { value: username, label: insert, detail, insert };
}

export class Autocomplete {
  // input: the textarea; anchor: where the listbox goes (the form); me: the reader,
  // never suggested; online(): the usernames the page shows online (#members).
  // id: the listbox's ("suggestions"; another for a second box on the page).
  constructor({ input, anchor, room, me, online = () => [], id = "suggestions" }) {
    Object.assign(this, { input, room, me, online });
    this.people = new People(room);
    this.commands = null;
    this.options = [];
    this.active = -1;
    this.ticket = 0; // answers to an older keystroke are dropped
    this.list = el("ul", "suggestions");
    this.list.id = id;
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Suggestions");
    this.list.hidden = true;
    anchor.append(this.list);
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.list.id);
    input.addEventListener("input", (event) => {
      if (!event.isComposing) this.update();
    });
    input.addEventListener("blur", () => this.close());
    // The box keeps the focus while an option is clicked.
    this.list.addEventListener("mousedown", (event) => event.preventDefault());
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.choose(Number(option.dataset.index));
    });
  }

  get isOpen() {
    return !this.list.hidden;
  }

  // The keys the popup takes while it is open; true when the key was its.
  // Enter on a suggestion that is already typed out in full ("/help", "@eren")
  // is not the popup's: it closes, and the message box sends.
  handleKey(event) {
    if (!this.isOpen || event.isComposing || event.altKey || event.ctrlKey || event.metaKey) return false;
    if (event.key === "Enter" && this.typedOut()) {
      this.close();
      return false;
    }
    const count = this.options.length;
    if (event.key === "ArrowDown") this.highlight((this.active + 1) % count);
    else if (event.key === "ArrowUp") this.highlight((this.active - 1 + count) % count);
    else if ((event.key === "Enter" && !event.shiftKey) || (event.key === "Tab" && !event.shiftKey)) this.choose(this.active);
    else if (event.key === "Escape") this.close();
    else return false;
    event.preventDefault();
    event.stopPropagation();
    return true;
  }

  typedOut() {
    const option = this.options[this.active];
    const typed = this.input.value.slice(this.start, this.input.selectionStart);
    return option !== undefined && option.insert.trim().toLowerCase() === typed.toLowerCase();
  }

  // What the text before the caret is completing, if anything.
  trigger() {
    const { value, selectionStart, selectionEnd } = this.input;
    if (selectionStart !== selectionEnd) return null;
    const before = value.slice(0, selectionStart);
    for (const { kind, re } of TRIGGERS) {
      const match = re.exec(before);
      if (match) {
        const query = match[1] ?? "";
        return { kind, query, start: selectionStart - query.length - 1 };
      }
    }
    return null;
  }

  async update() {
    const ticket = ++this.ticket;
    const found = this.trigger();
    if (!found) {
      this.close();
      return;
    }
    let options;
    try {
      options = await this.suggest(found.kind, found.query);
    } catch {
      options = [];
    }
    if (ticket !== this.ticket) return; // typed on meanwhile
    this.show(found, options);
  }

  suggest(kind, query) {
    if (kind === "mention") return this.mentions(query);
    if (kind === "command") return this.commandsFor(query);
    return this.emojiFor(query);
  }

  async mentions(query) {
    const prefix = query.toLowerCase();
    const me = this.me.toLowerCase();
    const room = await this.people.inRoom();
    const online = new Set(this.online());
    // The username starts so, or a word of the display name does.
    const fits = ({ username, display_name: name }) => username.toLowerCase() !== me
      && (username.toLowerCase().startsWith(prefix)
        || (name ?? "").toLowerCase().split(/\s+/).some((word) => word.startsWith(prefix)));
    // Members online first, then the other members, each by username.
    const byName = new Map(room.members.map((member) => [member.username, member]));
    for (const username of online) if (!byName.has(username)) byName.set(username, { username, display_name: null });
    const members = [...byName.values()].filter(fits);
    members.sort((a, b) => Number(online.has(b.username)) - Number(online.has(a.username))
      || a.username.localeCompare(b.username));
    const options = members.map((person) => personOption(person, online.has(person.username) ? "online" : "member"));
    if (!room.private && prefix !== "" && options.length < MAX_SHOWN) {
      const known = new Set(members.map((person) => person.username.toLowerCase()));
      for (const person of await this.people.named(query)) {
        if (!known.has(person.username.toLowerCase()) && fits(person)) {
          options.push(personOption(person, "not in this room"));
        }
      }
    }
    return options.slice(0, MAX_SHOWN);
  }

  async commandsFor(query) {
    this.commands ??= getJson("/api/commands").then((data) => data.commands).catch(() => {
      this.commands = null;
      return [];
    });
    const prefix = query.toLowerCase();
    return (await this.commands)
      .filter((command) => command.name.startsWith(prefix))
      .map((command) => ({
        value: command.name,
        label: command.usage.split(" or ")[0],
        detail: command.help,
        // A command that takes an argument gets the space before it.
        insert: `/${command.name}${/[\s=]/.test(command.usage) ? " " : ""}`,
      }));
  }

  async emojiFor(query) {
    return searchEmoji(await loadEmoji(), query, MAX_SHOWN).map((found) => ({
      value: found.emoji, label: found.emoji, detail: `:${found.name}:`, insert: found.emoji, emoji: true,
    }));
  }

  show(found, options) {
    this.start = found.start;
    this.options = options;
    if (options.length === 0) {
      this.close();
      return;
    }
    this.list.dataset.kind = found.kind;
    this.list.replaceChildren(...options.map((option, index) => {
      const li = el("li", "suggestion");
      li.id = `${this.list.id}-${index}`;
      li.setAttribute("role", "option");
      li.dataset.index = String(index);
      li.dataset.value = option.value;
      li.append(el("span", option.emoji ? "suggestion-main emoji" : "suggestion-main", option.label));
      if (option.handle) li.append(el("span", "suggestion-handle", option.handle));
      if (option.detail) li.append(el("span", "suggestion-detail", option.detail));
      return li;
    }));
    this.list.hidden = false;
    this.highlight(0);
  }

  highlight(index) {
    this.active = index;
    for (const [i, li] of [...this.list.children].entries()) {
      li.setAttribute("aria-selected", String(i === index));
    }
    const current = this.list.children[index];
    this.input.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  }

  // The option replaces what was typed since its trigger character.
  choose(index) {
    const option = this.options[index];
    if (!option) return;
    const end = this.input.selectionStart;
    const spaced = option.insert.endsWith(" ") || /^\s/.test(this.input.value.slice(end));
    this.input.setRangeText(spaced ? option.insert : `${option.insert} `, this.start, end, "end");
    if (option.emoji) noteEmojiUsed(option.value);
    this.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // the meter, the draft, typing
  }

  close() {
    this.ticket++;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.options = [];
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
  }
}

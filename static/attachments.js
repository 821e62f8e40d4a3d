// Files attached to the message being written (docs/files.md, "Upload" and
// "Send"): chosen with the paperclip button, dropped anywhere on the room, or
// pasted into the box (a screenshot). Each is queued and uploads in turn, at
// most UPLOADS_AT_ONCE at a time (POST /api/files?name=…, the session's CSRF
// token; XMLHttpRequest for its progress events); the server takes only a few
// uploads at a time and answers 429 (with Retry-After) to more, and then the
// file waits and tries again. Each shows as a chip above the box: its name,
// size, whether it waits or its progress, the server's reason if it refused
// it, and a × that cancels the upload or forgets the finished one. static/composer.js sends the message
// once every chip is finished; the chips then go with it, and come back with
// its text if the server refuses the send (static/own_sends.js).
//
// Stable hooks for browser tests:
//   #attach-button        the paperclip (opens #attach-input, a hidden file input)
//   #attachments          the chips (hidden when none): li.chip[data-state] each,
//                         waiting | uploading | done | error; .chip-name, .chip-size,
//                         .chip-status (waiting: why), progress.chip-progress,
//                         .chip-error, button.chip-remove
//   #attach-note          why files were not attached (more than MAX_FILES)
//   #drop-zone            shown over the room while files are dragged over it
// (The thread panel's box has its own, the same ids with "thread-" before
// them: #thread-attach-button, #thread-attachments, #thread-drop-zone…)
import { el } from "./dom.js";
import { humanSize } from "./files_view.js";
import { icon } from "./icons.js";

// The server's limit per message (docs/protocol.md, `files`: at most 10).
export const MAX_FILES = 10;
// Uploads on their way at once (the server takes 4 per worker, shared by everyone).
const UPLOADS_AT_ONCE = 2;
// A file the server was too busy for is tried this many times in all, waiting
// its Retry-After, else RETRY_BASE_MS doubled each time.
const UPLOAD_TRIES = 6;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;
// Shown inline (and with the image icon) only these, as the server serves them.
const INLINE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
// A pasted image's extension, by its type.
const EXTENSIONS = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

function two(n) {
  return String(n).padStart(2, "0");
}

// A clipboard image has no name of its own ("image.png"): name it after the
// moment, like "pasted image 2026-11-30 12.51.png".
export function pastedName(file, now = new Date()) {
  if (!file.type.startsWith("image/") || !/^(image\.\w+)?$/i.test(file.name)) return file;
  const ext = EXTENSIONS[file.type] ?? file.name.split(".").pop() ?? "png";
  const day = `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
  const name = `pasted image ${day} ${two(now.getHours())}.${two(now.getMinutes())}.${ext}`;
  return new File([file], name, { type: file.type, lastModified: file.lastModified });
}

// What the server said when it refused an upload ({"error":{"code","message"}}).
function refusalOf(xhr) {
  try {
    const body = JSON.parse(xhr.responseText);
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON: a proxy's page
  }
  return `the server answered ${xhr.status}`;
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types ?? [])].includes("Files");
}

export class Attachments {
  // form: the message form (the chips go at its top, the paperclip before its
  // textarea); dropTarget: where files may be dropped (the room); onChange():
  // the set of chips or their states changed. idPrefix: before each id above
  // (a second box on the page: the thread panel's, static/thread_panel.js).
  constructor({ form, dropTarget, onChange = () => {}, idPrefix = "" }) {
    this.form = form;
    this.onChange = onChange;
    // { li, name, size, state, xhr, blob (until sent), tries, timer, file (the server's JSON once done) }
    this.chips = [];
    this.list = el("ul", "attachments");
    this.list.id = `${idPrefix}attachments`;
    this.list.setAttribute("aria-label", "Files to send");
    this.list.hidden = true;
    this.note = el("p", "attach-note");
    this.note.id = `${idPrefix}attach-note`;
    this.note.setAttribute("role", "alert");
    this.note.hidden = true;
    form.prepend(this.list, this.note);

    this.input = el("input");
    this.input.type = "file";
    this.input.multiple = true;
    this.input.hidden = true;
    this.input.id = `${idPrefix}attach-input`;
    this.button = el("button", "attach-button ghost");
    this.button.append(icon("paperclip"));
    this.button.type = "button";
    this.button.id = `${idPrefix}attach-button`;
    this.button.title = "Attach files";
    this.button.setAttribute("aria-label", "Attach files");
    form.querySelector("textarea").before(this.button, this.input);
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = ""; // the same file can be chosen again
    });
    form.querySelector("textarea").addEventListener("paste", (event) => this.onPaste(event));
    this.list.addEventListener("click", (event) => {
      const remove = event.target.closest("button.chip-remove");
      if (remove) this.remove(this.chips.find((chip) => chip.li === remove.closest("li")));
    });
    if (dropTarget) this.acceptDrops(dropTarget, idPrefix);
  }

  get count() {
    return this.chips.length;
  }

  // Not finished yet: on its way, or waiting its turn.
  get uploading() {
    return this.chips.some((chip) => chip.state === "uploading" || chip.state === "waiting");
  }

  get failed() {
    return this.chips.some((chip) => chip.state === "error");
  }

  // The finished uploads, in order: the server's JSON of each.
  get files() {
    return this.chips.filter((chip) => chip.state === "done").map((chip) => chip.file);
  }

  // Nothing can be attached while the box is closed (logged out, removed).
  get closed() {
    return this.button.disabled;
  }

  // Attach and upload `files` (File objects), up to MAX_FILES in all.
  add(files) {
    if (this.closed || files.length === 0) return;
    const room = MAX_FILES - this.chips.length;
    const taken = files.slice(0, Math.max(0, room));
    const left = files.length - taken.length;
    this.say(left > 0
      ? `At most ${MAX_FILES} files per message: ${left === 1 ? "1 file was" : `${left} files were`} not attached. Send these first, then the rest.`
      : "");
    for (const file of taken) this.queue(file);
    this.pump();
    this.changed();
  }

  // Finished uploads back as chips (a refused send gives its files back).
  restore(files) {
    for (const file of files) {
      const chip = this.chip(file.name, file.size);
      this.finish(chip, file);
    }
    this.changed();
  }

  // The chips went with a message: forget them (their uploads are its files now).
  clear() {
    for (const chip of this.chips) {
      clearTimeout(chip.timer ?? undefined);
      chip.li.remove();
    }
    this.chips = [];
    this.say("");
    this.changed();
  }

  say(text) {
    this.note.textContent = text;
    this.note.hidden = text === "";
  }

  chip(name, size) {
    const li = el("li", "chip");
    const glyph = el("span", "chip-glyph");
    glyph.append(icon("file"));
    const label = el("span", "chip-name", name);
    label.title = name;
    const status = el("span", "chip-status");
    status.hidden = true;
    const progress = el("progress", "chip-progress");
    progress.max = Math.max(1, size);
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${name}`);
    const error = el("span", "chip-error");
    error.hidden = true;
    const remove = el("button", "chip-remove ghost", "×");
    remove.type = "button";
    li.append(glyph, label, el("span", "chip-size", humanSize(size)), status, progress, error, remove);
    const chip = { li, name, size, state: "uploading", xhr: null, blob: null, tries: 0, timer: null, file: null };
    this.show(chip, "uploading");
    this.chips.push(chip);
    this.list.append(li);
    return chip;
  }

  show(chip, state) {
    chip.state = state;
    chip.li.dataset.state = state;
    const remove = chip.li.querySelector(".chip-remove");
    const action = state === "uploading" || state === "waiting" ? "Cancel the upload of" : "Remove";
    remove.setAttribute("aria-label", `${action} ${chip.name}`);
    remove.title = `${action} ${chip.name}`;
  }

  // A chip that waits its turn (pump() starts it).
  queue(file) {
    const chip = this.chip(file.name, file.size);
    chip.blob = file;
    this.wait(chip, "waiting");
  }

  // The chip waits (its turn, or to try again): said in words, for everyone.
  wait(chip, why) {
    const status = chip.li.querySelector(".chip-status");
    status.textContent = why;
    status.hidden = false;
    chip.li.querySelector("progress").setAttribute("aria-label", `${chip.name}: ${why}`);
    this.show(chip, "waiting");
  }

  // Start the waiting chips whose turn it is, in order.
  pump() {
    let going = this.chips.filter((chip) => chip.state === "uploading" && chip.xhr).length;
    for (const chip of this.chips) {
      if (going >= UPLOADS_AT_ONCE) break;
      if (chip.state !== "waiting" || chip.timer !== null) continue;
      this.upload(chip);
      going += 1;
    }
  }

  upload(chip) {
    const file = chip.blob;
    chip.tries += 1;
    chip.li.querySelector(".chip-status").hidden = true;
    this.show(chip, "uploading");
    const xhr = new XMLHttpRequest();
    chip.xhr = xhr;
    const progress = chip.li.querySelector("progress");
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${chip.name}`);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        progress.max = Math.max(1, event.total);
        progress.value = event.loaded;
      }
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        let stored = null;
        try {
          stored = JSON.parse(xhr.responseText).file;
        } catch {
          // treated as a refusal below
        }
        if (stored?.id) this.finish(chip, stored);
        else this.fail(chip, "the server's answer could not be read");
      } else if (xhr.status === 429 && chip.tries < UPLOAD_TRIES) {
        this.retry(chip, xhr);
      } else this.fail(chip, refusalOf(xhr));
      this.pump();
      this.changed();
    });
    xhr.addEventListener("error", () => {
      this.fail(chip, "the upload was cut off (the network, or a file over the server's size limit)");
      this.pump();
      this.changed();
    });
    xhr.open("POST", `/api/files?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.send(file);
  }

  // Busy (429): wait what the server asked (Retry-After, in seconds), else a
  // backoff, then take a turn again.
  retry(chip, xhr) {
    chip.xhr = null;
    const asked = Number.parseInt(xhr.getResponseHeader("Retry-After") ?? "", 10);
    const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (chip.tries - 1));
    const delay = Number.isFinite(asked) && asked >= 0 ? Math.min(RETRY_MAX_MS, asked * 1000) : backoff;
    const seconds = Math.max(1, Math.round(delay / 1000));
    this.wait(chip, `server busy: trying again in ${seconds} s`);
    chip.timer = setTimeout(() => {
      chip.timer = null;
      if (!this.chips.includes(chip)) return;
      this.wait(chip, "waiting");
      this.pump();
      this.changed();
    }, delay);
  }

  finish(chip, file) {
    chip.file = file;
    chip.xhr = null;
    chip.blob = null;
    chip.li.querySelector(".chip-status").hidden = true;
    const progress = chip.li.querySelector("progress");
    progress.value = progress.max;
    progress.setAttribute("aria-label", `${chip.name} uploaded`);
    if (INLINE_IMAGES.has(file.type)) chip.li.querySelector(".chip-glyph").replaceChildren(icon("image"));
    this.show(chip, "done");
  }

  fail(chip, reason) {
    chip.xhr = null;
    chip.blob = null;
    chip.li.querySelector(".chip-status").hidden = true;
    const error = chip.li.querySelector(".chip-error");
    error.textContent = `Not uploaded: ${reason.replace(/[.\s]*$/, "")}.`;
    error.hidden = false;
    error.setAttribute("role", "alert");
    chip.li.querySelector("progress").hidden = true;
    this.show(chip, "error");
  }

  // × : an upload on its way is aborted; a finished one is deleted on the
  // server (DELETE /api/files/<id>), giving its bytes back to the quota (had
  // that failed, the server deletes unsent uploads after UPLOAD_UNSENT_HOURS).
  remove(chip) {
    if (!chip) return;
    chip.xhr?.abort();
    if (chip.state === "done" && chip.file?.id) {
      fetch(`/api/files/${encodeURIComponent(chip.file.id)}`, {
        method: "DELETE",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      }).catch(() => {});
    }
    clearTimeout(chip.timer ?? undefined);
    chip.timer = null;
    chip.blob = null;
    chip.li.remove();
    this.chips = this.chips.filter((other) => other !== chip);
    if (this.chips.length < MAX_FILES) this.say("");
    this.pump();
    this.changed();
    this.form.querySelector("textarea").focus();
  }

  changed() {
    this.list.hidden = this.chips.length === 0;
    this.onChange();
  }

  // A pasted image (a screenshot) is attached; pasted text stays text.
  onPaste(event) {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0 || this.closed) return;
    if (!event.clipboardData.types.includes("text/plain")) event.preventDefault();
    this.add(files.map((file) => pastedName(file)));
  }

  // Files dragged over the room: a drop zone says where they go; dropped, they
  // are attached. `depth` counts enter/leave pairs of the target's children.
  acceptDrops(target, idPrefix) {
    const zone = el("div", "drop-zone");
    zone.id = `${idPrefix}drop-zone`;
    zone.append(el("p", "", "Drop files to attach them to your message"));
    zone.hidden = true;
    target.append(zone);
    let depth = 0;
    const hide = () => {
      depth = 0;
      zone.hidden = true;
    };
    target.addEventListener("dragenter", (event) => {
      if (!hasFiles(event) || this.closed) return;
      event.preventDefault();
      depth += 1;
      zone.hidden = false;
    });
    target.addEventListener("dragover", (event) => {
      if (!hasFiles(event) || this.closed) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    target.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.hidden = true;
    });
    target.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      hide();
      this.add([...event.dataTransfer.files]);
      this.form.querySelector("textarea").focus();
    });
    window.addEventListener("dragend", hide);
    // Dropped anywhere else on the page, a file is not opened in place of the
    // page (the browser's default): nothing happens. Unless another box's
    // target took it (the thread panel's and the room's, side by side).
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => {
        if (!hasFiles(event) || event.defaultPrevented || target.contains(event.target)) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "none";
      });
    }
  }
}

// A message's files on the live room page (docs/files.md, "Read"): the
// `files` of its frame (live, caught up, or from a page of older messages),
// redrawn whole by a `chat_files` frame when a thumbnail has been made (or
// the worker could not make one).
//
// Each file's `state` says what the server has of it: "stored" (an image's
// thumbnail not made yet: the reserved box), "ready" (its thumbnail), or
// "failed" (an image the worker could not process: a row with a warning, a
// download link for the message's author only, who alone may download it).
// Older frames have no `state`: the thumbnail if there is one, else the box.
//
// An image (PNG, JPEG, GIF, WebP with its width and height) takes its scaled
// size at once, thumbnail or not, so nothing below it moves when the
// thumbnail arrives: the thumbnail is a button that opens the full image
// (static/lightbox.js); before it exists, a neutral box of the same size.
// Anything else is a row: a glyph, its name (a download link) and its size.
//
// Stable hooks for browser tests:
//   li.message > ul.files            the message's files, in order
//     li.file-image[data-id]         an image: button.file-thumb > img (alt: its name)
//                                    once its thumbnail exists, else .file-placeholder
//     li.file-row[data-id]           anything else: a.file-name (download), .file-size
//     li.file-row.file-failed[data-id]  state "failed": .file-name (a link for its
//                                    author only), .file-problem (why)
import { el } from "./dom.js";
import { icon } from "./icons.js";

// Shown inline only these, as the server serves them (chat/domain/media.py INLINE_TYPES).
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
// The box an image takes in a message: big enough to read a screenshot's
// gist, small enough that a few of them do not fill the screen.
const MAX_WIDTH = 400;
const MAX_HEIGHT = 300;

const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

// 48213 -> "47.1 KiB": binary multiples, named as the server's messages name
// them ("25 MiB").
export function humanSize(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  if (unit === 0) return bytes === 1 ? "1 byte" : `${numbers.format(bytes)} bytes`;
  return `${numbers.format(size)} ${units[unit]}`;
}

export function isImage(file) {
  return IMAGE_TYPES.has(file.type) && file.width > 0 && file.height > 0;
}

// The image's size in the message: within MAX_WIDTH x MAX_HEIGHT, its shape kept.
export function scaled(file) {
  const scale = Math.min(1, MAX_WIDTH / file.width, MAX_HEIGHT / file.height);
  return { width: Math.max(1, Math.round(file.width * scale)), height: Math.max(1, Math.round(file.height * scale)) };
}

// A URL the server made (a path on this site); anything else is not followed.
function local(url) {
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}

function imageItem(file) {
  const item = el("li", "file-image");
  item.dataset.id = file.id;
  const { width, height } = scaled(file);
  const thumb = file.state === "stored" ? null : local(file.thumb);
  if (thumb && local(file.url)) {
    const open = el("button", "file-thumb");
    open.type = "button";
    open.dataset.url = local(file.url);
    open.dataset.name = file.name;
    open.title = `${file.name} (${humanSize(file.size)}): open`;
    const img = el("img");
    img.alt = file.name;
    img.width = width;
    img.height = height;
    img.decoding = "async";
    img.src = thumb;
    // A thumbnail that cannot be fetched (gone meanwhile): the box, not a broken icon.
    img.addEventListener("error", () => open.replaceWith(placeholder(file, width, height)), { once: true });
    open.append(img);
    item.append(open);
  } else {
    item.append(placeholder(file, width, height));
  }
  return item;
}

// The reserved box: sized through the CSSOM (allowed by the page's CSP, unlike
// a style attribute), at most as wide as the message.
function placeholder(file, width, height) {
  const box = el("span", "file-placeholder");
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", `${file.name} (image, preparing its preview)`);
  box.style.width = `${width}px`;
  box.style.aspectRatio = `${width} / ${height}`;
  box.append(el("span", "file-placeholder-name", file.name));
  return box;
}

// An image the worker could not process: never a box waiting for a picture.
function failedItem(file, mine) {
  const item = el("li", "file-row file-failed");
  item.dataset.id = file.id;
  const glyph = el("span", "file-glyph");
  glyph.append(icon("alert"));
  const url = local(file.url);
  let name;
  if (mine && url) {
    name = el("a", "file-name", file.name);
    name.href = url;
    name.download = file.name;
  } else {
    name = el("span", "file-name", file.name);
  }
  const what = IMAGE_TYPES.has(file.type) ? "image" : "file";
  item.append(glyph, name, el("span", "file-problem", ` — this ${what} could not be processed`));
  return item;
}

function rowItem(file) {
  const item = el("li", "file-row");
  item.dataset.id = file.id;
  const glyph = el("span", "file-glyph");
  glyph.append(icon("file"));
  const name = el("a", "file-name", file.name);
  const url = local(file.url);
  if (url) name.href = url;
  name.download = file.name;
  item.append(glyph, name, " ", el("span", "file-size", humanSize(file.size)));
  return item;
}

function fileItem(file, mine) {
  if (file.state === "failed") return failedItem(file, mine);
  return isImage(file) ? imageItem(file) : rowItem(file);
}

// The list drawn for `files` (frames' file JSON, in order); null for none.
// `mine`: the reader wrote the message (a failed image stays theirs to download).
export function filesList(files, mine = false) {
  if (!Array.isArray(files) || files.length === 0) return null;
  const list = el("ul", "files");
  list.setAttribute("aria-label", files.length === 1 ? "Attached file" : `${files.length} attached files`);
  list.append(...files.map((file) => fileItem(file, mine)));
  return list;
}

// Show `files` in a message's item (replacing what it showed), right under its
// text; `me`: the reader's username (the page's data-me).
export function showFiles(li, files, me) {
  const list = filesList(files, me !== undefined && li.dataset.user === me);
  const shown = li.querySelector(":scope > ul.files");
  if (shown && list) shown.replaceWith(list);
  else if (shown) shown.remove();
  else if (list) li.querySelector(":scope > .content")?.after(list);
}

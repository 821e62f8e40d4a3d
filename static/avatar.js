// Avatars: a person's picture if they uploaded one (docs/files.md "Avatars"),
// else their initials on a colour of their own, the same on every page and
// after every reload.
//
//   import { avatar } from "./avatar.js";
//   item.prepend(avatar("mikasa"));   // <span class="avatar" data-colour="7" aria-hidden="true">M</span>
//   avatar("levi.ackerman", "avatar small");   // "LA"; any class, e.g. for the people panel
//   avatar("alice", "avatar", "Alice Liddell");   // "AL": initials of the name shown
//
// The colours are static/messages.css's .avatar[data-colour="0".."11"], each
// dark enough for white initials to pass WCAG AA (4.5:1). Which one a person
// gets is a hash of their lower-cased username (usernames are ASCII letters,
// digits, "_", "." and "-": chat/domain/users.py); templates/history.html's
// `avatar` macro computes the same hash, so the history pages match.
// The avatar is decorative (aria-hidden): the name is always written beside it.
//
// Pictures: static/names.js tells this module whose pictures exist
// (setPicture, from the members the server lists, `avatar`: a URL or null);
// avatar() then draws the picture on the person's colour, and falls back to
// the initials if it does not load.

// How many colours static/messages.css defines.
export const AVATAR_COLOURS = 12;
// A username's characters, in the order the hash numbers them (from 1; anything else is 0).
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_.-";
// The hash stays below this prime, so it is exact in JavaScript's and Jinja's numbers alike.
const HASH_MODULUS = 1000003;

// Which of the AVATAR_COLOURS is this person's.
export function colourIndex(username) {
  let hash = 0;
  for (const ch of username.toLowerCase()) hash = (hash * 31 + ALPHABET.indexOf(ch) + 1) % HASH_MODULUS;
  return hash % AVATAR_COLOURS;
}

// One or two letters: the first of each of the first two parts of the name
// shown (a display name, else the username; parts are split by white space,
// "_", "." and "-": "Alice Liddell" and "levi.ackerman" are "AL" and "LA"),
// else the first of its one part ("_q" is "Q"), else its first character
// ("__" is "_"). Characters, not UTF-16 units: "Ωmega Émile" is "ΩÉ".
export function initials(name) {
  const first = (text) => Array.from(text)[0] ?? "";
  const parts = name.split(/[\s_.-]+/).filter(Boolean);
  const letters = parts.length > 1 ? first(parts[0]) + first(parts[1]) : first(parts[0] ?? name);
  return letters.toUpperCase();
}

// username -> the URL of their picture (absent: none known).
const pictures = new Map();

// `username`'s picture is at `url` (null: they have none).
export function setPicture(username, url) {
  if (url) pictures.set(username, url);
  else pictures.delete(username);
}

export function pictureOf(username) {
  return pictures.get(username) ?? null;
}

// The colour is the username's (it stays when the display name changes); the
// letters are the name's; the picture, if any, covers them.
export function avatar(username, className = "avatar", name = username) {
  const node = document.createElement("span");
  node.className = className;
  node.dataset.colour = String(colourIndex(username));
  node.setAttribute("aria-hidden", "true");
  const url = pictureOf(username);
  if (url) {
    node.classList.add("picture");
    const img = document.createElement("img");
    img.alt = "";
    img.src = url;
    img.addEventListener("error", () => {
      node.classList.remove("picture");
      node.textContent = initials(name);
    }, { once: true });
    node.append(img);
  } else {
    node.textContent = initials(name);
  }
  return node;
}

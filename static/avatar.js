// Avatars: a person's initials on a colour of their own, the same on every
// page and after every reload (until uploaded pictures exist).
//
//   import { avatar } from "./avatar.js";
//   item.prepend(avatar("mikasa"));   // <span class="avatar" data-colour="7" aria-hidden="true">M</span>
//   avatar("levi.ackerman", "avatar small");   // "LA"; any class, e.g. for the people panel
//
// The colours are static/messages.css's .avatar[data-colour="0".."11"], each
// dark enough for white initials to pass WCAG AA (4.5:1). Which one a person
// gets is a hash of their lower-cased username (usernames are ASCII letters,
// digits, "_", "." and "-": chat/domain/users.py); templates/history.html's
// `avatar` macro computes the same hash, so the history pages match.
// The avatar is decorative (aria-hidden): the name is always written beside it.

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
// ("levi.ackerman", "levi_ackerman" and "levi-ackerman" are "LA"), else the
// first of its one part ("_q" is "Q"), else its first character ("__" is "_").
export function initials(username) {
  const parts = username.split(/[_.-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] ?? username).slice(0, 1);
  return letters.toUpperCase();
}

export function avatar(username, className = "avatar") {
  const node = document.createElement("span");
  node.className = className;
  node.dataset.colour = String(colourIndex(username));
  node.setAttribute("aria-hidden", "true");
  node.textContent = initials(username);
  return node;
}

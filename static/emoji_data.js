// The emoji the server knows, with their shortcodes (GET /emoji.json: the `emoji`
// package's data, chat/domain/shortcodes.py), for the `:name` completion and the
// picker; and the ones this browser used last.
//
// The list is fetched once per page, when first needed, and cached by the
// browser (the server sends it with a long Cache-Control and an ETag).

const RECENT_KEY = "chat:emoji:recent";
// As many as fill the picker's first row or two: the ones a person reaches for.
const RECENT_MAX = 16;

let loading = null;

// [{ emoji, names: ["smile", "grinning_face_with_smiling_eyes"] }, ...] in the
// picker's order; the first name is the one people type (an alias where there is one).
export function loadEmoji() {
  loading ??= fetch("/emoji.json", { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`emoji list: ${response.status}`);
      return response.json();
    })
    .then((data) => data.emoji.map(([emoji, ...names]) => ({ emoji, names })))
    .catch((error) => {
      loading = null; // a later try may work
      throw error;
    });
  return loading;
}

// How well `name` matches `query` (both lower case, "_" between words): 0 the
// name itself, 1 its start, 2 the start of one of its words, 3 anywhere; -1 not.
function score(name, query) {
  if (name === query) return 0;
  if (name.startsWith(query)) return 1;
  if (name.includes(`_${query}`)) return 2;
  return name.includes(query) ? 3 : -1;
}

// The emoji whose names match `query` (spaces count as "_"), best first, at most `limit`.
export function searchEmoji(list, query, limit = Infinity) {
  const wanted = query.trim().toLowerCase().replace(/[\s:]+/g, "_");
  if (wanted === "") return list.slice(0, limit);
  const found = [];
  list.forEach((entry, index) => {
    let best = -1;
    let name = "";
    for (const candidate of entry.names) {
      const s = score(candidate, wanted);
      if (s >= 0 && (best < 0 || s < best)) {
        best = s;
        name = candidate;
      }
    }
    if (best >= 0) found.push({ ...entry, name, rank: best, index });
  });
  // Best match first; among as good ones the shorter name (":sm" offers smile
  // before smiling_face_with_halo), then the picker's order.
  found.sort((a, b) => a.rank - b.rank || a.name.length - b.name.length || a.index - b.index);
  return found.slice(0, limit);
}

// The emoji this browser picked last, newest first.
export function recentEmoji() {
  try {
    const stored = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(stored) ? stored.filter((e) => typeof e === "string") : [];
  } catch {
    return [];
  }
}

export function noteEmojiUsed(emoji) {
  const recent = [emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
  } catch {
    // Storage full or disabled: the picker just has no "recent" row.
  }
}

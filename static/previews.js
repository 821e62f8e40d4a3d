// Link preview cards on the live room page (docs/files.md, "Link previews"):
// a message's `preview` (caught up, or from a page of older messages) and the
// `link_preview` frames that add one, or take it away ("preview": null).
//
// The card shows the site's name, the title as a link to the page (a new tab,
// no opener, no referrer) and up to three lines of its description. No picture:
// the page's CSP allows images from this site only (img-src 'self' data:,
// chat/web/headers.py), and the preview's `image` is on the linked site.
// The message's author has a "Remove preview" button (DELETE .../preview):
// the frame that follows takes the card away for everyone.
//
// Stable hooks for browser tests:
//   li.message > .preview-card       the card: .preview-site, a.preview-title,
//                                    .preview-description, button.preview-remove (author)
//   .preview-card .preview-note      why a removal failed (role=alert)
import { el } from "./dom.js";

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

// Only web pages are linked; a card with another scheme shows its text unlinked.
function webUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function card(preview, { mine, onRemove }) {
  const box = el("div", "preview-card");
  box.dataset.url = preview.url; // the link it is about (followEdit)
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "Link preview");
  const url = webUrl(preview.url);
  const site = preview.site_name || (url ? new URL(url).hostname : "");
  if (site) box.append(el("p", "preview-site", site));
  const title = el(url ? "a" : "p", "preview-title", preview.title || preview.url);
  if (url) {
    title.href = url;
    title.target = "_blank";
    title.rel = "noopener noreferrer";
  }
  box.append(title);
  if (preview.description) box.append(el("p", "preview-description", preview.description));
  if (mine) {
    const remove = el("button", "preview-remove ghost", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", "Remove preview");
    remove.title = "Remove preview";
    remove.addEventListener("click", () => onRemove(box, remove));
    box.append(remove);
  }
  return box;
}

export class Previews {
  // room, me: names; the page's MessageEvents (static/message_events.js) routes
  // link_preview frames here, parked while their message is on its way.
  constructor({ room, me }) {
    this.room = room;
    this.me = me;
  }

  // Show `preview` (a frame's, or null for none) under a message's text and files.
  show(li, preview) {
    const shown = li.querySelector(":scope > .preview-card");
    if (!preview || li.classList.contains("deleted")) {
      shown?.remove();
      return;
    }
    const seq = Number(li.dataset.seq);
    const next = card(preview, { mine: li.dataset.user === this.me, onRemove: (box, button) => this.remove(seq, box, button) });
    if (shown) shown.replaceWith(next);
    else (li.querySelector(":scope > ul.files") ?? li.querySelector(":scope > .content"))?.after(next);
  }

  // The message was edited: a card whose link is no longer the message's first
  // http(s) link goes (the server's rule, chat/actions/events.py edit_message:
  // it dropped the preview too, and queued one for the new link).
  followEdit(li) {
    const shown = li.querySelector(":scope > .preview-card");
    if (!shown) return;
    const first = [...li.querySelectorAll(":scope > .content a[href]")]
      .map((a) => a.getAttribute("href"))
      .find((href) => /^https?:\/\//i.test(href));
    if (first !== shown.dataset.url) shown.remove();
  }

  async remove(seq, box, button) {
    button.disabled = true;
    let reason = null;
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(this.room)}/messages/${seq}/preview`, {
        method: "DELETE",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      });
      if (response.ok || response.status === 404) {
        box.remove(); // the frame that follows says the same to every tab
        return;
      }
      const body = await response.json().catch(() => ({}));
      reason = body.error?.message ?? `the server answered ${response.status}`;
    } catch {
      reason = "the server could not be reached";
    }
    button.disabled = false;
    let note = box.querySelector(".preview-note");
    if (!note) {
      note = el("p", "preview-note");
      note.setAttribute("role", "alert");
      box.append(note);
    }
    note.textContent = `Not removed: ${reason}.`;
  }
}

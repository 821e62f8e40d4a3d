// Drawers on phones (static/style.css, "phones"): the rooms sidebar and the people
// panel of the room page open over the chat from buttons in the room header.
//
// Below PHONE_QUERY the panels sit off screen (visibility: hidden, so neither a
// tab nor a screen reader reaches them) until their button opens one. An open
// drawer is modal: the rest of the page is inert, Esc, a tap outside it or its ✕
// closes it, and focus goes into it and back to its button. Wider screens show
// the panels in the page, and the buttons are not shown.
//
// Stable hooks for browser tests:
//   #rooms-toggle, #people-toggle   the buttons (aria-expanded, aria-controls)
//   #rooms-drawer.open, #people-drawer.open   an open drawer
//   .drawer-close                   the ✕ in each drawer
//   .drawer-backdrop                the shade over the chat; a tap on it closes
import { el } from "./dom.js";

// The width below which the panels become drawers; the same as style.css's phone query.
const PHONE_QUERY = "(max-width: 760px)";

export class Drawers {
  constructor(layout) {
    this.layout = layout;
    this.phone = window.matchMedia(PHONE_QUERY);
    this.backdrop = el("div", "drawer-backdrop");
    this.backdrop.hidden = true;
    layout.append(this.backdrop);
    this.open = null; // the open drawer's button
    for (const button of document.querySelectorAll("button.drawer-toggle[aria-controls]")) this.enable(button);
    this.backdrop.addEventListener("click", () => this.close());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.open && !event.defaultPrevented) this.close();
    });
    this.phone.addEventListener("change", () => this.close({ refocus: false }));
  }

  // The button shows (it is hidden without this script) and its drawer gets a ✕.
  enable(button) {
    const close = el("button", "drawer-close ghost", "✕");
    close.type = "button";
    close.setAttribute("aria-label", `Close ${button.dataset.name}`);
    close.addEventListener("click", () => this.close());
    this.panelOf(button).prepend(close);
    button.addEventListener("click", () => (this.open === button ? this.close() : this.show(button)));
    button.hidden = false;
  }

  panelOf(button) {
    return document.getElementById(button.getAttribute("aria-controls"));
  }

  show(button) {
    this.close({ refocus: false });
    const panel = this.panelOf(button);
    this.open = button;
    panel.classList.add("open");
    button.setAttribute("aria-expanded", "true");
    this.backdrop.hidden = false;
    // Everything but this drawer is out of reach while it is open.
    for (const node of this.outside(panel)) node.inert = true;
    panel.querySelector(".drawer-close").focus();
  }

  close({ refocus = true } = {}) {
    const button = this.open;
    if (!button) return;
    this.open = null;
    this.panelOf(button).classList.remove("open");
    button.setAttribute("aria-expanded", "false");
    this.backdrop.hidden = true;
    for (const node of document.querySelectorAll("[data-drawer-inert]")) {
      node.inert = false;
      delete node.dataset.drawerInert;
    }
    if (refocus) button.focus();
  }

  // Everything beside the panel and its ancestors, up to <body>: the header, the
  // chat, the other drawer (not the backdrop, which closes it).
  outside(panel) {
    const nodes = [];
    for (let node = panel; node !== document.body; node = node.parentElement) {
      for (const sibling of node.parentElement.children) {
        if (sibling === node || sibling === this.backdrop || sibling.inert || sibling.tagName === "SCRIPT") continue;
        sibling.dataset.drawerInert = "";
        nodes.push(sibling);
      }
    }
    return nodes;
  }
}

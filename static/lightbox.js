// The full image of a thumbnail (static/files_view.js), in a modal <dialog>:
// the browser keeps the focus inside it and closes it on Esc; the × button and
// a click on the backdrop close it too, and the focus goes back to the thumbnail.
// It fits the viewport (files.css): the whole screen on a phone.
//
// Stable hooks for browser tests:
//   dialog#lightbox[open]   img (alt: the file's name), a.lightbox-download
//                           (its URL, downloaded), button.lightbox-close
import { el } from "./dom.js";

export class Lightbox {
  // list: where the thumbnails are (#messages): their clicks open this.
  constructor(list) {
    this.dialog = el("dialog", "lightbox");
    this.dialog.id = "lightbox";
    this.dialog.setAttribute("aria-labelledby", "lightbox-title");
    const bar = el("div", "lightbox-bar");
    this.title = el("h2", "lightbox-title");
    this.title.id = "lightbox-title";
    this.download = el("a", "lightbox-download", "Download");
    this.close = el("button", "lightbox-close ghost", "×");
    this.close.type = "button";
    this.close.setAttribute("aria-label", "Close");
    this.close.title = "Close (Esc)";
    bar.append(this.title, this.download, this.close);
    this.image = el("img", "lightbox-image");
    const frame = el("div", "lightbox-frame");
    frame.append(this.image);
    this.dialog.append(bar, frame);
    document.body.append(this.dialog);
    this.opener = null;

    this.close.addEventListener("click", () => this.dialog.close());
    // A click outside the picture and the bar (the backdrop, the frame's margins) closes it.
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog || event.target === frame) this.dialog.close();
    });
    this.dialog.addEventListener("close", () => {
      this.image.removeAttribute("src"); // a large image is not kept decoded
      if (this.opener?.isConnected) this.opener.focus();
      this.opener = null;
    });
    this.watch(list);
  }

  // Thumbnails in `list` too (the thread panel's) open here.
  watch(list) {
    list.addEventListener("click", (event) => {
      const thumb = event.target.closest("button.file-thumb");
      if (thumb) this.open(thumb);
    });
  }

  // Show the image behind a thumbnail button (data-url, data-name).
  open(thumb) {
    const { url, name } = thumb.dataset;
    this.opener = thumb;
    this.title.textContent = name;
    this.image.alt = name;
    this.image.src = url;
    this.download.href = url;
    this.download.download = name;
    this.download.setAttribute("aria-label", `Download ${name}`);
    this.dialog.showModal();
    this.close.focus();
  }
}

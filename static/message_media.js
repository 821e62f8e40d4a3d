// What a message carries besides its text: its files (static/files_view.js,
// opened in static/lightbox.js) and its link preview (static/previews.js).
// static/message_events.js draws them with the rest of a message's state
// (`decorate`) and routes their frames here (`apply`), parking those for a
// message not shown yet like its edits; a deleted message shows neither.
import { showFiles } from "./files_view.js";
import { Lightbox } from "./lightbox.js";
import { Previews } from "./previews.js";

// Within this many pixels of the end counts as reading the end (static/room.js's own).
const BOTTOM_SLACK_PX = 24;

export class MessageMedia {
  // lightbox: one to share (the thread panel's list uses the room's), else a new one.
  constructor({ list, room, me, lightbox = null }) {
    this.list = list;
    this.me = me;
    this.previews = new Previews({ room, me });
    this.lightbox = lightbox ?? new Lightbox(list);
    if (lightbox) lightbox.watch(list);
  }

  // The frames about a message's files and preview (docs/protocol.md).
  get types() {
    return ["chat_files", "link_preview"];
  }

  // A message drawn from a frame: a whole one (live, caught up, older pages)
  // says what it has; an ack's bare one leaves what the item shows.
  decorate(li, frame) {
    if (frame.content === undefined) return;
    showFiles(li, frame.files, this.me);
    this.previews.show(li, frame.preview);
  }

  // A message's text changed (chat_edit): its card may no longer apply.
  edited(li) {
    this.previews.followEdit(li);
  }

  // A card (or a file row) that arrives under the last message while the reader
  // is at the end keeps the end in view.
  apply(li, frame) {
    const { list } = this;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight <= BOTTOM_SLACK_PX;
    if (frame.type === "chat_files") showFiles(li, frame.files, this.me);
    else if (frame.type === "link_preview") this.previews.show(li, frame.preview);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}

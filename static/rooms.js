// The rooms list page: one socket following every listed room from its
// current last seq, so unread and mention badges (.badge[data-room],
// .mentions[data-room]) update live. #status shows the connection state.
import { ChatSocket } from "./socket.js";
import { showStatus, socketOptions } from "./status.js";
import { UnreadBadges } from "./unread.js";
import { followPresence } from "./people.js";

const page = document.getElementById("rooms-page");
const status = document.getElementById("status");
const socket = new ChatSocket(socketOptions(page.dataset));
socket.on("status", (state) => showStatus(status, state));
showStatus(status, "connecting");
new UnreadBadges(socket, { me: page.dataset.me });
followPresence(socket);
socket.connect();

// One WebSocket per tab to the multiplexed /ws endpoint (docs/protocol.md).
//
// ChatSocket follows any number of rooms over that one connection. It keeps,
// per room, the highest seq it has passed on, so that after a dropped
// connection it reconnects (exponential backoff with jitter) and re-joins
// every room with `after` = that seq: nothing is missed and, because chat
// frames and events (chat_edit, chat_delete, reaction, chat_files,
// link_preview) at or below that seq are dropped here, nothing is shown twice.
//
//   const socket = new ChatSocket({ primary: "general" });
//   socket.follow("general", null);          // null: the last 50, then live
//   socket.follow("random", 120);            // only what comes after seq 120
//   socket.unfollow("random");
//   socket.on("chat", (frame) => …);         // any frame type, or:
//   socket.on("status", (state) => …);       // "connecting" | "live" | "reconnecting" | "signed-out"
//                                            // (signed-out is final: nothing is sent any more)
//   socket.on("open" | "close", () => …);
//   socket.send({ type: "typing", room });   // fire and forget; false when not open
//   socket.request({ type: "chat", room, content, client_id });  // until answered
//
// A request (a frame with a client_id: chat, edit, delete, react) is kept in
// one ordered queue until the server answers it: an `ack`, a `notice` or an
// `error` with its client_id, or a stored frame carrying that client_id (a
// catch-up can show that a send was stored though its ack was lost). It goes
// out once its room is ready; after a reconnect, every unanswered request,
// written to the old socket or made while there was none, goes out again
// after the rejoin's catch-up, oldest first, with its original client_id
// (the server makes that idempotent: the original ack, nothing stored twice).
// So a disconnect never fails a send, and never reorders sends.

// First retry comes quickly: most drops are a server restart or a network blip.
const BACKOFF_FIRST_MS = 500;
// Doubling stops here, so a long outage is still retried about every 15 s.
const BACKOFF_MAX_MS = 15000;
// After this many attempts in a row that never opened, ask the JSON API
// whether the session is still valid (a WebSocket refusal has no status code).
const FAILED_OPENS_BEFORE_AUTH_CHECK = 2;
// A refused join (rate_limited) is tried again after this long.
const JOIN_RETRY_MS = 1500;
// Frames of stored rows: each has the room's next seq, and a resume skips those seen.
const STORED_TYPES = new Set([
  "chat", "chat_edit", "chat_delete", "reaction", "member", "room_renamed", "chat_files", "link_preview",
]);
// Frames that answer a request by its client_id.
const ANSWER_TYPES = new Set(["ack", "notice", "error"]);
// A request written to an open socket and unanswered for this long means the
// socket is dead though the browser has not noticed (a half-open TCP
// connection): drop it, reconnect, resend. Longer than the server's own worst
// case before it answers `unavailable` (a 5 s pool wait after a 10 s database
// TCP timeout), so a slow database is not mistaken for a dead socket.
const ANSWER_TIMEOUT_MS = 20000;
// The close code for a frame over the server's WS_MAX_FRAME_BYTES: sending the
// same frame again would only close the next socket too.
const CLOSE_TOO_BIG = 1009;
// The close code of a revoked credential (a logout of this session elsewhere, a
// password change, a disabled account: chat/realtime/closes.py "revoked"), and
// of a few other policy closes (a missed ping). Which one it was is asked of the
// JSON API before reconnecting: a reconnect with a dead session would only be
// refused, and the page would keep showing its sends as on their way.
const CLOSE_POLICY = 1008;

export class ChatSocket {
  // maxRooms, ratePerSec and burst mirror the server's MAX_ROOMS_PER_CONNECTION,
  // RATE_LIMIT_PER_SEC and RATE_LIMIT_BURST: staying under them means joins for
  // a long room list are paced instead of refused.
  constructor({ primary = null, maxRooms = 100, ratePerSec = 20, burst = 60 } = {}) {
    this.primary = primary;
    this.maxRooms = maxRooms;
    this.rooms = new Map(); // name -> { seq: number|null, ready: boolean, joined: boolean }
    this.listeners = new Map();
    this.ws = null;
    this.state = "connecting";
    this.everLive = false;
    this.delay = BACKOFF_FIRST_MS;
    this.failedOpens = 0;
    this.timer = null;
    // Client-side token bucket, a little under the server's so that clock
    // skew between the two buckets never trips the server's.
    this.rate = ratePerSec > 0 ? ratePerSec * 0.8 : 0;
    this.burst = Math.max(1, Math.floor(burst / 2));
    this.tokens = this.burst;
    this.refilledAt = performance.now();
    this.outbox = []; // { text, request } waiting for the token bucket
    this.drainTimer = null;
    this.requests = new Map(); // client_id -> { frame, ws, sentAt }, oldest first
    this.lastWritten = null; // the request written last, the suspect of a 1009
    this.watchdog = null;

    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return this;
  }

  emit(type, value) {
    for (const fn of this.listeners.get(type) ?? []) fn(value);
  }

  // Follow a room; `after` null means "send me the recent backlog".
  follow(name, after) {
    if (this.rooms.has(name)) return;
    this.rooms.set(name, { seq: after, ready: false, joined: false });
    if (this.isOpen()) this.joinAll();
  }

  // Stop following a room (it left the sidebar); nothing more of it arrives.
  unfollow(name) {
    const room = this.rooms.get(name);
    if (!room) return;
    this.rooms.delete(name);
    if (room.joined && this.isOpen()) this.send({ type: "leave", room: name });
  }

  // A followed room has a new name: frames from now on carry it, and the
  // requests waiting for it are answered under it (the server knows both).
  renamed(previous, name) {
    const room = this.rooms.get(previous);
    if (!room || previous === name || this.rooms.has(name)) return;
    this.rooms.delete(previous);
    this.rooms.set(name, room);
    if (this.primary === previous) this.primary = name;
    for (const request of this.requests.values()) {
      if (request.frame.room === previous) request.frame.room = name;
    }
  }

  seqOf(name) {
    return this.rooms.get(name)?.seq ?? null;
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  isReady(name) {
    return this.isOpen() && Boolean(this.rooms.get(name)?.ready);
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.state === "signed-out") return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    let opened = false;
    this.setState(this.everLive ? "reconnecting" : "connecting");
    ws.addEventListener("open", () => {
      opened = true;
      this.failedOpens = 0;
      this.tokens = this.burst;
      this.outbox = [];
      clearTimeout(this.drainTimer);
      this.drainTimer = null;
      for (const room of this.rooms.values()) Object.assign(room, { ready: false, joined: false });
      this.joinAll();
      this.emit("open");
      if (this.primary === null) this.setState("live");
    });
    ws.addEventListener("message", (event) => {
      if (this.ws === ws) this.receive(event.data); // not from a socket given up on
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      if (event.code === CLOSE_TOO_BIG) this.refuseTooBig(ws);
      this.lost(opened, event.code === CLOSE_POLICY);
    });
  }

  // The socket closed, or was given up as dead: reconnect with backoff.
  // Unanswered requests stay queued for the next socket. `policy`: a 1008
  // close, maybe a logout: the session is checked first, then (still valid)
  // the socket reconnects.
  lost(opened, policy = false) {
    this.ws = null;
    clearTimeout(this.watchdog);
    this.watchdog = null;
    for (const room of this.rooms.values()) Object.assign(room, { ready: false, joined: false });
    this.emit("close");
    if (this.state === "signed-out") return;
    if (!opened) this.failedOpens += 1;
    this.setState(this.everLive || opened ? "reconnecting" : "connecting");
    if (policy) {
      this.checkSession().then((valid) => valid && this.scheduleReconnect());
      return;
    }
    if (this.failedOpens >= FAILED_OPENS_BEFORE_AUTH_CHECK) this.checkSession();
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.state === "signed-out") return;
    // "Equal jitter": half the delay fixed, half random, so a server restart
    // is not met by every tab reconnecting in the same instant.
    const wait = this.delay / 2 + Math.random() * (this.delay / 2);
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX_MS);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  // The network came back or the tab was shown again: skip the wait.
  reconnectNow() {
    if (this.ws === null && this.timer !== null && this.state !== "signed-out") {
      this.delay = BACKOFF_FIRST_MS;
      this.connect();
    }
  }

  // Whether the login session still holds (false: now "signed-out", for good).
  async checkSession() {
    try {
      const response = await fetch("/api/rooms", { credentials: "same-origin" });
      if (response.status === 401) {
        clearTimeout(this.timer);
        this.timer = null;
        clearTimeout(this.drainTimer);
        this.drainTimer = null;
        this.outbox = [];
        this.setState("signed-out");
        return false;
      }
    } catch {
      // Offline: keep retrying the socket.
    }
    return true;
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    if (state === "live") {
      this.everLive = true;
      this.delay = BACKOFF_FIRST_MS;
    }
    this.emit("status", state);
  }

  // Join every followed room not yet joined, the primary one first, up to maxRooms.
  joinAll() {
    const names = [...this.rooms.keys()];
    if (this.primary !== null && this.rooms.has(this.primary)) {
      names.splice(names.indexOf(this.primary), 1);
      names.unshift(this.primary);
    }
    names.slice(0, this.maxRooms).forEach((name) => this.join(name));
  }

  join(name) {
    const room = this.rooms.get(name);
    if (!room || room.joined) return;
    room.joined = true;
    const frame = { type: "join", room: name };
    if (room.seq !== null) frame.after = room.seq;
    // Rooms other than the open one are only watched for their badges: the
    // user is not "in" them (no presence there, no membership made).
    if (name !== this.primary) frame.watch = true;
    this.send(frame);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "room_renamed") this.renamed(frame.previous, frame.room);
    const room = frame.room === undefined ? undefined : this.rooms.get(frame.room);
    if (frame.client_id !== undefined && (ANSWER_TYPES.has(frame.type) || STORED_TYPES.has(frame.type))) {
      this.answered(frame.client_id, frame.room);
    }
    if (STORED_TYPES.has(frame.type)) {
      if (!room) return;
      if (room.seq !== null && frame.seq <= room.seq) return; // seen already
      room.seq = frame.seq;
    } else if (frame.type === "ready") {
      if (!room) return;
      room.ready = true;
      room.seq = Math.max(room.seq ?? 0, frame.last_seq);
      if (frame.room === this.primary) this.setState("live");
      this.flush(frame.room);
    } else if (frame.type === "error" && room && !frame.client_id) {
      this.joinRefused(frame, room);
    }
    this.emit(frame.type, frame);
  }

  // An error about a room that is not a send is about its join (or a typing/read).
  joinRefused(frame, room) {
    if (room.ready) return;
    if (frame.code === "rate_limited") {
      room.joined = false;
      setTimeout(() => this.isOpen() && this.join(frame.room), JOIN_RETRY_MS);
    } else if (frame.code === "not_found" || frame.code === "too_many_rooms") {
      this.rooms.delete(frame.room); // gone, no longer visible, or over the limit: stop following
    }
  }

  // Queue a frame through the token bucket; false when there is no open socket.
  send(frame) {
    if (!this.isOpen()) return false;
    this.outbox.push({ text: JSON.stringify(frame), request: null });
    this.drain();
    return true;
  }

  // Queue a frame with a client_id until the server answers it (see the top).
  // Asking again with the same client_id (a Retry) moves it to the end.
  request(frame) {
    this.requests.delete(frame.client_id);
    this.requests.set(frame.client_id, { frame, ws: null, sentAt: 0 });
    this.flush(frame.room);
  }

  answered(clientId, roomName) {
    const request = this.requests.get(clientId);
    if (request && (roomName === undefined || request.frame.room === roomName)) {
      this.requests.delete(clientId);
    }
  }

  // Send, in order, the room's requests not yet written to this socket, once
  // the room is ready: after its catch-up, which may have answered some.
  flush(name) {
    if (!this.isReady(name)) return;
    for (const request of this.requests.values()) {
      if (request.frame.room !== name || request.ws === this.ws) continue;
      request.ws = this.ws;
      this.outbox.push({ text: JSON.stringify(request.frame), request });
    }
    this.drain();
  }

  // The server closed the socket over a frame too big: the last request
  // written is refused as the server would refuse a long text, not resent.
  refuseTooBig(ws) {
    const request = this.lastWritten;
    if (request === null || request.ws !== ws || !this.requests.has(request.frame.client_id)) return;
    this.requests.delete(request.frame.client_id);
    const { client_id: clientId, room } = request.frame;
    const message = "the message is too large to send";
    this.emit("error", { type: "error", code: "too_large", message, client_id: clientId, room });
  }

  // Give up on a socket that has left a request unanswered too long.
  watch() {
    clearTimeout(this.watchdog);
    this.watchdog = null;
    let oldest = Infinity;
    for (const request of this.requests.values()) {
      if (request.ws === this.ws && request.sentAt > 0) oldest = Math.min(oldest, request.sentAt);
    }
    if (oldest === Infinity || this.ws === null) return;
    const wait = oldest + ANSWER_TIMEOUT_MS - performance.now();
    if (wait > 0) {
      this.watchdog = setTimeout(() => this.watch(), wait);
      return;
    }
    const ws = this.ws;
    this.lost(true);
    ws.close();
  }

  drain() {
    if (this.drainTimer !== null) return;
    while (this.outbox.length > 0 && this.isOpen()) {
      const { request } = this.outbox[0];
      // Answered (or asked again) while it waited here: not this copy.
      if (request !== null && this.requests.get(request.frame.client_id) !== request) {
        this.outbox.shift();
        continue;
      }
      if (this.rate > 0) {
        const now = performance.now();
        this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
        this.refilledAt = now;
        if (this.tokens < 1) {
          const wait = ((1 - this.tokens) / this.rate) * 1000;
          this.drainTimer = setTimeout(() => {
            this.drainTimer = null;
            this.drain();
          }, wait);
          return;
        }
        this.tokens -= 1;
      }
      this.ws.send(this.outbox.shift().text);
      if (request !== null) {
        request.sentAt = performance.now();
        this.lastWritten = request;
        if (this.watchdog === null) this.watch();
      }
    }
  }
}

// A client_id for an idempotent send. randomUUID needs a secure context,
// and plain http on a LAN address is not one.
export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

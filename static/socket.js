// One WebSocket per tab to the multiplexed /ws endpoint (docs/protocol.md).
//
// ChatSocket follows any number of rooms over that one connection. It keeps,
// per room, the highest seq it has passed on, so that after a dropped
// connection it reconnects (exponential backoff with jitter) and re-joins
// every room with `after` = that seq: nothing is missed and, because chat
// frames and events (chat_edit, chat_delete, reaction) at or below that seq
// are dropped here, nothing is shown twice.
//
//   const socket = new ChatSocket({ primary: "general" });
//   socket.follow("general", null);          // null: the last 50, then live
//   socket.follow("random", 120);            // only what comes after seq 120
//   socket.on("chat", (frame) => …);         // any frame type, or:
//   socket.on("status", (state) => …);       // "connecting" | "live" | "reconnecting" | "signed-out"
//   socket.on("open" | "close", () => …);
//   socket.send({ type: "chat", room, content, client_id });  // false when not open

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
const STORED_TYPES = new Set(["chat", "chat_edit", "chat_delete", "reaction"]);

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
    this.outbox = [];
    this.drainTimer = null;

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
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const room of this.rooms.values()) Object.assign(room, { ready: false, joined: false });
      this.emit("close");
      if (!opened) this.failedOpens += 1;
      this.setState(this.everLive || opened ? "reconnecting" : "connecting");
      if (this.failedOpens >= FAILED_OPENS_BEFORE_AUTH_CHECK) this.checkSession();
      this.scheduleReconnect();
    });
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

  async checkSession() {
    try {
      const response = await fetch("/api/rooms", { credentials: "same-origin" });
      if (response.status === 401) {
        clearTimeout(this.timer);
        this.setState("signed-out");
      }
    } catch {
      // Offline: keep retrying the socket.
    }
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
    const room = frame.room === undefined ? undefined : this.rooms.get(frame.room);
    if (STORED_TYPES.has(frame.type)) {
      if (!room) return;
      if (room.seq !== null && frame.seq <= room.seq) return; // seen already
      room.seq = frame.seq;
    } else if (frame.type === "ready") {
      if (!room) return;
      room.ready = true;
      room.seq = Math.max(room.seq ?? 0, frame.last_seq);
      if (frame.room === this.primary) this.setState("live");
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
    this.outbox.push(JSON.stringify(frame));
    this.drain();
    return true;
  }

  drain() {
    if (this.drainTimer !== null) return;
    while (this.outbox.length > 0 && this.isOpen()) {
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
      this.ws.send(this.outbox.shift());
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

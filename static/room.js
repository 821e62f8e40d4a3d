// The live room page: one WebSocket to /ws/<room>, resumed from the last seq on reconnect.
(() => {
  "use strict";
  const section = document.getElementById("room");
  const room = section.dataset.room;
  const list = document.getElementById("messages");
  const form = document.getElementById("send");
  const input = document.getElementById("content");
  const status = document.getElementById("status");

  let socket = null;
  let lastSeq = null;        // highest seq shown; resume point after a reconnect
  let retryDelay = 500;      // ms, doubled per failed attempt up to 10 s, with jitter
  const pending = new Map(); // client_id -> <li> shown as pending until its ack

  function setStatus(text, live) {
    status.textContent = text;
    status.classList.toggle("live", live);
  }

  function messageItem(m) {
    const li = document.createElement("li");
    if (m.seq) li.id = "m" + m.seq;
    const author = document.createElement("strong");
    author.className = "author";
    author.textContent = m.username;
    const time = document.createElement("time");
    if (m.ts) { time.dateTime = m.ts; time.textContent = new Date(m.ts).toLocaleTimeString(); }
    const content = document.createElement("div");
    content.className = "content";
    content.textContent = m.content;
    li.append(author, time, content);
    return li;
  }

  function showChat(m) {
    if (lastSeq !== null && m.seq <= lastSeq) return; // never twice
    lastSeq = m.seq;
    const mine = m.client_id && pending.get(m.client_id);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const li = messageItem(m);
    if (mine) { mine.remove(); pending.delete(m.client_id); }
    list.append(li);
    if (atBottom || mine) list.scrollTop = list.scrollHeight;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const after = lastSeq === null ? "" : "?after=" + lastSeq;
    socket = new WebSocket(`${scheme}//${location.host}/ws/${encodeURIComponent(room)}${after}`);
    setStatus(lastSeq === null ? "connecting…" : "reconnecting…", false);
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "chat") showChat(frame);
      else if (frame.type === "ready") {
        retryDelay = 500;
        setStatus("live", true);
        for (const [clientId, li] of pending) resend(clientId, li);
      } else if (frame.type === "ack") {
        const li = pending.get(frame.client_id);
        if (li && frame.seq <= (lastSeq ?? 0)) { li.remove(); pending.delete(frame.client_id); }
      } else if (frame.type === "error") {
        const li = frame.client_id && pending.get(frame.client_id);
        if (li) { li.classList.add("failed"); li.title = frame.message; }
        else console.warn("chat error", frame);
      }
    });
    socket.addEventListener("close", () => {
      setStatus("reconnecting…", false);
      const delay = retryDelay * (0.5 + Math.random());
      retryDelay = Math.min(retryDelay * 2, 10000);
      setTimeout(connect, delay);
    });
  }

  function newClientId() {
    // randomUUID needs a secure context; plain http on a LAN address is not one.
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function resend(clientId, li) {
    li.classList.remove("failed");
    socket.send(JSON.stringify({ type: "chat", room, content: li.dataset.content, client_id: clientId }));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value;
    if (!content.trim()) return;
    const clientId = newClientId();
    const li = messageItem({ username: "you", content });
    li.classList.add("pending");
    li.dataset.content = content;
    list.append(li);
    list.scrollTop = list.scrollHeight;
    pending.set(clientId, li);
    input.value = "";
    if (socket && socket.readyState === WebSocket.OPEN) resend(clientId, li);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  connect();
})();

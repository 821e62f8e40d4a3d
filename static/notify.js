// Noticing while away from the tab (issue 16, item 8): a desktop notification
// for a mention of the reader or a direct message, while the page is hidden;
// an optional sound. The browser's permission is asked only from a button
// (#notify-toggle), never on page load; the choice of sound is kept in
// localStorage. The unread count in the tab title is static/unread.js's.
//
// Chat frames of every followed room pass here (the open room and the
// sidebar's); a muted room (li.room-item[data-muted]) notifies nothing, and
// nor does anything the reader wrote or anything seen while the page is shown.

const SOUND_KEY = "chat.notify.sound";

function mentionsMe(html, me) {
  if (typeof html !== "string" || !html.includes("mention")) return false;
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content.querySelector(`.mention[data-user="${CSS.escape(me.toLowerCase())}"]`) !== null;
}

function roomItem(name) {
  return document.querySelector(`li.room-item[data-room="${CSS.escape(name)}"]`);
}

function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
  } catch {
    // No audio here: the notification is enough.
  }
}

export function notifyWhileAway(socket, { me, openRoom = null, openIsDirect = false }) {
  const toggle = document.getElementById("notify-toggle");
  const sound = document.getElementById("notify-sound");
  const supported = "Notification" in window;
  const render = () => {
    if (!toggle) return;
    toggle.hidden = !supported || Notification.permission === "granted";
    if (supported && Notification.permission === "denied") {
      toggle.textContent = "Notifications are blocked in this browser";
      toggle.disabled = true;
    }
  };
  toggle?.addEventListener("click", async () => {
    await Notification.requestPermission();
    render();
  });
  if (sound) {
    sound.checked = localStorage.getItem(SOUND_KEY) === "on";
    sound.addEventListener("change", () => localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off"));
  }
  render();

  socket.on("chat", (frame) => {
    if (document.visibilityState !== "hidden" || frame.username === me || frame.deleted) return;
    const item = roomItem(frame.room);
    if (item?.dataset.muted === "true") return;
    const direct = frame.room === openRoom ? openIsDirect : Boolean(item?.classList.contains("direct"));
    if (!direct && !mentionsMe(frame.html, me)) return;
    if (localStorage.getItem(SOUND_KEY) === "on") beep();
    if (!supported || Notification.permission !== "granted") return;
    const where = direct ? frame.username : `${frame.username} in #${frame.room}`;
    const note = new Notification(where, { body: frame.content.slice(0, 200), tag: `${frame.room}:${frame.seq}` });
    note.onclick = () => {
      window.focus();
      if (frame.room !== openRoom) window.location.href = `/rooms/${encodeURIComponent(frame.room)}#m${frame.seq}`;
      note.close();
    };
  });
}

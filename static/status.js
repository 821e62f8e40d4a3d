// The connection state shown in #status: "connecting…", "live",
// "reconnecting…" or "logged out". data-state carries the bare state for CSS.

const LABELS = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  "signed-out": "logged out",
};

export function showStatus(element, state) {
  element.textContent = LABELS[state] ?? state;
  element.dataset.state = state;
  element.classList.toggle("live", state === "live");
  if (state === "signed-out") {
    const link = document.createElement("a");
    link.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    link.textContent = "log in again";
    element.append(" · ", link);
  }
}

// Socket options from the data-* attributes the templates render (_rooms.html).
export function socketOptions(dataset) {
  const number = (value, fallback) => (value === undefined || value === "" ? fallback : Number(value));
  return {
    maxRooms: number(dataset.maxRooms, 100),
    ratePerSec: number(dataset.rate, 20),
    burst: number(dataset.burst, 60),
  };
}

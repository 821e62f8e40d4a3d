// The JSON API from the page (docs/protocol.md, "HTTP JSON API").

// Why the API refused a request, in words for the person: its error's message
// ({"error":{"code","message"}}). Some answers come before the app sees the
// request (gunicorn's or nginx's own HTML pages): then `fallback`, with the status.
export async function refusal(response, fallback) {
  const body = await response.json().catch(() => null);
  const message = body?.error?.message;
  return typeof message === "string" && message.trim() !== "" ? message : `${fallback} (${response.status})`;
}

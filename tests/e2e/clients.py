"""WebSocket clients for the end-to-end tests, and placing them on gunicorn's workers:
a Tab that keeps the frames it is not waiting for, rooms opened with their join
complete, connections on a chosen worker or on two different ones, and sends over
the HTTP API to mark a point in a room's order.
"""

import contextlib
import time
from collections import deque

from websockets.sync.client import connect

from ..servers import FRAME_TIMEOUT, Client, Gunicorn, http


class Tab(Client):
    """A WebSocket client that can wait for one frame and keep the others for later."""

    def __init__(self, ws):
        super().__init__(ws)
        self.pending: deque[dict] = deque()
        self.online: list[str] = []  # the users in its own online_users after joining

    @classmethod
    def open_mux(cls, server: Gunicorn, token: str) -> "Tab":
        """A connection to /ws, which follows no room until it sends `join`."""
        ws = connect(
            f"{server.ws_url}/ws",
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            open_timeout=FRAME_TIMEOUT,
            max_size=2**22,
            proxy=None,
            legacy=True,
        )
        return cls(ws)

    def recv(self, timeout: float = FRAME_TIMEOUT) -> dict:
        if self.pending:
            return self.pending.popleft()
        return super().recv(timeout)

    def expect(
        self, timeout: float = FRAME_TIMEOUT, keep: bool = False, **fields
    ) -> tuple[list[dict], dict]:
        """The frames before the first one having all `fields`, and that frame.

        With keep=True the frames before it are also left to later calls.
        """
        skipped = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                frame = self.recv(max(0.01, deadline - time.monotonic()))
                if all(frame.get(k) == v for k, v in fields.items()):
                    return skipped, frame
                skipped.append(frame)
        except TimeoutError:
            raise AssertionError(f"no frame {fields} within {timeout}s; got {skipped}") from None
        finally:
            if keep:
                self.pending.extendleft(reversed(skipped))

    def aside_until(self, kind: str, timeout: float = FRAME_TIMEOUT, **fields) -> dict:
        """The first per-user or presence frame (set aside) of type `kind` with
        `fields`, reading the socket's room traffic meanwhile (kept for later)."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.aside:
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame
            with contextlib.suppress(TimeoutError):  # the socket itself, not what is pending
                wait = max(0.01, min(0.2, deadline - time.monotonic()))
                self.pending.append(Client.recv(self, wait))
            assert time.monotonic() < deadline, f"no {kind} frame: {self.aside}"

    def chat(self, content: str, client_id: str, room: str | None = None) -> int:
        """Send a chat frame and wait for its ack (other frames stay); return its seq."""
        frame = {"type": "chat", "content": content, "client_id": client_id}
        if room is not None:
            frame["room"] = room
        self.send(frame)
        _, ack = self.expect(keep=True, type="ack", client_id=client_id)
        return ack["seq"]

    def joined(self, room: str, username: str) -> list[dict]:
        """Frames up to this connection's own `online_users` after `ready` in room.

        That frame is sent after the join's presence is committed.
        """
        before, ready = self.expect(type="ready", room=room)
        after, online = self.expect(type="online_users", room=room)
        while username not in online["users"]:
            more, online = self.expect(type="online_users", room=room)
            after += more
        return [*before, ready, *after, online]


def open_room(server: Gunicorn, room: str, token: str, username: str) -> Tab:
    """A /ws/<room> connection whose join, presence included, is complete."""
    tab = Tab.open(server, room, token)
    tab.online = tab.joined(room, username)[-1]["users"]
    return tab


def open_on_worker(server: Gunicorn, room: str, person: dict, want) -> Tab:
    """Open /ws/<room> connections until one is on a worker `want(pid)` accepts."""
    extra = []
    try:
        for _ in range(60):
            tab = open_room(server, room, person["token"], person["username"])
            if want(server.worker_of(tab.ws)):
                return tab
            extra.append(tab)
        raise AssertionError("the kernel never gave a connection to the wanted worker")
    finally:
        for tab in extra:
            tab.close()


def clients_on_two_workers(server: Gunicorn, token: str | None, room="general", **headers):
    """Open connections until two are held by different workers.

    Extras are closed at once: a user may hold only MAX_SOCKETS_PER_USER per worker.
    """
    by_worker: dict[int, Client] = {}
    for _ in range(60):
        client = Client.open(server, room, token, **headers)
        client.until("ready")
        pid = server.worker_of(client.ws)
        if pid in by_worker:
            client.close()
        else:
            by_worker[pid] = client
        if len(by_worker) == 2:
            return list(by_worker.values())
    raise AssertionError("the kernel gave every connection to one worker")


def post(server: Gunicorn, person: dict, room: str, content: str) -> int:
    """Send a message through the HTTP API (committed when it returns); its seq."""
    response = http().post(
        f"{server.url}/api/rooms/{room}/messages",
        json={"content": content},
        headers={"Authorization": f"Bearer {person['token']}"},
        timeout=FRAME_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return response.json()["seq"]

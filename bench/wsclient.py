"""The load generator's cheap WebSocket clients, on picows (see bench/swarm.py).

A connection is a picows listener that handles each frame synchronously in
`on_ws_frame`, as picows parses it out of the read buffer: no asyncio Task,
Queue or Future per frame or per connection once it is open. A chat frame's
text is sliced out of the raw payload (no JSON parse) and handed to the load
process's tally with the connection's own `got` dict, which the tally counts
into (see Tally.count in bench/swarm.py).

One listener class per protocol the targets speak:

- OurListener: this repository's `/ws/<room>` (`ours`, `naive`);
- SocketIOListener: Engine.IO v4 / Socket.IO v5 text packets over a raw
  WebSocket (the Flask-SocketIO peer);
- ChannelsListener: the Django Channels tutorial's `{"message": ...}` frames.

picows reads through aiofastnet's transports on uvloop (its default where
aiofastnet is installed; bench/client_cost.py found uvloop's own transports
no cheaper).

Each has the websockets clients' semantics (bench/targets.py): `connect`
returns once the connection is ready (ours: the `ready` frame; Socket.IO: the
namespace connected and the join acknowledged; Channels: accepted), `send(text)`
sends one chat message, and only chat texts are counted.
"""

import asyncio
import os
from typing import Protocol
from urllib.parse import quote

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.targets import source_address

TEXT, CONTINUATION, CLOSE = WSMsgType.TEXT, WSMsgType.CONTINUATION, WSMsgType.CLOSE
HANDSHAKE_TIMEOUT = 60.0  # as the websockets clients' open_timeout: S1 opens thousands at once
MAX_FRAME = 2**20  # as the websockets clients' max_size


class Sink(Protocol):
    """Where a connection's chat texts go (bench.swarm.Tally)."""

    def count(self, got: dict, content: bytes) -> None: ...


def string_field(payload: bytes, key: bytes) -> bytes | None:
    """The raw bytes of the JSON string after `key` (which ends with the opening
    quote), or None if the string holds an escape (the caller parses the JSON
    instead): the generator's own texts never do, so the common path is two
    partitions. (partition, not find: on Python 3.11 bytes.find parses its
    arguments the slow way, and this runs for every frame.)"""
    value = payload.partition(key)[2].partition(b'"')[0]
    return None if b"\\" in value else value


class Listener(WSListener):
    """One connection: the handshake's steps, then chat texts counted into `got`."""

    def __init__(self, sink: Sink, credential: str, room: str):
        self.count = sink.count
        self.credential = credential
        self.room = room
        self.got: dict[bytes, int] = {}  # this step's texts: times each arrived
        self.out_of_order = 0
        self.transport: WSTransport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.fragments: list[bytes] = []  # a message split over frames (no server here does)
        self.on_text = self.handshake

    @staticmethod
    def url(target, credential: str, room: str) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is TEXT and frame.fin:
            self.on_text(frame.get_payload_as_bytes())
        elif kind is TEXT or kind is CONTINUATION:
            self.fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                payload, self.fragments = b"".join(self.fragments), []
                self.on_text(payload)
        elif kind is CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before it was ready"))

    def ready(self) -> None:
        self.on_text = self.live
        if not self.opened.done():
            self.opened.set_result(None)

    def handshake(self, payload: bytes) -> None:
        """A frame before the connection is ready."""
        raise NotImplementedError

    def live(self, payload: bytes) -> None:
        """A frame once it is: count the chat texts."""
        raise NotImplementedError

    def send(self, text: str) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        """Stop reading the socket (S5): the server's writes fill the kernel's
        buffers, then its own queue for this client."""
        self.transport.underlying_transport.pause_reading()

    async def close(self) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        transport.send_close()
        transport.disconnect()
        await transport.wait_disconnected()


class OurListener(Listener):
    """`ws://…/ws/<room>` with a bearer token; chat frames carry the room's seq."""

    CHAT = b'{"type":"chat",'  # orjson keeps the server's key order: type comes first

    def __init__(self, sink: Sink, credential: str, room: str):
        super().__init__(sink, credential, room)
        self.client_ids = 0
        # Connections share accounts (targets.USERS_MAX): a client_id is the
        # connection's own, or two senders of one account in one room would
        # send the same ids, and the server keeps only the first of each.
        self.client_tag = os.urandom(4).hex()
        self.last_seq = 0

    @staticmethod
    def url(target, credential: str, room: str) -> tuple[str, dict[str, str]]:
        return f"{target.ws_url}/ws/{room}", {"Authorization": f"Bearer {credential}"}

    def handshake(self, payload: bytes) -> None:
        # The room's catch-up comes first, then `ready`; live frames follow it.
        if payload.startswith(b'{"type":"ready"'):
            self.ready()

    def live(self, payload: bytes) -> None:
        if not payload.startswith(self.CHAT):
            return  # acks, presence, events
        digits, _, rest = payload.partition(b'"seq":')[2].partition(b",")
        seq = int(digits)
        # As the websockets client: the first chat frame sets the baseline (join
        # events between `ready` and it take seqs of their own).
        if seq != self.last_seq + 1 and self.last_seq:
            self.out_of_order += 1  # a gap or a repeat in the room's sequence
        self.last_seq = seq
        content = string_field(rest, b'"content":"')
        if content is None:
            content = orjson.loads(payload)["content"].encode()
        self.count(self.got, content)

    def send(self, text: str) -> None:
        self.client_ids += 1
        frame = {
            "type": "chat",
            "content": text,
            "client_id": f"{self.client_tag}-{self.client_ids}",
        }
        self.transport.send(TEXT, orjson.dumps(frame))


class SocketIOListener(Listener):
    """Engine.IO v4 packets over a WebSocket, each carrying a Socket.IO v5 packet
    in the default namespace (python-engineio's and python-socketio's packet.py):
    the server opens with `0{…}`, the client connects the namespace with `40<auth>`
    and is answered `40{…}`, events are `42[name, data]`, an event with id n is
    acknowledged with `43n[…]`, and the server's ping `2` wants a pong `3`."""

    JOIN, JOIN_ACK = b"421", b"431["  # the join is the connection's one event with an id (1)

    @staticmethod
    def url(target, credential: str, room: str) -> tuple[str, dict[str, str]]:
        return f"ws://127.0.0.1:{target.port}/socket.io/?EIO=4&transport=websocket", {}

    def handshake(self, payload: bytes) -> None:
        if payload == b"2":
            self.transport.send(TEXT, b"3")
        elif payload.startswith(b"0{"):  # Engine.IO open: connect the namespace
            self.transport.send(TEXT, b"40" + orjson.dumps({"user": self.credential}))
        elif payload.startswith(b"40"):  # namespace connected: join the room, with an ack
            join = orjson.dumps(["join", {"room": self.room}])
            self.transport.send(TEXT, self.JOIN + join)
        elif payload.startswith(self.JOIN_ACK):
            self.ready()
        elif payload.startswith((b"44", b"41", b"1")):  # refused, disconnected, closed
            self.transport.disconnect()

    def live(self, payload: bytes) -> None:
        if payload.startswith(b'42["chat",'):
            text = string_field(payload, b'"text":"')
            if text is None:
                text = orjson.loads(payload[2:])[1]["text"].encode()
            self.count(self.got, text)
        elif payload == b"2":
            self.transport.send(TEXT, b"3")

    def send(self, text: str) -> None:
        self.transport.send(TEXT, b"42" + orjson.dumps(["chat", {"room": self.room, "text": text}]))


class ChannelsListener(Listener):
    """The Channels tutorial's consumer: `{"message": text}` both ways; it accepts
    the socket only after joining the room's group, so open is ready."""

    @staticmethod
    def url(target, credential: str, room: str) -> tuple[str, dict[str, str]]:
        url = f"ws://127.0.0.1:{target.port}/ws/chat/{room}/?user={quote(credential)}"
        # AllowedHostsOriginValidator wants an Origin.
        return url, {"Origin": f"http://127.0.0.1:{target.port}"}

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        self.ready()

    def live(self, payload: bytes) -> None:
        # The consumer's json.dumps puts a space after the colon.
        text = string_field(payload, b'{"message": "')
        if text is None:
            message = orjson.loads(payload).get("message")
            if not isinstance(message, str):
                return
            text = message.encode()
        self.count(self.got, text)

    def send(self, text: str) -> None:
        self.transport.send(TEXT, orjson.dumps({"message": text}))


LISTENERS: dict[str, type[Listener]] = {
    "ours": OurListener,
    "naive": OurListener,
    "before": OurListener,
    "socketio": SocketIOListener,
    "channels": ChannelsListener,
}


async def connect(target, credential: str, room: str, sink: Sink) -> Listener:
    """A ready connection of `target` (bench/targets.py, bench/peers/) to `room`."""
    cls = LISTENERS[target.name]
    url, headers = cls.url(target, credential, room)
    transport, listener = await ws_connect(
        lambda: cls(sink, credential, room),
        url,
        extra_headers=headers,
        websocket_handshake_timeout=HANDSHAKE_TIMEOUT,
        max_frame_size=MAX_FRAME,
        local_addr=source_address(),  # S1 opens more sockets than one address has ports
    )
    try:
        await asyncio.wait_for(listener.opened, HANDSHAKE_TIMEOUT)
    except BaseException:
        transport.disconnect(graceful=False)
        raise
    return listener

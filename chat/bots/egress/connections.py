"""The connection under a guarded request: to a checked address, within a deadline.

chat/bots/egress/client.py speaks HTTP (http.client) over these connections.
A connection is made to one of the addresses chat/bots/egress/destinations.py
checked, never to the name (which could resolve elsewhere by now: DNS
rebinding), while the request still names the host: in the Host header, and
over https in TLS's SNI, with the certificate verified against the host
name. Before each socket operation the socket's timeout is set to the time
left (`DeadlineSocket`), so a server that trickles a byte at a time runs into
the deadline like a silent one.
"""

import http.client
import io
import socket
import ssl
import time

from chat.bots.egress.destinations import Destination, IPAddress
from chat.bots.egress.errors import NetworkError


def connect(
    destination: Destination, addresses: list[IPAddress], deadline: float, context: ssl.SSLContext
) -> "Connection":
    """A connection (not yet open) to one of the checked `addresses` of `destination`."""
    if destination.scheme == "https":
        return TLSConnection(destination, addresses, deadline, context)
    return Connection(destination, addresses, deadline)


def os_words(exc: Exception, fallback: str) -> str:
    """An OSError in the system's words (never its message, which may hold an address)."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"TLS failed: {exc.reason}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{fallback}: {exc.strerror}"
    return fallback


class DeadlineSocket:
    """A connected socket whose every operation gets the time left until the
    deadline as its timeout (what http.client uses of a socket: sendall,
    makefile("rb") for reading, close)."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline")
        self._sock.settimeout(left)

    def sendall(self, data) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        # http.client closes its connection's socket as soon as an answer that
        # ends with the connection starts, and goes on reading through makefile's
        # reader: the socket itself is closed with the connection (_Connection.release).
        pass


class _Reader(io.RawIOBase):
    def __init__(self, sock: DeadlineSocket):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)


class Connection(http.client.HTTPConnection):
    """An HTTP connection to the host `destination` names (Host header), made to
    one of its checked `addresses`, tried in order within the deadline."""

    def __init__(self, destination: Destination, addresses: list[IPAddress], deadline: float):
        super().__init__(destination.host, destination.port)
        self.destination = destination
        self.addresses = addresses
        self.deadline = deadline
        self._socket: socket.socket | None = None

    def connect(self) -> None:
        self._socket = self._secure(self._dial())
        self.sock = DeadlineSocket(self._socket, self.deadline)

    def release(self) -> None:
        """Close the connection and its socket (`close()` leaves the socket to the
        answer being read: http.client calls it when the answer starts)."""
        self.close()
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _dial(self) -> socket.socket:
        failure: OSError | None = None
        for address in self.addresses:
            left = self.deadline - time.monotonic()
            if left <= 0:
                break
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(left)
                sock.connect((str(address), self.port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except TimeoutError:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                failure = exc
        if failure is None:
            raise TimeoutError("deadline")
        raise NetworkError(
            os_words(failure, "no connection"),
            f"connecting to {self.destination.host} at {self.addresses}: {failure}",
        )

    def _secure(self, sock: socket.socket) -> socket.socket:
        return sock


class TLSConnection(Connection):
    """The same over TLS: SNI and certificate verification against the host name."""

    default_port = 443

    def __init__(self, destination, addresses, deadline, context: ssl.SSLContext):
        super().__init__(destination, addresses, deadline)
        self.context = context

    def _secure(self, sock: socket.socket) -> socket.socket:
        left = self.deadline - time.monotonic()
        if left <= 0:
            sock.close()
            raise TimeoutError("deadline")
        sock.settimeout(left)  # the handshake as a whole (CPython's ssl counts it so)
        try:
            return self.context.wrap_socket(sock, server_hostname=self.destination.host)
        except BaseException:
            sock.close()
            raise

"""Where an outbound request may go: a strictly read URL, a name resolved once,
and every address it resolves to checked.

Only globally routable unicast addresses pass (`refusal`): Python's
`ipaddress` must call the address global (`is_global`: not loopback, private,
link-local, shared 100.64/10, documentation, unspecified ...), and it must not
be multicast, reserved or IPv6 site-local, which `is_global` alone lets
through (224.0.0.1 and 4000::1 are "global" to it). An IPv6 address that
carries an IPv4 one is judged by that IPv4 address: IPv4-mapped
(`::ffff:a.b.c.d`, reached as the IPv4 address itself), NAT64 (`64:ff9b::/96`,
where DNS64 puts IPv4-only sites) and 6to4 (`2002::/16`, which must pass
itself too); IPv4-compatible (`::a.b.c.d`, deprecated) and Teredo (`2001::/32`,
a tunnel through a relay) never pass.

A host is read as strictly as a browser's URL parser would read it, and
anything it might read otherwise is refused: an IPv4 literal only in dotted
decimal without leading zeros, never `2130706433`, `0x7f.1` or `017700000001`
(a name whose last label is a number is such a spelling: browsers and
`inet_aton` read it as an address); a name of letters, digits, `-` and `_`;
no user name or password (`http://good.com@127.0.0.1/`); a port 1-65535.

EGRESS_ALLOW (tests only, chat/config.py) lets chosen destinations through: a
(host, port) pair matches the URL's host as written and its port, whatever
the name resolves to; a network matches resolved addresses on any port.
"""

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chat.bots.egress.errors import NetworkError, Refused, TimedOut

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# socket.getaddrinfo's shape: (host, port, family, type) -> [(family, type,
# proto, canonname, sockaddr), ...]. Tests pass their own.
Resolver = Callable[..., list]
# EGRESS_ALLOW's entries, as chat/config.py's `destinations` parses them.
Allowance = Iterable[tuple[str, int] | ipaddress.IPv4Network | ipaddress.IPv6Network]

DEFAULT_PORTS = {"http": 80, "https": 443}
# A host name's label (lower case): letters, digits, `-` inside, and `_`, which
# real DNS names carry (`_dmarc`, some CDNs' hosts) and browsers accept.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
# A last label browsers read as a number (decimal, octal, hex), making the
# whole host an IPv4 address however it is spelled.
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")
# A URL's authority without user info: a bracketed IPv6 literal or a name, and
# an optional port of digits.
_AUTHORITY = re.compile(r"(\[[^\[\]]*\]|[^\[\]:]*)(?::([0-9]{1,5}))?\Z")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
# What ipaddress can say about an address, in the order a refusal names it.
_KINDS = (
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("link-local", lambda ip: ip.is_link_local),
    ("multicast", lambda ip: ip.is_multicast),
    ("shared (carrier-grade NAT)", lambda ip: ip in _SHARED),
    ("private or special-purpose", lambda ip: ip.is_private),
    ("reserved", lambda ip: ip.is_reserved),
    ("site-local", lambda ip: getattr(ip, "is_site_local", False)),
    ("not globally routable", lambda ip: not ip.is_global),
)


@dataclass(frozen=True)
class Destination:
    """A URL read strictly: its scheme, host (lower case; an IP literal in its
    canonical spelling), port, the IP literal's address, and the request target."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress | None
    target: str  # path and query, what the request line asks for

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse(url: str) -> Destination:
    """`url` as a destination, or Refused saying what about it is not allowed."""
    if not url.isascii() or any(c <= " " or c in "\\\x7f" for c in url):
        raise Refused("the URL has spaces, controls, backslashes or non-ASCII", f"URL {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise Refused("the URL cannot be read", f"URL {url!r}") from None
    if parts.scheme not in DEFAULT_PORTS or not url[len(parts.scheme) + 1 :].startswith("//"):
        raise Refused("the URL is not http or https", f"URL {url!r}")
    if "@" in parts.netloc:
        raise Refused("the URL has a user name or password", f"URL {url!r}")
    authority = _AUTHORITY.match(parts.netloc)
    if authority is None:
        raise Refused("the URL's host or port cannot be read", f"URL {url!r}")
    host, port_text = authority.groups()
    port = int(port_text) if port_text else DEFAULT_PORTS[parts.scheme]
    if not 1 <= port <= 65535:
        raise Refused("the URL's port is out of range", f"URL {url!r}")
    address = _literal(host.lower(), url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(
        url=url,
        scheme=parts.scheme,
        host=str(address) if address else host.lower(),
        port=port,
        address=address,
        target=target,
    )


def _literal(host: str, url: str) -> IPAddress | None:
    """The address an IP literal host spells, None for a name; Refused for anything else."""
    if host.startswith("["):
        try:  # no zone (`%eth0`): ipaddress reads one, but a URL's host must not carry it
            if "%" not in host:
                return ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            pass
        raise Refused("the URL's IPv6 address cannot be read", f"URL {url!r}")
    if _DOTTED_QUAD.match(host):
        return ipaddress.IPv4Address(host)
    name = host[:-1] if host.endswith(".") else host  # `example.com.` is a full name
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(_LABEL.match(label) for label in labels)
        or _NUMERIC.match(labels[-1])
    ):
        raise Refused("the URL's host is not a plain name or address", f"URL {url!r}")
    return None


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not one to connect to ("loopback", ...); None for a
    globally routable unicast address (the module's docstring says which)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return refusal(address.ipv4_mapped)
        if address in _NAT64:
            return _within("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.teredo is not None:
            return "a Teredo tunnel"
        if address in _IPV4_COMPATIBLE and not (address.is_loopback or address.is_unspecified):
            return "IPv4-compatible (deprecated)"
        if address.sixtofour is not None:
            embedded = _within("6to4", address.sixtofour)
            if embedded:
                return embedded
    for kind, test in _KINDS:
        if test(address):
            return kind
    return None


def _within(form: str, embedded: ipaddress.IPv4Address) -> str | None:
    why = refusal(embedded)
    return f"{form} of an address that is {why}" if why else None


def connectable(address: IPAddress) -> IPAddress:
    """The address a socket connects to: an IPv4-mapped one as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def resolve(
    destination: Destination,
    allow: Allowance,
    resolver: Resolver,
    deadline: float,
) -> list[IPAddress]:
    """The checked addresses to connect to, in the resolver's order: the name
    resolved once (never again for this destination), every address it gave
    checked; Refused if any of them is refused, so a name that mixes a public
    address with a private one reaches neither."""
    allow = tuple(allow)
    if destination.address is not None:
        addresses = [destination.address]
    else:
        addresses = _lookup(destination, resolver, deadline)
    if (destination.host, destination.port) in allow:
        return [connectable(address) for address in addresses]
    networks = [entry for entry in allow if not isinstance(entry, tuple)]
    for address in addresses:
        if any(connectable(address) in network for network in networks):
            continue
        why = refusal(address)
        if why:
            raise Refused(
                f"the destination's address is {why}",
                f"{destination.host} resolves to {address} ({why}); URL {destination.url!r}",
            )
    return [connectable(address) for address in addresses]


def check_static(url: str, allow: Allowance = ()) -> Destination:
    """What can be checked of `url` without looking a name up: read strictly
    (parse), and an IP literal's address checked as a connection would check
    it (with `allow`, EGRESS_ALLOW). Refused otherwise. A name is left for the
    request itself to resolve and check: asked now, it could resolve
    elsewhere by then, and the answer would tell whoever asks which private
    names exist."""
    destination = parse(url)
    if destination.address is not None:
        resolve(destination, allow, _never_asked, deadline=time.monotonic())
    return destination


def _never_asked(*args) -> list:
    raise AssertionError("an IP literal is not looked up")


def _lookup(destination: Destination, resolver: Resolver, deadline: float) -> list[IPAddress]:
    """The name's addresses (each once), from one call of the resolver, within the
    deadline: the call runs in a helper thread, as getaddrinfo takes no timeout."""
    outcome: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["infos"] = resolver(destination.host, destination.port, 0, socket.SOCK_STREAM)
        except Exception as exc:  # handed to the waiting caller below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, daemon=True, name="resolve").start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise TimedOut("the name lookup outran the deadline", f"looking up {destination.host}")
    error = outcome.get("error")
    if isinstance(error, socket.gaierror):
        missing = error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
        raise NetworkError(
            "the host name did not resolve",
            f"{destination.host}: {error.strerror}",
            transient=not missing,
        )
    if error is not None:
        raise NetworkError("the name lookup failed", f"{destination.host}: {error!r}")
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in outcome["infos"]:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise NetworkError("the host name has no address", f"{destination.host}: no address")
    return addresses

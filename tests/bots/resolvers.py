"""Stand-in name resolvers for the outbound-request tests, in socket.getaddrinfo's shape."""

import socket


def resolving_to(*addresses: str, calls: list | None = None):
    """A resolver that gives `addresses` for any name, noting each name asked in `calls`."""

    def resolver(host, port, family=0, type=0):
        if calls is not None:
            calls.append(host)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    return resolver

"""Where outbound requests may go: URLs read strictly, addresses checked, names resolved once."""

import ipaddress
import socket
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat import config
from chat.bots.egress import Refused, destinations, parse, refusal
from chat.bots.egress.errors import NetworkError, TimedOut

from .resolvers import resolving_to


def checked(url: str, resolver=None, allow=()) -> list:
    resolver = resolver or resolving_to("93.184.215.14")
    return destinations.resolve(parse(url), allow, resolver, time.monotonic() + 5)


# --- reading URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "target"),
    [
        ("http://example.com", "example.com", 80, "/"),
        ("HTTPS://Example.COM:8443/a/b?c=d#frag", "example.com", 8443, "/a/b?c=d"),
        ("https://example.com:443/", "example.com", 443, "/"),
        ("http://1.2.3.4/", "1.2.3.4", 80, "/"),
        ("http://[2606:4700:0::1111]:8080/x", "2606:4700::1111", 8080, "/x"),
        ("http://example.com./", "example.com.", 80, "/"),
        ("http://xn--bcher-kva.example/", "xn--bcher-kva.example", 80, "/"),
        ("http://_dmarc.example.com/", "_dmarc.example.com", 80, "/"),
        ("http://host1.example:65535/", "host1.example", 65535, "/"),
    ],
)
def test_plain_urls_are_read(url, host, port, target):
    destination = parse(url)
    assert (destination.host, destination.port, destination.target) == (host, port, target)


@pytest.mark.parametrize(
    "url",
    [
        # Other spellings of an IPv4 address: browsers and inet_aton read them as one.
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://127.0.1/",
        "http://1.2.3.04/",
        "http://256.1.1.1/",
        "http://example.0x1/",
        "http://example.123/",
        "http://[127.0.0.1]/",
        # User info: the host is what follows the last @.
        "http://good.com@127.0.0.1/",
        "http://user:pw@example.com/",
        "http://@example.com/",
        "http://good.com%40127.0.0.1/",
        # Ports.
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://example.com:99999/",
        "http://example.com:-1/",
        "http://example.com:+80/",
        "http://example.com:/",
        "http://example.com:80:80/",
        # Schemes and forms that are not an http(s) URL with a host.
        "ftp://example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<title>x</title>",
        "gopher://127.0.0.1:6379/",
        "http:example.com",
        "http:/example.com",
        "http:///example.com",
        "//example.com/",
        # Characters a host cannot hold, or a URL should not.
        "http://exa mple.com/",
        "http://example.com\\@127.0.0.1/",
        "http://exämple.com/",
        "http://example.com/\n",
        "http://-example.com/",
        "http://example..com/",
        "http://[::1%25lo]/",
        "http://[::1/",
        "http://[zz::1]/",
        "http://" + "a" * 64 + ".example/",
    ],
)
def test_odd_urls_are_refused(url):
    with pytest.raises(Refused) as refused:
        parse(url)
    assert url not in str(refused.value)  # the reason is for logs: no part of the URL
    assert url in refused.value.detail or repr(url)[1:-1] in refused.value.detail


# --- addresses ----------------------------------------------------------------------

REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "private"),
    ("::", "unspecified"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("100.64.0.1", "shared"),
    ("100.127.255.254", "shared"),
    ("192.0.2.1", "private"),  # documentation
    ("2001:db8::1", "private"),
    ("fec0::1", "site-local"),
    ("4000::1", "reserved"),
    # IPv4 inside IPv6.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),
    ("2002:7f00:1::1", "6to4 of an address that is loopback"),
    ("2002:a9fe:a9fe::1", "6to4 of an address that is link-local"),
    ("2002:0a00:0001::", "6to4 of an address that is private"),
    ("64:ff9b::127.0.0.1", "NAT64 of an address that is loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of an address that is link-local"),
    ("64:ff9b::10.1.2.3", "NAT64 of an address that is private"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001::1", "Teredo"),
]
PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "93.184.215.14",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:0808:0808::1",
]


@pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES)
def test_addresses_that_are_not_public_are_refused(address, why):
    assert why in refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_unicast_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES)
def test_refused_addresses_are_refused_as_literals_and_by_name(address, why):
    literal = f"[{address}]" if ":" in address else address
    calls: list = []
    with pytest.raises(Refused) as by_literal:
        checked(f"http://{literal}/", resolving_to("8.8.8.8", calls=calls))
    assert calls == []  # a literal is never looked up
    with pytest.raises(Refused) as by_name:
        checked("http://innocent.example/", resolving_to(address, calls=calls))
    assert calls == ["innocent.example"]
    for refused in (by_literal.value, by_name.value):
        assert why in str(refused) and address not in str(refused)  # no address in the reason


def test_localhost_is_refused_by_the_real_resolver():
    with pytest.raises(Refused, match="loopback"):
        checked("http://localhost/", socket.getaddrinfo)


def test_one_refused_address_among_public_ones_refuses_the_name():
    with pytest.raises(Refused, match="private"):
        checked("http://mixed.example/", resolving_to("8.8.8.8", "10.0.0.1"))


def test_an_ipv4_mapped_address_is_connected_to_as_ipv4():
    assert checked("http://x.example/", resolving_to("::ffff:8.8.8.8")) == [
        ipaddress.IPv4Address("8.8.8.8")
    ]


def test_a_name_that_does_not_resolve_is_a_network_error():
    def nowhere(host, port, family=0, type=0):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(NetworkError) as failed:
        checked("http://nowhere.example/", nowhere)
    assert not failed.value.transient and "nowhere.example" not in str(failed.value)


def test_a_name_lookup_is_bounded_by_the_deadline():
    answer = threading.Event()

    def hanging(host, port, family=0, type=0):
        answer.wait(30)  # a resolver that hangs until the test is over
        return []

    started = time.monotonic()
    try:
        with pytest.raises(TimedOut):
            destinations.resolve(parse("http://slow.example/"), (), hanging, started + 0.3)
    finally:
        answer.set()
    assert time.monotonic() - started < 2


# --- EGRESS_ALLOW (tests only) --------------------------------------------------------


def allowing(raw: str) -> tuple:
    setting = next(s for s in config.SETTINGS if s.name == "EGRESS_ALLOW")
    return setting.parse(setting, raw)


def test_a_host_port_entry_lets_that_host_and_port_through_only():
    allow = allowing("127.0.0.1:8081, [::1]:8082, preview.test:8083")
    loopback = resolving_to("127.0.0.1")
    assert checked("http://127.0.0.1:8081/", allow=allow) == [ipaddress.ip_address("127.0.0.1")]
    assert checked("http://[0::1]:8082/", allow=allow) == [ipaddress.ip_address("::1")]
    assert checked("http://Preview.Test:8083/", loopback, allow) == [
        ipaddress.ip_address("127.0.0.1")
    ]
    for url in (
        "http://127.0.0.1:8082/",  # another port
        "http://localhost:8081/",  # another name for it
        "http://[::1]:8081/",
        "http://127.0.0.2:8081/",
        "http://other.test:8083/",
    ):
        with pytest.raises(Refused):
            checked(url, loopback, allow)


def test_a_network_entry_lets_resolved_addresses_through_on_any_port():
    allow = allowing("127.0.0.0/8")
    assert checked("http://localhost:9/", resolving_to("127.0.0.5"), allow)
    with pytest.raises(Refused):
        checked("http://localhost:9/", resolving_to("127.0.0.5", "10.0.0.1"), allow)


@pytest.mark.parametrize("raw", ["localhost", "127.0.0.1:0", "10.0.0.1/8", "[x]:80", "a b:1"])
def test_bad_allow_entries_stop_the_start(raw):
    with pytest.raises(SystemExit, match="EGRESS_ALLOW"):
        allowing(raw)


def test_nothing_is_allowed_by_default():
    assert allowing("") == ()


# --- the whole kind: any address, as ipaddress judges it ------------------------------


def global_unicast(address) -> bool:
    """ipaddress's verdict: global, and neither multicast, reserved nor site-local."""
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not getattr(address, "is_site_local", False)
    )


_EMBEDDING = [
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "2002::/16")
] + [ipaddress.IPv6Network("2001::/32")]


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_passes_exactly_when_it_is_global_unicast(address):
    assert (refusal(address) is None) == global_unicast(address)


@given(st.ip_addresses(v=6).filter(lambda a: not any(a in n for n in _EMBEDDING)))
def test_an_ipv6_address_passes_exactly_when_it_is_global_unicast(address):
    assert (refusal(address) is None) == global_unicast(address)


@given(st.ip_addresses(v=4), st.integers(0, 2**80 - 1))
def test_an_ipv6_form_of_an_ipv4_address_passes_exactly_when_that_address_does(v4, rest):
    passes = refusal(v4) is None
    mapped = ipaddress.IPv6Address(0xFFFF << 32 | int(v4))
    nat64 = ipaddress.IPv6Address(0x64FF9B << 96 | int(v4))
    sixtofour = ipaddress.IPv6Address(0x2002 << 112 | int(v4) << 80 | rest)
    compatible = ipaddress.IPv6Address(int(v4))
    teredo = ipaddress.IPv6Address(0x20010000 << 96 | int(v4) << 64 | rest)
    assert (refusal(mapped) is None) == passes
    assert (refusal(nat64) is None) == passes
    assert (refusal(sixtofour) is None) == (passes and global_unicast(sixtofour))
    assert refusal(teredo) is not None
    if int(v4) > 1:  # ::/128 and ::1 are the unspecified and loopback addresses
        assert refusal(compatible) is not None

"""The guarded GET against real local servers: checked addresses, redirects, deadlines, limits."""

import ipaddress
import re
import ssl
import time
import tracemalloc

import pytest

from chat.bots import egress
from chat.bots.egress import (
    BadResponse,
    NetworkError,
    Refused,
    TimedOut,
    TooBig,
    TooManyRedirects,
    WrongType,
)

from ..certificates import self_signed_certificate
from .pages import Endless, Page, PageServer, Raw, Redirect, Silent, Trickle
from .resolvers import resolving_to

HTML = ("text/html", "application/xhtml+xml")


@pytest.fixture
def server():
    server = PageServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A certificate for the name preview.test, and a TLS context that trusts it."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"), "preview.test")
    return cert, key, ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def tls_server(certificate):
    server = PageServer(certificate=certificate[:2])
    yield server
    server.close()


def test_a_page_is_fetched_from_the_allowed_local_server(server):
    server.pages["/a"] = Page("<title>A</title>")
    response = egress.get(server.url("/a?b=c#frag"), allow=server.allow)
    assert response.body == b"<title>A</title>" and response.complete
    assert (response.status, response.content_type, response.charset) == (200, "text/html", "utf-8")
    assert [(r.path, r.host) for r in server.requests] == [("/a?b=c", f"127.0.0.1:{server.port}")]


def test_without_the_allow_list_the_local_server_is_refused(server):
    with pytest.raises(Refused, match="loopback"):
        egress.get(server.url("/"))
    assert server.requests == []


def test_the_connection_goes_to_the_checked_address_and_the_name_is_asked_once(server):
    """A name that resolves to an allowed address, then (DNS rebinding) elsewhere:
    the one answer that was checked is the one connected to."""
    server.pages["/"] = Page("<title>here</title>")
    calls: list = []
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["10.0.0.1"]])

    def rebinding(host, port, family=0, type=0):
        return resolving_to(*next(answers), calls=calls)(host, port)

    allow = (ipaddress.ip_network("127.0.0.1/32"),)
    url = f"http://rebind.example:{server.port}/"
    assert egress.get(url, allow=allow, resolver=rebinding).body == b"<title>here</title>"
    assert calls == ["rebind.example"]
    assert server.requests[0].host == f"rebind.example:{server.port}"  # the name, as written


def test_a_name_first_resolving_to_a_refused_address_is_not_asked_again(server):
    calls: list = []
    answers = iter([["10.0.0.1"], ["127.0.0.1"]])

    def rebinding(host, port, family=0, type=0):
        return resolving_to(*next(answers), calls=calls)(host, port)

    allow = (ipaddress.ip_network("127.0.0.1/32"),)
    with pytest.raises(Refused, match="private"):
        egress.get(f"http://rebind.example:{server.port}/", allow=allow, resolver=rebinding)
    assert calls == ["rebind.example"] and server.requests == []


def test_redirects_are_followed_and_each_is_rechecked(server):
    server.pages["/1"] = Redirect("/2", 301)
    server.pages["/2"] = Redirect("http://127.0.0.1:{port}/3", 303)
    server.pages["/3"] = Redirect("4", 307)
    server.pages["/4"] = Redirect("/5", 308)
    server.pages["/5"] = Redirect("/6", 302)
    server.pages["/6"] = Page("<title>six</title>")
    response = egress.get(server.url("/1"), allow=server.allow)
    assert response.url == server.url("/6") and response.body == b"<title>six</title>"
    assert [r.path for r in server.requests] == ["/1", "/2", "/3", "/4", "/5", "/6"]


def test_a_redirect_chain_over_the_limit_is_refused(server):
    for i in range(10):
        server.pages[f"/{i}"] = Redirect(f"/{i + 1}")
    server.pages["/10"] = Page("<title>never</title>")
    with pytest.raises(TooManyRedirects):
        egress.get(server.url("/0"), allow=server.allow, max_redirects=5)
    assert len(server.requests) == 6  # the first URL and 5 redirects, no 7th request


def test_a_redirect_loop_ends_at_the_limit(server):
    server.pages["/loop"] = Redirect("/loop")
    with pytest.raises(TooManyRedirects):
        egress.get(server.url("/loop"), allow=server.allow)
    assert len(server.requests) == egress.MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:{port}/", "loopback"),
        ("http://localhost:{port}/", "loopback"),  # not the allowed 127.0.0.1:port
        ("http://127.0.0.2:{port}/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),
        ("http://2130706433:{port}/", "not a plain name or address"),
        ("http://0x7f.1:{port}/", "not a plain name or address"),
        ("http://good.example@127.0.0.1:{port}/", "user name"),
        ("http://127.0.0.1:99999/", "port is out of range"),
        ("ftp://127.0.0.1/", "not http or https"),
        ("file:///etc/passwd", "not http or https"),
        ("gopher://127.0.0.1:6379/_INFO", "not http or https"),
        ("javascript:alert(1)", "not http or https"),
        ("data:text/html,<title>x</title>", "not http or https"),
    ],
)
def test_a_redirect_to_a_refused_destination_is_refused(server, location, why):
    server.pages["/go"] = Redirect(location)
    with pytest.raises(Refused, match=re.escape(why)):
        egress.get(server.url("/go"), allow=server.allow)
    assert [r.path for r in server.requests] == ["/go"]


def test_a_redirect_without_a_location_is_a_bad_response(server):
    server.pages["/nowhere"] = Page("", status=302)
    with pytest.raises(BadResponse, match="without a Location"):
        egress.get(server.url("/nowhere"), allow=server.allow)


@pytest.mark.parametrize(
    ("status", "transient"), [(404, False), (403, False), (500, True), (503, True), (429, True)]
)
def test_a_status_other_than_2xx_is_a_bad_response(server, status, transient):
    server.pages["/s"] = Page("<title>oops</title>", status=status)
    with pytest.raises(BadResponse) as failed:
        egress.get(server.url("/s"), allow=server.allow)
    assert failed.value.transient is transient
    assert str(status) in str(failed.value)


@pytest.mark.parametrize(
    "content_type", ["image/png", "application/pdf", "text/plain", "application/json", None]
)
def test_a_type_not_asked_for_is_refused_before_its_body_is_read(server, content_type):
    server.pages["/x"] = Endless(content_type) if content_type else Page(b"<title>x</title>", None)
    with pytest.raises(WrongType):
        egress.get(server.url("/x"), allow=server.allow, accept=HTML)


def test_xhtml_is_read(server):
    server.pages["/x"] = Page("<title>x</title>", "application/xhtml+xml")
    assert egress.get(server.url("/x"), allow=server.allow, accept=HTML).body


@pytest.mark.parametrize("chunked", [False, True])
def test_an_endless_body_is_cut_at_the_byte_limit_in_bounded_memory(server, chunked):
    server.pages["/endless"] = Endless(chunked=chunked)
    tracemalloc.start()
    try:
        response = egress.get(
            server.url("/endless"), allow=server.allow, max_bytes=256 * 1024, cut=True
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(response.body) == 256 * 1024 and not response.complete
    assert peak < 4 * 256 * 1024


def test_an_endless_body_wanted_whole_is_too_big(server):
    server.pages["/endless"] = Endless()
    with pytest.raises(TooBig):
        egress.get(server.url("/endless"), allow=server.allow, max_bytes=64 * 1024)


def test_a_declared_length_over_the_limit_is_too_big_before_reading(server):
    server.pages["/big"] = Page(b"x" * 100_000)
    with pytest.raises(TooBig):
        egress.get(server.url("/big"), allow=server.allow, max_bytes=50_000)


def test_reading_stops_where_until_matches(server):
    server.pages["/head"] = Endless(start=b"<html><head><title>t</title></HEAD >")
    response = egress.get(
        server.url("/head"), allow=server.allow, until=re.compile(rb"</head\s*>", re.I)
    )
    assert response.body == b"<html><head><title>t</title></HEAD >" and not response.complete


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickling_server_is_cut_at_the_deadline(server, where):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<title>"
    server.pages["/slow"] = Trickle(head if where == "body" else b"HTTP/1.1 200 OK\r\nX-A: ")
    started = time.monotonic()
    with pytest.raises(TimedOut):
        egress.get(server.url("/slow"), allow=server.allow, timeout=1.0)
    assert time.monotonic() - started < 1.5


def test_a_silent_server_is_cut_at_the_deadline(server):
    server.pages["/silent"] = Silent()
    started = time.monotonic()
    with pytest.raises(TimedOut) as failed:
        egress.get(server.url("/silent"), allow=server.allow, timeout=0.5)
    assert time.monotonic() - started < 1.0
    assert failed.value.transient


def test_the_deadline_covers_every_redirect(server):
    server.pages["/r"] = Redirect("/silent")
    server.pages["/silent"] = Silent()
    started = time.monotonic()
    with pytest.raises(TimedOut):
        egress.get(server.url("/r"), allow=server.allow, timeout=0.5)
    assert time.monotonic() - started < 1.0


def test_a_body_cut_short_of_its_length_is_a_transient_network_error(server):
    server.pages["/cut"] = Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 99\r\n\r\nab"
    )
    with pytest.raises(NetworkError) as failed:
        egress.get(server.url("/cut"), allow=server.allow)
    assert failed.value.transient


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", BadResponse),
        (b"", NetworkError),  # a hang-up before any answer
        (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", TooBig),
        (b"HTTP/1.1 200 OK\r\nX-A: " + b"b" * 70_000 + b"\r\n\r\n", TooBig),
    ],
)
def test_garbled_answers_fail_cleanly(server, data, error):
    server.pages["/g"] = Raw(data)
    with pytest.raises(error):
        egress.get(server.url("/g"), allow=server.allow)


def test_a_closed_port_is_a_transient_network_error():
    server = PageServer()
    allow, url = server.allow, server.url("/")
    server.close()
    with pytest.raises(NetworkError) as failed:
        egress.get(url, allow=allow)
    assert failed.value.transient and "127.0.0.1" not in str(failed.value)


def test_https_sends_the_name_in_sni_and_checks_the_certificate_against_it(tls_server, certificate):
    tls_server.pages["/"] = Page("<title>secure</title>")
    url = f"https://preview.test:{tls_server.port}/"
    response = egress.get(
        url,
        allow=(("preview.test", tls_server.port),),
        resolver=resolving_to("127.0.0.1"),
        context=certificate[2],
    )
    assert response.body == b"<title>secure</title>"
    request = tls_server.requests[0]
    assert (request.sni, request.host) == ("preview.test", f"preview.test:{tls_server.port}")


@pytest.mark.parametrize("host", ["127.0.0.1", "other.test"])
def test_https_to_a_name_the_certificate_is_not_for_fails(tls_server, certificate, host):
    with pytest.raises(NetworkError, match="certificate") as failed:
        egress.get(
            f"https://{host}:{tls_server.port}/",
            allow=((host, tls_server.port),),
            resolver=resolving_to("127.0.0.1"),
            context=certificate[2],
        )
    assert not failed.value.transient


def test_https_with_the_default_trust_refuses_a_self_signed_certificate(tls_server):
    with pytest.raises(NetworkError, match="certificate"):
        egress.get(
            f"https://preview.test:{tls_server.port}/",
            allow=(("preview.test", tls_server.port),),
            resolver=resolving_to("127.0.0.1"),
        )

"""The guarded POST (chat/bots/egress/client.py `post`) against a real local receiver:
the body and headers arrive, only 307/308 are followed (each hop rechecked, the
body sent again), and a receiver on a refused address gets nothing."""

import ipaddress
import ssl

import pytest

from chat.bots import egress
from chat.bots.egress import BadResponse, Refused

from ..certificates import self_signed_certificate
from .receivers import Answer, Receiver, Redirect
from .resolvers import resolving_to

BODY = b'{"text": "!deploy web"}'


def post(url, allow, **options):
    return egress.post(
        url, BODY, "application/json", user_agent="chat-webhook/1", allow=allow, **options
    )


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_the_body_and_headers_arrive_and_the_answer_is_read(receiver):
    receiver.answers = [Answer(200, {"text": "ok"})]
    response = post(receiver.url("/in?x=1"), receiver.allow, headers={"X-Chat-Delivery": "7"})
    assert (response.status, response.content_type, response.body) == (
        200,
        "application/json",
        b'{"text": "ok"}',
    )
    (sent,) = receiver.posts
    assert (sent.path, sent.body) == ("/in?x=1", BODY)
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"] == "chat-webhook/1"
    assert sent.headers["X-Chat-Delivery"] == "7"
    assert sent.headers["Content-Length"] == str(len(BODY))


def test_an_answer_without_a_body_or_a_type_is_a_success(receiver):
    receiver.answers = [Answer(204)]
    response = post(receiver.url(), receiver.allow)
    assert (response.status, response.content_type, response.body) == (204, "", b"")


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_keeping_the_body_is_followed_and_rechecked(receiver, status):
    receiver.answers = [Redirect("/second", status), Answer(200, {"text": "there"})]
    response = post(receiver.url("/first"), receiver.allow)
    assert response.url == receiver.url("/second")
    assert [(p.path, p.body) for p in receiver.posts] == [("/first", BODY), ("/second", BODY)]


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_not_followed(receiver, status):
    receiver.answers = [Redirect("/second", status), Answer(200)]
    with pytest.raises(BadResponse) as failed:
        post(receiver.url("/first"), receiver.allow)
    assert not failed.value.transient
    assert [p.path for p in receiver.posts] == ["/first"] and receiver.gets == []


def test_a_receiver_on_a_loopback_address_gets_nothing(receiver):
    with pytest.raises(Refused, match="loopback"):
        post(receiver.url(), allow=())
    assert receiver.posts == []


def test_a_redirect_to_a_private_or_metadata_address_is_refused(receiver):
    """The first hop is allowed (a name the test resolves to the receiver); the
    redirect's target is not, and is never asked."""
    receiver.answers = [Redirect("http://169.254.169.254/latest/meta-data/", 307)]
    allow = (ipaddress.ip_network("127.0.0.1/32"),)
    with pytest.raises(Refused, match="link-local"):
        post(
            f"http://hooks.example:{receiver.port}/hook",
            allow,
            resolver=resolving_to("127.0.0.1"),
        )
    assert len(receiver.posts) == 1
    receiver.answers = [Redirect("http://10.1.2.3:{port}/internal", 308)]
    with pytest.raises(Refused, match="private"):
        post(receiver.url(), receiver.allow)


@pytest.mark.parametrize(
    "status, transient", [(500, True), (503, True), (429, True), (408, True), (400, False)]
)
def test_a_failing_answer_says_whether_to_retry(receiver, status, transient):
    receiver.answers = [Answer(status)]
    with pytest.raises(BadResponse) as failed:
        post(receiver.url(), receiver.allow)
    assert failed.value.transient == transient


def test_over_tls_the_certificate_is_checked(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    receiver = Receiver(certificate=(cert, key))
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        assert post(receiver.url(), receiver.allow, context=trusted).status == 200
        with pytest.raises(egress.NetworkError, match="certificate"):
            post(receiver.url(), receiver.allow)  # the system's trust: not this certificate
    finally:
        receiver.close()
    assert len(receiver.posts) == 1


@pytest.mark.parametrize(
    "url, refused",
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.5/hook", "private"),
        ("https://169.254.169.254/", "link-local"),
        ("https://[::1]:8443/", "loopback"),
        ("https://2130706433/", "not a plain name"),
        ("https://user@example.com/", "user name"),
    ],
)
def test_a_static_check_refuses_what_needs_no_lookup(url, refused):
    with pytest.raises(Refused, match=refused):
        egress.check_static(url)


def test_a_static_check_leaves_names_and_allowed_addresses_alone():
    assert egress.check_static("https://hooks.example.com/x").host == "hooks.example.com"
    assert egress.check_static("https://127.0.0.1:8443/", allow=(("127.0.0.1", 8443),)).port == (
        8443
    )

"""The production shape: the real nginx, running the shipped site file
(deploy/nginx-site.conf) with only its ports, certificate and static folder
moved, in front of two gunicorn instances on different ports sharing one
PostgreSQL, as two hosts of one deployment."""

import ssl
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from .. import edge as nginx_site
from ..certificates import self_signed_certificate
from ..conftest import missing_part
from ..servers import _CSRF, ROOT, Endpoint, http
from .traffic import check_table, readers_through, record, table_seqs

pytestmark = pytest.mark.e2e


@pytest.fixture
def deployment(start_server, tmp_path):
    """Two app instances and nginx before them, on a plain port (which redirects)
    and a TLS one; yields (plain edge, apps, TLS edge); nginx is stopped at teardown."""
    if not Path(nginx_site.NGINX).exists():
        missing_part("nginx is not installed (.ci/run installs it with apt-get)")
    apps = [
        start_server(TRUSTED_PROXIES="1", GRACEFUL_TIMEOUT="30", COOKIE_SECURE="1")
        for _ in range(2)
    ]
    from ..servers import free_port

    port, tls_port = free_port(), free_port()
    cert, cert_key = self_signed_certificate(tmp_path)
    plain_v4, plain_v6 = nginx_site.PLAIN_LISTEN
    tls_v4, tls_v6 = nginx_site.TLS_LISTEN
    site = nginx_site.render(
        {
            nginx_site.SERVER_NAME: "server_name 127.0.0.1;",
            nginx_site.CERTIFICATE: str(cert),
            nginx_site.CERTIFICATE_KEY: str(cert_key),
            plain_v4: f"listen 127.0.0.1:{port};",
            plain_v6: f"listen [::1]:{port};",
            tls_v4: f"listen 127.0.0.1:{tls_port} ssl;",
            tls_v6: f"listen [::1]:{tls_port} ssl;",
            nginx_site.UPSTREAMS[0]: f"127.0.0.1:{apps[0].port}",
            nginx_site.UPSTREAMS[1]: f"127.0.0.1:{apps[1].port}",
            nginx_site.STATIC_ROOT: f"{ROOT / 'static'}/",
        }
    )
    prefix = tmp_path / "nginx"
    main = nginx_site.install(prefix, site)
    proc = subprocess.Popen(
        [nginx_site.NGINX, "-p", str(prefix), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    tls = Endpoint(tls_port, ssl.create_default_context(cafile=str(cert)))
    tls.cafile = str(cert)
    try:
        session = http()
        session.verify = tls.cafile
        for _ in range(200):  # nginx starting: nothing to await but its port
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode())
            try:
                if session.get(f"{tls.url}/readyz", timeout=2).status_code == 200:
                    break
            except OSError:
                time.sleep(0.05)
        yield Endpoint(port), apps, tls
    finally:
        proc.terminate()
        proc.wait(10)


def tls_session(tls: Endpoint):
    session = http()
    session.verify = tls.cafile  # trust only our self-signed certificate
    return session


def test_health_and_static_files_through_nginx(deployment):
    _, _, tls = deployment
    session = tls_session(tls)
    ready = session.get(f"{tls.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    health = session.get(f"{tls.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    css = session.get(f"{tls.url}/static/style.css")
    assert css.status_code == 200
    assert css.headers["Server"].startswith("nginx")
    assert "public" in css.headers["Cache-Control"] and "Expires" in css.headers
    assert "max-age" in css.headers["Strict-Transport-Security"]
    assert css.content == (ROOT / "static" / "style.css").read_bytes()
    # The apps answer /metrics to loopback, and nginx is on loopback: the edge hides it.
    assert session.get(f"{tls.url}/metrics").status_code == 404


def test_plain_http_redirects_to_https(deployment):
    """Port 80 only sends browsers to the TLS site (the session cookie is Secure)."""
    plain, _, _ = deployment
    response = http().get(f"{plain.url}/rooms?x=1", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == "https://127.0.0.1/rooms?x=1"


def test_readyz_passes_over_an_instance_that_is_not_ready(deployment):
    """An instance that is down is passed over: the edge is ready while one is."""
    _, apps, tls = deployment
    apps[0].stop()
    session = tls_session(tls)
    for _ in range(4):  # both upstreams get asked in turn
        assert session.get(f"{tls.url}/readyz").status_code == 200


def established_to(port: int) -> int:
    return sum(
        1
        for c in psutil.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_clients_on_both_instances_chat_and_survive_a_graceful_restart(deployment, db):
    _, apps, edge = deployment

    def restart_one() -> None:
        # nginx spread the sockets over both instances, which chat through PostgreSQL.
        # The kernel's table of connections is read in pieces, not as a snapshot:
        # while other connections open and close, a read can miss some, so a
        # miss is read again (for a few seconds) before it counts.
        deadline = time.monotonic() + 5
        while not all(established_to(app.port) > 0 for app in apps):
            assert time.monotonic() < deadline, [established_to(app.port) for app in apps]
            time.sleep(0.05)
        # One instance restarts gracefully: its clients get 1001, come back through nginx.
        apps[0].stop()
        apps[0].start()

    senders, readers = readers_through(edge, db, restart_one, readers=6)
    stored = table_seqs(apps[0].database_url)
    record(
        "graceful restart of one of two instances behind nginx",
        senders,
        stored,
        [reader.seen for reader in readers],
    )
    check_table(stored)
    for reader in readers:
        assert reader.seen == stored


def test_tls_terminated_by_nginx_secure_cookies_and_origin(deployment, db):
    """nginx speaks TLS, the apps plain HTTP behind it: the login cookie is Secure,
    the CSRF check accepts the https form, and a wss:// upgrade from the site's
    own https origin is accepted while the http origin is refused."""
    from websockets.exceptions import InvalidStatus

    from ..conftest import make_user
    from ..servers import Client

    _, _, tls = deployment
    make_user(db, "levi", "correct horse")
    session = tls_session(tls)
    page = session.get(f"{tls.url}/login")
    assert page.status_code == 200
    token = _CSRF.search(page.text).group(1)
    response = session.post(
        f"{tls.url}/login",
        data={"csrf_token": token, "username": "levi", "password": "correct horse"},
        headers={"Referer": f"{tls.url}/login"},  # what a browser sends on https
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"].startswith(("/", tls.url))
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie
    session_cookie = f"session={session.cookies['session']}"

    own = Client.open(tls, "general", None, Cookie=session_cookie, Origin=tls.url)
    own.until("ready")
    own.close()
    wrong_scheme = f"http://127.0.0.1:{tls.port}"
    with pytest.raises(InvalidStatus) as refused:
        Client.open(tls, "general", None, Cookie=session_cookie, Origin=wrong_scheme)
    assert refused.value.response.status_code == 403


def test_an_incoming_webhook_made_through_nginx_has_its_https_address(deployment, db, people):
    """The URL a webhook's creation answers is the one the world reaches: https, the
    edge's host and port (X-Forwarded-* from the shipped site file), and a tool that
    posts to it as given reaches the room."""
    _, _, tls = deployment
    session = tls_session(tls)
    bearer = {"Authorization": f"Bearer {people['eren']['token']}"}
    assert session.post(f"{tls.url}/api/rooms", json={"name": "alerts"}, headers=bearer).ok
    made = session.post(f"{tls.url}/api/rooms/alerts/webhooks", json={"name": "CI"}, headers=bearer)
    assert made.status_code == 201
    url = made.json()["url"]
    assert url.startswith(f"{tls.url}/api/hooks/hook_")
    posted = http().post(url, data="build 812 passed", verify=tls.cafile, timeout=10)
    assert posted.status_code == 200 and posted.json()["room"] == "alerts"
    history = session.get(f"{tls.url}/api/rooms/alerts/messages", headers=bearer).json()
    assert [m["content"] for m in history["messages"] if m["type"] == "chat"] == [
        "build 812 passed"
    ]

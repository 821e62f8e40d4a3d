"""The production shape: the real nginx (deploy/nginx.conf) in front of two gunicorn
instances on different ports sharing one PostgreSQL, as two hosts of one deployment."""

import shutil
import ssl
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from ..certificates import self_signed_certificate
from ..conftest import missing_part
from ..servers import _CSRF, ROOT, Endpoint, http
from .traffic import check_table, readers_through, record, table_seqs

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def deployment(start_server, tmp_path):
    """Two app instances and nginx before them, on a plain port and a TLS one;
    yields (plain edge, apps, TLS edge); nginx is stopped at teardown."""
    if not Path(NGINX).exists():
        missing_part("nginx is not installed (.ci/run installs it with apt-get)")
    apps = [
        start_server(TRUSTED_PROXIES="1", GRACEFUL_TIMEOUT="30", COOKIE_SECURE="1")
        for _ in range(2)
    ]
    from ..servers import free_port

    port, tls_port = free_port(), free_port()
    cert, cert_key = self_signed_certificate(tmp_path)
    prefix = tmp_path / "nginx"
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True)
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    for key, value in {
        "mime_types": "/etc/nginx/mime.types",
        "app_1": f"127.0.0.1:{apps[0].port}",
        "app_2": f"127.0.0.1:{apps[1].port}",
        "listen": f"127.0.0.1:{port}",
        "tls_listen": f"127.0.0.1:{tls_port}",
        "certificate": str(cert),
        "certificate_key": str(cert_key),
        "static_root": str(ROOT / "static"),
    }.items():
        config = config.replace("{{" + key + "}}", value)
    (prefix / "nginx.conf").write_text(config)
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    edge = Endpoint(port)
    try:
        session = http()
        for _ in range(200):  # nginx starting: nothing to await but its port
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode())
            try:
                if session.get(f"{edge.url}/healthz", timeout=2).status_code == 200:
                    break
            except OSError:
                time.sleep(0.05)
        tls = Endpoint(tls_port, ssl.create_default_context(cafile=str(cert)))
        tls.cafile = str(cert)
        yield edge, apps, tls
    finally:
        proc.terminate()
        proc.wait(10)


def test_health_and_static_files_through_nginx(deployment):
    edge, _, _ = deployment
    session = http()
    health = session.get(f"{edge.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    css = session.get(f"{edge.url}/static/style.css")
    assert css.status_code == 200
    assert css.headers["Server"].startswith("nginx")
    assert "public" in css.headers["Cache-Control"] and "Expires" in css.headers
    assert css.content == (ROOT / "static" / "style.css").read_bytes()
    # The apps answer /metrics to loopback, and nginx is on loopback: the edge hides it.
    assert session.get(f"{edge.url}/metrics").status_code == 404


def established_to(port: int) -> int:
    return sum(
        1
        for c in psutil.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_clients_on_both_instances_chat_and_survive_a_graceful_restart(deployment, db):
    edge, apps, _ = deployment

    def restart_one() -> None:
        # nginx spread the sockets over both instances, which chat through PostgreSQL.
        assert all(established_to(app.port) > 0 for app in apps)
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
    session = http()
    session.verify = tls.cafile  # trust only our self-signed certificate
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

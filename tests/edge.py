"""The shipped nginx site (deploy/nginx-site.conf) as tests run it: the file
itself, a few of its values replaced as plain text, inside a minimal main
configuration of our own that stands in for Debian's /etc/nginx/nginx.conf
(whose http {} block the site is included in), run unprivileged with `-p`."""

import shutil
import subprocess
from pathlib import Path

from .servers import ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = ROOT / "deploy" / "nginx-site.conf"

# What an operator edits, and what a test moves (ports, the static folder), as
# the shipped file spells them.
SERVER_NAME = "server_name chat.example.com;"
CERTIFICATE = "/etc/letsencrypt/live/chat.example.com/fullchain.pem"
CERTIFICATE_KEY = "/etc/letsencrypt/live/chat.example.com/privkey.pem"
PLAIN_LISTEN = ("listen 80;", "listen [::]:80;")
TLS_LISTEN = ("listen 443 ssl;", "listen [::]:443 ssl;")
UPSTREAMS = ("127.0.0.1:8000", "127.0.0.1:8001")
STATIC_ROOT = "/opt/chat/static/"

# Debian's nginx.conf, cut to what the site relies on: mime types, and temp
# paths (here under the prefix, so nothing outside it is written).
MAIN = """\
worker_processes auto;
pid nginx.pid;
error_log stderr warn;
events {
    worker_connections 4096;
}
http {
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    include site.conf;
}
"""


def render(replacements: dict[str, str]) -> str:
    """The shipped site with each key replaced by its value; every key must be in
    the file (a renamed value fails here rather than silently running the default)."""
    text = SITE.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} is not in {SITE.name}"
        text = text.replace(old, new)
    return text


def install(prefix: Path, site: str) -> Path:
    """The main configuration and the site under `prefix`; the main file's path."""
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "site.conf").write_text(site)
    main = prefix / "nginx.conf"
    main.write_text(MAIN)
    return main


def check(prefix: Path, main: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on that configuration."""
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
    )

"""A self-signed TLS certificate for 127.0.0.1, for the servers that speak HTTPS in tests
(nginx in tests/e2e/test_nginx_e2e.py, the quote server in tests/bots/failures.py), or
for a host name (the page server of tests/bots/test_egress.py).
"""

import shutil
import subprocess
from pathlib import Path

from .conftest import missing_part


def self_signed_certificate(directory: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `name` (an IP address or a host name: 127.0.0.1 unless
    told) made by the openssl command (Debian's base system)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        missing_part("the openssl command is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"]
        + ["-addext", f"subjectAltName={'IP' if name[0].isdigit() else 'DNS'}:{name}"],
        check=True,
        capture_output=True,
    )
    return cert, key

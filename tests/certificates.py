"""A self-signed TLS certificate for 127.0.0.1, for the servers that speak HTTPS in tests
(nginx in tests/e2e/test_nginx_e2e.py, the quote server in tests/bots/failures.py).
"""

import shutil
import subprocess
from pathlib import Path

from .conftest import missing_part


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made by the openssl command (Debian's base system)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        missing_part("the openssl command is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key

"""WebSocket conformance: Autobahn's fuzzing client against the real server.

    make autobahn        (installs the Python 2.7 client, then runs this)

Starts gunicorn (2 gevent workers) with WS_ECHO=1 on a scratch database, points
Autobahn's fuzzing client at /ws/_echo (the same socket stack as /ws: frame
wrapper, size limit, no compression) with a Bearer token, and prints a summary
of the report (reports in instance/autobahn/reports/). Case groups 9 (huge
messages, beyond our 64 KiB frame limit) and 12/13 (permessage-deflate, which
we never negotiate) are excluded.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from tests.servers import Gunicorn, scratch_database  # noqa: E402

PYTHON2 = os.environ.get("PYTHON2", str(Path.home() / ".pyenv/versions/2.7.18/bin/python"))
WORK = ROOT / "instance" / "autobahn"


def main() -> int:
    with scratch_database() as url:
        with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
            token = actions.create_token(conn, actions.create_user(conn, "autobahn", "fuzz me!").id)
        server = Gunicorn(url, WORK / "gunicorn.log", 2, WS_ECHO="1", RATE_LIMIT_PER_SEC="0")
        server.start()
        try:
            spec = {
                "outdir": str(WORK / "reports"),
                "servers": [
                    {
                        "agent": "chat",
                        "url": f"{server.ws_url}/ws/_echo",
                        "headers": {"Authorization": f"Bearer {token}"},
                    }
                ],
                "cases": ["*"],
                "exclude-cases": ["9.*", "12.*", "13.*"],
                "exclude-agent-cases": {},
            }
            spec_file = WORK / "spec.json"
            spec_file.write_text(json.dumps(spec))
            subprocess.run(
                [
                    PYTHON2,
                    str(Path(__file__).parent / "wstest_with_headers.py"),
                    str(WORK / "site"),
                    str(spec_file),
                ],
                cwd=WORK,
                check=True,
                timeout=1800,
            )
        finally:
            server.stop()
    results = json.loads((WORK / "reports" / "index.json").read_text())["chat"]
    counts = Counter(r["behavior"] for r in results.values())
    print("Autobahn results:", dict(counts))
    bad = sorted(
        (
            case
            for case, r in results.items()
            if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL")
        ),
        key=lambda c: [int(p) for p in c.split(".")],
    )
    print("failed cases:", ", ".join(bad) or "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

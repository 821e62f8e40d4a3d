"""Schema migrations: migrations/NNNN_name.sql applied in order, each recorded once."""

import logging
import re
import time
from pathlib import Path

import psycopg
from psycopg.rows import tuple_row

from chat.config import ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = ROOT / "migrations"
# Any constant shared by every process that migrates; only its uniqueness matters.
ADVISORY_LOCK_KEY = 0x63686174  # "chat"

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

SQL_LOCK = "SELECT pg_advisory_xact_lock(%s)"
SQL_CREATE_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
"""
SQL_APPLIED = "SELECT version FROM schema_migrations"
SQL_RECORD = "INSERT INTO schema_migrations (version) VALUES (%s)"
# Whether a database has ever been migrated (the table exists), without failing.
SQL_HAS_TABLE = "SELECT to_regclass('schema_migrations') IS NOT NULL"


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files in the order they apply; a misnamed file is an error."""
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    for path in files:
        if not _NAME.match(path.name):
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
    return files


def migrate(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every pending migration in one transaction; return the names applied.

    The advisory lock makes concurrent starters (several workers, the CLI)
    wait for each other instead of applying the same file twice.
    """
    applied_now = []
    with psycopg.connect(conninfo) as conn:
        conn.execute(SQL_LOCK, (ADVISORY_LOCK_KEY,))
        conn.execute(SQL_CREATE_TABLE)
        done = {row[0] for row in conn.execute(SQL_APPLIED)}
        for path in migration_files(directory):
            version = path.stem
            if version in done:
                continue
            log.info("applying migration %s", path.name)
            conn.execute(path.read_text())
            conn.execute(SQL_RECORD, (version,))
            applied_now.append(version)
    return applied_now


def pending(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """The migrations of `directory` not yet applied to conn's database, in order
    (every one of them on a database never migrated). For /readyz: a worker
    whose code expects a column the database lacks is not ready."""
    with conn.cursor(row_factory=tuple_row) as cur:
        (has_table,) = cur.execute(SQL_HAS_TABLE).fetchone()
        done = {row[0] for row in cur.execute(SQL_APPLIED)} if has_table else set()
    return [path.stem for path in migration_files(directory) if path.stem not in done]


# Retrying at start while PostgreSQL is down: quick at first, then every 10 s.
RETRY_MIN, RETRY_MAX = 0.5, 10.0


def migrate_when_reachable(conninfo: str, done) -> None:
    """Retry migrate until PostgreSQL answers, then call done() (a worker that
    started while the database was down heals by itself)."""
    delay = RETRY_MIN
    while True:
        try:
            migrate(conninfo)
        except psycopg.OperationalError as exc:
            log.warning("database still unavailable (%s); retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
        else:
            log.info("database reachable again; schema up to date")
            done()
            return

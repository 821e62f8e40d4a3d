"""A fresh database migrated up to a given migration, for tests of later migrations."""

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chat.storage import migrate


@contextmanager
def database_at(pg_server: str, last: str) -> Iterator[str]:
    """conninfo of a new database with the project's migrations applied up to and
    including `last` (e.g. "0007_search"); `migrate.migrate(conninfo)` then applies
    the rest. Dropped afterwards."""
    name = f"chat_at_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conninfo = pg_conninfo.make_conninfo(pg_server, dbname=name)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for path in migrate.migration_files():
                if path.stem <= last:
                    shutil.copy(path, Path(folder) / path.name)
            assert migrate.migrate(conninfo, Path(folder))[-1] == last
        yield conninfo
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

"""chat.storage.migrate on real, empty databases: once only, under a lock, all or nothing."""

import uuid

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from chat.factory import close_app, create_app
from chat.storage import migrate

from ..conftest import run_concurrently

# The project's own migrations, in order, as recorded in schema_migrations.
ALL = [path.stem for path in migrate.migration_files()]


@pytest.fixture
def empty_db(pg_server):
    """conninfo of a brand-new database with no tables at all; dropped afterwards."""
    name = f"chat_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_conninfo.make_conninfo(pg_server, dbname=name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def query(conninfo: str, statement: str) -> list[tuple]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(statement).fetchall()


def table_exists(conninfo: str, table: str) -> bool:
    return query(conninfo, f"SELECT to_regclass('public.{table}') IS NOT NULL")[0][0]


def recorded(conninfo: str) -> list[str]:
    return [row[0] for row in query(conninfo, "SELECT version FROM schema_migrations ORDER BY 1")]


def write(directory, files: dict[str, str]):
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_fresh_database_gets_the_initial_migration_once(empty_db):
    assert migrate.migrate(empty_db) == ALL
    assert migrate.migrate(empty_db) == []

    assert recorded(empty_db) == ALL
    # The migration's seed row was inserted exactly once.
    assert query(empty_db, "SELECT name FROM rooms") == [("general",)]


def test_every_shipped_migration_is_recorded(empty_db):
    applied = migrate.migrate(empty_db)
    names = [p.stem for p in migrate.migration_files()]
    assert applied == names
    assert recorded(empty_db) == names


def test_concurrent_starters_apply_each_file_once(empty_db):
    starters = 8
    results, errors = run_concurrently(lambda: migrate.migrate(empty_db), starters)

    assert errors == []
    assert sorted(results) == [[]] * (starters - 1) + [ALL]
    assert query(
        empty_db, "SELECT version, count(*) FROM schema_migrations GROUP BY 1 ORDER BY 1"
    ) == [(name, 1) for name in ALL]
    assert query(empty_db, "SELECT count(*) FROM rooms") == [(1,)]


def test_new_files_apply_in_order_on_a_later_run(empty_db, tmp_path):
    directory = write(tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (id int);"})
    assert migrate.migrate(empty_db, directory) == ["0001_a"]

    write(
        directory,
        {
            # 0003 needs 0002's table: this only works if they run in name order.
            "0003_c.sql": "INSERT INTO b VALUES (3);",
            "0002_b.sql": "CREATE TABLE b (id int); INSERT INTO b VALUES (2);",
            "notes.txt": "not a migration, ignored",
        },
    )
    assert migrate.migrate(empty_db, directory) == ["0002_b", "0003_c"]
    assert query(empty_db, "SELECT id FROM b ORDER BY id") == [(2,), (3,)]
    assert recorded(empty_db) == ["0001_a", "0002_b", "0003_c"]


@pytest.mark.parametrize(
    "bad_name",
    [
        "1_initial.sql",
        "00001_initial.sql",
        "0001-initial.sql",
        "0001_Initial.sql",
        "0001_.sql",
        "initial.sql",
        "0001_with space.sql",
    ],
)
def test_misnamed_migration_file_is_refused(empty_db, tmp_path, bad_name):
    directory = write(
        tmp_path / "m",
        {"0001_good.sql": "CREATE TABLE good (id int);", bad_name: "CREATE TABLE bad (id int);"},
    )

    with pytest.raises(ValueError, match="0001_name.sql"):
        migrate.migration_files(directory)
    with pytest.raises(ValueError):
        migrate.migrate(empty_db, directory)
    # Refused before anything ran: not even the good file.
    assert not table_exists(empty_db, "good")
    assert not table_exists(empty_db, "bad")


def test_failing_file_leaves_the_whole_run_unapplied(empty_db, tmp_path):
    directory = write(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE first (id int); INSERT INTO first VALUES (1);",
            "0002_second.sql": "CREATE TABLE second (id int); SELECT 1 / 0;",
        },
    )

    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate.migrate(empty_db, directory)

    assert not table_exists(empty_db, "first")
    assert not table_exists(empty_db, "second")
    assert not table_exists(empty_db, "schema_migrations")

    # Once the broken file is fixed, the next run applies both.
    write(directory, {"0002_second.sql": "CREATE TABLE second (id int);"})
    assert migrate.migrate(empty_db, directory) == ["0001_first", "0002_second"]
    assert recorded(empty_db) == ["0001_first", "0002_second"]


def test_migrate_command(empty_db):
    app = create_app({"TESTING": True, "DATABASE_URL": empty_db, "MIGRATE_ON_START": False})
    try:
        runner = app.test_cli_runner()
        first = runner.invoke(args=["migrate"])
        assert first.exit_code == 0, first.output
        assert first.output.strip() == f"applied {len(ALL)} migration(s): {', '.join(ALL)}"
        again = runner.invoke(args=["migrate"])
        assert again.output.strip() == "applied 0 migration(s): none pending"
    finally:
        close_app(app)
    assert recorded(empty_db) == ALL

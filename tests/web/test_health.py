"""/healthz (liveness: the process answers) and /readyz (readiness: migrated,
the database answers, the LISTEN connection is up)."""

import pytest

from chat.factory import close_app, create_app
from chat.storage import migrate


@pytest.fixture
def unreachable_app(tmp_path):
    # A socket directory with no server in it: a real connection attempt that fails.
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"postgresql://nobody@/nothing?host={tmp_path}",
            "MIGRATE_ON_START": False,
        }
    )
    yield app
    close_app(app)


def test_healthz_ok_whatever_the_database(client, unreachable_app):
    for app_client in (client, unreachable_app.test_client()):
        response = app_client.get("/healthz")
        assert response.status_code == 200
        assert response.json == {"status": "ok"}


def test_readyz_ready_when_migrated_reachable_and_listening(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json == {"status": "ready"}
    # It started the worker's LISTEN loop, which stays up as after a first socket.
    assert app.extensions["realtime"].hub.listening.is_set()


def test_readyz_503_when_the_database_does_not_answer(unreachable_app):
    response = unreachable_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["reason"] == "database_down"


@pytest.mark.parametrize("missing", [-1, 0])
def test_readyz_503_names_the_pending_migrations(client, db, missing):
    """A migration the code has and the database has not (the newest, or any)."""
    version = migrate.migration_files()[missing].stem
    db.execute("DELETE FROM schema_migrations WHERE version = %s", (version,))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"] == "migrations_pending"
    assert response.json["pending"] == [version]


def test_readyz_503_on_a_database_never_migrated(client, db):
    db.execute("DROP TABLE schema_migrations")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["pending"] == [p.stem for p in migrate.migration_files()]


def test_readyz_503_while_the_migrations_are_retried(app):
    app.extensions["schema_pending"] = True
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"] == "starting"


def test_readyz_503_when_the_listen_connection_is_down(app, tmp_path):
    """The pool answers, but the worker's LISTEN connection cannot connect (its
    conninfo points at a socket directory with no server)."""
    from chat.realtime.service import Realtime, Settings

    nowhere = f"postgresql://nobody@/nothing?host={tmp_path}"
    settings = Settings.from_config({**app.config, "DATABASE_URL": nowhere})
    app.extensions["realtime"] = Realtime(settings, app.extensions["db_pool"])
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"] == "listen_down"

from chat.factory import create_app


def test_healthz_ok_when_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "up"}


def test_healthz_503_when_database_does_not_answer(tmp_path):
    # A socket directory with no server in it: a real connection attempt that fails.
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"postgresql://nobody@/nothing?host={tmp_path}",
            "MIGRATE_ON_START": False,
        }
    )
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.json["status"] == "unavailable"
    finally:
        from chat.factory import close_app

        close_app(app)

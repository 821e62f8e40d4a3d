"""Fixtures only the end-to-end tests use: real bot processes (`start_bot`), and the
`server` and `people` of test_realtime_e2e.py and test_events_e2e.py (a module that
wants another server or other people defines its own). `start_server` stays in
tests/conftest.py: browser and web tests start servers too.
"""

import pytest

from ..conftest import make_token, make_user


@pytest.fixture
def start_bot(database_url, tmp_path, request):
    """Start real bot processes (`flask --app app stock-bot`) on the test database;
    every one is killed at teardown, and its log printed if the test failed."""
    from ..servers import BotProcess

    started: list = []

    def start(name: str = "stock", **env: str):
        log = tmp_path / f"{name}-bot-{len(started)}.log"
        bot = BotProcess(database_url, log, name, **env)
        started.append(bot)
        return bot.start()

    yield start
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for bot in started:
        bot.kill()
        if failed:
            print(f"--- {bot.log_path} ---\n{bot.log()}")


@pytest.fixture
def server(start_server):
    """Two workers, rate limit off so that markers and floods of typing are not refused."""
    return start_server(RATE_LIMIT_PER_SEC="0")


@pytest.fixture
def people(db) -> dict[str, dict]:
    """Two accounts: {name: {"id", "username", "token"}}."""
    people = {}
    for name in ("eren", "mikasa"):
        user = make_user(db, name)
        people[name] = {"id": user.id, "username": user.username, "token": make_token(db, user)}
    return people

"""chat.config: settings from the environment, the shared SECRET_KEY."""

import os
import re
import stat

import pytest

from chat import config

from .conftest import run_concurrently


@pytest.fixture
def no_secret_env(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)


def test_secret_key_is_generated_once_and_kept(tmp_path, no_secret_env):
    instance = tmp_path / "instance"  # does not exist yet: secret_key creates it

    first = config.secret_key(instance)
    second = config.secret_key(instance)

    assert first == second
    assert re.fullmatch(r"[0-9a-f]{64}", first)  # 32 random bytes in hex
    path = instance / "secret_key"
    assert path.read_text().strip() == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_secret_key_differs_per_instance(tmp_path, no_secret_env):
    assert config.secret_key(tmp_path / "a") != config.secret_key(tmp_path / "b")


def test_secret_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    (tmp_path / "secret_key").write_text("from-the-file\n")

    assert config.secret_key(tmp_path) == "from-the-environment"


def test_secret_key_from_the_environment_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    config.secret_key(tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_secret_key_concurrent_starters_agree(tmp_path, no_secret_env):
    # Every worker starting at once must sign sessions with the same key.
    starters = 8
    keys, errors = run_concurrently(lambda: config.secret_key(tmp_path), starters)

    assert errors == []
    assert len(keys) == starters and len(set(keys)) == 1


def test_secret_key_empty_file_is_a_clear_error(tmp_path, no_secret_env):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(SystemExit, match="secret_key is empty"):
        config.secret_key(tmp_path)


@pytest.mark.parametrize(
    "name, raw",
    [
        ("DB_POOL_SIZE", "ten"),
        ("DB_POOL_SIZE", "1.5"),
        ("DB_POOL_SIZE", "0"),  # below the minimum of 1
        ("DB_POOL_SIZE", "-3"),
        ("MAX_MESSAGE_CHARS", "lots"),
        ("WS_MAX_FRAME_BYTES", "512"),  # below the minimum of 1024
        ("OUTBOUND_QUEUE", "9"),
        ("WS_PING_INTERVAL", "soon"),
    ],
)
def test_load_rejects_bad_numbers(tmp_path, monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(SystemExit) as caught:
        config.load(tmp_path)
    assert name in str(caught.value)
    assert raw in str(caught.value)


@pytest.mark.parametrize(
    "name, raw, key, expected",
    [
        ("DB_POOL_SIZE", " 7 ", "DB_POOL_SIZE", 7),
        ("DB_POOL_SIZE", "", "DB_POOL_SIZE", 10),
        ("MAX_MESSAGE_CHARS", "100", "MAX_MESSAGE_CHARS", 100),
        ("WS_PING_INTERVAL", "0", "WS_PING_INTERVAL", 0.0),
        ("WS_PING_INTERVAL", "2.5", "WS_PING_INTERVAL", 2.5),
    ],
)
def test_load_reads_numbers(tmp_path, monkeypatch, name, raw, key, expected):
    monkeypatch.setenv(name, raw)
    assert config.load(tmp_path)[key] == expected


def test_load_defaults(tmp_path, monkeypatch):
    for name in ("DB_POOL_SIZE", "MAX_MESSAGE_CHARS", "WS_MAX_FRAME_BYTES", "ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = config.load(tmp_path)
    assert settings["DB_POOL_SIZE"] == 10
    assert settings["MAX_MESSAGE_CHARS"] == 4000
    assert settings["WS_MAX_FRAME_BYTES"] == 64 * 1024
    assert settings["ALLOWED_ORIGINS"] == []


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("", []),
        ("  ,  , ", []),
        ("https://Chat.Example.COM/", ["https://chat.example.com"]),
        (
            " https://a.example/ , http://LOCALHOST:8000//,https://b.example",
            ["https://a.example", "http://localhost:8000", "https://b.example"],
        ),
    ],
)
def test_allowed_origins_are_normalised(tmp_path, monkeypatch, raw, expected):
    monkeypatch.setenv("ALLOWED_ORIGINS", raw)
    assert config.load(tmp_path)["ALLOWED_ORIGINS"] == expected


# --- the README's configuration table against the code ---------------------------------

# Reads of the environment in the code: os.environ / os.getenv, and config.py's helpers.
_ENV_READ = re.compile(
    r"""(?:os\.environ(?:\.get|\.pop)?\(?\[?|os\.getenv\(|\b_int\(|\b_float\(|\b_flag\()\s*"""
    r""""([A-Z][A-Z0-9_]*)\""""
)
# Set and read by gunicorn.conf.py itself (master to on_exit): not a setting.
_INTERNAL = {"CHAT_OWN_METRICS_DIR"}


def _sources():
    root = config.ROOT
    return [root / "app.py", root / "gunicorn.conf.py", *sorted((root / "chat").rglob("*.py"))]


def test_every_variable_the_code_reads_is_in_the_readme_table():
    """STYLE 9: every setting is documented in one table, and the table holds
    nothing the code does not read (TEST_DATABASE_URL: the test suite's)."""
    from .servers import documented_variables

    read = {name for path in _sources() for name in _ENV_READ.findall(path.read_text())}
    documented = set(documented_variables())
    assert read - _INTERNAL - documented == set(), "read but not in the README's table"
    assert documented - read == {"TEST_DATABASE_URL"}, "in the README's table but never read"


def _gunicorn_settings(monkeypatch, **env):
    """gunicorn's effective settings from gunicorn.conf.py, loaded as gunicorn loads
    it, with every documented variable unset but `env`."""
    from gunicorn.app.base import Application

    from .servers import documented_variables

    for name in documented_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class ConfigOnly(Application):
        def load_config(self):
            self.load_config_from_file(str(config.ROOT / "gunicorn.conf.py"))

        def load(self):
            raise AssertionError("not started")

    return ConfigOnly().cfg


def test_port_and_host_default_to_the_readme(monkeypatch):
    """PORT cannot be left unset in the e2e test (8000 may be taken): checked here."""
    from .servers import documented_defaults

    readme = documented_defaults()
    cfg = _gunicorn_settings(monkeypatch)
    assert cfg.bind == [f"{readme['HOST'].strip('`')}:{readme['PORT'].strip('`')}"]


@pytest.mark.parametrize(
    "access_log, enabled",
    [(None, False), ("", False), ("-", True), ("/var/log/chat/access.log", True)],
)
def test_access_log_is_on_only_when_access_log_is_set(monkeypatch, access_log, enabled):
    """gunicorn turns its access log on whenever logconfig_dict is set; our logger
    class answers from ACCESS_LOG alone."""
    env = {} if access_log is None else {"ACCESS_LOG": access_log}
    cfg = _gunicorn_settings(monkeypatch, **env)
    assert cfg.logconfig_dict  # the case gunicorn gets wrong by itself
    logger = cfg.logger_class.__new__(cfg.logger_class)  # no setup(): it configures logging
    logger.cfg = cfg
    assert logger.access_log_enabled is enabled
    assert "%(q)s" not in cfg.access_log_format and "%(r)s" not in cfg.access_log_format
    assert "%(f)s" not in cfg.access_log_format  # the Referer carries the last page's query


def test_embedded_pgdata_defaults_to_the_readme(tmp_path, monkeypatch):
    """PGDATA_DIR matters only without DATABASE_URL, which the e2e test must set."""
    from .servers import documented_defaults

    monkeypatch.delenv("PGDATA_DIR", raising=False)
    default = documented_defaults()["PGDATA_DIR"].strip("`")
    assert config.embedded_pgdata(tmp_path / "instance") == tmp_path / default


def test_stock_quote_url_defaults_to_the_readme(tmp_path, monkeypatch):
    """The e2e test points the bot at a local quote server (tests never call stooq)."""
    from .servers import documented_defaults

    monkeypatch.delenv("STOCK_QUOTE_URL", raising=False)
    default = documented_defaults()["STOCK_QUOTE_URL"].strip("`")
    assert config.load(tmp_path)["STOCK_QUOTE_URL"] == default

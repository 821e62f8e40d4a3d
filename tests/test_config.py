"""chat.config: settings from the environment, the shared SECRET_KEY."""

import difflib
import os
import re
import stat
import subprocess
import sys

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


@pytest.fixture
def unset_env(monkeypatch):
    """Every variable of SETTINGS unset but SECRET_KEY (so nothing is written)."""
    for setting in config.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")


def test_load_defaults(tmp_path, unset_env):
    """load() with nothing set: the same dict as the hand-written one it replaced."""
    assert config.load(tmp_path) == {
        "DATABASE_URL": None,
        "SECRET_KEY": "from-the-environment",
        "ALLOWED_ORIGINS": [],
        "DB_POOL_SIZE": 10,
        "WS_MAX_FRAME_BYTES": 65536,
        "MAX_MESSAGE_CHARS": 4000,
        "WS_PING_INTERVAL": 25.0,
        "WORKER_CONNECTIONS": 5000,
        "OUTBOUND_QUEUE": 1000,
        "HISTORY_PAGE_SIZE": 50,
        "TRUSTED_PROXIES": 0,
        "WS_ECHO": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "RATE_LIMIT_PER_SEC": 20.0,
        "RATE_LIMIT_BURST": 60,
        "MAX_SOCKETS_PER_USER": 20,
        "MAX_CONTENT_LENGTH": 262144,
        "UPLOAD_MAX_BYTES": 25 * 1024 * 1024,
        "UPLOAD_QUOTA_BYTES": 1024 * 1024 * 1024,
        "UPLOAD_UNSENT_HOURS": 24,
        "IMAGE_MAX_PIXELS": 50_000_000,
        "LINK_PREVIEWS": True,
        "METRICS_TOKEN": "",
        "WRITE_BATCH": True,
        "REQUEST_BODY_TIMEOUT": 15.0,
        "MAX_ROOMS_PER_CONNECTION": 100,
        "TYPING_INTERVAL": 2.0,
        "LOGIN_FAILURES_PER_USER": 10,
        "LOGIN_FAILURES_PER_ADDRESS": 50,
        "LOGIN_WINDOW_SECONDS": 900,
        "LISTEN_PROBE_INTERVAL": 15.0,
        "DB_TCP_TIMEOUT": 10.0,
        "PRESENCE_HEARTBEAT": 10.0,
        "PRESENCE_GRACE": 5.0,
        "PRESENCE_TIMEOUT": 30.0,
        "BOT_POLL_INTERVAL": 10.0,
        "BOT_VISIBILITY_TIMEOUT": 60.0,
        "BOT_MAX_ATTEMPTS": 3,
        "BOT_RETRY_DELAY": 2.0,
        "STOCK_QUOTE_URL": "https://stooq.com/q/l/?s={symbol}&f=sd2t2ohlcv&h&e=csv",
        "STOCK_QUOTE_TIMEOUT": 5.0,
        "EGRESS_ALLOW": (),
    }


@pytest.mark.parametrize(
    "setting",
    [s for s in config.SETTINGS if type(s.default) in (int, float, bool)],
    ids=lambda s: s.name,
)
def test_values_have_their_defaults_type(setting):
    """A whole-number setting is an int, a number a float, a switch a bool, whatever
    the text (`2048`, `1`): the workers' `app settings:` line shows them so."""
    for raw in ("", "2048", "1"):
        try:
            parsed = setting.value({setting.name: raw})
        except SystemExit:  # below the setting's minimum
            continue
        assert type(parsed) is type(setting.default), raw


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("RATE_LIMIT_PER_SEC", "fast", "RATE_LIMIT_PER_SEC must be a number, got 'fast'"),
        ("MAX_CONTENT_LENGTH", "1023", "MAX_CONTENT_LENGTH must be at least 1024, got 1023"),
        ("LOGIN_WINDOW_SECONDS", "0", "LOGIN_WINDOW_SECONDS must be at least 1, got 0"),
        ("TRUSTED_PROXIES", "-1", "TRUSTED_PROXIES must be at least 0, got -1"),
        ("BOT_MAX_ATTEMPTS", " 2.5 ", "BOT_MAX_ATTEMPTS must be a whole number, got '2.5'"),
    ],
)
def test_load_error_messages(tmp_path, monkeypatch, name, raw, message):
    """The exact message a bad value stops the start with (the text operators see)."""
    monkeypatch.setenv(name, raw)
    with pytest.raises(SystemExit) as caught:
        config.load(tmp_path)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "raw, on",
    [
        ("", False),
        ("0", False),
        ("off", False),
        ("no", False),
        ("2", False),
        ("1", True),
        (" 1 ", True),
        ("true", True),
        ("YES", True),
        ("On", True),
    ],
)
@pytest.mark.parametrize(
    "name, keys",
    [
        ("COOKIE_SECURE", ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE")),
        ("WS_ECHO", ("WS_ECHO",)),
    ],
)
def test_switches(tmp_path, monkeypatch, name, keys, raw, on):
    """Every on/off variable reads the same words; COOKIE_SECURE sets both cookies' keys."""
    monkeypatch.setenv(name, raw)
    settings = config.load(tmp_path)
    assert [settings[key] for key in keys] == [on] * len(keys)


@pytest.mark.parametrize(
    "raw, batched", [("", True), ("1", True), ("yes", True), ("0", False), (" 0 ", False)]
)
def test_write_batch_is_off_only_for_0(tmp_path, monkeypatch, raw, batched):
    monkeypatch.setenv("WRITE_BATCH", raw)
    assert config.load(tmp_path)["WRITE_BATCH"] is batched


def test_value_of_an_unknown_name_is_an_error():
    """gunicorn.conf.py and secret_key() read through value(): a misspelt name fails."""
    with pytest.raises(KeyError):
        config.value("WEB_CONCURENCY")


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


# --- the table itself ------------------------------------------------------------------


def test_settings_are_one_row_each():
    names = [setting.name for setting in config.SETTINGS]
    assert len(names) == len(set(names))
    keys = [key for setting in config.SETTINGS for key in setting.config_keys]
    assert len(keys) == len(set(keys))
    assert not set(keys) & {*config.FIXED, "SECRET_KEY"}


@pytest.mark.parametrize("setting", config.SETTINGS, ids=lambda s: s.name)
def test_each_setting_has_one_line_of_why(setting):
    """One table row each: no line break, no `|` (a cell boundary in Markdown)."""
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", setting.name)
    assert setting.why.strip() == setting.why and setting.why
    assert "\n" not in setting.why and "|" not in setting.why
    assert "|" not in setting.default_cell


@pytest.mark.parametrize("setting", config.SETTINGS, ids=lambda s: s.name)
def test_each_default_is_what_an_unset_variable_reads_as(setting):
    """The table's default is the value, not just its documentation (PGDATA_DIR's and
    SECRET_KEY's None are worked out by embedded_pgdata() and secret_key())."""
    assert setting.value({}) == setting.default
    assert setting.value({setting.name: ""}) == setting.default


# --- every variable the code reads is in the table ------------------------------------

# Reads of the environment in the code: os.environ / os.getenv, and config.value().
_ENV_READ = re.compile(
    r"""(?:os\.environ(?:\.get|\.pop)?\(?\[?|os\.getenv\(|\bvalue\()\s*"([A-Z][A-Z0-9_]*)\""""
)
# Read from the environment but no setting, each with why.
_INTERNAL = {
    # Set by gunicorn.conf.py in the master for its own on_exit: it made the
    # metrics directory, so it removes it.
    "CHAT_OWN_METRICS_DIR",
}
# In the table although the product does not read it: the test suite's own.
_TESTS_ONLY = {"TEST_DATABASE_URL": config.ROOT / "tests" / "conftest.py"}


def _product_sources():
    root = config.ROOT
    return [root / "app.py", root / "gunicorn.conf.py", *sorted((root / "chat").rglob("*.py"))]


def _read_in(paths) -> set[str]:
    return {name for path in paths for name in _ENV_READ.findall(path.read_text())}


def test_every_variable_the_code_reads_is_in_the_table():
    """STYLE 9: the environment is read through one table (which the README shows)."""
    table = {setting.name for setting in config.SETTINGS}
    unlisted = _read_in(_product_sources()) - table - _INTERNAL
    assert unlisted == set(), "read from the environment but not in chat/config.py's SETTINGS"


def test_every_variable_in_the_table_is_read():
    """A row nobody reads documents a setting that does nothing: load() reads those
    with config keys; the rest must be read by name somewhere."""
    read = _read_in(_product_sources())
    for name, reader in _TESTS_ONLY.items():
        assert name in _read_in([reader]), f"{name} is no longer read by {reader}"
    unread = {
        setting.name
        for setting in config.SETTINGS
        if not setting.config_keys and setting.name not in read | set(_TESTS_ONLY)
    }
    assert unread == set(), "in SETTINGS but never read"


# --- the README's table is the generated one ------------------------------------------

README = config.ROOT / "README.md"


def test_readme_table_is_generated_from_settings():
    """The README's configuration table is exactly `python -m chat.config`'s output."""
    document = README.read_text()
    generated = config.with_table(document)
    if document != generated:
        diff = "".join(
            difflib.unified_diff(
                document.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "README.md",
                "README.md from chat/config.py's SETTINGS",
            )
        )
        pytest.fail(
            "README.md's configuration table differs from SETTINGS in chat/config.py:"
            f" run `make settings-table` (python -m chat.config --write README.md)\n{diff}"
        )


def test_with_table_replaces_only_between_the_markers():
    document = f"# Title\n\nbefore\n{config.TABLE_START}\nold table\n{config.TABLE_END}\nafter\n"
    rewritten = config.with_table(document)
    assert rewritten == (
        f"# Title\n\nbefore\n{config.TABLE_START}\n{config.markdown_table()}"
        f"{config.TABLE_END}\nafter\n"
    )
    assert config.with_table(rewritten) == rewritten
    with pytest.raises(SystemExit, match="settings:start"):
        config.with_table("no markers here\n")


def test_python_m_chat_config_prints_the_table():
    printed = subprocess.run(
        [sys.executable, "-m", "chat.config"],
        cwd=config.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert printed.stdout == config.markdown_table()
    rows = printed.stdout.splitlines()
    assert rows[0] == "| variable | default | what it does |"
    assert len(rows) == 2 + len(config.SETTINGS)


def test_config_imports_neither_flask_nor_psycopg():
    """The gunicorn master imports chat/config.py: the standard library only."""
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('config', {str(config.__file__)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in ('flask', 'psycopg', 'gevent') if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]"


# --- gunicorn.conf.py reads the same table --------------------------------------------


def _gunicorn_settings(monkeypatch, **env):
    """gunicorn's effective settings from gunicorn.conf.py, loaded as gunicorn loads
    it, with every variable of SETTINGS unset but `env`."""
    from gunicorn.app.base import Application

    for setting in config.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class ConfigOnly(Application):
        def load_config(self):
            self.load_config_from_file(str(config.ROOT / "gunicorn.conf.py"))

        def load(self):
            raise AssertionError("not started")

    return ConfigOnly().cfg


def _setting(name: str) -> config.Setting:
    return next(setting for setting in config.SETTINGS if setting.name == name)


def test_gunicorn_defaults_are_the_tables(monkeypatch):
    cfg = _gunicorn_settings(monkeypatch)
    assert cfg.bind == [f"{_setting('HOST').default}:{_setting('PORT').default}"]
    assert cfg.workers == _setting("WEB_CONCURRENCY").default == 2
    assert cfg.worker_connections == _setting("WORKER_CONNECTIONS").default == 5000
    assert cfg.timeout == _setting("GUNICORN_TIMEOUT").default == 30
    assert cfg.keepalive == _setting("KEEPALIVE").default == 2
    assert cfg.graceful_timeout == _setting("GRACEFUL_TIMEOUT").default == 10
    assert cfg.loglevel == _setting("LOG_LEVEL").default == "info"
    assert cfg.control_socket_disable is True
    assert cfg.accesslog is None


@pytest.mark.parametrize(
    "env, attribute, expected",
    [
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "bind", ["0.0.0.0:9000"]),
        ({"HOST": "::1"}, "bind", ["[::1]:8000"]),
        ({"WEB_CONCURRENCY": " 4 "}, "workers", 4),
        ({"WORKER_CONNECTIONS": "100"}, "worker_connections", 100),
        ({"GUNICORN_TIMEOUT": "0"}, "timeout", 0),
        ({"GRACEFUL_TIMEOUT": "3"}, "graceful_timeout", 3),
        ({"KEEPALIVE": "5"}, "keepalive", 5),
        # At least 1: 0 would turn keep-alive off, and with it the head deadline.
        ({"KEEPALIVE": "0"}, "keepalive", 1),
        ({"KEEPALIVE": "-3"}, "keepalive", 1),
        ({"LOG_LEVEL": "debug"}, "loglevel", "debug"),
        ({"GUNICORN_CONTROL_SOCKET": "1"}, "control_socket_disable", False),
        ({"GUNICORN_CONTROL_SOCKET": "0"}, "control_socket_disable", True),
        ({"ACCESS_LOG": "-"}, "accesslog", "-"),
    ],
)
def test_gunicorn_reads_the_table(monkeypatch, env, attribute, expected):
    assert getattr(_gunicorn_settings(monkeypatch, **env), attribute) == expected


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("WEB_CONCURRENCY", "two", "WEB_CONCURRENCY must be a whole number, got 'two'"),
        ("GUNICORN_TIMEOUT", "-1", "GUNICORN_TIMEOUT must be at least 0, got -1"),
        ("KEEPALIVE", "2s", "KEEPALIVE must be a whole number, got '2s'"),
    ],
)
def test_gunicorn_bad_numbers_stop_the_start(monkeypatch, name, raw, message):
    with pytest.raises(SystemExit) as caught:
        _gunicorn_settings(monkeypatch, **{name: raw})
    assert str(caught.value) == message


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


# --- LOG_FORMAT ------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [("", "text"), ("text", "text"), (" JSON ", "json")])
def test_log_format_reads_text_or_json(monkeypatch, raw, expected):
    monkeypatch.setenv("LOG_FORMAT", raw)
    assert config.value("LOG_FORMAT") == expected


@pytest.mark.parametrize("raw", ["xml", "jsonl", "1"])
def test_log_format_refuses_anything_else(monkeypatch, raw):
    monkeypatch.setenv("LOG_FORMAT", raw)
    with pytest.raises(SystemExit) as caught:
        config.value("LOG_FORMAT")
    assert str(caught.value) == f"LOG_FORMAT must be one of text, json, got {raw!r}"


@pytest.mark.parametrize(
    "log_format, formatter",
    [
        ("text", {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"}),
        (
            "json",
            {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": ["levelname", "process", "name", "message"],
                "rename_fields": {"levelname": "level", "process": "pid", "name": "logger"},
                "timestamp": "time",
            },
        ),
    ],
)
def test_gunicorn_logs_in_log_format(monkeypatch, log_format, formatter):
    """gunicorn's lines and the app's (the root logger) share one formatter,
    whose every handler adds the request's fields."""
    cfg = _gunicorn_settings(monkeypatch, LOG_FORMAT=log_format)
    logging = cfg.logconfig_dict
    assert logging["formatters"] == {"chat": formatter}
    for handler in logging["handlers"].values():
        assert handler["formatter"] == "chat" and "context" in handler["filters"]

"""deploy/ as shipped: the nginx site passes `nginx -t`, the systemd units pass
`systemd-analyze verify` and run what `make run` runs, and the example
environment file is SETTINGS (chat/config.py) with its defaults."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chat import config, run

from . import edge
from .certificates import self_signed_certificate
from .conftest import missing_part
from .servers import ROOT

DEPLOY = ROOT / "deploy"
UNITS = {
    # unit file: an instance to verify it as
    "chat-web@.service": "chat-web@8000.service",
    "chat-work.service": "chat-work.service",
    "chat-bot@.service": "chat-bot@stock.service",
}
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


# --- nginx -----------------------------------------------------------------------------


def test_the_site_file_has_no_placeholders():
    text = edge.SITE.read_text()
    assert "{{" not in text and "}}" not in text


def test_the_shipped_site_passes_nginx_t(tmp_path):
    """Debian's main configuration, cut short, including the site with only its
    certificate paths pointed at a real (self-signed) certificate."""
    if not Path(edge.NGINX).exists():
        missing_part("nginx is not installed (.ci/run installs it with apt-get)")
    cert, key = self_signed_certificate(tmp_path)
    site = edge.render({edge.CERTIFICATE: str(cert), edge.CERTIFICATE_KEY: str(key)})
    prefix = tmp_path / "nginx"
    checked = edge.check(prefix, edge.install(prefix, site))
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


# --- systemd ---------------------------------------------------------------------------


@pytest.fixture
def unit_root(tmp_path) -> Path:
    """A root for `systemd-analyze verify --root`: the shipped units in its
    /etc/systemd/system, this machine's system units, and the programs their
    ExecStart= lines name (the units are verified exactly as shipped)."""
    if not Path(SYSTEMD_ANALYZE).exists() or not SYSTEM_UNITS.is_dir():
        missing_part("systemd-analyze is not installed (Debian's systemd package)")
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(DEPLOY / "systemd" / unit, root / "etc/systemd/system" / unit)
    for program in {*exec_programs(), "/bin/kill"}:
        path = root / program.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return root


def unit_text(unit: str) -> str:
    return (DEPLOY / "systemd" / unit).read_text()


def directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit_text(unit).splitlines():
        if re.match(r"[A-Za-z]+=", line):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def exec_programs() -> list[str]:
    return [directives(unit)["ExecStart"][0].split()[0] for unit in UNITS]


def verify(root: Path, *units: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_units_pass_systemd_analyze_verify(unit_root):
    checked = verify(unit_root, *UNITS.values())
    # verify exits 0 on unknown keys and bad values too: it says so on stderr.
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_systemd_analyze_verify_notices_a_mistake(unit_root):
    """The check above can fail: a misspelt directive and a relative path are reported."""
    unit = unit_root / "etc/systemd/system/chat-work.service"
    text = unit.read_text().replace("ProtectSystem=", "ProtectSystme=")
    unit.write_text(text.replace("EnvironmentFile=/etc/", "EnvironmentFile=etc/"))
    checked = verify(unit_root, "chat-work.service")
    assert "Unknown key 'ProtectSystme'" in checked.stderr
    assert "EnvironmentFile= path is not absolute" in checked.stderr


@pytest.mark.parametrize("unit", list(UNITS))
def test_each_unit_runs_as_its_own_user_with_limits_restarts_and_hardening(unit):
    found = directives(unit)
    expected = {
        "User": ["chat"],
        "Group": ["chat"],
        "WorkingDirectory": ["/opt/chat"],
        "EnvironmentFile": ["/etc/chat/chat.env"],
        "NoNewPrivileges": ["yes"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "CapabilityBoundingSet": [""],
    }
    for key, value in expected.items():
        assert found.get(key) == value, (key, found.get(key))
    # Above WORKER_CONNECTIONS (5,000 sockets per worker by default).
    assert int(found["LimitNOFILE"][0]) > config.value("WORKER_CONNECTIONS")
    assert found["Restart"][0] in ("on-failure", "always")
    assert found["WantedBy"] == ["multi-user.target"]


def test_the_units_run_what_make_run_runs():
    """The same commands as chat/run.py's supervisor, from the install folder."""
    bin_dir = "/opt/chat/.venv/bin/"
    web = directives("chat-web@.service")["ExecStart"][0].split()
    assert web[0] == bin_dir + "gunicorn"
    assert web[1:] == ["-c", "/opt/chat/gunicorn.conf.py", "app:app"]
    assert run.gunicorn_command()[1:] == ["-c", "gunicorn.conf.py", "app:app"]
    work = directives("chat-work.service")["ExecStart"][0].split()
    assert work == [bin_dir + "flask", *run.bot_command(run.WORKER)[1:]]
    bot = directives("chat-bot@.service")["ExecStart"][0].split()
    assert bot == [bin_dir + "flask", *run.bot_command("%i")[1:]]
    # The web unit's instance is its port, which the environment file leaves alone.
    assert directives("chat-web@.service")["Environment"] == ["PORT=%i"]


# --- the environment file --------------------------------------------------------------

ENV_EXAMPLE = DEPLOY / "chat.env.example"


def test_the_env_example_is_generated_from_settings():
    assert ENV_EXAMPLE.read_text() == config.env_example(), "run `make settings-table`"


def env_lines() -> dict[str, tuple[bool, str]]:
    """NAME: (set, value) for every `NAME=value` or `#NAME=value` line."""
    lines = re.findall(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    names = [name for _, name, _ in lines]
    assert len(names) == len(set(names)), "a setting listed twice"
    return {name: (not hashed, value) for hashed, name, value in lines}


def test_the_env_example_lists_every_setting_at_its_default():
    lines = env_lines()
    assert list(lines) == [setting.name for setting in config.SETTINGS]
    for setting in config.SETTINGS:
        is_set, value = lines[setting.name]
        if is_set:
            continue
        # A commented line's value, if uncommented, is the default.
        assert setting.value({setting.name: value}) == setting.value({}), setting.name


def test_the_env_example_sets_what_production_behind_nginx_needs():
    lines = env_lines()
    assert {name for name, (is_set, _) in lines.items() if is_set} == set(config.PRODUCTION)
    assert lines["TRUSTED_PROXIES"] == (True, "1") and lines["COOKIE_SECURE"] == (True, "1")
    # PORT is the web unit's instance: a value here would override it.
    assert lines["PORT"][0] is False

"""supervisord.conf: one group, the guardian first up, stop times that fit, settings from the environment."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CONF = ROOT / "supervisord.conf"
PROGRAMS = ("risk", "order_gateway", "md_gateway", "strategy")


def _conf() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(CONF.read_text())
    return parser


def test_one_group_holds_the_four_programs_and_the_emulator() -> None:
    conf = _conf()
    assert conf["group:perp-mm"]["programs"].split(",") == ["emulator", *PROGRAMS]


def test_the_guardian_starts_first_and_the_strategy_last() -> None:
    conf = _conf()
    priorities = [int(conf[f"program:{name}"]["priority"]) for name in ("emulator", *PROGRAMS)]
    assert priorities == sorted(priorities)
    assert len(set(priorities)) == len(priorities)


def test_stop_settings_leave_time_for_a_clean_cancel_all() -> None:
    conf = _conf()
    for name in PROGRAMS:
        program = conf[f"program:{name}"]
        assert program["stopsignal"] == "TERM"
        assert program["stopasgroup"] == "true"
        assert program["killasgroup"] == "true"
        assert int(program["startretries"]) >= 3
        assert int(program["startsecs"]) >= 1
    stops = {name: int(conf[f"program:{name}"]["stopwaitsecs"]) for name in PROGRAMS}
    # The guardian outlives the others (up to 30 s) and then sweeps the venue (up to 10 s).
    assert stops["risk"] > max(s for n, s in stops.items() if n != "risk")
    assert stops["risk"] >= 45
    assert stops["strategy"] > 10  # its own stop deadline: cancel-all verified through the gateway


def test_restart_policy() -> None:
    conf = _conf()
    for name in ("risk", "order_gateway", "md_gateway"):
        assert conf[f"program:{name}"]["autorestart"] == "true"
    # A clean end of --duration is not a crash; a kill or crash is restarted.
    assert conf["program:strategy"]["autorestart"] == "unexpected"
    assert conf["program:strategy"]["exitcodes"] == "0"


def test_paper_emulator_is_off_unless_switched_on_and_outlives_the_guardian() -> None:
    emulator = _conf()["program:emulator"]
    assert emulator["autostart"] == "%(ENV_MM_EMULATOR)s"
    # Its launcher alone gets the stop signal and holds the emulator until the guardian is done.
    assert emulator["stopasgroup"] == "false"
    assert emulator["killasgroup"] == "true"
    assert int(emulator["stopwaitsecs"]) > int(_conf()["program:risk"]["stopwaitsecs"])


def test_logs_rotate_in_the_configured_directory() -> None:
    conf = _conf()
    assert conf["supervisord"]["logfile"] == "%(ENV_MM_LOG_DIR)s/supervisord.log"
    for name in ("emulator", *PROGRAMS):
        program = conf[f"program:{name}"]
        for stream in ("stdout", "stderr"):
            suffix = "out" if stream == "stdout" else "err"
            assert program[f"{stream}_logfile"] == f"%(ENV_MM_LOG_DIR)s/%(program_name)s.{suffix}.log"
            assert program[f"{stream}_logfile_maxbytes"] == "50MB"
            assert int(program[f"{stream}_logfile_backups"]) >= 1


def test_control_socket_is_private_and_serves_the_xmlrpc_interface() -> None:
    conf = _conf()
    assert conf["unix_http_server"]["chmod"] == "0700"
    assert conf["unix_http_server"]["file"] == "%(ENV_PERP_MM_RUN_DIR)s/supervisor.sock"
    assert conf["supervisorctl"]["serverurl"] == "unix://%(ENV_PERP_MM_RUN_DIR)s/supervisor.sock"
    factory = conf["rpcinterface:supervisor"]["supervisor.rpcinterface_factory"]
    assert factory == "supervisor.rpcinterface:make_main_rpcinterface"
    assert "inet_http_server" not in conf


def test_configuration_and_secrets_come_from_the_environment_only() -> None:
    text = CONF.read_text()
    for name in PROGRAMS:
        assert "--config %(ENV_PERP_MM_CONFIG)s" in _conf()[f"program:{name}"]["command"]
    live_lines = [line for line in text.splitlines() if not line.lstrip().startswith(";")]
    assert not re.search(r"(?i)(api_key|secret|password|username)\s*=", "\n".join(live_lines))

"""Fixtures for the fault suite: the integration harness's own (run_dir, emulator, children).

Every fault named in step 9 is proved by one test; some live elsewhere because
they were written with the component they exercise:

- strategy SIGSTOP: tests/integration/test_run_e2e.py
  (test_sigstopped_strategy_is_caught_by_the_guardian_and_quoting_resumes, under run.py and supervisord);
  strategy SIGKILL: tests/integration/test_risk_system.py
  (test_a_killed_strategy_is_caught_and_a_new_instance_resumes) and
  tests/integration/test_supervisord.py (supervisord restarts it);
- order gateway SIGKILL mid-burst (journal, exchange, snapshot): tests/integration/test_order_gateway.py
  (test_kill_9_during_a_burst_then_restart_agrees_with_the_exchange); the strategy's view: here;
- a bus peer without the CURVE key at the socket level: tests/integration/test_bus.py
  (test_tcp_with_curve_admits_known_keys_only); with a real process: here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(Path(__file__).resolve().parent))

_spec = importlib.util.spec_from_file_location("integration_fixtures", INTEGRATION / "conftest.py")
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

run_dir = _fixtures.run_dir
emulator = _fixtures.emulator
children = _fixtures.children

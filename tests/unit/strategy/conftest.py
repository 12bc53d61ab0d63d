"""The strategy's unit tests: this directory goes on ``sys.path`` for ``strategy_fakes``.

(pytest runs with ``--import-mode=importlib``, which adds nothing to the path.)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

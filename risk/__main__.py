"""``python -m risk``: see ``risk.cli``."""

import sys

from risk.cli import main

sys.exit(main())

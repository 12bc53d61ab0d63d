"""Retry pacing shared by every connector."""

from __future__ import annotations

import random


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Delay before retry ``attempt`` (0-based): capped exponential, jittered into [d/2, d]."""
    delay = min(cap_s, base_s * 2**attempt)
    return delay * (0.5 + rng.random() / 2)

"""Start-up checks: limits from the configuration, the symbol, the margin to carry the max position."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from risk_fakes import FakeVenue

from risk.startup import GuardOptions, StartupError, check_margin, lang_of, limits_of, market_rules
from services.config import Config, load_config

BASE = ["--exchange", "backpack", "--symbol", "SOL_USDC_PERP", "--spread", "0.05", "--quantity", "0.1"]


def config(*extra: str) -> Config:
    return load_config([*BASE, "--run-dir", "/tmp/pm-startup", *extra], env={})


def test_limits_follow_the_configuration() -> None:
    cfg = config("--max-position", "3", "--stop-loss", "-25", "--take-profit", "50", "--on-hang", "flatten")
    options = GuardOptions(margin_fraction_limit=D("0.05"), startup_grace_s=12.0)
    limits = limits_of(cfg, options, watch_strategy=False, watch_feed=True)
    assert (limits.max_position, limits.stop_loss, limits.take_profit) == (D(3), D(-25), D(50))
    assert (limits.on_hang, limits.hang_timeout_s, limits.md_stale_s) == ("flatten", 1.5, 5.0)
    # Three polls at the slower pace it keeps while the bus is live (3 s) may go unanswered.
    assert limits.mark_stale_s == 9.0
    fast_feed = limits_of(
        config("--md-stale", "1"),
        dataclasses.replace(options, bus_poll_interval_s=1.0),
        watch_strategy=True,
        watch_feed=True,
    )
    assert (fast_feed.md_stale_s, fast_feed.mark_stale_s) == (1.0, 3.0)
    assert (limits.margin_fraction_limit, limits.startup_grace_s) == (D("0.05"), 12.0)
    assert (limits.watch_strategy, limits.watch_feed) == (False, True)


def test_language() -> None:
    assert lang_of(config()) == "zh"
    assert lang_of(config("--lang", "en")) == "en"


async def test_an_unknown_symbol_is_refused(venue: FakeVenue) -> None:
    assert (await market_rules(venue, "SOL_USDC_PERP")).step_size == D("0.01")
    with pytest.raises(StartupError, match="unknown symbol SOLX_USDC_PERP on fake"):
        await market_rules(venue, "SOLX_USDC_PERP")
    venue.down = True
    with pytest.raises(StartupError, match="cannot load the markets"):
        await market_rules(venue, "SOL_USDC_PERP")


async def test_margin_check_uses_the_given_leverage_or_refuses(venue: FakeVenue) -> None:
    venue.mark_px, venue.equity = D(150), D(100)
    cfg = config("--max-position", "6", "--lang", "en")
    # 6 at 150 is 900 of notional: 100 of equity carries it at 9x, not at 8x.
    await check_margin(venue, cfg, GuardOptions(leverage=D(9)), lang="en")
    with pytest.raises(StartupError, match=r"needs 112\.5 of collateral at 8x leverage"):
        await check_margin(venue, cfg, GuardOptions(leverage=D(8)), lang="en")
    # A venue that does not tell its leverage is taken at 1x.
    with pytest.raises(StartupError, match="at 1x leverage"):
        await check_margin(venue, cfg, GuardOptions(), lang="en")

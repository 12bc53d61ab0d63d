"""The perpetual markets the emulator can list, with their rules and simulated liquidity profile."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from venues.precision import MarketRules


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketProfile:
    """A market's rules plus where its simulated price starts and how big its flow is."""

    rules: MarketRules
    start_price: Decimal
    taker_size: Decimal  # a typical simulated taker order
    maker_size: Decimal  # the house maker's innermost level; deeper levels grow

    @property
    def symbol(self) -> str:
        return self.rules.symbol


def _profile(
    symbol: str,
    base: str,
    *,
    tick: str,
    step: str,
    start: str,
    taker: str,
    maker: str,
    quote: str = "USDC",
    min_notional: str = "0",
    max_quantity: str | None = None,
    max_market_quantity: str | None = None,
    price_band: tuple[str, str] | None = None,
) -> MarketProfile:
    return MarketProfile(
        rules=MarketRules(
            symbol=symbol,
            base_asset=base,
            quote_asset=quote,
            tick_size=Decimal(tick),
            step_size=Decimal(step),
            min_quantity=Decimal(step),
            min_notional=Decimal(min_notional),
            max_quantity=Decimal(max_quantity) if max_quantity is not None else None,
            max_market_quantity=Decimal(max_market_quantity) if max_market_quantity is not None else None,
            price_down=Decimal(price_band[0]) if price_band is not None else None,
            price_up=Decimal(price_band[1]) if price_band is not None else None,
        ),
        start_price=Decimal(start),
        taker_size=Decimal(taker),
        maker_size=Decimal(maker),
    )


KNOWN_MARKETS: dict[str, MarketProfile] = {
    p.symbol: p
    for p in (
        _profile("SOL_USDC_PERP", "SOL", tick="0.01", step="0.01", start="150", taker="0.5", maker="4"),
        _profile(
            "BTC_USDC_PERP", "BTC", tick="0.1", step="0.00001", start="60000", taker="0.01", maker="0.08"
        ),
        # Aster: USDT-margined, with MIN_NOTIONAL 5, LOT_SIZE and MARKET_LOT_SIZE maxima (a market order
        # may be far smaller than a limit one) and a PERCENT_PRICE band of 5% around the mark price.
        _profile(
            "SOLUSDT",
            "SOL",
            tick="0.01",
            step="0.01",
            start="150",
            taker="0.5",
            maker="4",
            quote="USDT",
            min_notional="5",
            max_quantity="1000",
            max_market_quantity="50",
            price_band=("0.95", "1.05"),
        ),
        _profile(
            "BTCUSDT",
            "BTC",
            tick="0.1",
            step="0.001",
            start="60000",
            taker="0.01",
            maker="0.08",
            quote="USDT",
            min_notional="5",
            max_quantity="100",
            max_market_quantity="5",
            price_band=("0.95", "1.05"),
        ),
        # Paradex: USD-quoted, settled in USDC, with a minimum order notional.
        _profile(
            "BTC-USD-PERP",
            "BTC",
            tick="0.1",
            step="0.001",
            start="60000",
            taker="0.01",
            maker="0.08",
            quote="USD",
            min_notional="10",
        ),
        _profile(
            "ETH-USD-PERP",
            "ETH",
            tick="0.01",
            step="0.001",
            start="3000",
            taker="0.1",
            maker="1",
            quote="USD",
            min_notional="10",
        ),
        _profile(
            "SOL-USD-PERP",
            "SOL",
            tick="0.001",
            step="0.01",
            start="150",
            taker="0.5",
            maker="4",
            quote="USD",
            min_notional="10",
        ),
    )
}


def select_markets(symbols: Iterable[str]) -> list[MarketProfile]:
    """The profiles of ``symbols`` in order, without duplicates; ``ValueError`` names any unknown one."""
    chosen: list[MarketProfile] = []
    for symbol in symbols:
        profile = KNOWN_MARKETS.get(symbol)
        if profile is None:
            known = ", ".join(sorted(KNOWN_MARKETS))
            raise ValueError(f"unknown symbol {symbol!r}: the emulator lists {known}")
        if profile not in chosen:
            chosen.append(profile)
    if not chosen:
        raise ValueError("at least one symbol is needed")
    return chosen

"""The quoter: from a best bid/offer and the inventory to a ladder of desired quotes.

Pure and exact: ``Decimal`` in, ``Decimal`` out, no I/O, no clock.  The rules
(DESIGN.md, "The quoter"):

- ``spread_pct`` is the full width in percent of mid: raw bid ``mid*(1 - S/200)``,
  raw ask ``mid*(1 + S/200)``.
- Inventory skew shifts both quotes by ``-K * clamp((pos - target)/max_position,
  -1, 1) * (raw_ask - raw_bid)``: long inventory lowers the quotes, short raises
  them.  The original scaled the shift by the price itself; this scales by the
  spread width, so K=1 at full inventory moves a quote by one spread.
- A quote never crosses the opposite best: a bid is at most ``best_ask - tick``,
  an ask at least ``best_bid + tick`` (clamped after the skew).
- Bids floor to the tick and asks ceil; sizes floor to the step; a layer below
  the venue's minimum size or notional is dropped.
- Layer ``i`` (0-based) sits ``layer_offsets_ticks`` ticks outward from the
  first quote: ``round_half_up(1.5 * i**1.5)``, the original's rule.
- The ladder never lets the position pass ``max_position``: buy layers are kept
  from the inside out while ``position + their total`` stays within
  ``+max_position`` (sells likewise against ``-max_position``), so the outermost
  layers are the first to go.  Because ``diff_orders`` replaces the resting
  orders with this ladder, the worst case after reconciling is the ladder's.
- Requoting waits for the target to move by ``requote_tolerance``: a fraction
  of the spread width, never less than one tick, so a market whose tick is tiny
  next to the spread (BTC at 0.1) is not requoted on every book update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum

from services.config import Config
from services.wire import OrderUpdate, RejectReason, Side
from venues.precision import MarketRules, band_price, check_order, is_multiple, snap_price, snap_quantity

_ONE = Decimal(1)
# 1.5 * i**1.5 is irrational unless i is a perfect square, where it is exact; 28
# digits cannot put an irrational value on a .5 boundary, so rounding is stable.
_SQRT_CTX = Context(prec=28)


class SuppressReason(StrEnum):
    """Why a side of the ladder has fewer layers than ``max_orders``."""

    MAX_POSITION = "max_position"
    MIN_SIZE = "min_size"
    BAD_PRICE = "bad_price"
    BAD_BOOK = "bad_book"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteParams:
    """The quoting parameters as the trader gave them (``target_position`` is signed)."""

    spread_pct: Decimal
    quantity: Decimal
    max_orders: int
    inventory_skew: Decimal
    max_position: Decimal
    target_position: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.spread_pct <= 0:
            raise ValueError(f"spread_pct must be > 0, got {self.spread_pct}")
        if self.quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")
        if self.max_orders < 1:
            raise ValueError(f"max_orders must be >= 1, got {self.max_orders}")
        if not 0 <= self.inventory_skew <= 1:
            raise ValueError(f"inventory_skew must be within 0..1, got {self.inventory_skew}")
        if self.max_position <= 0:
            raise ValueError(f"max_position must be > 0, got {self.max_position}")


def quote_params(cfg: Config) -> QuoteParams:
    """The quoting parameters of a config, as the strategy reads them."""
    return QuoteParams(
        spread_pct=cfg.spread,
        quantity=cfg.quantity,
        max_orders=cfg.max_orders,
        inventory_skew=cfg.inventory_skew,
        max_position=cfg.max_position,
        target_position=cfg.target_position,
    )


@dataclass(frozen=True, slots=True)
class Layer:
    """One desired resting order: snapped price, snapped size."""

    side: Side
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotePlan:
    """Every step of one quote computation, for the orders and for the report.

    ``raw_*`` are unsnapped (mid +- half width); ``bid_price``/``ask_price`` are
    the first layer after skew, clamp and snap (None when the book is unusable or
    the price is not positive).  ``*_reason`` says why that side lost layers.
    """

    bid: Decimal
    ask: Decimal
    mid: Decimal
    position: Decimal
    params: QuoteParams
    raw_bid: Decimal
    raw_ask: Decimal
    skew_offset: Decimal
    bid_price: Decimal | None
    ask_price: Decimal | None
    layers: tuple[Layer, ...]
    bid_reason: SuppressReason | None = None
    ask_reason: SuppressReason | None = None

    @property
    def bids(self) -> tuple[Layer, ...]:
        """Buy layers, innermost first."""
        return tuple(layer for layer in self.layers if layer.side is Side.BUY)

    @property
    def asks(self) -> tuple[Layer, ...]:
        """Sell layers, innermost first."""
        return tuple(layer for layer in self.layers if layer.side is Side.SELL)

    def reason(self, side: Side) -> SuppressReason | None:
        """Why ``side`` has fewer than ``max_orders`` layers (None: it has them all)."""
        return self.bid_reason if side is Side.BUY else self.ask_reason


def layer_offsets_ticks(count: int) -> tuple[int, ...]:
    """Ticks from the first quote for layers 0..count-1: round_half_up(1.5 * i**1.5), strictly increasing.

    0, 2, 4, 8, 12, 17, 22, 28, 34, 41, ...  Successive exact values differ by
    at least 1.5, and rounding half-up keeps a gap of one or more, so no two
    layers ever share a price.
    """
    return tuple(
        int((Decimal("1.5") * i * Decimal(i).sqrt(_SQRT_CTX)).quantize(_ONE, rounding=ROUND_HALF_UP))
        for i in range(count)
    )


def skew_offset(*, position: Decimal, params: QuoteParams, width: Decimal) -> Decimal:
    """The price shift subtracted from both quotes: K * clamp((pos - target)/max, -1, 1) * width."""
    if params.inventory_skew == 0:
        return Decimal(0)
    ratio = max(-_ONE, min(_ONE, (position - params.target_position) / params.max_position))
    return params.inventory_skew * ratio * width


def plan_quotes(
    *,
    bid: Decimal,
    ask: Decimal,
    rules: MarketRules,
    params: QuoteParams,
    position: Decimal,
    mark: Decimal | None = None,
) -> QuotePlan:
    """The desired ladder for this book and net position (signed, long > 0).

    With a ``mark`` price, the first quotes stay inside the venue's percent-price
    band around it (``precision.band_price``; the outer layers are further out).
    """
    mid = (bid + ask) / 2
    half = mid * params.spread_pct / 200
    raw_bid, raw_ask = mid - half, mid + half
    offset = skew_offset(position=position, params=params, width=raw_ask - raw_bid)
    bid_price: Decimal | None = None
    ask_price: Decimal | None = None
    layers: tuple[Layer, ...] = ()
    # A crossed, locked or empty book gives no trustworthy mid: quote nothing.
    bid_reason: SuppressReason | None = SuppressReason.BAD_BOOK
    ask_reason: SuppressReason | None = SuppressReason.BAD_BOOK
    if bid > 0 and ask > bid:
        tick = rules.tick_size
        first_bid = snap_price(min(raw_bid - offset, ask - tick), tick, Side.BUY)
        first_ask = snap_price(max(raw_ask - offset, bid + tick), tick, Side.SELL)
        first_bid = band_price(rules, Side.BUY, first_bid, mark=mark)
        first_ask = band_price(rules, Side.SELL, first_ask, mark=mark)
        quantity = snap_quantity(params.quantity, rules.step_size)
        offsets = layer_offsets_ticks(params.max_orders)
        bids, bid_reason = _side_ladder(Side.BUY, first_bid, quantity, offsets, rules, params, position)
        asks, ask_reason = _side_ladder(Side.SELL, first_ask, quantity, offsets, rules, params, position)
        bid_price = first_bid if first_bid > 0 else None
        ask_price = first_ask
        layers = bids + asks
    return QuotePlan(
        bid=bid,
        ask=ask,
        mid=mid,
        position=position,
        params=params,
        raw_bid=raw_bid,
        raw_ask=raw_ask,
        skew_offset=offset,
        bid_price=bid_price,
        ask_price=ask_price,
        layers=layers,
        bid_reason=bid_reason,
        ask_reason=ask_reason,
    )


def banded(
    rules: MarketRules, bid: Decimal, ask: Decimal, *, mark: Decimal | None
) -> tuple[Decimal, Decimal]:
    """``bid`` and ``ask`` inside the percent-price band around ``mark`` (where a maker reduce joins)."""
    return band_price(rules, Side.BUY, bid, mark=mark), band_price(rules, Side.SELL, ask, mark=mark)


def _side_ladder(
    side: Side,
    first_price: Decimal,
    quantity: Decimal,
    offsets: Sequence[int],
    rules: MarketRules,
    params: QuoteParams,
    position: Decimal,
) -> tuple[tuple[Layer, ...], SuppressReason | None]:
    """One side's layers, innermost first, and why any were dropped."""
    # Room before the position passes max_position in this side's direction.
    room = params.max_position - side.sign * position
    layers: list[Layer] = []
    reason: SuppressReason | None = None
    total = Decimal(0)
    for ticks in offsets:
        price = first_price - side.sign * ticks * rules.tick_size
        refused = check_order(rules, quantity=quantity, price=price)
        if refused is not None:
            reason = reason or (
                SuppressReason.BAD_PRICE if refused is RejectReason.BAD_PRICE else SuppressReason.MIN_SIZE
            )
            continue
        if total + quantity > room:
            # Outer layers only add exposure: everything from here outward goes.
            return tuple(layers), reason or SuppressReason.MAX_POSITION
        layers.append(Layer(side, price, quantity))
        total += quantity
    return tuple(layers), reason


def requote_tolerance(plan: QuotePlan, *, threshold: Decimal, tick: Decimal) -> Decimal:
    """How far a quote may be from its target before it is replaced: ``threshold`` of the width, >= a tick."""
    return max(tick, threshold * (plan.raw_ask - plan.raw_bid))


def diff_orders(
    desired_layers: Sequence[Layer],
    resting_orders: Iterable[OrderUpdate],
    *,
    tick: Decimal,
    tolerance: Decimal | None = None,
) -> tuple[list[OrderUpdate], list[Layer]]:
    """(to_cancel, to_place): keep resting orders that match a layer, replace the rest.

    A resting order matches a desired layer of the same side, price and
    remaining size (each layer matches at most one order), so a quote that is
    still right keeps its queue priority.  With a ``tolerance`` (see
    ``requote_tolerance``), the orders and layers left over are then paired per
    side from the inside out, and an order of the layer's size less than
    ``tolerance`` from its price is kept too.  ``resting_orders`` are the
    quoter's own orders; closed ones are ignored, and an order priced off the
    tick grid never matches (the venue changed its tick).  Send the cancels
    before the places: the worst-case exposure then never exceeds the old or
    the new ladder.
    """
    wanted: dict[tuple[Side, Decimal, Decimal], int] = {}
    for layer in desired_layers:
        key = (layer.side, layer.price, layer.quantity)
        wanted[key] = wanted.get(key, 0) + 1
    to_cancel: list[OrderUpdate] = []
    for order in resting_orders:
        if not order.status.is_open:
            continue
        key = (order.side, order.price or Decimal(0), order.remaining)
        if order.price is not None and is_multiple(order.price, tick) and wanted.get(key, 0) > 0:
            wanted[key] -= 1
        else:
            to_cancel.append(order)
    to_place: list[Layer] = []
    for layer in desired_layers:
        key = (layer.side, layer.price, layer.quantity)
        if wanted.get(key, 0) > 0:
            wanted[key] -= 1
            to_place.append(layer)
    if tolerance is None or tolerance <= tick:
        return to_cancel, to_place
    return _keep_near(to_cancel, to_place, tick=tick, tolerance=tolerance)


def _keep_near(
    stale: list[OrderUpdate], missing: list[Layer], *, tick: Decimal, tolerance: Decimal
) -> tuple[list[OrderUpdate], list[Layer]]:
    """Pair the leftover orders and layers of each side from the inside out; keep the near pairs."""
    kept_orders: set[int] = set()
    kept_layers: set[int] = set()
    for side in (Side.BUY, Side.SELL):
        orders = sorted(
            (i for i, order in enumerate(stale) if order.side is side and order.price is not None),
            key=lambda i: -side.sign * (stale[i].price or Decimal(0)),
        )
        layers = sorted(
            (i for i, layer in enumerate(missing) if layer.side is side),
            key=lambda i: -side.sign * missing[i].price,
        )
        for order_index, layer_index in zip(orders, layers, strict=False):
            order, layer = stale[order_index], missing[layer_index]
            price = order.price or Decimal(0)
            if (
                order.remaining == layer.quantity
                and is_multiple(price, tick)
                and abs(price - layer.price) < tolerance
            ):
                kept_orders.add(order_index)
                kept_layers.add(layer_index)
    return (
        [order for i, order in enumerate(stale) if i not in kept_orders],
        [layer for i, layer in enumerate(missing) if i not in kept_layers],
    )


def requote_needed(previous: QuotePlan | None, new: QuotePlan, *, tolerance: Decimal) -> bool:
    """True when the ladder changed: a layer came, went or resized, or a price moved by ``tolerance`` or more.

    ``tolerance`` is ``requote_tolerance`` (one tick: any price move requotes).
    """
    if previous is None:
        return True
    if len(previous.layers) != len(new.layers):
        return True
    return any(
        (old.side, old.quantity) != (layer.side, layer.quantity) or abs(old.price - layer.price) >= tolerance
        for old, layer in zip(previous.layers, new.layers, strict=True)
    )


def active_quotes(resting_orders: Iterable[OrderUpdate]) -> tuple[Decimal | None, Decimal | None]:
    """(highest open buy price, lowest open sell price) among resting limit orders; None for an empty side."""
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    for order in resting_orders:
        if order.price is None or not order.status.is_open:
            continue
        if order.side is Side.BUY:
            best_bid = order.price if best_bid is None else max(best_bid, order.price)
        else:
            best_ask = order.price if best_ask is None else min(best_ask, order.price)
    return best_bid, best_ask

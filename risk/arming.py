"""The arming check: can the account carry the maximum position at the current price and leverage?"""

from __future__ import annotations

from decimal import Decimal

from risk.model import Lang
from venues.precision import ceil_to, fmt

_CENT = Decimal("0.01")


def check_arming(
    *, max_position: Decimal, price: Decimal, equity: Decimal, leverage: Decimal, lang: Lang = "zh"
) -> str | None:
    """None when ``equity`` covers the initial margin of ``max_position`` at ``price``, else why not arm."""
    if max_position <= 0 or price <= 0 or leverage <= 0:
        return (
            f"Cannot check margin: max position {fmt(max_position)}, price {fmt(price)} and leverage "
            f"{fmt(leverage)} must all be positive"
            if lang == "en"
            else f"無法檢查保證金：最大倉位 {fmt(max_position)}、價格 {fmt(price)} 與槓桿 {fmt(leverage)} "
            "都必須為正數"
        )
    required = max_position * price / leverage
    if required <= equity:
        return None
    need = fmt(ceil_to(required, _CENT))
    if lang == "en":
        return (
            f"Max position {fmt(max_position)} at price {fmt(price)} needs {need} of collateral at "
            f"{fmt(leverage)}x leverage, but the account equity is {fmt(equity)}: "
            "lower the max position, raise the leverage or add collateral"
        )
    return (
        f"最大倉位 {fmt(max_position)} 在價格 {fmt(price)}、{fmt(leverage)} 倍槓桿下需要 {need} 保證金，"
        f"但帳戶權益只有 {fmt(equity)}：請降低最大倉位、提高槓桿或增加保證金"
    )

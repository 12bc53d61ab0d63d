"""The arming check with plain figures."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from risk.arming import check_arming


def test_check_arming_accepts_a_covered_max_position() -> None:
    # 5 SOL at 200 with 10x needs 100 of collateral.
    args: dict[str, Any] = {"max_position": D(5), "price": D(200), "leverage": D(10)}
    assert check_arming(**args, equity=D(100)) is None
    assert check_arming(**args, equity=D("1000.5")) is None


def test_check_arming_explains_a_shortfall() -> None:
    args: dict[str, Any] = {
        "max_position": D("0.4"),
        "price": D("239.408"),
        "leverage": D(3),
        "equity": D(20),
    }
    # 0.4 * 239.408 / 3 = 31.92106..., shown rounded up to the cent.
    message = check_arming(**args, lang="en")
    assert message == (
        "Max position 0.4 at price 239.408 needs 31.93 of collateral at 3x leverage, but the account "
        "equity is 20: lower the max position, raise the leverage or add collateral"
    )
    zh = check_arming(**args)
    assert zh is not None and "31.93" in zh and "帳戶權益只有 20" in zh


def test_check_arming_refuses_nonsense_inputs() -> None:
    message = check_arming(max_position=D(1), price=D(100), equity=D(1000), leverage=D(0), lang="en")
    assert message is not None and "must all be positive" in message

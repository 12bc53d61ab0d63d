"""The Aster front end's side tables: client order ids, listen keys and cancel-all countdowns."""

from __future__ import annotations

from venues.emulator.aster_state import CLIENT_ORDER_ID, ClientOrderIds, Countdowns, ListenKeys


def test_client_order_ids_by_order_and_back() -> None:
    ids = ClientOrderIds()
    assert ids.assign("acct", "SOLUSDT", "10", "my-1") == "my-1"
    generated = ids.assign("acct", "SOLUSDT", "11", None)
    assert generated == "autoclientid-11" and CLIENT_ORDER_ID.fullmatch(generated)
    assert ids.of("10") == "my-1" and ids.of("99") == "autoclientid-99"
    assert ids.order_id("acct", "SOLUSDT", "my-1") == "10"
    assert ids.order_id("other", "SOLUSDT", "my-1") is None
    assert ids.order_id("acct", "BTCUSDT", "my-1") is None
    assert ids.order_id("acct", "SOLUSDT", "autoclientid-11") == "11"
    # A reused client id names the newest order.
    ids.assign("acct", "SOLUSDT", "12", "my-1")
    assert ids.order_id("acct", "SOLUSDT", "my-1") == "12"


def test_client_order_ids_forget_the_oldest_past_the_cap() -> None:
    ids = ClientOrderIds(max_orders=2)
    for number in range(1, 4):
        ids.assign("acct", "SOLUSDT", str(number), f"c{number}")
    assert ids.order_id("acct", "SOLUSDT", "c1") is None and ids.of("1") == "autoclientid-1"
    assert ids.order_id("acct", "SOLUSDT", "c3") == "3"
    # A client id reused by a newer order survives the older order's eviction.
    ids.assign("acct", "SOLUSDT", "4", "c2")
    ids.assign("acct", "SOLUSDT", "5", "c5")
    assert ids.order_id("acct", "SOLUSDT", "c2") == "4"


def test_listen_keys_live_an_hour_from_the_last_keep_alive() -> None:
    keys = ListenKeys(ttl_ms=1000)
    key = keys.open("acct", now_ms=0)
    assert keys.open("acct", now_ms=500) == key  # the live key is returned and extended
    assert keys.account(key, now_ms=1400) == "acct"
    assert keys.keep_alive("acct", now_ms=1400)
    assert keys.account(key, now_ms=2300) == "acct"
    assert keys.account(key, now_ms=2400) is None
    assert not keys.keep_alive("acct", now_ms=2400)
    assert keys.expire(now_ms=2400) == [key]
    fresh = keys.open("acct", now_ms=2500)
    assert fresh != key and keys.close("acct") == [fresh] and keys.account(fresh, now_ms=2500) is None
    assert ListenKeys().ttl_ms == 60 * 60 * 1000


def test_countdowns_fire_once_and_zero_disarms() -> None:
    countdowns = Countdowns()
    countdowns.set("a", "SOLUSDT", countdown_ms=1000, now_ms=0)
    countdowns.set("b", "SOLUSDT", countdown_ms=500, now_ms=0)
    countdowns.set("a", "SOLUSDT", countdown_ms=1000, now_ms=600)  # re-armed
    assert countdowns.due(now_ms=999) == [("b", "SOLUSDT")]
    assert countdowns.deadline_ms("a", "SOLUSDT") == 1600
    assert countdowns.due(now_ms=1599) == []
    assert countdowns.due(now_ms=1600) == [("a", "SOLUSDT")]
    assert countdowns.due(now_ms=5000) == []
    countdowns.set("a", "SOLUSDT", countdown_ms=100, now_ms=0)
    countdowns.set("a", "SOLUSDT", countdown_ms=0, now_ms=50)
    assert countdowns.due(now_ms=1000) == [] and countdowns.deadline_ms("a", "SOLUSDT") is None


def test_expire_all_lapses_live_keys_too() -> None:
    keys = ListenKeys(ttl_ms=1000)
    first, second = keys.open("a", now_ms=0), keys.open("b", now_ms=0)
    assert sorted(keys.expire_all()) == sorted([first, second])
    assert keys.account(first, now_ms=1) is None and not keys.keep_alive("b", now_ms=1)

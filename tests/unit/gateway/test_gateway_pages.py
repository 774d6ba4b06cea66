"""Pure helpers of the gateway: page peeking, query ids, coordinator ids, sticky target encoding.

Checks: page_has_next decides from the head of a page (nextUri before columns/data/stats) and says
None when undecided; gateway-made ids match Trino's id format; coordinator id suffix extraction.
"""

from __future__ import annotations

import random

from gateway.inflight import page_has_next
from gateway.pages import QueryIdMaker, failed_page, queued_page
from gateway.sticky import StickyStore, Target, coordinator_id_of
from xtrinode.trino_protocol import QUERY_ID_PATTERN, StandardError


def test_page_has_next_reads_only_the_head() -> None:
    assert page_has_next(b'{"id":"x","infoUri":"u","nextUri":"n","stats":{}}') is True
    assert page_has_next(b'{"id":"x","infoUri":"u","columns":[],"data":[["nextUri"]],"stats":{}}') is False
    assert page_has_next(b'{"id":"x","infoUri":"u"') is None


def _has_next_by_positions(head: bytes) -> bool | None:
    """The rule spelled out: nextUri is there and comes before every one of columns, data and stats."""
    others = [at for at in (head.find(b'"columns"'), head.find(b'"data"'), head.find(b'"stats"')) if at >= 0]
    next_at = head.find(b'"nextUri"')
    if next_at >= 0 and (not others or next_at < min(others)):
        return True
    return False if others else None


def test_page_has_next_follows_the_rule_on_any_head() -> None:
    rng = random.Random(19)
    parts = [b'"nextUri"', b'"columns"', b'"data"', b'"stats"', b'"id"', b':', b'"x"', b'{', b'[', b',', b'"',
             b'nextUri', b'\\"data\\"', b'"nextUri":"http://h/v1/statement/executing/q/y/1"']
    for _ in range(5000):
        head = b"".join(rng.choice(parts) for _ in range(rng.randint(0, 8)))
        assert page_has_next(head) is _has_next_by_positions(head), head


def test_gateway_query_ids_look_like_trino_ids_and_are_not_sequential() -> None:
    maker = QueryIdMaker()
    ids = [maker.next() for _ in range(200)]
    assert all(QUERY_ID_PATTERN.match(i) for i in ids)
    assert len(set(ids)) == 200
    assert len({i.split("_")[2] for i in ids}) > 150, "the number part is random, not a counter"
    assert len({coordinator_id_of(i) for i in ids}) > 150, "so is the coordinator part"


def test_queued_and_failed_pages_follow_the_protocol() -> None:
    page = queued_page("http://gw:8080", "20250101_000000_00000_abcde", "y" + "0" * 40, 3)
    assert page["nextUri"] == "http://gw:8080/v1/statement/queued/20250101_000000_00000_abcde/y" + "0" * 40 + "/3"
    assert page["stats"]["state"] == "QUEUED"
    failed = failed_page("http://gw", "q", StandardError.GENERIC_INTERNAL_ERROR, "boom")
    assert "nextUri" not in failed and failed["error"]["errorType"] == "INTERNAL_ERROR"


def test_target_round_trips_and_rejects_garbage() -> None:
    target = Target("team/a", "http://a:8080")
    assert Target.decode(target.encode()) == target
    owned = Target("team/a", "http://a:8080", "key:etl")
    assert Target.decode(owned.encode()) == owned
    assert Target.decode("team/a\nhttp://a:8080") == target, "mappings written before owners still read"
    assert Target.decode("garbage") is None


def _store() -> StickyStore:
    from datetime import timedelta

    from gateway.metrics import GatewayMetrics

    return StickyStore(lru_size=2, ttl=timedelta(minutes=1), metrics=GatewayMetrics())


async def test_sticky_lru_keeps_the_newest_mappings() -> None:
    store = _store()
    for n in range(3):
        await store.put(f"20250101_000000_0000{n}_abcde", Target("ns/a", "http://a"))
    assert await store.get("20250101_000000_00000_abcde") is None
    assert await store.get("20250101_000000_00002_abcde") == Target("ns/a", "http://a")


def test_a_mapping_to_a_restarted_coordinator_is_stale() -> None:
    store = _store()
    query_id = "20250101_000000_00000_abcde"
    assert not store.is_stale(query_id, "http://a")  # nothing known yet: trust the mapping
    store.note_coordinator("http://a", "abcde")
    assert not store.is_stale(query_id, "http://a")
    store.note_coordinator("http://a", "zzzzz")  # a new query id (or /v1/info) shows another coordinator
    assert store.is_stale(query_id, "http://a")
    assert store.backend_for_coordinator("zzzzz") == "http://a" and store.backend_for_coordinator("abcde") is None


def test_compressed_page_heads_are_inflated_for_the_peek() -> None:
    import gzip

    from gateway.inflight import decoded_head

    page = b'{"id":"x","infoUri":"u","columns":[],"data":[[1]],"stats":{}}' + b" " * 10000
    head = decoded_head(gzip.compress(page)[:200], "gzip")
    assert head is not None and page_has_next(head) is False
    assert decoded_head(b"abc", "br") is None and decoded_head(b"abc", None) == b"abc"

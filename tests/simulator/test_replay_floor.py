"""The floor of a replay (the fewest upstream requests any client could have made, knowing every
lookup) on a hand-computed workload, and in the reports: printed, bounded by ``[expect]``, the
same bytes run after run and on asyncio and trio."""

from __future__ import annotations

import io
import random

import msgspec
import pytest
from rich.console import Console

from engine.cache import DAY, HOUR, MINUTE, NamespaceTtl, TtlPolicy, cache_key
from engine.cache.events import CacheEvent
from engine.limits import RateLimitConfig, RateLimiterStats, WindowRule
from recobeat.contract import (
    ARTIST_SEARCH,
    ARTIST_TRACKS,
    ARTISTS,
    AUDIO_FEATURES,
    RECOMMENDATION,
    TRACK_AUDIO_FEATURES,
    TRACKS,
)
from simulator.replay.audit import TtlAudit
from simulator.replay.floor import (
    UpstreamFloor,
    budget_utilisation,
    calls_by_group,
    sustainable_rate,
)
from simulator.replay.report import build_report, print_report
from simulator.replay.runner import _both, run_scenario
from simulator.replay.scenario import (
    Bound,
    Burst,
    Expect,
    Instances,
    PlaylistStream,
    RequestStream,
    Scenario,
    Times,
)

POLICY = TtlPolicy(
    namespaces={
        "recommendations": NamespaceTtl(ttl=15 * MINUTE),
        "tracks": NamespaceTtl(ttl=2 * HOUR),
        "audio_features": NamespaceTtl(ttl=2 * HOUR),
        "ids": NamespaceTtl(ttl=60 * DAY, missing_ttl=14 * DAY),
        "artists": NamespaceTtl(ttl=HOUR),
        "seeds": NamespaceTtl(ttl=2 * HOUR),
    }
)


class Catalog:
    """Knows every track and artist but those named ``unknown...``."""

    def track_index(self, identifier: str) -> int | None:
        return None if identifier.startswith("unknown") else 0

    def artist_index(self, identifier: str) -> int | None:
        return None if identifier.startswith("unknown") else 0


def need(at: float, namespace: str, key: object, kind: str = "miss") -> CacheEvent:
    return CacheEvent(at, kind, cache_key(namespace, key), 0.0)  # type: ignore[arg-type]


ARTIST_IDS = [f"artist{i:02d}" for i in range(45)]
SEARCH = {"path": ARTIST_SEARCH, "searchText": "x", "page": 0, "size": 5}
LOST_ARTIST = {"path": "/v1/artist/unknown-a/track", "page": 0, "size": 25}
RECOMMEND = {"seeds": ["a", "b"], "size": 20}


def workload() -> list[CacheEvent]:
    events = [
        # Two tracks needed at 0, 10 and 7300 s, 2 h TTL: fetched at 0 and 7300, each.
        *(
            need(t, "tracks", i, k)
            for t, k in ((0, "miss"), (10, "hit"), (7300, "miss"))
            for i in "AB"
        ),
        need(5000, "ids", "A", "hit"),  # the fetch at 0 serves the registry 60 days
        # An unknown Spotify ID: the registry remembers it 14 days, tracks not at all.
        need(0, "ids", "unknown-s"),
        need(0, "tracks", "unknown-s"),  # the same instant: the same fetch
        need(100, "ids", "unknown-s", "hit"),
        need(13 * DAY, "ids", "unknown-s", "hit"),
        need(15 * DAY, "ids", "unknown-s"),  # past 14 days: fetched again
        # 45 artists at one instant: 45 IDs, ceil(45 / 40) = 2 requests; fresh 1 h later less 1 s.
        *(need(50, "artists", a) for a in ARTIST_IDS),
        *(need(50 + HOUR - 1, "artists", a, "hit") for a in ARTIST_IDS),
        # Audio features: the old per-track key and the new namespace are one member per ID.
        need(0, "tracks", {"audioFeatures": "A"}),
        need(20, "audio_features", "A", "hit"),
        need(0, "tracks", {"audioFeatures": "unknown-t"}),  # a 404, not cached:
        need(30, "tracks", {"audioFeatures": "unknown-t"}),  # fetched again
        # Not batchable: one request per fetch.
        need(0, "recommendations", RECOMMEND),
        need(100, "recommendations", RECOMMEND, "hit"),
        need(15 * MINUTE, "recommendations", RECOMMEND),  # stale from its expiry instant on
        need(0, "artists", SEARCH),
        need(HOUR - 1, "artists", SEARCH, "hit"),
        need(0, "tracks", LOST_ARTIST),  # an unknown artist's tracks: a 404, not cached
        need(1, "tracks", LOST_ARTIST),
        need(0, "seeds", "s1"),
        # Not lookups: ignored.
        CacheEvent(0, "store", cache_key("tracks", "A"), 2 * HOUR),
        CacheEvent(0, "evict", cache_key("tracks", "B"), 2 * HOUR),
    ]
    return sorted(events, key=lambda e: e.at)


EXPECTED_FETCHES = {
    ARTISTS: 45,
    ARTIST_SEARCH: 1,
    ARTIST_TRACKS: 2,
    AUDIO_FEATURES: 3,
    TRACKS: 6,
    RECOMMENDATION: 2,
    "seeds (other)": 1,
}
EXPECTED_FLOOR = {
    ARTISTS: 2,
    ARTIST_SEARCH: 1,
    ARTIST_TRACKS: 2,
    AUDIO_FEATURES: 1,
    TRACKS: 1,
    RECOMMENDATION: 2,
    "seeds (other)": 1,
}


def test_the_floor_of_a_hand_computed_workload() -> None:
    floor = UpstreamFloor(POLICY, Catalog())
    events = workload()
    for event in events:
        floor(event)
    assert floor.fetches() == dict(sorted(EXPECTED_FETCHES.items()))
    assert floor.by_endpoint() == dict(sorted(EXPECTED_FLOOR.items()))
    assert floor.total() == 10
    assert floor.needs == len(events) - 2


def test_the_order_of_simultaneous_lookups_does_not_matter() -> None:
    rng = random.Random(3)
    for _ in range(20):
        events = sorted(workload(), key=lambda e: (e.at, rng.random()))
        floor = UpstreamFloor(POLICY, Catalog())
        for event in events:
            floor(event)
        assert floor.by_endpoint() == dict(sorted(EXPECTED_FLOOR.items()))


def test_forty_ids_fit_one_request_and_the_forty_first_needs_another() -> None:
    for n, requests in ((1, 1), (40, 1), (41, 2), (80, 2), (81, 3)):
        floor = UpstreamFloor(POLICY, Catalog())
        for i in range(n):
            floor(need(0, "audio_features", f"t{i}"))
        assert floor.by_endpoint() == {AUDIO_FEATURES: requests}


def test_the_replay_s_observer_gives_the_audit_and_the_floor_what_they_read() -> None:
    # runner._both calls each only for the events it reads: the same results as every event to
    # both, the floor's per-key memo included (keys looked up again and again).
    events = [
        *workload(),
        *(CacheEvent(t, "store", cache_key("tracks", "A"), t + 2 * HOUR) for t in (0, 5, 7300)),
        *(CacheEvent(t, "hit", cache_key("tracks", "A"), 2 * HOUR) for t in (1, 2, 9000)),
    ]
    events.sort(key=lambda e: e.at)
    audit, floor = TtlAudit(POLICY), UpstreamFloor(POLICY, Catalog())
    for event in events:
        audit(event)
        floor(event)
    both_audit, both_floor = TtlAudit(POLICY), UpstreamFloor(POLICY, Catalog())
    observe = _both(both_audit, both_floor)
    for event in events:
        observe(event)
    assert audit.violations > 0
    assert (both_audit.checked, both_audit.violations, both_audit.evidence) == (
        audit.checked,
        audit.violations,
        audit.evidence,
    )
    assert (both_floor.fetches(), both_floor.needs) == (floor.fetches(), floor.needs)


def test_the_ttl_audit_ignores_misses() -> None:
    audit = TtlAudit(POLICY)
    audit(need(0, "tracks", "A"))
    audit(need(10**6, "tracks", "A"))
    assert (audit.checked, audit.violations) == (0, 0)


def test_the_ttl_audit_flags_a_store_whose_ttl_it_cannot_match() -> None:
    audit = TtlAudit(TtlPolicy(namespaces={"tracks": NamespaceTtl(ttl=HOUR)}))
    audit(CacheEvent(0, "store", cache_key("tracks", "A"), HOUR))
    audit(CacheEvent(0, "store", cache_key("tracks", "B"), 2 * HOUR))
    assert (audit.checked, audit.violations) == (2, 1)
    # An infinite TTL is matched by nothing, itself included (inf - inf is NaN): flagged.
    forever = TtlAudit(TtlPolicy(namespaces={"tracks": NamespaceTtl(ttl=float("inf"))}))
    forever(CacheEvent(0, "store", cache_key("tracks", "A"), float("inf")))
    assert forever.violations == 1


def test_calls_by_group_puts_both_audio_feature_endpoints_in_one() -> None:
    calls = {TRACK_AUDIO_FEATURES: 571, AUDIO_FEATURES: 3, TRACKS: 12}
    assert calls_by_group(calls) == {
        AUDIO_FEATURES: {AUDIO_FEATURES: 3, TRACK_AUDIO_FEATURES: 571},
        TRACKS: {TRACKS: 12},
    }


def _stats(busy_time: float, periods: int, grants: int) -> RateLimiterStats:
    return RateLimiterStats(
        granted=grants,
        waited=grants,
        total_wait=0.0,
        timeouts=0,
        max_queue=1,
        queue=0,
        busy_time=busy_time,
        busy_periods=periods,
        busy_grants=grants,
    )


def test_budget_utilisation_counts_the_sustainable_rate_plus_one_per_stretch() -> None:
    tuned = RateLimitConfig(rules=(WindowRule(limit=80, window=60),), min_interval=0.75)
    assert sustainable_rate(tuned) == pytest.approx(80 / 60)
    slow_window = RateLimitConfig(rules=(WindowRule(limit=30, window=60),), min_interval=0.75)
    assert sustainable_rate(slow_window) == pytest.approx(0.5)
    # 60 s busy at 4/3 a second, one stretch: 81 allowed; 81 granted is all of it.
    assert budget_utilisation([_stats(60.0, 1, 81)], tuned) == pytest.approx(1.0)
    assert budget_utilisation([_stats(60.0, 1, 40), _stats(0.0, 1, 1)], tuned) == pytest.approx(
        41 / 82
    )
    assert budget_utilisation([_stats(0.0, 0, 0)], tuned) is None
    unlimited = RateLimitConfig(rules=(), min_interval=0)
    assert budget_utilisation([_stats(1.0, 1, 5)], unlimited) is None


# -- in the report --------------------------------------------------------------------------------


def scenario(**changes: object) -> Scenario:
    base = Scenario(
        name="small",
        description="d",
        duration=120,
        drain=1200,
        seed=5,
        workload=[
            PlaylistStream(arrivals=Burst(count=3, within=30), users=3),
            RequestStream(name="raw", call="tracks", ids=3, arrivals=Times(at=[0, 30, 90])),
        ],
    )
    return msgspec.structs.replace(base, **changes)


@pytest.fixture(scope="module")
def reports() -> dict[str, bytes]:
    bounded = scenario(
        expect=Expect(floor_ratio=Bound(max=100), budget_utilisation=Bound(min=0.01, max=1.0))
    )
    return {
        backend: msgspec.json.encode(build_report(run_scenario(bounded, backend)))  # type: ignore[arg-type]
        for backend in ("asyncio", "trio")
    }


def test_the_report_holds_the_floor_and_is_the_same_on_both_event_loops(
    reports: dict[str, bytes],
) -> None:
    decoded = {backend: msgspec.json.decode(data) for backend, data in reports.items()}
    for report in decoded.values():
        report.pop("backend")
    assert decoded["asyncio"] == decoded["trio"]
    m = decoded["asyncio"]["metrics"]
    assert 0 < m["upstream_floor"] <= m["upstream_calls"]  # no client beats the floor
    assert m["upstream_floor"] == sum(m["floor_by_endpoint"].values())
    assert m["floor_ratio"] == round(m["upstream_calls"] / m["upstream_floor"], 6)
    assert set(m["floor_by_endpoint"]) == set(m["floor_fetches"])
    assert m["lookups"] > 0
    assert 0 < m["budget_utilisation"] <= 1
    assert m["budget_busy_seconds"] > 0
    checks = {c["name"]: c for c in decoded["asyncio"]["checks"]}
    assert checks["upstream requests / floor"]["passed"]
    assert checks["upstream requests / floor"]["limit"] == "<= 100"
    assert checks["budget used while work waited"]["passed"]


def test_the_report_is_the_same_bytes_run_after_run(reports: dict[str, bytes]) -> None:
    bounded = scenario(
        expect=Expect(floor_ratio=Bound(max=100), budget_utilisation=Bound(min=0.01, max=1.0))
    )
    again = msgspec.json.encode(build_report(run_scenario(bounded, "asyncio")))
    assert again == reports["asyncio"]


def test_the_printed_report_shows_the_floor_and_the_budget(reports: dict[str, bytes]) -> None:
    from simulator.replay.report import Report

    report = msgspec.json.decode(reports["trio"], type=Report)
    out = io.StringIO()
    print_report(report, Console(file=out, width=300, color_system=None))
    text = out.getvalue()
    m = report.metrics
    assert (
        f"upstream requests / floor: {m.upstream_calls} / {m.upstream_floor} = "
        f"{m.floor_ratio:.2f}" in text
    )
    assert f"from {m.lookups} lookups" in text
    assert f"budget used while work waited: {m.budget_utilisation:.0%}" in text


def test_a_ratio_above_its_bound_fails_the_replay() -> None:
    run = run_scenario(scenario(expect=Expect(floor_ratio=Bound(max=0.5))), "asyncio")
    report = build_report(run)
    check = next(c for c in report.checks if c.name == "upstream requests / floor")
    assert not check.passed and not report.passed
    assert check.measured.startswith(f"{report.metrics.upstream_calls} / ")


def test_instances_sharing_a_budget_have_one_floor_and_one_budget() -> None:
    shared = scenario(instances=Instances(count=3, shared_store=True, shared_budget=True))
    alone = scenario()
    shared_m = build_report(run_scenario(shared, "trio")).metrics
    alone_m = build_report(run_scenario(alone, "trio")).metrics
    # The same workload: the floor is that of one client serving all of it.
    assert shared_m.upstream_floor == alone_m.upstream_floor
    assert shared_m.budget_utilisation is not None and 0 < shared_m.budget_utilisation <= 1

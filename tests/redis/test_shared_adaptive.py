"""The adapted rate shared through the Redis tier: the script and its twin agree (against a real
redis-server), and one burst's 429s seen by several instances are one decrease. (Instances
learning one limit together run in virtual time: tests/engine/test_adaptive_rate.py.)"""

from __future__ import annotations

import json
import random

import pytest
from conftest import Tier

from engine.shared.rate_adapt import AdaptState, adapt

pytestmark = pytest.mark.anyio


async def test_the_adapt_script_and_its_twin_agree(tier: Tier) -> None:
    rng = random.Random(11)
    expected = AdaptState()
    now = 1_767_225_600_000
    key = "test:rate:adapt"
    async with tier.connect() as backend:
        for _ in range(300):
            now += rng.choice([0, 5, 100, 700, 3000])
            if rng.random() < 0.03:  # the state is lost
                await backend.delete([key])
                expected = AdaptState()
            arguments = {
                "now_ms": now,
                "increase": rng.choice([0.0, 0.0, 0.001, 0.0123456789]),
                "decrease_to": rng.choice([None, None, None, 0.3, 0.9, 1.7]),
                "floor": 0.25,
                "ceiling": 2.0,
                "hold_ms": rng.choice([500, 2000]),
            }
            got = await backend.rate_adapt(key, ttl_ms=60_000, **arguments)  # type: ignore[arg-type]
            want = adapt(expected, **arguments)  # type: ignore[arg-type]
            assert got == pytest.approx(want, rel=1e-12)
            assert 0.25 <= got <= 2.0
        if tier.real:
            (raw,) = await backend.get_many([key])
            assert raw is not None and json.loads(raw)["scale"] == pytest.approx(expected.scale)


def test_a_burst_of_429s_seen_by_several_instances_is_one_decrease() -> None:
    state = AdaptState()
    args = {"increase": 0.0, "floor": 0.25, "ceiling": 2.0, "hold_ms": 1500}
    assert adapt(state, now_ms=1000, decrease_to=0.9, **args) == 0.9  # type: ignore[arg-type]
    # A second instance's 429 from the same burst: held off.
    assert adapt(state, now_ms=1200, decrease_to=0.81, **args) == 0.9  # type: ignore[arg-type]
    assert adapt(state, now_ms=2600, decrease_to=0.81, **args) == 0.81  # type: ignore[arg-type]
    # Increases add up, within the ceiling; a malformed value is no state.
    assert adapt(state, now_ms=2700, decrease_to=None, **{**args, "increase": 5.0}) == 2.0  # type: ignore[arg-type]

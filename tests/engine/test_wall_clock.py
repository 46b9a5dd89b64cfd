"""Wall-clock TTLs under a travelling system clock (time-machine never touches the event loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from engine import Engine, SystemClock
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_system_clock_wall_follows_time_machine() -> None:
    with time_machine.travel(START, tick=False):
        assert SystemClock().wall() == START.timestamp()


async def test_day_scale_ttls_expire_on_the_wall_clock() -> None:
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return f"v{calls}"

    with time_machine.travel(START, tick=False) as traveller:
        async with Engine(engine_config(), clock=SystemClock(), seed=1) as engine:
            assert await engine.cached("ids", "x", fetch) == "v1"
            traveller.shift(timedelta(days=59, hours=23))
            assert await engine.cached("ids", "x", fetch) == "v1"
            traveller.shift(timedelta(hours=2))
            assert await engine.cached("ids", "x", fetch) == "v2"
    assert calls == 2

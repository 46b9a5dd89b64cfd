"""A caller's own error raised inside ``async with CoredisBackend(...)`` (whose pool runs in a
task group) leaves the block as itself, against a real redis-server, on asyncio and trio."""

from __future__ import annotations

import pytest

from tests.redis.conftest import Tier

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


async def test_an_error_in_the_block_is_not_wrapped(tier: Tier) -> None:
    error = Boom("mine")
    with pytest.raises(Boom) as caught:
        async with tier.connect():
            raise error
    assert caught.value is error

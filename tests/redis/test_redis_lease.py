"""The lease both cross-instance deduplications hold their keys with, against a real Redis and
the twin: taking, releasing on every way out, and never releasing a key it lost."""

from __future__ import annotations

import anyio
import pytest
from conftest import FAST, Tier

from engine.shared.lease import Lease

pytestmark = pytest.mark.anyio

KEY = "test:lease:k"


async def test_a_taken_key_is_held_until_the_block_ends(tier: Tier) -> None:
    async with tier.connect() as backend:
        async with Lease(backend, ttl=FAST.lock_ttl) as first:
            assert await first.take(KEY)
            assert first.held == (KEY,)
            async with Lease(backend, ttl=FAST.lock_ttl) as second:
                assert not await second.take(KEY)  # one holder at a time
                assert second.held == ()
            assert await backend.get_many([KEY]) == [first.token]
        assert await backend.get_many([KEY]) == [None]
        assert (first.released, first.errors) == (1, 0)


async def test_a_lost_key_is_not_released_by_its_old_holder(tier: Tier) -> None:
    async with tier.connect() as backend:
        async with Lease(backend, ttl=FAST.lock_ttl) as old:
            assert await old.take(KEY)
            # The lease expired (its holder stalled) and another holder took the key.
            await backend.delete([KEY])
            async with Lease(backend, ttl=FAST.lock_ttl) as new:
                assert await new.take(KEY)
                await old.release()
                assert await backend.get_many([KEY]) == [new.token]
        assert old.released == 0
        assert await backend.get_many([KEY]) == [None]  # the new holder released its own


async def test_an_error_in_the_work_releases_the_key_and_reaches_the_caller(tier: Tier) -> None:
    async def work() -> None:
        raise LookupError("upstream said no")

    async with tier.connect() as backend:
        with pytest.raises(LookupError):  # itself, not wrapped in a group
            async with Lease(backend, ttl=FAST.lock_ttl) as lease:
                assert await lease.take(KEY)
                await lease.run(work)
        assert await backend.get_many([KEY]) == [None]
        assert lease.released == 1


async def test_a_cancelled_holder_releases_the_key(tier: Tier) -> None:
    async with tier.connect() as backend:
        with anyio.CancelScope() as scope:
            async with Lease(backend, ttl=FAST.lock_ttl) as lease:
                assert await lease.take(KEY)

                async def work() -> None:
                    scope.cancel()
                    await anyio.sleep_forever()

                await lease.run(work)
        assert scope.cancelled_caught
        assert await backend.get_many([KEY]) == [None]
        assert lease.released == 1


async def test_a_failing_backend_fails_the_take_but_never_the_release(tier: Tier) -> None:
    errors: list[None] = []
    async with tier.connect() as backend:
        async with Lease(
            backend, ttl=FAST.lock_ttl, release_within=1.0, on_error=lambda: errors.append(None)
        ) as lease:
            assert await lease.take(KEY)
            tier.outage()
            with pytest.raises(Exception):  # noqa: B017 - the backend's own error
                await Lease(backend, ttl=FAST.lock_ttl).take("test:lease:other")
        # The release failed (counted, not raised); the key expires by itself.
        assert (lease.errors, len(errors), lease.released) == (1, 1, 0)
        tier.restore()

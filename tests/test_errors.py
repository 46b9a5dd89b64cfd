"""The package's errors: one tree, and a caller's own error leaves an owner's block as itself."""

from __future__ import annotations

import pytest

import engine
import recobeat.errors
from engine import Engine, EngineError
from engine.exception_groups import exit_owned
from engine.singleflight import SingleFlight
from recobeat.client import RecoBeatClient
from recobeat.errors import BadRequest, RecoBeatError
from recobeat.ids import InvalidId
from tests.engine_configs import engine_config

pytestmark = pytest.mark.anyio


def _package_errors() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for module in (engine, recobeat.errors):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found.append(value)
    from engine.shared import CorruptValue, SharedTierUnavailable
    from engine.virtual import VirtualTimeDeadlock

    return [*found, CorruptValue, SharedTierUnavailable, VirtualTimeDeadlock, InvalidId]


@pytest.mark.parametrize("error", _package_errors(), ids=lambda e: e.__name__)
def test_every_error_derives_from_the_root(error: type[BaseException]) -> None:
    assert issubclass(error, EngineError)
    # The RecoBeat name of the root catches engine errors too (RateLimited, UpstreamTimeout...).
    assert issubclass(error, RecoBeatError)


class Boom(Exception):
    pass


@pytest.mark.parametrize("error", [Boom("mine"), BadRequest(400, "the library's own")])
async def test_an_error_raised_in_the_engine_block_leaves_as_itself(error: Exception) -> None:
    with pytest.raises(type(error)) as caught:
        async with Engine(engine_config()):
            raise error
    assert caught.value is error


@pytest.mark.parametrize("error", [Boom("mine"), BadRequest(400, "the library's own")])
async def test_an_error_raised_in_the_client_block_leaves_as_itself(error: Exception) -> None:
    with pytest.raises(type(error)) as caught:
        async with RecoBeatClient():
            raise error
    assert caught.value is error


async def test_a_failure_of_the_owners_own_task_is_not_hidden() -> None:
    import anyio

    flights = SingleFlight()
    with pytest.raises(BaseExceptionGroup) as caught:
        async with flights:
            assert flights._tasks.is_open

            async def fail() -> None:
                raise KeyError("owned task")

            flights._tasks.start_soon(fail)
            await anyio.sleep(1)
            raise Boom("mine")
    leaves = [type(e) for e in caught.value.exceptions]
    assert KeyError in leaves


async def test_exit_owned_without_error_returns_what_the_owner_returned() -> None:
    async def aexit() -> bool | None:
        return None

    assert await exit_owned(aexit(), None) is None

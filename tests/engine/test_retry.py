from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import ConfigError
from engine.retry import RateLimited, Retryable, RetryConfig, RetryPolicy, jitter, retrying

pytestmark = pytest.mark.anyio


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(RetryConfig(attempts=10, base_delay=1, max_delay=8, jitter=1.0))
    err = Retryable("503")
    assert [policy.delay(n, err, 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert policy.delay(3, err, 0.5) == 2.0
    assert policy.delay(10, err, 0.0) is None  # attempts exhausted


def test_retry_after_is_honoured_exactly_and_capped() -> None:
    policy = RetryPolicy(RetryConfig(max_retry_after=60))
    assert policy.delay(1, RateLimited("429", retry_after=7), 0.9) == 7
    assert policy.delay(1, RateLimited("429", retry_after=61), 0.0) is None


def test_other_errors_are_not_retried() -> None:
    assert RetryPolicy().delay(1, ValueError("bad request"), 0.0) is None


def test_jitter_is_a_pure_function_of_its_inputs() -> None:
    assert jitter(1, "k", 1) == jitter(1, "k", 1)
    assert len({jitter(1, "k", n) for n in range(100)}) == 100
    assert jitter(1, "k", 1) != jitter(2, "k", 1)


@given(st.integers(1, 20), st.floats(0, 1, exclude_max=True))
def test_property_delays_stay_within_bounds(attempt: int, draw: float) -> None:
    config = RetryConfig(attempts=21, base_delay=0.5, max_delay=30, jitter=0.5)
    delay = RetryPolicy(config).delay(attempt, Retryable(), draw)
    assert delay is not None
    assert 0.25 * min(1, 2 ** (attempt - 1)) <= delay <= 30


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"attempts": 0}, "attempts"), ({"jitter": 1.5}, "jitter"), ({"max_delay": 0.1}, "max_delay")],
)
def test_invalid_config_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"RetryConfig\.{field}"):
        RetryConfig(**kwargs)  # type: ignore[arg-type]


async def test_retrying_waits_then_succeeds_and_reports_each_retry() -> None:
    calls: list[float] = []
    retries: list[tuple[int, float]] = []
    start = anyio.current_time()

    async def flaky() -> str:
        calls.append(anyio.current_time() - start)
        if len(calls) == 1:
            raise RateLimited("429", retry_after=5)
        if len(calls) == 2:
            raise Retryable("502")
        return "ok"

    policy = RetryPolicy(RetryConfig(base_delay=1, jitter=0))
    result = await retrying(
        flaky, policy, key="k", seed=0, on_retry=lambda n, e, d: retries.append((n, d))
    )
    assert result == "ok"
    assert calls == pytest.approx([0, 5, 7])  # 5 s Retry-After, then 2 s backoff
    assert retries == [(1, 5), (2, 2)]


async def test_retrying_gives_up_with_the_last_error() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise Retryable(f"503 #{calls}")

    with pytest.raises(Retryable, match="503 #3"):
        await retrying(down, RetryPolicy(RetryConfig(attempts=3)), key="k", seed=0)
    assert calls == 3


async def test_same_seed_same_waits() -> None:
    async def run(seed: int) -> list[float]:
        waits: list[float] = []

        async def down() -> None:
            raise Retryable("503")

        with pytest.raises(Retryable):
            await retrying(
                down, RetryPolicy(), key="k", seed=seed, on_retry=lambda n, e, d: waits.append(d)
            )
        return waits

    assert await run(1) == await run(1)
    assert await run(1) != await run(2)

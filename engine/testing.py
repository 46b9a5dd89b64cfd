"""Virtual time for your own tests: what a test of code built on the engine needs.

Run a coroutine function in virtual time on either event loop (asyncio or trio),
deterministically::

    from engine.testing import VirtualClock, run_virtual

    async def scenario() -> None:
        async with Engine(config, clock=VirtualClock()) as engine:
            ...  # an hour of rate-limited calls costs no wall time

    run_virtual(scenario, backend="trio", seed=1)

With pytest and anyio's plugin, parametrise the ``anyio_backend`` fixture with
:func:`backend_options` so that every ``@pytest.mark.anyio`` test runs in virtual time::

    @pytest.fixture(params=BACKENDS)
    def anyio_backend(request):
        return request.param, backend_options(request.param, seed=0)

The guarantees and limits (no real I/O or threads inside a virtual run) are those of
:mod:`engine.virtual`.
"""

from __future__ import annotations

from engine.clock import VirtualClock
from engine.virtual import BACKENDS, Backend, VirtualTimeDeadlock, backend_options, run_virtual

__all__ = [
    "BACKENDS",
    "Backend",
    "VirtualClock",
    "VirtualTimeDeadlock",
    "backend_options",
    "run_virtual",
]

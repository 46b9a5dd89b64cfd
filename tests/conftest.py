"""Every async test runs on both backends, in virtual time (no test sleeps in real time).

Tests that need real time (real sockets, a real redis-server) use the ``real_anyio_backend``
fixture instead by overriding ``anyio_backend`` in their module.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.virtual import BACKENDS, backend_options


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, backend_options(request.param, seed=0)

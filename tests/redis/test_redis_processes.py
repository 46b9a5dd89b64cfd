"""The shared budget holds across processes: three workers, through coredis on asyncio and on
trio, and through redis-py on asyncio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import RedisServer
from test_redis_limiter import check_budget

from engine.limits import RateLimitConfig, WindowRule

RULES = RateLimitConfig(rules=(WindowRule(limit=5, window=0.3),), min_interval=0.02)
WORKER = Path(__file__).with_name("grant_worker.py")
ROOT = Path(__file__).parents[2]


def test_three_processes_share_one_budget(redis_server: RedisServer) -> None:
    redis_server.flush()
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_server.url, "8", backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            text=True,
        )
        for backend in ("asyncio", "trio", "redis-py")
    ]
    for worker in workers:  # every worker is imported and connected
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    start_at = time.time() + 0.1
    for worker in workers:  # all of them, before waiting for any
        assert worker.stdin is not None
        worker.stdin.write(f"{start_at}\n")
        worker.stdin.flush()
    logs = [json.loads(worker.communicate(timeout=30)[0]) for worker in workers]
    assert [len(log) for log in logs] == [8, 8, 8]
    # They contended: no worker ran alone (the limiter is not first-come first-served across
    # processes, so two of the three may happen not to overlap; each overlaps another).
    for one in logs:
        assert any(
            min(one) < max(other) and min(other) < max(one) for other in logs if other is not one
        ), logs
    check_budget([t for log in logs for t in log], RULES)

"""The shared budget holds across processes: two workers, one on asyncio and one on trio."""

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


def test_two_processes_share_one_budget(redis_server: RedisServer) -> None:
    redis_server.flush()
    start_at = time.time() + 1.5  # both workers are imported and connected by then
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_server.url, "8", str(start_at), backend],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for backend in ("asyncio", "trio")
    ]
    logs = [json.loads(worker.communicate(timeout=30)[0]) for worker in workers]
    assert [len(log) for log in logs] == [8, 8]
    assert min(logs[0]) < max(logs[1]) and min(logs[1]) < max(logs[0])  # they contended
    check_budget(logs[0] + logs[1], RULES)

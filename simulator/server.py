"""Serving the simulator over real HTTP with hypercorn (HTTP/1.1 and cleartext HTTP/2).

The listening socket is bound and listening before :func:`serve_http` reports it started, so
requests sent right after ``await task_group.start(serve_http, ...)`` are queued, not refused.
Runs on asyncio or trio (whichever is running). Use a real clock here, never a virtual one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import sniffio
from anyio.abc import TaskStatus
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from simulator.asgi import SimulatorApp
from simulator.service import RecoBeatSimulator

__all__ = ["serve_http"]


async def serve_http(
    simulator: RecoBeatSimulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    access_log: bool = False,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown_trigger`` returns (default: SIGINT/SIGTERM). ``port=0`` picks a
    free port; the base URL (``http://host:port``) is passed to ``task_status.started``."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = "-" if access_log else None
    sockets = config.create_sockets()
    for sock in sockets.insecure_sockets:
        sock.listen(config.backlog)
    bound_host, bound_port = sockets.insecure_sockets[0].getsockname()[:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    app = wrap_app(SimulatorApp(simulator), config.wsgi_max_body_size, "asgi")
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio.run import worker_serve
    else:
        from hypercorn.asyncio.run import worker_serve
    task_status.started(f"http://{url_host}:{bound_port}")
    await worker_serve(app, config, sockets=sockets, shutdown_trigger=shutdown_trigger)

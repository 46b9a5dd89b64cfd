"""Serving the simulator over real HTTP with hypercorn (HTTP/1.1 and cleartext HTTP/2).

The listening socket is bound and listening before :func:`serve_http` reports it started, so
requests sent right after ``await task_group.start(serve_http, ...)`` are queued, not refused.
Runs on asyncio or trio (whichever is running). Use a real clock here, never a virtual one.

Errors before serving are the package's own: a port outside 0..65535 is a ``ConfigError``, an
address that cannot be listened on (in use, not local, unresolvable) an :class:`AddressUnavailable`.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import anyio
import sniffio
from anyio.abc import TaskStatus
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from engine.config import ConfigError
from engine.errors import EngineError
from simulator.upstream.asgi import SimulatorApp
from simulator.upstream.service import RecoBeatSimulator

__all__ = ["AddressUnavailable", "serve_http"]


class AddressUnavailable(EngineError, OSError):
    """The server cannot listen where it was asked to; the message names the address and why."""


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
    # Checked here: the socket layer would answer with an OverflowError that names no port.
    if not 0 <= port <= 65535:
        raise ConfigError(f"port: {port} is not in 0..65535")
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    config = Config()
    config.bind = [address]
    config.accesslog = "-" if access_log else None
    try:
        sockets = config.create_sockets()
        for sock in sockets.insecure_sockets:
            sock.listen(config.backlog)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise AddressUnavailable(f"cannot listen on {address}: {reason}") from None
    bound_host, bound_port = sockets.insecure_sockets[0].getsockname()[:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    app = wrap_app(SimulatorApp(simulator), config.wsgi_max_body_size, "asgi")
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio.run import worker_serve
    else:
        from hypercorn.asyncio.run import worker_serve
    url = f"http://{url_host}:{bound_port}"
    if shutdown_trigger is not None:
        task_status.started(url)
        await worker_serve(app, config, sockets=sockets, shutdown_trigger=shutdown_trigger)
        return
    # Our own receiver, installed before ``started``: a SIGINT sent as soon as the URL is known
    # then stops the server gracefully on asyncio and on trio. Left to hypercorn, asyncio
    # installs its handlers only later, and trio raises KeyboardInterrupt into whichever task is
    # running, which ends in an exception group.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:

        async def stop() -> None:
            async for _ in signals:
                return

        task_status.started(url)
        await worker_serve(app, config, sockets=sockets, shutdown_trigger=stop)

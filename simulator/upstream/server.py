"""Serving the simulator over real HTTP with hypercorn (HTTP/1.1 and cleartext HTTP/2).

The listening socket is bound and listening before :func:`serve_http` reports it started, so
requests sent right after ``await task_group.start(serve_http, ...)`` are queued, not refused.
Runs on asyncio or trio (whichever is running). Use a real clock here, never a virtual one.

Errors before serving are the package's own: a port outside 0..65535 is a ``ConfigError``, an
address that cannot be listened on (in use, not local, unresolvable) an :class:`AddressUnavailable`.

HTTP/1.1 status lines carry the standard reason phrase (``HTTP/1.1 400 Bad Request``), as the
live API's do. hypercorn (0.18) writes none (``HTTP/1.1 400 ``): its HTTP/1.1 protocol builds
h11's response event from the status alone, and an ASGI response has no field for a phrase.
hypercorn looks its HTTP/1.1 protocol class up as ``hypercorn.protocol.H11Protocol`` for every
connection, so :func:`serve_http` installs a subclass there that fills the phrase in (process
wide; it changes nothing else, and only status lines that have no phrase). HTTP/2 has no
reason phrases.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Awaitable, Callable

import anyio
import hypercorn.protocol
import sniffio
from anyio.abc import TaskStatus
from hypercorn.config import Config
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.typing import H11SendableEvent
from hypercorn.utils import wrap_app

from engine.config import ConfigError
from engine.errors import EngineError
from simulator.upstream.asgi import SimulatorApp
from simulator.upstream.messages import reason_phrase
from simulator.upstream.service import RecoBeatSimulator

__all__ = ["AddressUnavailable", "serve_http"]


class AddressUnavailable(EngineError, OSError):
    """The server cannot listen where it was asked to; the message names the address and why."""


class _PhrasedH11Protocol(H11Protocol):
    """hypercorn's HTTP/1.1 protocol, with the standard reason phrase in every status line that
    has none (hypercorn's own error responses included)."""

    async def _send_h11_event(self, event: H11SendableEvent) -> None:
        # h11's Response and InformationalResponse, the events with a status line, are frozen
        # dataclasses (h11 itself is hypercorn's dependency, not ours: no import of it here).
        status = getattr(event, "status_code", None)
        if status is not None and not event.reason:  # type: ignore[union-attr]
            phrase = reason_phrase(status)
            if phrase:
                event = dataclasses.replace(event, reason=phrase.encode("ascii"))  # type: ignore[type-var]
        await super()._send_h11_event(event)


def _install_reason_phrases() -> None:
    """Make hypercorn build :class:`_PhrasedH11Protocol` for its HTTP/1.1 connections."""
    if hypercorn.protocol.H11Protocol is not _PhrasedH11Protocol:
        hypercorn.protocol.H11Protocol = _PhrasedH11Protocol  # type: ignore[misc]


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
    _install_reason_phrases()
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

"""``recobeat``: command-line tools. Each subcommand is one ``add_*_command`` function that
registers its parser and sets ``run(args) -> int``; add new subcommands (``replay``, ``plan``)
the same way in :func:`build_parser`."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence

import anyio

from recobeat.replay.command import add_replay_command

__all__ = ["build_parser", "main"]


def add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the RecoBeat simulator over HTTP/1.1 and cleartext HTTP/2",
        description="Serve the simulated ReccoBeats API in real time until interrupted.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind, 0 for any (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="catalog and fault seed (overrides the config's)"
    )
    parser.add_argument("--config", default=None, help="simulator configuration, .toml or .json")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    import msgspec

    from engine.clock import SystemClock
    from simulator.config import SimulatorConfig, load_config
    from simulator.server import serve_http
    from simulator.service import RecoBeatSimulator

    config = load_config(args.config) if args.config else SimulatorConfig()
    if args.seed is not None:
        config = msgspec.structs.replace(config, seed=args.seed)

    async def run() -> None:
        clock = SystemClock()
        simulator = RecoBeatSimulator(config, clock=clock, origin=clock.monotonic())
        async with anyio.create_task_group() as tg:
            url = await tg.start(_serve_task, simulator, args)
            print(f"RecoBeat simulator (seed {config.seed}) on {url}", flush=True)

    async def _serve_task(
        simulator: RecoBeatSimulator, args: argparse.Namespace, *, task_status
    ) -> None:  # type: ignore[no-untyped-def]
        await serve_http(
            simulator,
            host=args.host,
            port=args.port,
            access_log=args.access_log,
            task_status=task_status,
        )

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(run, backend=args.backend)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recobeat", description="RecoBeat tools: the simulated ReccoBeats API and friends."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_command(commands)
    add_replay_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))

"""``recobeat``: command-line tools. Each subcommand is one ``add_*_command`` function that
registers its parser and sets ``run(args) -> int``; add new subcommands (``replay``, ``plan``)
the same way in :func:`build_parser`.

Every error a user can cause is one line on stderr, ``recobeat <command>: <problem>``, and exit
status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import anyio

from simulator.plan.command import add_plan_command
from simulator.replay.command import add_replay_command
from simulator.upstream.presets import PRESETS

if TYPE_CHECKING:
    from simulator.upstream.config import SimulatorConfig

__all__ = ["build_parser", "main"]

CONFIG_DOC = "docs/simulator-config.md"


def add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the RecoBeat simulator over HTTP/1.1 and cleartext HTTP/2",
        description=(
            "Serve the simulated ReccoBeats API in real time until interrupted (Ctrl-C or "
            f"SIGTERM stop it cleanly, exit status 0). --config takes a TOML or JSON file "
            f"whose fields are those of simulator.SimulatorConfig; {CONFIG_DOC} describes them "
            "with an example. --preset starts from a named configuration instead of the "
            "default one; --config's fields then override the preset's, and --seed both. "
            "Exit status 2 when the configuration or the address is unusable."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind, 0 for any (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed of the catalog and faults (overrides the config's)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"simulator configuration, .toml or .json (format: {CONFIG_DOC})",
    )
    parser.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="default",
        help=(
            "a named upstream configuration: %(choices)s (default: %(default)s); "
            f'--config overrides its fields ({CONFIG_DOC}, "Presets")'
        ),
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    import msgspec

    from engine.clock import SystemClock
    from engine.errors import EngineError
    from simulator.upstream.presets import preset_config
    from simulator.upstream.service import RecoBeatSimulator

    def fail(problem: str) -> int:
        print(f"recobeat serve: {problem}", file=sys.stderr)
        return 2

    try:
        # The one part of the command that needs an extra: simulator.serve_http names it.
        import simulator

        serve_http = simulator.serve_http
    except ModuleNotFoundError as exc:
        return fail(str(exc))

    # Checked before the catalog is built, which takes a while, and named as the user wrote it.
    if not 0 <= args.port <= 65535:
        return fail(f"--port {args.port}: a port is 0..65535 (0 picks a free one)")
    try:
        config = _load_config(args.config, args.preset) if args.config else None
    except ValueError as exc:
        return fail(f"--config {exc}")
    if config is None:
        config = preset_config(args.preset)
    if args.seed is not None:
        config = msgspec.structs.replace(config, seed=args.seed)

    class Announce:
        """The ``task_status`` of :func:`serve_http`: prints the URL once it is listening."""

        def started(self, url: str) -> None:
            preset = f", preset {args.preset}" if args.preset != "default" else ""
            print(f"RecoBeat simulator (seed {config.seed}{preset}) on {url}", flush=True)

    async def run() -> None:
        clock = SystemClock()
        simulator = RecoBeatSimulator(config, clock=clock, origin=clock.monotonic())
        # serve_http stops on SIGINT/SIGTERM by itself, once it is listening.
        await serve_http(
            simulator,
            host=args.host,
            port=args.port,
            access_log=args.access_log,
            task_status=Announce(),
        )

    try:
        # A Ctrl-C while the catalog is still being built arrives as KeyboardInterrupt.
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(run, backend=args.backend)
    except EngineError as exc:
        return fail(str(exc))
    return 0


def _load_config(path: Path, preset: str = "default") -> SimulatorConfig:
    """The simulator's configuration file over the preset ``preset``: the file's fields override
    the preset's (:func:`simulator.upstream.presets.preset_config`), then the whole is validated
    as :func:`engine.config.load_config` does; every problem is one ``ValueError`` naming the
    file."""
    import msgspec

    from engine.config import ConfigError, load_config
    from simulator.upstream.config import SimulatorConfig
    from simulator.upstream.presets import preset_config

    # Anything but .json is TOML, as the simulator has always read it.
    format = "json" if path.suffix == ".json" else "toml"
    try:
        if preset == "default":
            return load_config(path, SimulatorConfig, format=format)
        data = path.read_bytes()
        decode = msgspec.json.decode if format == "json" else msgspec.toml.decode
        try:
            overrides = decode(data)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"not valid {format.upper()}: {exc}") from None
        if not isinstance(overrides, dict):
            raise ConfigError(f"Expected `object`, got `{type(overrides).__name__}`")
        return preset_config(preset, overrides)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ConfigError as exc:
        raise ValueError(f"{path}: {exc}") from None


class _Parser(argparse.ArgumentParser):
    """argparse's errors in the house form: one line, no usage block (``--help`` has it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    # Subcommand parsers are made of the same class, so theirs say ``recobeat serve: ...``.
    parser = _Parser(
        prog="recobeat", description="RecoBeat tools: the simulated ReccoBeats API and friends."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_command(commands)
    add_replay_command(commands)
    add_plan_command(commands)
    return parser


def _version() -> str:
    try:
        return version("recobeat-engine")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (``recobeat replay --list | head``): not an error worth a
        # traceback. Point stdout at devnull so the interpreter's final flush stays quiet.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 1


if __name__ == "__main__":
    sys.exit(main())

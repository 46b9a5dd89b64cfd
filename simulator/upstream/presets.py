"""Named configurations of the simulated upstream, for ``recobeat serve --preset NAME``.

The live API's limits are not published (docs/recobeat-api.md, "Rate limiting"), so how strict
the upstream is stays an assumption; these presets name a few points around the default one to
try a client against. Each is a complete :class:`SimulatorConfig`; every field a preset does not
mention keeps its default (docs/simulator-config.md lists the defaults and the evidence behind
them):

- ``default``: the default simulator, ``SimulatorConfig()``: 100 requests per 60 s and 5 per
  1 s, a penalty box of 10 strikes blocking for 60 s, no faults.
- ``strict``: 40 per 60 s and 2 per 1 s, a penalty box of 3 strikes blocking for 120 s. The
  design note's 80 a minute draws 429s here.
- ``loose``: 300 per 60 s and 10 per 1 s, no penalty box.
- ``flaky``: the default limits, with faults on every endpoint: 2 % server errors, 1 %
  timeouts, 1 % connection resets, 1 % truncated bodies.

:func:`preset_config` applies overrides (a mapping as a TOML or JSON document decodes to) on
top of a preset, field by field: a table merges into the preset's table, any other value (a
list such as ``rate_limit.rules`` included) replaces it. ``recobeat serve --preset NAME
--config FILE`` is that, with the file's contents as the overrides, and so is a scenario's
``[upstream]`` section that names one (``preset = "strict"``, its other fields the overrides).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from engine.config import ConfigError, load_config
from simulator.upstream.config import SimulatorConfig
from simulator.upstream.faults import EndpointProfile, FaultRates
from simulator.upstream.latency import LatencyModel
from simulator.upstream.rate_limit import PenaltyBox, RateLimitConfig, RateLimitRule

__all__ = ["PRESETS", "UnknownPreset", "preset_config"]


def _flaky() -> SimulatorConfig:
    faults = FaultRates(error=0.02, timeout=0.01, reset=0.01, malformed=0.01)
    service = EndpointProfile(latency=LatencyModel(median=0.08, p99=0.4), faults=faults)
    return SimulatorConfig(service=service)


#: Every preset by name; ``default`` is the default simulator.
PRESETS: Mapping[str, SimulatorConfig] = {
    "default": SimulatorConfig(),
    "strict": SimulatorConfig(
        rate_limit=RateLimitConfig(
            rules=(RateLimitRule(limit=40, window=60.0), RateLimitRule(limit=2, window=1.0)),
            penalty_box=PenaltyBox(strikes=3, block=120.0),
        )
    ),
    "loose": SimulatorConfig(
        rate_limit=RateLimitConfig(
            rules=(RateLimitRule(limit=300, window=60.0), RateLimitRule(limit=10, window=1.0)),
            penalty_box=None,
        )
    ),
    "flaky": _flaky(),
}


class UnknownPreset(ConfigError):
    """A preset name that :data:`PRESETS` does not have; the message lists the known ones."""


def preset_config(name: str, overrides: Mapping[str, Any] | None = None) -> SimulatorConfig:
    """The preset ``name``, with ``overrides`` applied field by field (see the module's
    docstring). Raises :class:`UnknownPreset` for an unknown name and
    :class:`~engine.config.ConfigError` (naming the field's path) for a bad override."""
    try:
        preset = PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise UnknownPreset(f"unknown preset {name!r}; known: {known}") from None
    if not overrides:
        return preset
    merged = _merge(msgspec.to_builtins(preset), overrides)
    return load_config(merged, SimulatorConfig)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, Mapping):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override

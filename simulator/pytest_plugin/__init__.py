"""The pytest plugin (entry point ``recobeat`` in the ``pytest11`` group): inert until opted in.

pytest loads it whenever the package is installed, so by itself it only declares its ini
options. A project opts in in its pytest configuration::

    [tool.pytest.ini_options]
    recobeat_scenarios = ["scenarios/*.toml"]   # collect these scenario files as test items
    recobeat = true                             # or just the fixtures, without scenario files

Each scenario file becomes one test item per backend it names (``scenarios/burst.toml::trio``);
the item replays it in virtual time and fails with the replay's report as its message. Opting in
by either option also provides the fixtures of :mod:`simulator.pytest_plugin.fixtures`:
``recobeat_virtual`` (run an async function in virtual time, on asyncio and on trio),
``recobeat_simulator``, ``recobeat_client`` and ``recobeat_request_log``.

pytest is imported only by this package's modules, which only pytest loads.
"""

from __future__ import annotations

import pytest

__all__ = ["ENABLE_INI", "SCENARIOS_INI"]

SCENARIOS_INI = "recobeat_scenarios"
ENABLE_INI = "recobeat"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        SCENARIOS_INI,
        "recobeat-engine: glob patterns (relative to the ini file's directory) of scenario files "
        "to collect as test items; setting it also enables the recobeat_* fixtures",
        type="linelist",
        default=[],
    )
    parser.addini(
        ENABLE_INI,
        "recobeat-engine: enable the recobeat_* fixtures (virtual time, simulator, client, "
        "request log)",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    patterns = [p for p in config.getini(SCENARIOS_INI) if p.strip()]
    if not patterns and not config.getini(ENABLE_INI):
        return  # not opted in: nothing registered, nothing collected
    from simulator.pytest_plugin import fixtures, items

    config.pluginmanager.register(fixtures, "recobeat-fixtures")
    if patterns:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        config.pluginmanager.register(items.ScenarioCollector(base, patterns), "recobeat-items")

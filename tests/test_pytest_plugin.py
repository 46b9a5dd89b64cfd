"""The pytest plugin (the ``pytest11`` entry point ``recobeat``), run by ``pytester`` in a
temporary project outside this repository's tree (issue 15).

It does nothing until a project opts in; then the scenario files its ``recobeat_scenarios`` globs
match are test items (one per backend) whose failure message is the replay's report, and its own
tests get the ``recobeat_*`` fixtures: virtual time on both backends, a client wired to the
in-process simulator, and the simulator's request log.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny"
description = "Three raw lookups."
seed = 4
duration = 10
drain = 600

[[workload]]
kind = "requests"
call = "tracks"
ids = 3
arrivals = { process = "times", at = [0, 1, 2] }

[expect]
upstream_calls = { max = %d }
"""

USER_TEST = """
from simulator import CatalogConfig, SimulatorConfig
import pytest


@pytest.fixture
def recobeat_simulator_config():
    return SimulatorConfig(seed=3, catalog=CatalogConfig(tracks=100_000, materialised=500))


def test_one_request_for_repeated_lookups(
    recobeat_virtual, recobeat_client, recobeat_request_log, recobeat_simulator, recobeat_backend
):
    ids = [recobeat_simulator.catalog.track_uuid(i) for i in range(3)]

    async def body():
        import sniffio

        async with recobeat_client as client:
            first = await client.audio_features_many(ids)
            again = await client.audio_features_many(ids)  # served from the cache
        return sniffio.current_async_library(), len(first), len(again)

    assert recobeat_virtual(body) == (recobeat_backend, 3, 3)
    assert recobeat_request_log.count("/v1/audio-features") == 1
    assert len(recobeat_request_log) == 1
    assert recobeat_request_log.outcomes() == {"ok": 1}
"""


def project(pytester: pytest.Pytester, ini: str) -> None:
    pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\n{ini}\n")
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "tiny.toml").write_text(TINY % 100)
    (scenarios / "too-strict.toml").write_text(
        (TINY % 1).replace('name = "tiny"', 'name = "too-strict"')
    )


def test_the_entry_point_is_installed() -> None:
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "recobeat"]
    assert plugin.value == "recobeat_pytest"


def test_the_project_is_outside_this_repository(pytester: pytest.Pytester) -> None:
    assert not pytester.path.resolve().is_relative_to(ROOT)


def test_nothing_happens_without_opting_in(pytester: pytest.Pytester) -> None:
    project(pytester, "")
    pytester.makepyfile(
        test_user="def test_no_fixtures(request):\n"
        "    assert 'recobeat_client' not in request.fixturenames\n"
        "    with __import__('pytest').raises(Exception):\n"
        "        request.getfixturevalue('recobeat_client')\n"
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)  # the scenario files are not collected


def test_scenario_files_are_items_and_a_failure_shows_the_report(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, 'recobeat_scenarios = ["scenarios/*.toml"]')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "scenarios/tiny.toml::asyncio PASSED*",
            "scenarios/tiny.toml::trio PASSED*",
            "scenarios/too-strict.toml::asyncio FAILED*",
            "scenarios/too-strict.toml::trio FAILED*",
        ]
    )
    out = result.stdout.str()
    # The failure's message is the report recobeat replay prints, not a traceback.
    result.stdout.fnmatch_lines(["FAIL too-strict on asyncio (profile tuned, seed 4):*"])
    result.stdout.fnmatch_lines(["upstream calls*<= 1*FAIL"])
    assert "Traceback" not in out
    assert "FAIL tiny" not in out


def test_an_invalid_scenario_is_a_one_line_collection_error(pytester: pytest.Pytester) -> None:
    project(pytester, 'recobeat_scenarios = ["scenarios/*.toml"]')
    (pytester.path / "scenarios" / "broken.toml").write_text('name = "broken"\n')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "scenarios/broken.toml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken.toml*"])


def test_user_tests_get_the_fixtures_on_both_backends(pytester: pytest.Pytester) -> None:
    project(pytester, "recobeat = true")
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2)  # the scenario files are not collected: no glob
    result.stdout.fnmatch_lines(
        [
            "*test_one_request_for_repeated_lookups?asyncio? PASSED*",
            "*test_one_request_for_repeated_lookups?trio? PASSED*",
        ]
    )


def test_a_failing_assertion_on_the_request_log_names_the_counts(
    pytester: pytest.Pytester,
) -> None:
    project(pytester, "recobeat = true")
    pytester.makepyfile(
        test_user="""
def test_twice(recobeat_virtual, recobeat_client, recobeat_request_log, recobeat_simulator):
    ids = [recobeat_simulator.catalog.track_uuid(0)]

    async def body():
        async with recobeat_client as client:
            await client.tracks(ids)

    recobeat_virtual(body)
    assert recobeat_request_log.count("/v1/track") == 2, recobeat_request_log
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*RequestLogView({'/v1/track': 1})*"])

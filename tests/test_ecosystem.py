"""The checks over a set of plugins (``ecosystem.*``): the judges, the facts that
travel back from the workers, and what the command line and pytest report.

``tests/contract_sets/<set>/<plugin>``: ``good`` passes every ecosystem check,
each other set fails exactly one (see its README).  Every plugin there passes
its own contract alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nexus_testkit.contract._checks import CHECKS, ECOSYSTEM_CHECKS, ECOSYSTEM_CHECKS_BY_ID
from nexus_testkit.contract._ecosystem import (
    EcosystemReport,
    PluginFacts,
    facts_from_manifest,
    run_ecosystem,
)
from nexus_testkit.contract._report import report_json, report_schema, report_text
from nexus_testkit.contract._runner import ContractOptions, PluginReport
from nexus_testkit.isolation import IsolationOptions, check_plugin, start_together

from ._helpers import EXAMPLES, needs_platform

SETS = Path(__file__).resolve().parent / "contract_sets"
#: A loaded machine (2 cores, other suites running) can block a start for 0.2 s.
NO_TIMING = "robustness.blocking=timing depends on the machine's load"

#: set -> (the ecosystem check it fails, its outcome, lines of the message).
FAILS: dict[str, tuple[str, str, list[str]]] = {
    "dependencies_missing": (
        "ecosystem.dependencies",
        "failed",
        [
            "*dependencies_missing/lonely/manifest.json: 'lonely' depends on 'absent', which is "
            "not among the plugins given (bystander, lonely)"
        ],
    ),
    "dependencies_cycle": (
        "ecosystem.dependencies",
        "failed",
        [
            "*the plugins' dependencies form a cycle: chicken -> egg -> chicken",
            "*- *dependencies_cycle/chicken/manifest.json: 'chicken' depends on 'egg'",
            "*- *dependencies_cycle/egg/manifest.json: 'egg' depends on 'chicken'",
        ],
    ),
    "events_unpublished": (
        "ecosystem.events",
        "warning",
        [
            "*events subscribed to that no plugin of the set (listener, speaker) publishes and "
            "no manifest declares in events.external:",
            "*- listener (*events_unpublished/listener/manifest.json) subscribes to "
            "'nobody.speaks'",
        ],
    ),
    "services_unregistered": (
        "ecosystem.services",
        "failed",
        [
            "*services looked up that no dependency of the plugin registers (the set: "
            "bystander, seeker):",
            "*- seeker (*services_unregistered/seeker/manifest.json) looks up "
            "'nowhere.service', which no plugin registers",
        ],
    ),
    "services_not_a_dependency": (
        "ecosystem.services",
        "failed",
        [
            "*- user (*services_not_a_dependency/user/manifest.json) looks up 'provider.api', "
            "registered by provider, which is not among its dependencies (the platform may "
            "start it first)",
        ],
    ),
    "start_fails": (
        "ecosystem.start",
        "failed",
        [
            "*the plugins did not start together (in the order provider -> client):",
            "*start_fails/client/plugin.py: initialize() raised AttributeError: 'Directory' "
            "object has no attribute 'lookup_user'",
        ],
    ),
    "names_twin": (
        "ecosystem.names",
        "failed",
        [
            "*plugins of the set claim the same names:",
            "*- the name 'hello_world' is claimed by *names_twin/hello_world/manifest.json and "
            "*names_twin/hello_world_again/manifest.json",
            "*- the mount prefix /api/plugins/hello_world is claimed by *",
            "*- the route GET /api/plugins/hello_world/ping is claimed by *",
        ],
    ),
}


#: Checks that, failing, leave ecosystem.start skipped: the set cannot be started.
BLOCKING = ("ecosystem.dependencies", "ecosystem.names")


def expected(name: str) -> dict[str, str]:
    """The ecosystem checks of set ``name`` that do not pass, and their outcomes."""
    check_id, outcome, _ = FAILS[name]
    return {check_id: outcome, **({"ecosystem.start": "skipped"} if check_id in BLOCKING else {})}


def members(name: str) -> list[Path]:
    return sorted(p for p in (SETS / name).iterdir() if (p / "manifest.json").is_file())


def test_every_ecosystem_check_has_a_set_that_fails_it_alone() -> None:
    sets = {p.name for p in SETS.iterdir() if p.is_dir()}
    assert sets == {"good", *FAILS}
    assert {check for check, _, _ in FAILS.values()} == set(ECOSYSTEM_CHECKS_BY_ID)


# ------------------------------------------------------------------ the judges, on facts


def facts(name: str, **kw: Any) -> PluginFacts:
    return PluginFacts(
        path=f"plugins/{name}",
        manifest=f"plugins/{name}/manifest.json",
        name=name,
        category=kw.pop("category", "test"),
        prefix=f"/api/plugins/{name}",
        **kw,
    )


def judge(*plugins: PluginFacts) -> dict[str, tuple[str, str]]:
    report = run_ecosystem([_report_of(p) for p in plugins])
    return {r.check: (r.outcome, r.message) for r in report.results}


def _report_of(facts: PluginFacts) -> PluginReport:
    report = PluginReport(Path(facts.path), facts.name, [])
    report.facts = facts
    return report


def test_a_service_of_a_dependency_of_a_dependency_counts() -> None:
    outcomes = judge(
        facts("store", registers=("store.api",)),
        facts("middle", dependencies=("store",)),
        # category.name is the platform's plugin id: a dependency may use it.
        facts("top", dependencies=("test.middle",), looks_up=("store.api",)),
    )
    assert outcomes["ecosystem.services"] == ("passed", "")


def test_an_external_event_needs_no_publisher_and_other_events_do() -> None:
    outcomes = judge(
        facts("a", subscribes=("user.deleted", "b.done"), external=("user.deleted",)),
        facts("b", publishes=("b.done",)),
    )
    assert outcomes["ecosystem.events"] == ("passed", "")
    outcome, message = judge(facts("a", subscribes=("user.deleted",)), facts("b"))[
        "ecosystem.events"
    ]
    assert outcome == "warning"
    assert "a (plugins/a/manifest.json) subscribes to 'user.deleted'" in message


def test_an_instance_name_claimed_twice_is_a_clash() -> None:
    outcome, message = judge(
        facts("a", instance_name="shared"), facts("b", instance_name="shared")
    )["ecosystem.names"]
    assert outcome == "failed"
    assert (
        "- the name 'shared' is claimed by plugins/a/manifest.json and plugins/b/manifest.json"
        in message
    )


def test_a_plugin_without_a_manifest_is_left_out_and_named() -> None:
    broken = PluginFacts("plugins/broken", "plugins/broken/manifest.json", problem="no manifest")
    outcomes = judge(facts("a"), broken, facts("b", looks_up=("nothing",)))
    outcome, message = outcomes["ecosystem.services"]
    assert outcome == "failed"
    assert message.endswith("left out of this check:\n- plugins/broken/manifest.json: no manifest")
    assert outcomes["ecosystem.names"] == (
        "passed",
        "left out of this check:\n- plugins/broken/manifest.json: no manifest",
    )


def test_user_skips_apply_to_the_set_and_scoped_ones_do_not() -> None:
    report = run_ecosystem(
        [_report_of(facts("a", looks_up=("x",))), _report_of(facts("b"))],
        {"ecosystem.services": "not yet registered", "a:ecosystem.names": "scoped"},
    )
    assert report.result("ecosystem.services").outcome == "skipped"
    assert report.result("ecosystem.services").message == "skipped by the user: not yet registered"
    assert report.result("ecosystem.names").outcome == "passed"


def test_ecosystem_ids_are_valid_skips() -> None:
    ContractOptions(skip={"ecosystem.events": "the publisher is not ours"})


def test_plugin_facts_round_trip_and_refuse_anything_else() -> None:
    one = facts("a", routes=(("GET", "/api/plugins/a/x"),), looks_up=("s",))
    assert PluginFacts.from_json(json.loads(json.dumps(one.to_json()))) == one
    for bad in (
        [],
        {"path": "p"},
        {**one.to_json(), "name": 3},
        {**one.to_json(), "routes": [["GET"]]},
        {**one.to_json(), "looks_up": [1]},
        {**one.to_json(), "evil": "x"},
    ):
        with pytest.raises(ValueError, match="not plugin facts"):
            PluginFacts.from_json(bad)


# ------------------------------------------------------------------ facts from the worker


def test_the_facts_travel_back_from_the_worker_process() -> None:
    consumer, publisher = members("good")
    options = ContractOptions(skip={"robustness.blocking": "timing"})
    report = check_plugin(consumer, options, IsolationOptions(mode="process"))
    assert report.facts is not None
    assert report.facts.name == "consumer"
    assert report.facts.dependencies == ("publisher",)
    assert report.facts.looks_up == ("publisher.items",)
    assert report.facts.subscribes == ("publisher.item_added",)
    assert report.facts.routes == (("GET", "/api/plugins/consumer/ping"),)
    # The plugin's JSON report is as before: the facts are not in it.
    assert "facts" not in report.to_json()
    other = check_plugin(publisher, options, IsolationOptions(mode="inline"))
    assert other.facts is not None
    assert other.facts.registers == ("publisher.items",)
    assert other.facts.external == ("platform.tick",)


def test_a_worker_that_died_is_judged_on_its_manifest(tmp_path: Path) -> None:
    lonely = shutil.copytree(members("dependencies_missing")[1], tmp_path / "lonely")
    plugin = lonely / "plugin.py"
    plugin.write_text(
        plugin.read_text().replace(
            "        self.initialized = True\n        return True",
            "        import os\n        os._exit(3)",
        )
    )
    report = check_plugin(lonely, ContractOptions(), IsolationOptions(mode="process"))
    assert report.result("lifecycle.initialize").outcome == "failed"
    assert report.facts is None
    assert facts_from_manifest(lonely).dependencies == ("absent",)
    bystander = check_plugin(members("dependencies_missing")[0], ContractOptions())
    result = run_ecosystem([report, bystander]).result("ecosystem.dependencies")
    assert result.outcome == "failed"
    assert "'lonely' depends on 'absent'" in result.message


# ------------------------------------------------------------------ starting the set


def _copy_set(tmp_path: Path, name: str, edit: dict[str, tuple[str, str]]) -> list[Path]:
    """A copy of set ``name`` with ``edit``: plugin dir -> (text, replacement) in plugin.py."""
    target = shutil.copytree(SETS / name, tmp_path / name)
    for plugin, (old, new) in edit.items():
        file = target / plugin / "plugin.py"
        source = file.read_text()
        assert old in source
        file.write_text(source.replace(old, new))
    return sorted(p for p in target.iterdir() if p.is_dir())


def test_a_handler_raising_on_another_plugins_event_fails_the_start(tmp_path: Path) -> None:
    # The consumer (started second) publishes what the publisher hears, with a payload
    # the publisher's handler does not expect.
    plugins = _copy_set(
        tmp_path,
        "good",
        {
            "publisher": ("self.seen.append(event.name)", "raise KeyError(event.data['item'])"),
            "consumer": (
                "        self.initialized = True\n",
                '        await self.event_bus.publish("platform.tick", {}, source="consumer")\n'
                "        self.initialized = True\n",
            ),
        },
    )
    report = start_together(plugins, isolation=IsolationOptions(mode="inline"))
    (result,) = report.results
    assert (result.check, result.outcome) == ("ecosystem.start", "failed")
    assert result.message.splitlines() == [
        "the plugins started together (in the order publisher -> consumer), but:",
        "- a handler raised on 'platform.tick' (from consumer): KeyError: 'item'",
    ]


def test_a_set_that_kills_its_worker_at_start_fails_the_start(tmp_path: Path) -> None:
    plugins = _copy_set(
        tmp_path,
        "start_fails",
        {"client": ('self.admin = self.found.lookup_user("admin")', "import os; os._exit(3)")},
    )
    report = start_together(plugins, isolation=IsolationOptions(mode="process"))
    (result,) = report.results
    assert (result.check, result.outcome) == ("ecosystem.start", "failed")
    assert result.message.startswith(
        "the plugin ended its worker process with os._exit(3) during the start of the set "
        "(provider -> client)"
    )
    assert f"{plugins[0]}/plugin.py:" in result.message  # the client's frame
    # Through run_ecosystem, as the command line and pytest run it.
    reports = [check_plugin(p, isolation=IsolationOptions(mode="inline")) for p in plugins]
    ecosystem = run_ecosystem(reports, start=lambda: report)
    assert ecosystem.result("ecosystem.start").outcome == "failed"


# ------------------------------------------------------------------ the command line


def _run(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nexus_testkit", "check", *args, "--skip", NO_TIMING],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str, Any]]:
    """Every set through the command line, started at once: (exit status, text report,
    stderr, JSON report of --output)."""
    tmp = tmp_path_factory.mktemp("ecosystem-cli")
    commands = {name: [*map(str, members(name))] for name in ["good", *FAILS]}
    # Inline for most sets: the worker's side is pinned by good and names_twin.
    for name in FAILS:
        if name != "names_twin":
            commands[name] += ["--isolation", "inline"]
    commands["strict"] = [*map(str, members("events_unpublished")), "--strict"]
    commands["examples"] = [str(EXAMPLES / "task_manager"), str(EXAMPLES / "notifications")]
    commands["skip"] = [
        *map(str, members("services_unregistered")),
        "--skip",
        "ecosystem.services=the registry is mocked",
    ]
    procs = {
        name: _run([*args, "--output", str(tmp / f"{name}.json")], tmp)
        for name, args in commands.items()
    }
    runs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        runs[name] = (proc.returncode, out, err, json.loads((tmp / f"{name}.json").read_text()))
    return runs


def test_cli_good_set_passes_every_ecosystem_check(cli: dict[str, Any]) -> None:
    code, _, err, document = cli["good"]
    assert code == 0, err
    jsonschema.validate(document, report_schema())
    assert document["ecosystem"]["plugins"] == [str(p) for p in members("good")]
    assert [r["check"] for r in document["ecosystem"]["results"]] == [
        c.id for c in ECOSYSTEM_CHECKS
    ]
    assert {r["outcome"] for r in document["ecosystem"]["results"]} == {"passed"}


@needs_platform  # the examples import nexus.plugins
def test_cli_the_example_pair_passes_every_check(cli: dict[str, Any]) -> None:
    code, out, err, document = cli["examples"]
    assert code == 0, err
    assert [p["name"] for p in document["plugins"]] == ["task_manager", "notifications"]
    outcomes = {r["outcome"] for p in document["plugins"] for r in p["results"]}
    assert outcomes <= {"passed", "skipped"}  # skipped: robustness.blocking, by NO_TIMING
    assert {r["check"]: r["outcome"] for r in document["ecosystem"]["results"]} == {
        c.id: "passed" for c in ECOSYSTEM_CHECKS
    }
    assert (
        f"ecosystem task_manager + notifications: {len(ECOSYSTEM_CHECKS)} passed, 0 failed, "
        "0 warnings, 0 skipped" in out
    )
    start = next(r for r in document["ecosystem"]["results"] if r["check"] == "ecosystem.start")
    assert start["message"] == "started in the order task_manager -> notifications"


@pytest.mark.parametrize("name", sorted(FAILS))
def test_cli_each_set_fails_its_check_alone(cli: dict[str, Any], name: str) -> None:
    check_id, outcome, lines = FAILS[name]
    code, _, err, document = cli[name]
    assert code == (1 if outcome == "failed" else 0), err
    jsonschema.validate(document, report_schema())
    # Each plugin alone: exactly as when given alone, no ecosystem check among its results.
    for plugin in document["plugins"]:
        assert [r["check"] for r in plugin["results"]] == [c.id for c in CHECKS]
        assert {r["outcome"] for r in plugin["results"]} <= {"passed", "skipped"}, plugin
    results = {r["check"]: r for r in document["ecosystem"]["results"]}
    assert {c: r["outcome"] for c, r in results.items() if r["outcome"] != "passed"} == expected(
        name
    )
    pytest.LineMatcher(results[check_id]["message"].splitlines()).fnmatch_lines(lines)


def test_cli_text_report_has_a_block_for_the_set(cli: dict[str, Any]) -> None:
    code, out, _, _ = cli["names_twin"]
    assert code == 1
    pytest.LineMatcher(out.splitlines()).fnmatch_lines(
        [
            "hello_world (*names_twin/hello_world): * passed, 0 failed, *",
            "hello_world (*names_twin/hello_world_again): * passed, 0 failed, *",
            "ecosystem hello_world + hello_world: 3 passed, 1 failed, 0 warnings, 1 skipped in *",
            "  FAILED  ecosystem.names: plugins of the set claim the same names:",
            "           - the name 'hello_world' is claimed by *",
            "           - the mount prefix /api/plugins/hello_world is claimed by *",
        ]
    )


def test_cli_strict_fails_on_an_ecosystem_warning(cli: dict[str, Any]) -> None:
    code, out, _, _ = cli["strict"]
    assert code == 1
    assert "WARNING ecosystem.events:" in out


def test_cli_an_ecosystem_check_is_skipped_with_its_reason(cli: dict[str, Any]) -> None:
    code, out, err, _ = cli["skip"]
    assert code == 0, err
    assert "SKIPPED ecosystem.services: skipped by the user: the registry is mocked" in out


def test_text_and_json_reports_render_an_ecosystem_report() -> None:
    report = run_ecosystem([_report_of(facts("a")), _report_of(facts("b"))])
    report = replace(report, duration=0.5)
    assert isinstance(report, EcosystemReport)
    assert report_text([], ecosystem=report, verbose=True).splitlines()[:2] == [
        # Without a way to start the set (start=None), ecosystem.start is skipped.
        f"ecosystem a + b: {len(ECOSYSTEM_CHECKS) - 1} passed, 0 failed, 0 warnings, 1 skipped "
        "in 0.50 s",
        "  passed  ecosystem.dependencies",
    ]
    document = json.loads(report_json([], ecosystem=report))
    jsonschema.validate(document, report_schema())
    assert document["ecosystem"]["plugins"] == ["plugins/a", "plugins/b"]


# ------------------------------------------------------------------ pytest


INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""
#: The outer run's filterwarnings = error reaches into inline runs.
OPTIONS = (f"--nexus-skip={NO_TIMING}", "-p", "no:randomly", "-W", "always::UserWarning")


def _copies(pytester: pytest.Pytester, name: str) -> list[str]:
    target = pytester.path / name
    shutil.copytree(SETS / name, target)
    return [f"--nexus-plugin={name}/{p.name}" for p in members(name)]


@pytest.mark.parametrize("name", sorted(FAILS))
def test_pytest_items_and_summary_line_of_each_set(pytester: pytest.Pytester, name: str) -> None:
    check_id, outcome, lines = FAILS[name]
    pytester.makeini(INI)
    result = pytester.runpytest(*_copies(pytester, name), *OPTIONS)
    plugins = len(members(name))
    others = expected(name)
    passed = len(ECOSYSTEM_CHECKS) - len(others)
    skipped = ", 1 skipped" if "ecosystem.start" in others and check_id != "ecosystem.start" else ""
    dirs = " + ".join(p.name for p in members(name))
    label = "1 failed" if outcome == "failed" else "1 warning"
    result.stdout.fnmatch_lines(
        [
            *(
                f"nexus contract {p.name}: {len(CHECKS) - 1} passed, 1 skipped"
                for p in members(name)
            ),
            f"nexus ecosystem {dirs}: {passed} passed, {label} ({check_id}){skipped}",
        ]
    )
    set_skipped = plugins + (1 if skipped else 0)
    if outcome == "failed":
        result.assert_outcomes(
            passed=plugins * (len(CHECKS) - 1) + passed, failed=1, skipped=set_skipped
        )
        result.stdout.fnmatch_lines(
            [
                f"*_ nexus ecosystem[[]{'+'.join(p.name for p in members(name))}[]]: {check_id} _*",
                f"ecosystem * {check_id} (error): *",
                *lines,
                "Fix: *",
                f"FAILED ecosystem[[]*[]]::{check_id} - *",
            ]
        )
    else:
        result.assert_outcomes(
            passed=plugins * (len(CHECKS) - 1) + passed + 1, skipped=set_skipped, warnings=1
        )
        result.stdout.fnmatch_lines([f"ecosystem[[]*[]]::{check_id}", *lines])


def test_pytest_one_plugin_has_no_ecosystem_items(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(*_copies(pytester, "good")[:1], "--collect-only", "-q")
    assert "ecosystem" not in result.stdout.str()


def test_pytest_ecosystem_items_are_named_by_set_and_check(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(*_copies(pytester, "good"), "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [f"ecosystem[[]consumer+publisher[]]::{c.id}" for c in ECOSYSTEM_CHECKS],
        consecutive=True,
    )


def test_pytest_the_set_line_adds_up_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    result = pytester.runpytest(
        *_copies(pytester, "good"),
        *OPTIONS,
        "-p",
        "xdist",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=2 * (len(CHECKS) - 1) + len(ECOSYSTEM_CHECKS), skipped=2)
    result.stdout.fnmatch_lines(
        [f"nexus ecosystem consumer + publisher: {len(ECOSYSTEM_CHECKS)} passed"]
    )

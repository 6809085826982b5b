"""Isolation: each host imports the plugin afresh, and takes everything back when it closes.

The plugins are in ``tests/hostile`` (see ``tests/test_robustness.py`` for the
table of cases): ``twin_a`` and ``twin_b`` have the same module names
(``plugin.py``, ``helpers.py``) and different content, ``stateful`` keeps a
module-level list and a class-level counter, ``leaky_task`` leaks a task,
``sys_path_hack`` imports a helper as a top-level module from its own
directory.  The user-level suite (``ISOLATION_SUITE``) must give the same
outcome in file order, reversed, shuffled and under ``-n 2``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from nexus_testkit import PluginHost, PluginStartError

HOSTILE = Path(__file__).resolve().parent / "hostile"
CASES = ("twin_a", "twin_b", "stateful", "leaky_task", "sys_path_hack", "init_halt")

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the cases used here (imports write bytecode next to the modules)."""
    root = tmp_path_factory.mktemp("isolation")
    for case in CASES:
        shutil.copytree(HOSTILE / case, root / case)
    return root


def modules_from(directory: Path) -> list[str]:
    """Names of the modules in ``sys.modules`` loaded from files inside ``directory``."""
    root = str(directory.resolve())
    names = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and str(Path(file).resolve()).startswith(root + "/"):
            names.append(name)
    return sorted(names)


@pytest.mark.asyncio
async def test_plugin_modules_and_submodules_leave_sys_modules_when_the_host_closes(
    corpus: Path,
) -> None:
    async with PluginHost(corpus / "twin_a") as host:
        assert host.loaded is not None
        package = host.loaded.package
        response = await host.client.get("/who")
        assert response.json() == {"who": "alpha", "module": f"{package}.helpers"}
        assert modules_from(corpus / "twin_a") == [f"{package}.helpers", f"{package}.plugin"]
        await host.restart()  # imported again, under a package of its own
        assert host.loaded.package != package
        restarted = host.loaded.package
        assert (await host.client.get("/who")).json()["module"] == f"{restarted}.helpers"
    assert modules_from(corpus / "twin_a") == []
    for pkg in (package, restarted):
        assert [n for n in sys.modules if n == pkg or n.startswith(f"{pkg}.")] == []


@pytest.mark.asyncio
async def test_modules_leave_sys_modules_when_initialize_fails(corpus: Path) -> None:
    with pytest.raises(PluginStartError):
        async with PluginHost(corpus / "init_halt"):
            pass
    assert modules_from(corpus / "init_halt") == []


@pytest.mark.asyncio
async def test_twins_with_the_same_module_names_coexist(corpus: Path) -> None:
    async with PluginHost(corpus / "twin_a") as a, PluginHost(corpus / "twin_b") as b:
        assert (await a.client.get("/who")).json()["who"] == "alpha"
        assert (await b.client.get("/who")).json()["who"] == "beta"
        assert a.loaded is not None
        assert b.loaded is not None
        assert a.loaded.module is not b.loaded.module
    assert modules_from(corpus / "twin_a") == modules_from(corpus / "twin_b") == []


@pytest.mark.asyncio
async def test_a_top_level_module_imported_from_the_plugin_directory_leaves_too(
    corpus: Path,
) -> None:
    saved_path = list(sys.path)
    try:
        async with PluginHost(corpus / "sys_path_hack") as host:
            assert (await host.client.get("/who")).json() == {"who": "sys_path_hack"}
            assert "nexus_hostile_helpers" in modules_from(corpus / "sys_path_hack")
        # The helper came from the plugin's own directory: it is the plugin's module,
        # and a second plugin with a helper of the same name would get this one.
        assert modules_from(corpus / "sys_path_hack") == []
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("nexus_hostile_helpers", None)


# ------------------------------------------------------------------ the suite as users run it

ORDERING_CONFTEST = """
import random

import pytest


def pytest_addoption(parser):
    parser.addoption("--order", default="file", help="file, reverse or shuffle-SEED")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    order = config.getoption("order")
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle-"):
        random.Random(int(order.removeprefix("shuffle-"))).shuffle(items)
"""


def isolation_suite(corpus: Path) -> dict[str, str]:
    a, b, stateful, leaky = (
        str(corpus / name) for name in ("twin_a", "twin_b", "stateful", "leaky_task")
    )
    return {
        "test_twins": f"""
import pytest

from nexus_testkit import PluginHost


@pytest.mark.nexus_plugin({a!r})
async def test_twin_a(nexus_host, nexus_client):
    who = (await nexus_client.get("/who")).json()
    assert who == {{"who": "alpha", "module": nexus_host.loaded.package + ".helpers"}}


@pytest.mark.nexus_plugin({b!r})
async def test_twin_b(nexus_host, nexus_client):
    who = (await nexus_client.get("/who")).json()
    assert who == {{"who": "beta", "module": nexus_host.loaded.package + ".helpers"}}


async def test_both_twins_at_once():
    async with PluginHost({a!r}) as a, PluginHost({b!r}) as b:
        assert (await a.client.get("/who")).json()["who"] == "alpha"
        assert (await b.client.get("/who")).json()["who"] == "beta"
""",
        "test_state": f"""
import pytest

pytestmark = pytest.mark.nexus_plugin({stateful!r})


def check_fresh_then_dirty(host, plugin):
    module = host.loaded.module
    assert module.STARTED == ["stateful"], "module-level state leaked in from another test"
    assert type(plugin).instances == 1, "class-level state leaked in from another test"
    # Dirty both for whichever test comes next.
    module.STARTED.append("dirty")
    type(plugin).instances += 100


async def test_state_one(nexus_host, nexus_plugin):
    check_fresh_then_dirty(nexus_host, nexus_plugin)


async def test_state_two(nexus_host, nexus_plugin):
    check_fresh_then_dirty(nexus_host, nexus_plugin)


async def test_state_three(nexus_host, nexus_plugin):
    check_fresh_then_dirty(nexus_host, nexus_plugin)
""",
        "test_leak": f"""
import asyncio

import pytest


@pytest.mark.nexus_plugin({leaky!r})
async def test_leaks(nexus_host):
    pass


@pytest.mark.nexus_plugin({stateful!r})
async def test_after_the_leak(nexus_host):
    assert "leaky-poller" not in [t.get_name() for t in asyncio.all_tasks()]
""",
    }


@pytest.mark.parametrize(
    "args",
    [
        ["-p", "no:randomly"],
        ["-p", "no:randomly", "--order=reverse"],
        ["-p", "no:randomly", "--order=shuffle-20240607"],
        ["-p", "no:randomly", "-n", "2"],
    ],
    ids=["file-order", "reverse", "shuffled", "xdist"],
)
def test_the_isolation_suite_gives_the_same_outcome_in_any_order(
    pytester: pytest.Pytester, corpus: Path, args: list[str]
) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(ORDERING_CONFTEST)
    pytester.makepyfile(**isolation_suite(corpus))
    result = pytester.runpytest(*args, "-rE")
    # Every test passes; the leak fails its own test, at its teardown, and nothing else.
    result.assert_outcomes(passed=8, errors=1)
    errors = [line for line in result.outlines if line.startswith("ERROR ")]
    assert len(errors) == 1, errors
    assert errors[0].startswith("ERROR test_leak.py::test_leaks - "), errors
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_leaks _*",
            "Plugin 'leaky_task' (*/leaky_task) did not shut down cleanly:",
            "- task still pending after shutdown: leaky-poller running sleep() created at "
            "*/leaky_task/plugin.py:* in initialize",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")

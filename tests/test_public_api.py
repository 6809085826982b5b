"""The public API is exactly what __all__ says, and the pytest plugin loads light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import nexus_testkit
import pytest_nexus

NEXUS_TESTKIT_API = [
    "DEFAULT_TIMEOUT",
    "MISSING",
    "CallList",
    "ConfigOption",
    "ConfigStore",
    "ConfigWrite",
    "DataOperation",
    "Endpoint",
    "Event",
    "EventPriority",
    "EventSpec",
    "HandlerFailure",
    "HostFactory",
    "HostOptions",
    "Leftovers",
    "LoadedPlugin",
    "Manifest",
    "ManifestError",
    "NetworkBlockedError",
    "NexusAssertionError",
    "NexusContractWarning",
    "NexusGuardWarning",
    "NexusLeftoverWarning",
    "NexusOptionsError",
    "NexusTestkitError",
    "NexusWarning",
    "PluginExitError",
    "PluginHost",
    "PluginLoadError",
    "PluginDependencyError",
    "PluginStartError",
    "PluginTimeoutError",
    "PublishedEvent",
    "RecordingDataStore",
    "RecordingEventBus",
    "RecordingServiceRegistry",
    "ServiceCall",
    "__version__",
    "import_plugin",
    "load_manifest",
    "placeholder_value",
    "platform_plugin_class",
    "resolve_config",
    "sql_round_trip",
]


def test_nexus_testkit_all_is_pinned() -> None:
    assert sorted(nexus_testkit.__all__) == sorted(NEXUS_TESTKIT_API)
    for name in nexus_testkit.__all__:
        assert hasattr(nexus_testkit, name), name


def test_pytest_nexus_all_is_pinned() -> None:
    assert sorted(pytest_nexus.__all__) == ["NexusContractWarning", "__version__", "contract_tests"]
    assert callable(pytest_nexus.contract_tests)


def test_public_errors_show_their_public_module() -> None:
    assert nexus_testkit.ManifestError.__module__ == "nexus_testkit"
    assert nexus_testkit.NexusAssertionError.__module__ == "nexus_testkit"
    assert nexus_testkit.NexusOptionsError.__module__ == "nexus_testkit"
    assert nexus_testkit.NetworkBlockedError.__module__ == "nexus_testkit"


# One root for the errors, one for the warnings; the built-in bases that tests
# and users catch (AssertionError, ValueError, ...) are kept by multiple inheritance.
ERRORS = {
    "ManifestError": (),
    "PluginLoadError": (),
    "PluginDependencyError": (),
    "PluginStartError": (),
    "PluginExitError": (),
    "PluginTimeoutError": (TimeoutError,),
    "NexusAssertionError": (AssertionError,),
    "NexusOptionsError": (ValueError,),
    "NetworkBlockedError": (ConnectionRefusedError,),
}
WARNINGS = ("NexusLeftoverWarning", "NexusContractWarning", "NexusGuardWarning")


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_is_a_nexus_testkit_error(name: str) -> None:
    cls = getattr(nexus_testkit, name)
    assert issubclass(cls, nexus_testkit.NexusTestkitError)
    for base in ERRORS[name]:
        assert issubclass(cls, base)


def test_warnings_have_one_root_and_are_siblings() -> None:
    root = nexus_testkit.NexusWarning
    assert issubclass(root, UserWarning)
    classes = [getattr(nexus_testkit, name) for name in WARNINGS]
    for cls in classes:
        assert cls.__bases__ == (root,)
    # Ignoring one kind does not silence another.
    for a in classes:
        for b in classes:
            assert a is b or not issubclass(a, b)


def test_the_guide_divergence_warning_is_under_the_root_too() -> None:
    from nexus_testkit.testing import NexusGuardDivergenceWarning

    assert NexusGuardDivergenceWarning.__bases__ == (nexus_testkit.NexusWarning,)
    assert not issubclass(NexusGuardDivergenceWarning, nexus_testkit.NexusGuardWarning)


def test_contract_warning_is_one_object_under_both_names() -> None:
    assert pytest_nexus.NexusContractWarning is nexus_testkit.NexusContractWarning
    assert nexus_testkit.NexusContractWarning.__module__ == "pytest_nexus"


# Heavy packages that pytest must not pay for when it loads the plugin: they are
# imported when a fixture, the contract or a strategy first needs them.
HEAVY = (
    "fastapi",
    "starlette",
    "httpx",
    "hypothesis",
    "faker",
    "jsonschema",
    "nexus",
    "pydantic",
    "asgi_lifespan",
    "sqlalchemy",
    "nexus_testkit",
)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    # The entry point and every part it registers (pytest imports them all in every run).
    code = (
        "import sys, json, importlib; before = set(sys.modules); import pytest_nexus.plugin; "
        "[importlib.import_module(m) for m in pytest_nexus.plugin.pytest_plugins]; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []
    ours = sorted(m for m in loaded if m.startswith("pytest_nexus"))
    assert ours == [
        "pytest_nexus",
        "pytest_nexus._asyncio",
        "pytest_nexus._fixtures",
        "pytest_nexus._markers",
        "pytest_nexus._reporting",
        "pytest_nexus._settings",
        "pytest_nexus._terminal",
        "pytest_nexus._tracebacks",
        "pytest_nexus._warnings",
        "pytest_nexus.plugin",
    ]


# Each layer's package re-exports its public names lazily; __all__ is the list.
SUBPACKAGE_API = {
    "nexus_testkit.manifest": [
        "MISSING",
        "ConfigOption",
        "Endpoint",
        "EventSpec",
        "Manifest",
        "MissingDependency",
        "Violation",
        "check_value",
        "declared_dependencies",
        "dependency_cycle",
        "dependency_order",
        "load_manifest",
        "manifest_path_of",
        "missing_dependencies",
        "violations",
    ],
    "nexus_testkit.fakes": [
        "CallList",
        "ConfigStore",
        "ConfigWrite",
        "DataOperation",
        "Event",
        "EventPriority",
        "HandlerFailure",
        "PublishedEvent",
        "RecordingDataStore",
        "RecordingEventBus",
        "RecordingServiceRegistry",
        "ServiceCall",
        "Subscription",
        "placeholder_value",
        "resolve_config",
        "sql_round_trip",
    ],
    "nexus_testkit.backends": [
        "BACKENDS",
        "check_backend",
        "make_data_store",
        "make_event_bus",
        "make_services",
        "release",
    ],
    "nexus_testkit.host": [
        "DEFAULT_TIMEOUT",
        "HostFactory",
        "HostOptions",
        "Leftovers",
        "LoadedPlugin",
        "NetworkBlockedError",
        "PluginGroup",
        "PluginHost",
        "discover_plugins",
        "import_plugin",
        "platform_plugin_class",
        "plugin_dir_problem",
    ],
    "nexus_testkit.contract": [
        "CHECKS",
        "CHECKS_BY_ID",
        "KNOWN_PERMISSIONS",
        "Check",
        "CheckResult",
        "ContractOptions",
        "PluginReport",
        "checks_markdown",
        "parse_skip",
        "report_json",
        "report_schema",
        "report_text",
        "run_contract",
    ],
    "nexus_testkit.isolation": [
        "ISOLATION_MODES",
        "IsolationError",
        "IsolationOptions",
        "WorkerPool",
        "check_plugin",
        "close_shared_pool",
        "process_isolation_available",
        "shared_pool",
        "start_together",
    ],
    "nexus_testkit.testing": [
        "DIVERGENCES",
        "Divergence",
        "EmittedEvent",
        "IntegrationTestCase",
        "NexusGuardDivergence",
        "NexusGuardDivergenceWarning",
        "PluginTestCase",
        "TestApplication",
        "TestClient",
        "TestDatabase",
        "TestEventBus",
        "Transaction",
    ],
    "nexus_testkit.world": [
        "ClockError",
        "NexusHTTP",
        "SwallowedError",
        "SwallowedErrors",
        "UnmockedRequestError",
        "VirtualClock",
    ],
    "nexus_testkit.strategies": [
        "BrokenRule",
        "InvalidConfig",
        "configs",
        "event_payloads",
        "invalid_configs",
        "request_bodies",
        "to_json_schema",
    ],
}


@pytest.mark.parametrize("package", sorted(SUBPACKAGE_API))
def test_each_layer_all_is_pinned_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(SUBPACKAGE_API[package])
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        module.nope  # noqa: B018


def test_top_level_names_are_the_layers_objects() -> None:
    # One object, reachable from the top and from its layer.
    assert nexus_testkit.PluginHost is importlib.import_module("nexus_testkit.host").PluginHost
    assert (
        nexus_testkit.RecordingEventBus
        is importlib.import_module("nexus_testkit.fakes").RecordingEventBus
    )
    assert (
        nexus_testkit.load_manifest
        is importlib.import_module("nexus_testkit.manifest").load_manifest
    )


@pytest.mark.parametrize(
    "statement",
    [
        "import nexus_testkit",
        "import nexus_testkit.manifest, nexus_testkit.fakes, nexus_testkit.backends, "
        "nexus_testkit.host, nexus_testkit.contract, nexus_testkit.strategies, "
        "nexus_testkit.isolation",
        "from nexus_testkit.backends import BACKENDS",
        "import nexus_testkit.testing, nexus_testkit.testing.snapshots",
    ],
)
def test_importing_the_packages_imports_nothing_heavy(statement: str) -> None:
    code = (
        f"import sys, json; before = set(sys.modules); {statement}; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = sorted(m for m in json.loads(out.stdout) if m.split(".")[0] in HEAVY[:-1])
    assert heavy == []


def test_load_manifest_imports_no_web_or_hypothesis_stack() -> None:
    code = (
        "import sys, json; from nexus_testkit import load_manifest; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'pydantic', 'hypothesis', 'httpx'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []

"""The public API is exactly what __all__ says, and the pytest plugin loads light."""

from __future__ import annotations

import json
import subprocess
import sys

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
    "Leftovers",
    "LoadedPlugin",
    "Manifest",
    "ManifestError",
    "NetworkBlockedError",
    "NexusAssertionError",
    "NexusLeftoverWarning",
    "NexusTestkitError",
    "PluginHost",
    "PluginLoadError",
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
    code = (
        "import sys, json; before = set(sys.modules); import pytest_nexus.plugin; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []
    ours = sorted(m for m in loaded if m.startswith("pytest_nexus"))
    assert ours == ["pytest_nexus", "pytest_nexus.plugin"]

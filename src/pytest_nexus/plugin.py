"""The pytest plugin (entry point ``nexus``): options, markers and fixtures.

pytest imports this module in every run of every project where pytest-nexus
is installed, so it imports nothing heavy: ``nexus_testkit`` (and through it
pydantic, FastAPI, httpx) is imported by the fixtures and the contract, the
first time one is used.  ``tests/test_public_api.py`` pins that.

Fixtures are short adapters over library objects: build, yield, then the
object's own end-of-test check.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from fastapi import FastAPI
    from httpx import AsyncClient

    from nexus_testkit import (
        ConfigStore,
        HostFactory,
        Manifest,
        PluginHost,
        RecordingDataStore,
        RecordingEventBus,
        RecordingServiceRegistry,
    )
    from nexus_testkit.world import NexusHTTP, VirtualClock

#: What a plugin author sees: tracebacks without harness frames, the contract's
#: summary line, async tests marked for pytest-asyncio, the platform's warnings.
pytest_plugins = [
    "pytest_nexus._tracebacks",
    "pytest_nexus._terminal",
    "pytest_nexus._asyncio",
    "pytest_nexus._warnings",
]

__all__ = [
    "nexus_app",
    "nexus_client",
    "nexus_clock",
    "nexus_config",
    "nexus_config_store",
    "nexus_data_store",
    "nexus_event_bus",
    "nexus_host",
    "nexus_host_factory",
    "nexus_http",
    "nexus_manifest",
    "nexus_plugin",
    "nexus_plugin_path",
    "nexus_services",
]

HOST_OPTIONS = (
    "timeout",
    "fidelity",
    "delivery",
    "allow_handler_errors",
    "raise_app_exceptions",
    "allow_network",
    "mask_logs",
    "detect_blocking",
    "backend",
    "db_url",
    "clock",
    "allow_hosts",
)
BACKENDS = ("fake", "platform")
FIDELITIES = ("memory", "sql")
DELIVERIES = ("inline", "queued")
_HOSTS_KEY = pytest.StashKey[list[Any]]()

MARKERS = (
    "nexus_plugin(path): the plugin directory the nexus fixtures load, relative to the "
    "test file's directory or the rootdir.",
    "nexus_config(**values): configuration of the plugin under test, over the manifest "
    "defaults; a value of None removes the key.",
    "nexus_host(**options): host options for this test: timeout, fidelity ('memory' or "
    "'sql'), delivery ('inline' or 'queued'), allow_handler_errors, raise_app_exceptions, "
    "allow_network, mask_logs, detect_blocking (seconds), backend ('fake' or 'platform'), "
    "db_url, clock ('virtual' or 'real'), allow_hosts (['localhost:9000']).",
    "nexus_allow_errors(match=None): exceptions the plugin only logged (or handler errors "
    "the bus allowed) do not fail this test; with match=, only those matching the pattern(s).",
    "nexus_contract: an item of the lifecycle contract (added by --nexus-plugin).",
)


# ---------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nexus", "Nexus Platform plugin testing (pytest-nexus)")
    group.addoption(
        "--nexus-plugin",
        action="append",
        default=[],
        metavar="DIR",
        help="run the lifecycle contract against the plugin in DIR (repeatable); the first "
        "one is also the plugin of the nexus fixtures when a test names none.",
    )
    group.addoption(
        "--nexus-timeout",
        default=None,
        metavar="SECONDS",
        help="time-out of initialize(), shutdown() and event handlers (default 5).",
    )
    group.addoption(
        "--nexus-fidelity",
        default=None,
        metavar="FIDELITY",
        help="data store fidelity of the nexus fixtures: memory (default) or sql.",
    )
    group.addoption(
        "--nexus-strict",
        action="store_true",
        default=False,
        help="warning-level contract checks fail the run too.",
    )
    group.addoption(
        "--nexus-skip",
        action="append",
        default=[],
        metavar="ID=REASON",
        help="skip a contract check, with the reason (repeatable); the skip shows in every report.",
    )
    group.addoption(
        "--nexus-examples",
        default=None,
        metavar="N",
        help="number of generated examples per property-based contract check (default 25).",
    )
    group.addoption(
        "--nexus-profile",
        default=None,
        metavar="PROFILE",
        help="load the hypothesis profile nexus-dev or nexus-ci (default: the "
        "NEXUS_HYPOTHESIS_PROFILE environment variable; never overrides a profile "
        "loaded with --hypothesis-profile or in a conftest).",
    )
    group.addoption(
        "--nexus-backend",
        default=None,
        metavar="BACKEND",
        help="fake (default): the recording fakes; platform: nexus-platform's own event bus, "
        "service registry and SQL adapter (SQLite in a temporary file unless --nexus-db-url).",
    )
    group.addoption(
        "--nexus-db-url",
        default=None,
        metavar="URL",
        help="database URL for --nexus-backend=platform, e.g. "
        "postgresql+asyncpg://user:pass@127.0.0.1/db (each test starts from an empty store).",
    )
    group.addoption(
        "--nexus-isolation",
        default=None,
        metavar="MODE",
        help="process (default): each contract plugin runs in a worker process of its own, "
        "under hard time and memory limits; inline: in the pytest process (to use a debugger).",
    )
    parser.addini("nexus_isolation", default="process", help="default of --nexus-isolation.")
    parser.addini("nexus_backend", default="fake", help="default of --nexus-backend.")
    parser.addini("nexus_db_url", default="", help="default of --nexus-db-url.")
    parser.addini(
        "nexus_skip",
        type="linelist",
        default=[],
        help="contract checks to skip, one 'ID=REASON' per line.",
    )
    parser.addini(
        "nexus_plugins",
        type="linelist",
        default=[],
        help="plugin directories (globs allowed) whose contract runs in every session.",
    )
    parser.addini("nexus_timeout", default="5", help="default of --nexus-timeout.")
    parser.addini("nexus_fidelity", default="memory", help="default of --nexus-fidelity.")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.stash[_SETTINGS_KEY] = _Settings.from_config(config)
    _hypothesis_profile(config)


def _hypothesis_profile(config: pytest.Config) -> None:
    # Hypothesis is imported only when a nexus profile is asked for: loading
    # it costs ~0.1 s that runs not using it should not pay.
    wanted = config.getoption("nexus_profile") or os.environ.get("NEXUS_HYPOTHESIS_PROFILE")
    theirs = config.getoption("hypothesis_profile", default=None)
    if not wanted and not (theirs and str(theirs).startswith("nexus-")):
        return
    from nexus_testkit.strategies._profiles import PROFILES, register_profiles

    if wanted and wanted not in PROFILES:
        raise pytest.UsageError(
            f"{wanted!r} is not a nexus hypothesis profile. Valid profiles: {', '.join(PROFILES)}."
        )
    register_profiles()  # before hypothesis' own configure loads --hypothesis-profile
    from hypothesis import settings

    # "ci" is what hypothesis loads by itself when the CI variable is set; a
    # profile a conftest loaded is the user's choice and is kept.
    if wanted and not theirs and settings.get_current_profile_name() in ("default", "ci"):
        settings.load_profile(wanted)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: the items must exist before -k and -m deselect.
    settings = config.stash[_SETTINGS_KEY]
    if settings.contract_plugins:
        from ._contract import contract_items

        items.extend(
            contract_items(
                session,
                settings.contract_plugins,
                settings.contract_options(),
                settings.strict,
                isolation=settings.isolation,
            )
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # Nothing recorded is lost: a failing test's report shows what the plugin
    # published and wrote before the failure.
    if report.failed and _HOSTS_KEY in item.stash:
        for tracked in item.stash.get(_HOSTS_KEY, []):
            for host in getattr(tracked, "hosts", [tracked]):
                if host.plugin is None:
                    continue
                recorded = host.describe_recorded()
                if recorded:
                    report.sections.append(
                        (f"nexus: recorded by {host.name} ({call.when})", recorded)
                    )
    if call.when == "teardown" and _HOSTS_KEY in item.stash:
        # Items live until the session ends: hosts kept here would keep every
        # plugin, app and fake of the run alive (and the collector busy).
        del item.stash[_HOSTS_KEY]
        if _FACTORY_KEY in item.stash:
            del item.stash[_FACTORY_KEY]
    return report


# ---------------------------------------------------------------------------- settings


class _Settings:
    """Session-wide settings from the command line and ini file, validated once."""

    def __init__(
        self,
        plugins: list[Path],
        timeout: float,
        fidelity: str,
        rootpath: Path,
        *,
        contract_plugins: list[Path] | None = None,
        skip: dict[str, str] | None = None,
        strict: bool = False,
        examples: int = 25,
        backend: str = "fake",
        db_url: str | None = None,
        isolation: Any = None,
    ) -> None:
        self.plugins = plugins
        self.timeout = timeout
        self.fidelity = fidelity
        self.rootpath = rootpath
        self.contract_plugins = contract_plugins or []
        self.skip = skip or {}
        self.strict = strict
        self.examples = examples
        self.backend = backend
        self.db_url = db_url
        self.isolation = isolation

    def contract_options(self) -> Any:
        from nexus_testkit.contract._runner import ContractOptions

        return ContractOptions(
            timeout=self.timeout,
            skip=self.skip,
            examples=self.examples,
            backend=self.backend,
            db_url=self.db_url,
        )

    @classmethod
    def from_config(cls, config: pytest.Config) -> _Settings:
        timeout_text = config.getoption("nexus_timeout") or config.getini("nexus_timeout")
        timeout = _parse_timeout(str(timeout_text))
        fidelity = config.getoption("nexus_fidelity") or config.getini("nexus_fidelity")
        if fidelity not in FIDELITIES:
            raise pytest.UsageError(
                f"{fidelity!r} is not a valid nexus fidelity. Valid fidelities: "
                f"{', '.join(FIDELITIES)}."
            )
        plugins = [Path(p) for p in config.getoption("nexus_plugin")]
        from_ini = _ini_plugins(config)
        contract_plugins = []
        for given, path in [(f"--nexus-plugin={p}", p) for p in plugins] + from_ini:
            _check_plugin_dir(given, path)
            if path not in contract_plugins:
                contract_plugins.append(path)
        skip = dict(_parse_skip(s, "--nexus-skip") for s in config.getoption("nexus_skip"))
        for line in config.getini("nexus_skip"):
            skip.setdefault(*_parse_skip(line, "nexus_skip"))
        _check_skip_ids(skip)
        examples = _parse_examples(config.getoption("nexus_examples"))
        backend = config.getoption("nexus_backend") or config.getini("nexus_backend")
        if backend not in BACKENDS:
            raise pytest.UsageError(
                f"{backend!r} is not a valid nexus backend. Valid backends: {', '.join(BACKENDS)}."
            )
        db_url = config.getoption("nexus_db_url") or config.getini("nexus_db_url") or None
        if db_url and backend != "platform":
            raise pytest.UsageError(
                "--nexus-db-url needs --nexus-backend=platform: the fakes have no database."
            )
        from nexus_testkit.isolation import IsolationOptions  # light: no heavy import

        mode = config.getoption("nexus_isolation") or config.getini("nexus_isolation")
        try:
            isolation = IsolationOptions(mode=mode)
        except ValueError as exc:
            raise pytest.UsageError(f"--nexus-isolation: {exc}") from None
        return cls(
            plugins or [p for _, p in from_ini],
            timeout,
            fidelity,
            config.rootpath,
            contract_plugins=contract_plugins,
            skip=skip,
            strict=bool(config.getoption("nexus_strict")),
            examples=examples,
            backend=backend,
            db_url=db_url,
            isolation=isolation,
        )


def _ini_plugins(config: pytest.Config) -> list[tuple[str, Path]]:
    base = config.inipath.parent if config.inipath else config.rootpath
    found: list[tuple[str, Path]] = []
    for pattern in config.getini("nexus_plugins"):
        matches = (
            sorted(p for p in base.glob(pattern) if p.is_dir())
            if any(c in pattern for c in "*?[")
            else [base / pattern]
        )
        if not matches:
            raise pytest.UsageError(f"nexus_plugins: {pattern!r} matches no directory under {base}")
        found.extend((f"nexus_plugins: {pattern}", m) for m in matches)
    return found


def _check_plugin_dir(given: str, path: Path) -> None:
    if not path.exists():
        raise pytest.UsageError(f"{given}: no such directory")
    if not path.is_dir():
        raise pytest.UsageError(f"{given}: is a file; expected a plugin directory")
    if not (path / "manifest.json").exists() and not (path / "plugin.py").exists():
        raise pytest.UsageError(
            f"{given}: not a plugin directory (it holds neither manifest.json nor plugin.py)"
        )


def _parse_skip(text: str, origin: str) -> tuple[str, str]:
    from nexus_testkit.contract._checks import parse_skip

    parsed = parse_skip(text)
    if parsed is None:
        raise pytest.UsageError(
            f"{origin}: {text!r} is not a valid skip. Valid form: [PLUGIN:]CHECK_ID=REASON "
            "(a reason is required, so that the opt-out shows in every report)."
        )
    return parsed


def _check_skip_ids(skip: dict[str, str]) -> None:
    if not skip:
        return
    from nexus_testkit.contract._checks import CHECKS_BY_ID, unknown_skips

    unknown = unknown_skips(skip)
    if unknown:
        raise pytest.UsageError(
            f"{', '.join(map(repr, unknown))} is not a contract check. Valid checks: "
            f"{', '.join(CHECKS_BY_ID)}."
        )


def _parse_examples(text: str | None) -> int:
    if text is None:
        return 25
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(
            f"{text!r} is not a valid number of examples. Valid values: a whole number from 1."
        )
    return value


def _parse_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise pytest.UsageError(
            f"{text!r} is not a valid nexus timeout. Valid timeouts: a positive number of seconds."
        )
    return value


_SETTINGS_KEY = pytest.StashKey[_Settings]()


def _settings(node: pytest.Item) -> _Settings:
    return node.config.stash[_SETTINGS_KEY]


@functools.lru_cache(maxsize=256)
def _manifest_dir_above(directory: Path, stop: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / "manifest.json").is_file():
            return candidate
        if candidate == stop:
            break
    return None


def _resolve_plugin_path(node: pytest.Item) -> Path:
    settings = _settings(node)
    test_dir = Path(node.path).parent
    marker = node.get_closest_marker("nexus_plugin")
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            pytest.fail(
                "@pytest.mark.nexus_plugin takes one argument, the plugin directory: "
                f"got args={marker.args!r} kwargs={marker.kwargs!r}",
                pytrace=False,
            )
        given = Path(os.fspath(marker.args[0]))
        candidates = (
            [given] if given.is_absolute() else [test_dir / given, settings.rootpath / given]
        )
        for candidate in candidates:
            if candidate.exists():
                return candidate
        tried = ", ".join(str(c) for c in candidates)
        pytest.fail(
            f"@pytest.mark.nexus_plugin({str(given)!r}): no such directory (tried {tried})",
            pytrace=False,
        )
    found = _manifest_dir_above(test_dir, settings.rootpath)
    if found is not None:
        return found
    if settings.plugins:
        return settings.plugins[0]
    pytest.fail(
        f"No Nexus plugin to test for {node.nodeid}: mark the test with "
        '@pytest.mark.nexus_plugin("path/to/plugin"), put it under a plugin directory '
        "(one holding manifest.json), or pass --nexus-plugin=DIR.",
        pytrace=False,
    )


def _host_options(node: pytest.Item) -> dict[str, Any]:
    # Read by several fixtures of one test: worked out once per item.
    cached = node.stash.get(_OPTIONS_KEY, None)
    if cached is None:
        cached = node.stash[_OPTIONS_KEY] = _read_host_options(node)
    return dict(cached)


_OPTIONS_KEY = pytest.StashKey[dict[str, Any]]()


def _read_host_options(node: pytest.Item) -> dict[str, Any]:
    settings = _settings(node)
    options: dict[str, Any] = {
        "timeout": settings.timeout,
        "fidelity": settings.fidelity,
        "backend": settings.backend,
        "db_url": settings.db_url,
    }
    marker = node.get_closest_marker("nexus_host")
    if marker is not None:
        unknown = sorted(set(marker.kwargs) - set(HOST_OPTIONS))
        if unknown or marker.args:
            pytest.fail(
                f"@pytest.mark.nexus_host got {', '.join(unknown) or 'positional arguments'}; "
                f"valid options: {', '.join(HOST_OPTIONS)}",
                pytrace=False,
            )
        options.update(marker.kwargs)
    allow = node.get_closest_marker("nexus_allow_errors")
    if allow is not None:
        if allow.args or set(allow.kwargs) - {"match"}:
            pytest.fail(
                "@pytest.mark.nexus_allow_errors takes no argument or match= (a pattern or a "
                'list of patterns), like @pytest.mark.nexus_allow_errors(match="retrying")',
                pytrace=False,
            )
        options["allow_errors"] = allow.kwargs.get("match") or True
    if options["fidelity"] not in FIDELITIES:
        pytest.fail(
            f"{options['fidelity']!r} is not a valid nexus fidelity. Valid fidelities: "
            f"{', '.join(FIDELITIES)}.",
            pytrace=False,
        )
    if options["backend"] not in BACKENDS:
        pytest.fail(
            f"{options['backend']!r} is not a valid nexus backend. Valid backends: "
            f"{', '.join(BACKENDS)}.",
            pytrace=False,
        )
    if options.get("delivery", "inline") not in DELIVERIES:
        pytest.fail(
            f"{options['delivery']!r} is not a valid delivery mode. Valid modes: "
            f"{', '.join(DELIVERIES)}.",
            pytrace=False,
        )
    return options


def _marker_config(node: pytest.Item) -> dict[str, Any]:
    config: dict[str, Any] = {}
    # Closest last: a function's marker overrides its class's and module's.
    for marker in reversed(list(node.iter_markers("nexus_config"))):
        if marker.args:
            pytest.fail(
                "@pytest.mark.nexus_config takes keyword arguments only, like "
                "@pytest.mark.nexus_config(api_key='k')",
                pytrace=False,
            )
        config.update(marker.kwargs)
    return config


def _fail_on(exc: BaseException) -> NoReturn:
    """Turn a harness error into a clean test failure: the message, no harness traceback."""
    # `from None`: "During handling of the above exception..." would print the message twice.
    raise pytest.fail.Exception(str(exc), pytrace=False) from None


def _track(node: pytest.Item, host: Any) -> None:
    node.stash.setdefault(_HOSTS_KEY, []).append(host)


#: The fixtures a host is made of, and what nexus_host builds itself when a
#: test neither requests nor overrides them: each fixture costs pytest tens of
#: microseconds to set up and tear down, per test.
_HOST_FIXTURES = ("nexus_host", "nexus_client")
_COMPONENTS = (
    "nexus_plugin_path",
    "nexus_manifest",
    "nexus_config",
    "nexus_config_store",
    "nexus_event_bus",
    "nexus_data_store",
    "nexus_services",
    "nexus_clock",
    "nexus_http",
)


_TEST_HOST_KEY = pytest.StashKey[Any]()


@contextlib.asynccontextmanager
async def _test_host(request: pytest.FixtureRequest) -> AsyncIterator[PluginHost]:
    """The test's host: started by the first of nexus_host and nexus_client set up,
    and shut down and verified by that one, which pytest tears down last."""
    from nexus_testkit import NexusTestkitError

    node = request.node
    running = node.stash.get(_TEST_HOST_KEY, None)
    if running is not None:
        yield running
        return
    host = _build_host(request)
    _track(node, host)
    node.stash[_TEST_HOST_KEY] = host
    try:
        try:
            await host.start()
        except NexusTestkitError as exc:
            _fail_on(exc)
        yield host
        await host.aclose()
        _warn_leftovers(host)
        _verify(host)
    finally:
        del node.stash[_TEST_HOST_KEY]


def _build_host(request: pytest.FixtureRequest) -> PluginHost:
    from nexus_testkit import ConfigStore, PluginHost

    node = request.node
    wanted = _wanted_components(request)
    components: dict[str, Any] = {
        name.removeprefix("nexus_"): request.getfixturevalue(name) for name in wanted
    }
    options = _host_options(node)
    path = components.pop("plugin_path", None) or _resolve_plugin_path(node)
    manifest = components.pop("manifest", None) or _load_manifest(path)
    config = components.pop("config", None)
    if "config_store" not in components:
        if config is None:
            config = _resolve_config_for(node, manifest)
        components["config_store"] = ConfigStore(config, secret_keys=manifest.secret_keys)
    # Options the given components were already built with.
    for given, applied in (
        ("event_bus", ("delivery", "allow_handler_errors")),
        ("data_store", ("fidelity", "db_url")),
        ("http", ("allow_hosts",)),
    ):
        if given in components:
            for key in applied:
                options.pop(key, None)
    try:
        return PluginHost(path, manifest=manifest, **components, **options)
    except ValueError as exc:  # an option's value: one message, no harness traceback
        _fail_on(exc)


def _wanted_components(request: pytest.FixtureRequest) -> list[str]:
    """The component fixtures in this test's closure: requested, or put there at
    collection because they are overridden or parametrized where it runs."""
    names = request.fixturenames
    return [n for n in _COMPONENTS if n in names]


_OVERRIDES_KEY = pytest.StashKey[dict[str, frozenset[str]]]()


def _overridden_components(node: pytest.Item) -> frozenset[str]:
    # What a name resolves to depends on where the test is (conftest
    # directories, module, class): worked out once per parent node.
    cache = node.config.stash.setdefault(_OVERRIDES_KEY, {})
    key = node.parent.nodeid if node.parent is not None else ""
    found = cache.get(key)
    if found is None:
        found = cache[key] = _find_overrides(node)
    return found


def _find_overrides(node: pytest.Item) -> frozenset[str]:
    getfixturedefs = _getfixturedefs(node)
    if getfixturedefs is None:  # a pytest we cannot ask: use every fixture, as pytest would
        return frozenset(_COMPONENTS)
    overridden = set()
    for name in _COMPONENTS:
        defs = getfixturedefs(name)
        if defs and getattr(defs[-1].func, "__module__", None) != __name__:
            overridden.add(name)
    return frozenset(overridden)


def _getfixturedefs(node: pytest.Item) -> Callable[[str], Sequence[Any]] | None:
    """The fixture definitions a name resolves to where ``node`` is (private pytest API)."""
    manager = getattr(node.session, "_fixturemanager", None)
    getfixturedefs = getattr(manager, "getfixturedefs", None)
    if getfixturedefs is None:
        return None
    where: Any = node if pytest.version_tuple >= (8, 1) else node.nodeid
    return lambda name: getfixturedefs(name, where) or ()


def _running_host(request: pytest.FixtureRequest) -> PluginHost | None:
    host: PluginHost | None = request.node.stash.get(_TEST_HOST_KEY, None)
    return host


def _load_manifest(path: Path) -> Manifest:
    from nexus_testkit import ManifestError, load_manifest

    try:
        return load_manifest(path)
    except ManifestError as exc:
        _fail_on(exc)


def _resolve_config_for(node: pytest.Item, manifest: Manifest) -> dict[str, Any]:
    from nexus_testkit import resolve_config

    return resolve_config(manifest, _marker_config(node))


# ---------------------------------------------------------------------------- fixtures


# Each component fixture asked for after the test's host was built (with
# request.getfixturevalue) returns that host's component, not a second one.


@pytest.fixture
def nexus_plugin_path(request: pytest.FixtureRequest) -> Path:
    """The plugin directory under test.

    ``@pytest.mark.nexus_plugin("path")``, else the nearest directory holding
    a manifest.json above the test file, else the first ``--nexus-plugin``.
    """
    host = _running_host(request)
    return host.path if host is not None else _resolve_plugin_path(request.node)


@pytest.fixture
def nexus_manifest(request: pytest.FixtureRequest, nexus_plugin_path: Path) -> Manifest:
    """The plugin's manifest, loaded with :func:`nexus_testkit.load_manifest`."""
    host = _running_host(request)
    return host.manifest if host is not None else _load_manifest(nexus_plugin_path)


@pytest.fixture
def nexus_config(request: pytest.FixtureRequest, nexus_manifest: Manifest) -> dict[str, Any]:
    """The plugin's configuration: manifest defaults, then ``@pytest.mark.nexus_config``."""
    host = _running_host(request)
    if host is not None:
        values: dict[str, Any] = host.config_store.values
        return values
    return _resolve_config_for(request.node, nexus_manifest)


@pytest.fixture
def nexus_config_store(
    request: pytest.FixtureRequest, nexus_config: dict[str, Any], nexus_manifest: Manifest
) -> ConfigStore:
    """The configuration store: ``values`` given to the plugin, ``writes`` by ``set_config``."""
    from nexus_testkit import ConfigStore

    host = _running_host(request)
    if host is not None:
        return host.config_store
    return ConfigStore(nexus_config, secret_keys=nexus_manifest.secret_keys)


@pytest.fixture
def nexus_event_bus(request: pytest.FixtureRequest) -> Iterator[RecordingEventBus]:
    """The recording event bus; fails the test on handler errors it did not acknowledge."""
    from nexus_testkit import NexusAssertionError
    from nexus_testkit.backends._build import make_event_bus

    host = _running_host(request)
    if host is not None:
        yield host.event_bus  # the host's own end-of-test check covers it
        return
    options = _host_options(request.node)
    bus = make_event_bus(
        options["backend"],
        delivery=options.get("delivery", "inline"),
        allow_handler_errors=options.get("allow_handler_errors", False),
    )
    yield bus
    try:
        bus.verify()
    except NexusAssertionError as exc:
        _fail_on(exc)


@pytest.fixture
def nexus_data_store(request: pytest.FixtureRequest) -> Iterator[RecordingDataStore]:
    """The recording key-value store behind ``get_data``/``set_data``."""
    from nexus_testkit.backends._build import make_data_store, release

    host = _running_host(request)
    if host is not None:
        yield host.data_store  # released by the host that built it
        return
    options = _host_options(request.node)
    store = make_data_store(
        options["backend"], fidelity=options["fidelity"], db_url=options["db_url"]
    )
    yield store
    release(store)


@pytest.fixture
def nexus_services(request: pytest.FixtureRequest) -> RecordingServiceRegistry:
    """The recording service registry behind ``register_service``/``get_service``."""
    from nexus_testkit.backends._build import make_services

    host = _running_host(request)
    if host is not None:
        return host.services
    return make_services(_host_options(request.node)["backend"])


@pytest.fixture
def nexus_clock(request: pytest.FixtureRequest) -> VirtualClock:
    """The test's virtual clock: ``await nexus_clock.advance(900)`` runs what falls due.

    The host enters it when it starts (every host has one unless the test is
    marked ``@pytest.mark.nexus_host(clock="real")``).
    """
    from nexus_testkit.world import VirtualClock

    host = _running_host(request)
    if host is not None and host.clock is not None:
        return host.clock
    if _host_options(request.node).get("clock", "virtual") == "real":
        pytest.fail(
            'nexus_clock is the virtual clock, and this test is marked nexus_host(clock="real"); '
            "remove one of the two",
            pytrace=False,
        )
    return VirtualClock()


@pytest.fixture
def nexus_http(request: pytest.FixtureRequest) -> NexusHTTP:
    """Fakes for the plugin's outbound httpx requests: ``nexus_http.get(url).respond(...)``.

    Strict: a request no route matches, and a route never requested (unless
    ``optional=True``), fail the test at teardown.  ``allow_hosts`` of
    ``@pytest.mark.nexus_host`` lets requests to real local servers through.
    """
    from nexus_testkit.world import NexusHTTP

    host = _running_host(request)
    if host is not None and host.http is not None:
        return host.http
    try:
        return NexusHTTP(allow_hosts=_host_options(request.node).get("allow_hosts", ()))
    except ValueError as exc:
        _fail_on(exc)


@pytest_asyncio.fixture
async def nexus_host(request: pytest.FixtureRequest) -> AsyncIterator[PluginHost]:
    """A started host: the plugin initialized over the fakes, its routes mounted.

    It uses the component fixtures (``nexus_config``, ``nexus_event_bus``, ...)
    that the test requests or a conftest overrides, and builds the others
    itself.  At teardown the plugin is shut down; the test fails if it leaked
    tasks, if shutdown raised or hung, or if a handler raised unacknowledged.
    """
    async with _test_host(request) as host:
        yield host


@pytest.fixture
def nexus_plugin(nexus_host: PluginHost) -> Any:
    """The initialized plugin instance."""
    return nexus_host.plugin


@pytest.fixture
def nexus_app(nexus_host: PluginHost) -> FastAPI:
    """The FastAPI app the plugin's routers are mounted in."""
    assert nexus_host.app is not None
    return nexus_host.app


@pytest_asyncio.fixture
async def nexus_client(request: pytest.FixtureRequest) -> AsyncIterator[AsyncClient]:
    """An ``httpx.AsyncClient`` based at the plugin's mount prefix, ``/api/plugins/{name}``.

    The client of the test's ``nexus_host`` (it starts one if the test has none).
    """
    # Not a fixture over nexus_host: the most used fixture costs one fixture
    # set-up, not two; both share the test's one host.
    async with _test_host(request) as host:
        yield host.client


@pytest.fixture(scope="session")
def nexus_host_factory(pytestconfig: pytest.Config) -> _TestHostFactory:
    """Builds hosts on demand: ``async with nexus_host_factory(config={...}) as host:``.

    ``config`` applies over the defaults and ``@pytest.mark.nexus_config`` as
    the marker does (``None`` removes a key).  Each call builds a fresh host
    for the running test, so the fixture is safe under ``@given``; it is
    session-scoped for that reason, and hypothesis' function-scoped-fixture
    health check does not fire.  At the end of each test, every host it built
    is checked (leaked tasks, a failed shutdown, handler errors).
    """
    return _TestHostFactory(pytestconfig)


class _TestHostFactory:
    """The object behind ``nexus_host_factory``: builds hosts for the running test."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def __call__(self, **options: Any) -> PluginHost:
        item = _CURRENT.get(self.config)
        if item is None:
            raise RuntimeError("nexus_host_factory can only build hosts while a test runs")
        factory = item.stash.get(_FACTORY_KEY, None)
        if factory is None:
            factory = _new_factory(item)
            item.stash[_FACTORY_KEY] = factory
            _track(item, factory)
        host: PluginHost = factory(**options)
        return host


def _new_factory(item: pytest.Item) -> HostFactory:
    from nexus_testkit import HostFactory

    path = _resolve_plugin_path(item)
    manifest = _load_manifest(path)
    return HostFactory(path, manifest=manifest, config=_marker_config(item), **_host_options(item))


_FACTORY_KEY = pytest.StashKey[Any]()
#: The test that is running, per config (pytester runs nest sessions).
_CURRENT: dict[pytest.Config, pytest.Item] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # nexus_host and nexus_client build the components nobody asked for
    # themselves, so the component fixtures are not in a test's closure.  The
    # ones a conftest, module or class overrides, or the test parametrizes,
    # are put back, ahead of the host: pytest then resolves them as usual
    # (fixture params, async fixtures, parametrize) before the host picks
    # them up.  Here for parametrization, and again once the item exists
    # (pytest prunes a parametrized test's closure to what its arguments need).
    added = _put_components_in_closure(
        metafunc.definition, metafunc.fixturenames, getattr(metafunc, "_arg2fixturedefs", {})
    )
    if added:
        _add_fixture_defs(metafunc, added)


def pytest_itemcollected(item: pytest.Item) -> None:
    names = getattr(item, "fixturenames", None)
    if names is None:
        return
    info = getattr(item, "_fixtureinfo", None)
    _put_components_in_closure(item, names, getattr(info, "name2fixturedefs", {}))


def _put_components_in_closure(
    node: pytest.Item, names: list[str], arg2defs: Mapping[str, Sequence[Any]]
) -> list[str]:
    if not any(name in _HOST_FIXTURES for name in names):
        return []
    wanted = set(_overridden_components(node))
    for marker in node.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = [name.strip() for name in argnames.split(",")]
        wanted.update(name for name in argnames if name in _COMPONENTS)
    missing = [name for name in _COMPONENTS if name in wanted and name not in names]
    if not missing:
        return []
    # Before the first fixture that needs the host (nexus_plugin needs
    # nexus_host, and so may a fixture of the user's), after the others.
    seen: set[str] = set()
    at = next(i for i, name in enumerate(names) if _needs_host(name, arg2defs, seen))
    names[at:at] = missing
    return missing


def _needs_host(name: str, arg2defs: Mapping[str, Sequence[Any]], seen: set[str]) -> bool:
    if name in _HOST_FIXTURES:
        return True
    defs = arg2defs.get(name)
    if not defs or name in seen:
        return False
    seen.add(name)
    return any(_needs_host(arg, arg2defs, seen) for arg in defs[-1].argnames)


def _add_fixture_defs(metafunc: pytest.Metafunc, added: list[str]) -> None:
    """Tell pytest's own parametrization (fixture ``params``) about the fixtures
    added to the closure, and add what they in turn depend on."""
    arg2defs = getattr(metafunc, "_arg2fixturedefs", None)
    getfixturedefs = _getfixturedefs(metafunc.definition)
    if arg2defs is None or getfixturedefs is None:
        return
    todo = list(added)
    while todo:
        name = todo.pop()
        if name in arg2defs or name == "request":
            continue
        defs = getfixturedefs(name)
        if not defs:
            continue
        arg2defs[name] = defs
        for argname in defs[-1].argnames:
            if argname not in metafunc.fixturenames and argname != "request":
                metafunc.fixturenames.append(argname)
                todo.append(argname)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _CURRENT[item.config] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        yield
    finally:
        _CURRENT.pop(item.config, None)
    factory = item.stash.get(_FACTORY_KEY, None)
    if factory is not None:
        _check_factory_hosts(factory)


def _check_factory_hosts(factory: HostFactory) -> None:
    left_open = [h for h in factory.hosts if h.plugin is not None and not h.closed]
    if left_open:
        message = (
            "nexus_host_factory built hosts the test left running: "
            + ", ".join(repr(h) for h in left_open)
            + "; use `async with nexus_host_factory(...) as host:` so they are shut down."
        )
        for host in left_open:
            host.abandon()  # the network guard and the rest must not outlive the test
        pytest.fail(message, pytrace=False)
    for host in factory.hosts:
        _warn_leftovers(host)
    _verify(factory)


def _verify(obj: PluginHost | HostFactory) -> None:
    from nexus_testkit import NexusAssertionError

    try:
        obj.verify()
    except NexusAssertionError as exc:
        _fail_on(exc)


def _warn_leftovers(host: PluginHost) -> None:
    import warnings

    from nexus_testkit import NexusLeftoverWarning

    text = host.leftovers.warning(host.name)
    if text:
        # Attributed to the plugin's file, not to this one.
        warnings.warn_explicit(
            NexusLeftoverWarning(text),
            NexusLeftoverWarning,
            filename=str(host.loaded.file if host.loaded else host.directory),
            lineno=1,
        )

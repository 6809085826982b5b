"""The nexus fixtures: each reads the test's markers, builds a library object, yields it,
then runs that object's own end-of-test check.

``nexus_host`` depends on the component fixtures (``nexus_config_store``,
``nexus_event_bus``, ...) like any fixture, so pytest resolves a conftest's,
module's or class's override, fixture ``params`` and ``parametrize`` itself.
A test that asks for a component but for no host gets a standalone fake: no
plugin runs, and its repr says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from ._markers import (
    fail_on,
    host_options,
    marker_config,
    plugin_path,
    plugin_paths,
    plugins_config,
)
from ._reporting import track

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
    from nexus_testkit.host import PluginGroup
    from nexus_testkit.world import NexusHTTP, VirtualClock

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


def _standalone(request: pytest.FixtureRequest, fake: Any) -> bool:
    """Mark ``fake`` standalone if no host runs in the test (its closure says so).

    The component fixtures return their object and add a finalizer only when
    there is something to do at teardown: a generator fixture costs pytest a
    finalizer per test, and with a host there is nothing to do (the host's
    own check covers its components).
    """
    if "nexus_host" in request.node.fixturenames:
        return False
    fake.standalone = True
    return True


@pytest.fixture
def nexus_plugin_path(request: pytest.FixtureRequest) -> Path:
    """The plugin directory under test.

    ``@pytest.mark.nexus_plugin("path")``, else the nearest directory holding
    a manifest.json above the test file, else the first ``--nexus-plugin``.
    """
    return plugin_path(request.node)


@pytest.fixture
def nexus_manifest(nexus_plugin_path: Path) -> Manifest:
    """The plugin's manifest, loaded with :func:`nexus_testkit.load_manifest`."""
    from nexus_testkit import ManifestError, load_manifest

    try:
        return load_manifest(nexus_plugin_path)
    except ManifestError as exc:
        fail_on(exc)


@pytest.fixture
def nexus_config(request: pytest.FixtureRequest, nexus_manifest: Manifest) -> dict[str, Any]:
    """The plugin's configuration: manifest defaults, then ``@pytest.mark.nexus_config``.

    A key the manifest does not declare fails the test, listing the declared
    keys, unless ``@pytest.mark.nexus_host(allow_undeclared=True)``.
    """
    from nexus_testkit import NexusOptionsError, resolve_config

    allow = host_options(request.node).allow_undeclared
    try:
        return resolve_config(
            nexus_manifest,
            marker_config(request.node),
            allow_undeclared=allow,
            origin="nexus_config",
        )
    except NexusOptionsError as exc:
        fail_on(exc)


@pytest.fixture
def nexus_config_store(nexus_config: dict[str, Any], nexus_manifest: Manifest) -> ConfigStore:
    """The configuration store: ``values`` given to the plugin, ``writes`` by ``set_config``."""
    from nexus_testkit import ConfigStore

    return ConfigStore(nexus_config, secret_keys=nexus_manifest.secret_keys)


@pytest.fixture
def nexus_event_bus(request: pytest.FixtureRequest) -> RecordingEventBus:
    """The recording event bus; fails the test on handler errors it did not acknowledge."""
    from nexus_testkit.backends._build import make_event_bus

    o = host_options(request.node)
    bus = make_event_bus(
        o.backend, delivery=o.delivery, allow_handler_errors=o.allow_handler_errors
    )
    if _standalone(request, bus):
        request.addfinalizer(lambda: _verify(bus))  # noqa: PT021 (see _standalone)
    # else the host's own end-of-test check covers its bus
    return bus


@pytest.fixture
def nexus_data_store(request: pytest.FixtureRequest) -> RecordingDataStore:
    """The recording key-value store behind ``get_data``/``set_data``."""
    from nexus_testkit.backends._build import make_data_store, release

    o = host_options(request.node)
    store = make_data_store(o.backend, fidelity=o.fidelity, db_url=o.db_url)
    _standalone(request, store)
    if o.backend != "fake":  # a platform store's temporary files
        request.addfinalizer(lambda: release(store))  # noqa: PT021 (see _standalone)
    return store


@pytest.fixture
def nexus_services(request: pytest.FixtureRequest) -> RecordingServiceRegistry:
    """The recording service registry behind ``register_service``/``get_service``."""
    from nexus_testkit.backends._build import make_services

    services = make_services(host_options(request.node).backend)
    _standalone(request, services)
    return services


@pytest.fixture
def nexus_clock(request: pytest.FixtureRequest) -> VirtualClock:
    """The test's virtual clock: ``await nexus_clock.advance(900)`` runs what falls due.

    The test's host runs on it (every host has a virtual clock unless the test
    is marked ``@pytest.mark.nexus_host(clock="real")``).
    """
    from nexus_testkit.world import VirtualClock

    if host_options(request.node).clock == "real":
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

    return NexusHTTP(allow_hosts=host_options(request.node).allow_hosts)


#: Components a host takes only when the test asks for them: every host has a
#: clock and HTTP fakes of its own otherwise, and clock="real" has no clock.
_OPTIONAL_COMPONENTS = (("clock", "nexus_clock"), ("http", "nexus_http"))


@pytest_asyncio.fixture
async def nexus_host(
    request: pytest.FixtureRequest,
    nexus_plugin_path: Path,
    nexus_manifest: Manifest,
    nexus_config_store: ConfigStore,
    nexus_event_bus: RecordingEventBus,
    nexus_data_store: RecordingDataStore,
    nexus_services: RecordingServiceRegistry,
) -> AsyncIterator[PluginHost | PluginGroup]:
    """A started host: the plugin initialized over the component fixtures, its routes mounted.

    With ``@pytest.mark.nexus_plugins(...)``, a host of several plugins over
    the same component fixtures (``nexus_host.plugins``, ``client_for(name)``).
    At teardown the plugin is shut down; the test fails if it leaked tasks,
    if shutdown raised or hung, or if a handler raised unacknowledged.
    """
    from nexus_testkit import NexusTestkitError, PluginHost

    optional = {
        keyword: request.getfixturevalue(fixture)
        for keyword, fixture in _OPTIONAL_COMPONENTS
        if fixture in request.fixturenames
    }
    host: PluginHost | PluginGroup
    several = plugin_paths(request.node)
    if several is not None:
        host = _group(request, several, nexus_manifest, nexus_config_store, optional)
    else:
        host = PluginHost(
            nexus_plugin_path,
            host_options(request.node),
            manifest=nexus_manifest,
            config_store=nexus_config_store,
            event_bus=nexus_event_bus,
            data_store=nexus_data_store,
            services=nexus_services,
            **optional,
        )
    track(request.node, host)
    try:
        await host.start()
    except NexusTestkitError as exc:
        fail_on(exc)
    yield host
    await host.aclose()
    host.warn()
    _verify(host)


def _group(
    request: pytest.FixtureRequest,
    paths: list[Path],
    first: Manifest,
    first_config: ConfigStore,
    optional: dict[str, Any],
) -> PluginGroup:
    """The host of ``@pytest.mark.nexus_plugins``: the first plugin's manifest and
    configuration are the fixtures', the components those of the test."""
    from nexus_testkit import NexusTestkitError, load_manifest
    from nexus_testkit.host import PluginGroup

    try:
        manifests = [first, *(load_manifest(p) for p in paths[1:])]
        return PluginGroup(
            paths,
            host_options(request.node),
            manifests=manifests,
            config=plugins_config(request.node),
            config_stores={first.name: first_config},
            event_bus=request.getfixturevalue("nexus_event_bus"),
            data_store=request.getfixturevalue("nexus_data_store"),
            services=request.getfixturevalue("nexus_services"),
            **optional,
        )
    except NexusTestkitError as exc:
        fail_on(exc)


@pytest.fixture
def nexus_plugin(nexus_host: PluginHost) -> Any:
    """The initialized plugin instance."""
    return nexus_host.plugin


@pytest.fixture
def nexus_app(nexus_host: PluginHost) -> FastAPI:
    """The FastAPI app the plugin's routers are mounted in."""
    assert nexus_host.app is not None
    return nexus_host.app


@pytest.fixture
def nexus_client(nexus_host: PluginHost) -> AsyncClient:
    """An ``httpx.AsyncClient`` based at the plugin's mount prefix, ``/api/plugins/{name}``."""
    return nexus_host.client


def _verify(obj: PluginHost | PluginGroup | HostFactory | RecordingEventBus) -> None:
    from nexus_testkit import NexusAssertionError

    try:
        obj.verify()
    except NexusAssertionError as exc:
        fail_on(exc)


# ---------------------------------------------------------------------------- the factory


@pytest.fixture(scope="session")
def nexus_host_factory(pytestconfig: pytest.Config) -> TestHostFactory:
    """Builds hosts on demand: ``async with nexus_host_factory(config={...}) as host:``.

    ``config`` applies over ``@pytest.mark.nexus_config`` (``None`` removes a
    key), other keywords over the test's host options.  Each call builds a
    fresh host for the running test, so the fixture is safe under ``@given``;
    it is session-scoped for that reason, and hypothesis' function-scoped-
    fixture health check does not fire.  At the end of each test, every host
    it built is checked (left running, leaked tasks, a failed shutdown,
    handler errors).
    """
    return TestHostFactory(pytestconfig)


class TestHostFactory:
    """Adapts :class:`nexus_testkit.HostFactory` to the running test."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def __call__(self, **options: Any) -> PluginHost:
        item = _CURRENT.get(self.config)
        if item is None:
            raise RuntimeError("nexus_host_factory can only build hosts while a test runs")
        factory = item.stash.get(_FACTORY_KEY, None)
        if factory is None:
            factory = item.stash[_FACTORY_KEY] = _new_factory(item)
            track(item, factory)
        from nexus_testkit import NexusOptionsError

        try:
            return factory(**options)
        except NexusOptionsError as exc:
            fail_on(exc)


def _new_factory(item: pytest.Item) -> HostFactory:
    from nexus_testkit import HostFactory, ManifestError, NexusOptionsError, resolve_config

    path = plugin_path(item)
    options = host_options(item)
    config = marker_config(item)
    try:
        factory = HostFactory(path, options, config=config)
        # The markers' keys, checked here so the message names the marker.
        resolve_config(
            factory.manifest,
            config,
            allow_undeclared=options.allow_undeclared,
            origin="nexus_config",
        )
    except (ManifestError, NexusOptionsError) as exc:
        fail_on(exc)
    return factory


_FACTORY_KEY = pytest.StashKey[Any]()
#: The test that is running, per config (pytester runs nest sessions).
_CURRENT: dict[pytest.Config, pytest.Item] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _CURRENT[item.config] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        yield
    finally:
        _CURRENT.pop(item.config, None)
    factory: HostFactory | None = item.stash.get(_FACTORY_KEY, None)
    if factory is None:
        return
    del item.stash[_FACTORY_KEY]
    left_open = factory.left_running()
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
        host.warn()
    _verify(factory)

"""``PluginTestCase`` and ``IntegrationTestCase``: the test-case bases of the guide.

docs/TESTING.md and docs/PLUGIN_DEVELOPMENT.md of the Nexus repository teach
``class TestMyPlugin(PluginTestCase)`` with ``self.emit_event(...)``,
``self.is_plugin_loaded(...)`` and a ``test_client`` fixture.  Here each test
of such a class gets a started :class:`TestApplication` as ``self.app``
(fixture ``test_app``), the running plugin as fixture ``plugin`` and a
:class:`TestClient` as fixture ``test_client``.

These bases are pytest classes by nature: this module imports pytest and
pytest-asyncio, and :mod:`nexus_testkit.testing` loads it only when one of
the two names is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ._app import TestApplication, TestClient, nearest_plugin

__all__ = ["IntegrationTestCase", "PluginTestCase"]


class PluginTestCase:
    """Base of a test class for one plugin.

    The plugin is ``plugin_path`` (relative to the test module's directory),
    else the nearest directory holding a manifest.json above the test module;
    ``plugin_config`` applies over the manifest's defaults.
    """

    __test__ = False  # the base itself holds no tests; subclasses are collected

    plugin_path: ClassVar[str | None] = None
    plugin_config: ClassVar[Mapping[str, Any] | None] = None
    app: TestApplication

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The author's subclasses are test classes again, unless they say otherwise.
        if "__test__" not in cls.__dict__:
            cls.__test__ = True

    @classmethod
    def _plugins(cls, here: Path) -> Sequence[tuple[Path | str, Mapping[str, Any] | None]]:
        if cls.plugin_path is not None:
            return [(here / cls.plugin_path, cls.plugin_config)]
        found = nearest_plugin(here)
        if found is None:
            raise pytest.UsageError(
                f"{cls.__name__}: no manifest.json at or above {here}; set plugin_path = "
                "'path/to/plugin' on the class"
            )
        return [(found, cls.plugin_config)]

    @pytest_asyncio.fixture(name="test_app", autouse=True)
    async def _nexus_test_app(
        self, request: pytest.FixtureRequest
    ) -> AsyncIterator[TestApplication]:
        here = request.path.parent  # absolute already
        app = TestApplication(near=here)
        await app.setup()
        try:
            for path, config in self._plugins(here):
                await app.register_plugin(path, config)
            self.app = app
            yield app
        finally:
            await app.cleanup()

    @pytest.fixture(name="plugin")
    def _nexus_plugin(self, test_app: TestApplication) -> Any:
        """The first plugin's running instance."""
        return next(iter(test_app.hosts.values())).plugin

    @pytest.fixture(name="test_client")
    def _nexus_test_client(self, test_app: TestApplication) -> TestClient:
        return test_app.get_client()

    async def emit_event(self, event_name: str, data: Mapping[str, Any] | None = None) -> None:
        """Publish an event on the application's bus (source ``"test"``)."""
        await self.app.emit_event(event_name, data)

    async def is_plugin_loaded(self, name: str) -> bool:
        return await self.app.is_plugin_loaded(name)

    def get_plugin(self, name: str) -> Any:
        return self.app.get_plugin(name)


class IntegrationTestCase(PluginTestCase):
    """Base of a test class for several plugins together: ``plugins = ["users", "notes"]``.

    They start in the order listed over one bus, database and service
    registry, and stop in reverse order.
    """

    __test__ = False

    plugins: ClassVar[Sequence[str]] = ()
    plugin_configs: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    @classmethod
    def _plugins(cls, here: Path) -> Sequence[tuple[Path | str, Mapping[str, Any] | None]]:
        if not cls.plugins:
            return super()._plugins(here)
        return [(p, cls.plugin_configs.get(Path(p).name)) for p in cls.plugins]

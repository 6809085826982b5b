"""Helpers shared by the tests: small plugins written on the fly."""

from __future__ import annotations

import importlib
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "plugins"

try:
    import nexus.plugins  # noqa: F401

    HAVE_PLATFORM = True
except ImportError:  # the "newest releases" CI leg runs without nexus-platform
    HAVE_PLATFORM = False

#: Marks a test, class or module that imports nexus-platform or runs its
#: components (platform backend, differential tests, plugins subclassing
#: BasePlugin).  Without nexus-platform, tests/conftest.py skips exactly these;
#: every other test runs in CI's second leg.
needs_platform = pytest.mark.needs_platform
PLATFORM_SKIP_REASON = "needs nexus-platform (installed by the test extra)"


class PlatformModule:
    """A nexus-platform module, imported on first use instead of at collection.

    Test modules bind ``nexus_core = PlatformModule("nexus.core")`` so that they
    import without the platform.  A test that uses it without the
    ``needs_platform`` mark fails there, saying so, instead of being skipped
    quietly: the marks cannot fall behind the tests.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # pytest's collection probes for its own markers
            raise AttributeError(attribute)
        try:
            module = importlib.import_module(self._name)
        except ImportError:
            pytest.fail(
                f"this test uses {self._name}, which needs nexus-platform: "
                "mark it @needs_platform (tests/_helpers.py)",
                pytrace=False,
            )
        return getattr(module, attribute)


#: A plugin body that needs no platform: anything BasePlugin-shaped is hosted.
MINIMAL_PLUGIN = """
from fastapi import APIRouter
from pydantic import BaseModel


class Health(BaseModel):
    healthy: bool


class MiniPlugin:
    def __init__(self):
        self.name = "mini"
        self.category = "test"
        self.version = "0.1.0"
        self.initialized = False
        self.config = {}
        self.db_adapter = self.event_bus = self.service_registry = None

    async def initialize(self):
        self.initialized = True
        return True

    async def shutdown(self):
        self.initialized = False

    def get_api_routes(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        return [router]

    def get_database_schema(self):
        return {"collections": {}}

    async def health_check(self):
        return Health(healthy=self.initialized)


def create_plugin():
    return MiniPlugin()
"""


def minimal_manifest(name: str = "mini", **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "0.1.0", "category": "test", **extra}


PluginWriter = Callable[..., Path]


def write_plugin(
    root: Path,
    name: str = "mini",
    source: str = MINIMAL_PLUGIN,
    manifest: dict[str, Any] | str | None = None,
    **files: str,
) -> Path:
    """Write root/name/{manifest.json, plugin.py, extra files}; return the directory."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        manifest = minimal_manifest(name)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest, indent=2)
    (directory / "manifest.json").write_text(text)
    if source is not None:
        (directory / "plugin.py").write_text(textwrap.dedent(source))
    for filename, content in files.items():
        (directory / filename).write_text(textwrap.dedent(content))
    return directory

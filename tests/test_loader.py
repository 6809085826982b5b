"""Unit tests of nexus_testkit.host._loader (import_plugin) on plugins written to tmp_path.

Some scenarios are also loaded with the platform's own
``nexus.core.PluginManager.load_plugin`` to check the harness picks the same
plugin class.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_testkit import LoadedPlugin, NexusTestkitError, PluginLoadError, import_plugin
from nexus_testkit.host._loader import PLUGIN_INTERFACE, platform_plugin_class

from ._helpers import PlatformModule, needs_platform

nexus_plugins = PlatformModule("nexus.plugins")
nexus_core = PlatformModule("nexus.core")

METHODS = """
    async def initialize(self):
        return True

    async def shutdown(self):
        pass

    def get_api_routes(self):
        return []

    def get_database_schema(self):
        return {}
"""

BASE_PLUGIN = "from nexus.plugins import BasePlugin\n\n\nclass {name}(BasePlugin):\n" + METHODS

DUCK_PLUGIN = (
    "class {name}:\n"
    + METHODS
    + """
    async def health_check(self):
        return {"healthy": True}
"""
)


def base_plugin(name: str) -> str:
    return BASE_PLUGIN.replace("{name}", name)


def duck_plugin(name: str) -> str:
    return DUCK_PLUGIN.replace("{name}", name)


def write_plugin(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def harness_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith("_nexus_plugin_")}


@pytest.fixture
def loaded() -> Iterator[list[LoadedPlugin]]:
    """Plugins loaded by a test; unloaded at teardown."""
    plugins: list[LoadedPlugin] = []
    yield plugins
    for plugin in plugins:
        plugin.unload()


def load(directory: Path | str, loaded: list[LoadedPlugin]) -> LoadedPlugin:
    plugin = import_plugin(directory)
    loaded.append(plugin)
    return plugin


def load_error(directory: Path | str) -> PluginLoadError:
    before = harness_modules()
    with pytest.raises(PluginLoadError) as info:
        import_plugin(directory)
    # A failed load leaves nothing behind in sys.modules.
    assert harness_modules() == before
    return info.value


# --------------------------------------------------------------------------- building the instance


@needs_platform
def test_create_plugin_is_used(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(
        tmp_path / "shop",
        {
            "plugin.py": base_plugin("ShopPlugin")
            + """

CREATED = []


def create_plugin():
    plugin = ShopPlugin()
    plugin.name = "from_factory"
    CREATED.append(plugin)
    return plugin
"""
        },
    )
    plugin = load(tmp_path / "shop", loaded)
    assert plugin.factory == "create_plugin()"
    assert plugin.instance.name == "from_factory"
    assert [plugin.instance] == plugin.module.CREATED
    assert plugin.plugin_class is plugin.module.ShopPlugin
    assert plugin.platform_class is plugin.module.ShopPlugin
    assert isinstance(plugin.instance, nexus_plugins.BasePlugin)
    assert plugin.directory == tmp_path / "shop"
    assert plugin.file == tmp_path / "shop" / "plugin.py"
    assert re.fullmatch(r"_nexus_plugin_\d+_shop", plugin.package)
    assert plugin.module.__name__ == f"{plugin.package}.plugin"
    assert plugin.module.__file__ == str(tmp_path / "shop" / "plugin.py")
    assert plugin.module.__package__ == plugin.package


def test_duck_typed_plugin_without_nexus(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(tmp_path / "duck", {"plugin.py": duck_plugin("DuckPlugin")})
    plugin = load(tmp_path / "duck", loaded)
    assert type(plugin.instance).__name__ == "DuckPlugin"
    assert plugin.factory == "DuckPlugin()"


@needs_platform
def test_platform_rule_when_no_create_plugin(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(
        tmp_path / "multi",
        {
            "plugin.py": "from nexus.plugins import BasePlugin\n\n\n"
            + "class ZetaPlugin(BasePlugin):\n"
            + METHODS
            + "\n\nclass AlphaPlugin(BasePlugin):\n"
            + METHODS
            + "\n\nclass Aaa:\n    pass\n\n\nclass PluginHelper:\n    pass\n"
        },
    )
    plugin = load(tmp_path / "multi", loaded)
    # The first name in dir(module) (alphabetical) ending in "Plugin", not BasePlugin.
    assert type(plugin.instance) is plugin.module.AlphaPlugin
    assert plugin.factory == "AlphaPlugin()"
    assert plugin.platform_class is plugin.module.AlphaPlugin


@needs_platform
def test_create_plugin_not_callable_falls_back_to_class(
    tmp_path: Path, loaded: list[LoadedPlugin]
) -> None:
    write_plugin(
        tmp_path / "p",
        {"plugin.py": base_plugin("OnlyPlugin") + "\ncreate_plugin = None\n"},
    )
    plugin = load(tmp_path / "p", loaded)
    assert plugin.factory == "OnlyPlugin()"


@needs_platform
def test_imported_business_plugin_is_picked_like_the_platform(
    tmp_path: Path, loaded: list[LoadedPlugin]
) -> None:
    write_plugin(
        tmp_path / "biz",
        {
            "plugin.py": "from nexus.plugins import BasePlugin, BusinessPlugin\n\n\n"
            "class OrdersPlugin(BusinessPlugin):\n" + METHODS
        },
    )
    plugin = load(tmp_path / "biz", loaded)
    # "BusinessPlugin" < "OrdersPlugin": the platform instantiates the base class.
    assert plugin.platform_class is nexus_plugins.BusinessPlugin
    assert type(plugin.instance) is nexus_plugins.BusinessPlugin
    assert plugin.factory == "BusinessPlugin()"


@needs_platform
def test_create_plugin_wins_over_platform_rule_but_platform_class_is_reported(
    tmp_path: Path, loaded: list[LoadedPlugin]
) -> None:
    write_plugin(
        tmp_path / "biz2",
        {
            "plugin.py": "from nexus.plugins import BusinessPlugin\n\n\n"
            "class OrdersPlugin(BusinessPlugin):\n"
            + METHODS
            + "\n\ndef create_plugin():\n    return OrdersPlugin()\n"
        },
    )
    plugin = load(tmp_path / "biz2", loaded)
    assert type(plugin.instance) is plugin.module.OrdersPlugin
    assert plugin.platform_class is nexus_plugins.BusinessPlugin


def test_platform_plugin_class_unit() -> None:
    module = types.ModuleType("m")

    class BasePlugin:
        pass

    class BetaPlugin:
        pass

    class APlugin:
        pass

    module.BasePlugin = BasePlugin  # type: ignore[attr-defined]
    module.BetaPlugin = BetaPlugin  # type: ignore[attr-defined]
    module.APlugin = APlugin  # type: ignore[attr-defined]
    module.AAAPlugin = "not a class"  # type: ignore[attr-defined]
    assert platform_plugin_class(module) is APlugin
    del module.APlugin  # type: ignore[attr-defined]
    assert platform_plugin_class(module) is BetaPlugin
    assert platform_plugin_class(types.ModuleType("empty")) is None


# --------------------------------------------------------------------------- side by side with PluginManager


@pytest.fixture
def platform_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory for PluginManager (it imports ``plugins.<cat>.<name>.plugin``)."""
    root = tmp_path / "platform"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name == "plugins" or name.startswith("plugins."):
            del sys.modules[name]


async def platform_instance(root: Path, plugin_id: str) -> object:
    manager = nexus_core.PluginManager(nexus_core.EventBus(), nexus_core.ServiceRegistry())
    assert await manager.load_plugin(plugin_id) is True
    return manager.get_loaded_plugins()[plugin_id]


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "source",
    [
        "from nexus.plugins import BasePlugin, BusinessPlugin\n\n\n"
        "class OrdersPlugin(BusinessPlugin):\n" + METHODS,
        "from nexus.plugins import BasePlugin\n\n\nclass ZedPlugin(BasePlugin):\n"
        + METHODS
        + "\n\nclass BeePlugin(BasePlugin):\n"
        + METHODS,
        "from nexus.plugins import BasePlugin\n\n\nclass OnlyPlugin(BasePlugin):\n" + METHODS,
    ],
    ids=["imported-business-plugin", "two-classes", "one-class"],
)
async def test_same_class_as_plugin_manager(
    platform_sandbox: Path, loaded: list[LoadedPlugin], source: str
) -> None:
    directory = write_plugin(platform_sandbox / "plugins" / "cat" / "thing", {"plugin.py": source})
    harness = load(directory, loaded)
    platform = await platform_instance(platform_sandbox, "cat.thing")
    assert type(harness.instance).__qualname__ == type(platform).__qualname__
    assert harness.platform_class is not None
    assert harness.platform_class.__qualname__ == type(platform).__qualname__


# --------------------------------------------------------------------------- module isolation


def test_same_module_names_do_not_collide(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    for name, value in (("one", 1), ("two", 2)):
        write_plugin(
            tmp_path / name,
            {
                "helpers.py": f"VALUE = {value}\n",
                "plugin.py": "from .helpers import VALUE\n" + duck_plugin("SamePlugin"),
            },
        )
    first = load(tmp_path / "one", loaded)
    second = load(tmp_path / "two", loaded)
    assert first.module.VALUE == 1
    assert second.module.VALUE == 2
    assert first.package != second.package
    assert first.module is not second.module
    assert type(first.instance) is not type(second.instance)
    assert sys.modules[f"{first.package}.helpers"].VALUE == 1
    assert sys.modules[f"{second.package}.helpers"].VALUE == 2
    # Neither helpers module leaked in as a top-level "helpers".
    assert getattr(sys.modules.get("helpers"), "VALUE", None) not in (1, 2)


def test_same_directory_name_in_different_places(
    tmp_path: Path, loaded: list[LoadedPlugin]
) -> None:
    for parent, value in (("a", "A"), ("b", "B")):
        write_plugin(
            tmp_path / parent / "plugin_x",
            {"plugin.py": f"TAG = {value!r}\n" + duck_plugin("XPlugin")},
        )
    first = load(tmp_path / "a" / "plugin_x", loaded)
    second = load(tmp_path / "b" / "plugin_x", loaded)
    assert (first.module.TAG, second.module.TAG) == ("A", "B")


def test_relative_imports(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(
        tmp_path / "rel",
        {
            "helpers.py": "class Formatter:\n    prefix = 'fmt'\n",
            "models/__init__.py": "from .item import Item\n",
            "models/item.py": "class Item:\n    kind = 'item'\n",
            "plugin.py": "from .helpers import Formatter\nfrom .models import Item\nfrom . import helpers\n"
            + duck_plugin("RelPlugin"),
        },
    )
    plugin = load(tmp_path / "rel", loaded)
    assert plugin.module.Formatter.prefix == "fmt"
    assert plugin.module.Item.kind == "item"
    assert plugin.module.helpers.__name__ == f"{plugin.package}.helpers"
    assert set(plugin.module_names()) >= {
        plugin.package,
        f"{plugin.package}.plugin",
        f"{plugin.package}.helpers",
        f"{plugin.package}.models",
        f"{plugin.package}.models.item",
    }


def test_package_resources_are_reachable(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    # On the platform the plugin is the regular package plugins.<category>.<name>,
    # so importlib.resources.files(__package__) finds the plugin's data files.
    write_plugin(
        tmp_path / "res",
        {
            "templates.txt": "hello from the plugin\n",
            "plugin.py": "import importlib.resources\n"
            "TEXT = importlib.resources.files(__package__).joinpath('templates.txt').read_text()\n"
            + duck_plugin("ResPlugin"),
        },
    )
    plugin = load(tmp_path / "res", loaded)
    assert plugin.module.TEXT == "hello from the plugin\n"


def test_init_py_is_the_package(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(
        tmp_path / "pkg",
        {
            "__init__.py": "INIT_RAN = True\nfrom .plugin import PkgPlugin\n",
            "plugin.py": "IMPORTS = []\nIMPORTS.append(1)\n" + duck_plugin("PkgPlugin"),
        },
    )
    plugin = load(tmp_path / "pkg", loaded)
    package = sys.modules[plugin.package]
    assert package.INIT_RAN is True
    assert package.__file__ == str(tmp_path / "pkg" / "__init__.py")
    # The module __init__ imported is reused, not imported a second time.
    assert plugin.module is sys.modules[f"{plugin.package}.plugin"]
    assert plugin.module.IMPORTS == [1]
    assert package.PkgPlugin is plugin.module.PkgPlugin


def test_module_state_is_fresh_per_load(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(
        tmp_path / "stateful",
        {
            "registry.py": "ITEMS = []\n",
            "plugin.py": "from .registry import ITEMS\nCOUNTER = [0]\nCOUNTER[0] += 1\n"
            + duck_plugin("StatefulPlugin"),
        },
    )
    first = load(tmp_path / "stateful", loaded)
    first.module.ITEMS.append("from first")
    first.module.COUNTER[0] += 10
    second = load(tmp_path / "stateful", loaded)
    assert second.module is not first.module
    assert second.module.COUNTER == [1]
    assert second.module.ITEMS == []
    assert first.module.ITEMS == ["from first"]
    assert type(second.instance) is not type(first.instance)


def test_unload_removes_modules_and_submodules(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(
        tmp_path / "gone",
        {
            "helpers.py": "X = 1\n",
            "sub/__init__.py": "",
            "sub/deep.py": "Y = 2\n",
            "plugin.py": "from .helpers import X\nfrom .sub.deep import Y\n"
            + duck_plugin("GonePlugin"),
        },
    )
    plugin = load(tmp_path / "gone", loaded)
    names = plugin.module_names()
    assert len(names) == 5
    assert all(name in sys.modules for name in names)
    plugin.unload()
    assert plugin.module_names() == []
    assert not any(
        name == plugin.package or name.startswith(plugin.package + ".") for name in sys.modules
    )
    plugin.unload()  # idempotent
    # The module object itself still works for a test that kept a reference.
    assert plugin.module.X == 1


def test_unload_does_not_touch_other_plugins(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    for name in ("keep", "drop"):
        write_plugin(tmp_path / name, {"plugin.py": duck_plugin("KPlugin")})
    keep = load(tmp_path / "keep", loaded)
    drop = load(tmp_path / "drop", loaded)
    drop.unload()
    assert keep.package in sys.modules
    assert f"{keep.package}.plugin" in sys.modules


def test_edited_plugin_is_seen_by_next_load(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    directory = write_plugin(
        tmp_path / "edit", {"plugin.py": "VERSION = 1\n" + duck_plugin("EditPlugin")}
    )
    first = load(directory, loaded)
    assert first.module.VERSION == 1
    first.unload()
    second_source = "VERSION = 2\nEXTRA = 'a longer file'\n" + duck_plugin("EditPlugin")
    (directory / "plugin.py").write_text(second_source, encoding="utf-8")
    second = load(directory, loaded)
    assert second.module.VERSION == 2
    assert second.module.EXTRA == "a longer file"
    # And back to the first content: an edit is never hidden by the compiled-code cache.
    (directory / "plugin.py").write_text(
        "VERSION = 3\n" + duck_plugin("EditPlugin"), encoding="utf-8"
    )
    assert load(directory, loaded).module.VERSION == 3


def test_unchanged_plugin_reloads_fresh(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    directory = write_plugin(
        tmp_path / "same", {"plugin.py": "TOKEN = object()\n" + duck_plugin("SPlugin")}
    )
    first = load(directory, loaded)
    second = load(directory, loaded)
    assert first.module.TOKEN is not second.module.TOKEN


def test_directory_name_is_sanitised(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(tmp_path / "my-plugin v2", {"plugin.py": duck_plugin("MyPlugin")})
    plugin = load(tmp_path / "my-plugin v2", loaded)
    assert re.fullmatch(r"_nexus_plugin_\d+_my_plugin_v2", plugin.package)


def test_str_path_is_accepted(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(tmp_path / "s", {"plugin.py": duck_plugin("SPlugin")})
    plugin = load(str(tmp_path / "s"), loaded)
    assert plugin.directory == tmp_path / "s"


# --------------------------------------------------------------------------- errors: files


def test_no_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    error = load_error(missing)
    assert str(error) == f"{missing}: is not a directory"
    assert error.path == missing
    assert isinstance(error, NexusTestkitError)


def test_file_instead_of_directory(tmp_path: Path) -> None:
    file = tmp_path / "plugin.py"
    file.write_text("x = 1\n")
    error = load_error(file)
    assert str(error).startswith(f"{file}: is not a directory")


def test_no_plugin_py(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    error = load_error(tmp_path / "empty")
    assert str(error).startswith(f"{tmp_path / 'empty'}: has no plugin.py")
    assert "manifest.json" in str(error)


# --------------------------------------------------------------------------- errors: import


def test_syntax_error_names_line(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "syn", {"plugin.py": "import os\n\ndef broken(:\n    pass\n"}
    )
    error = load_error(directory)
    message = str(error)
    assert message.startswith(f"{directory / 'plugin.py'}: syntax error at line 3: ")
    assert error.path == directory / "plugin.py"
    assert error.stage == "import"
    assert "def broken(:" in error.details
    assert "SyntaxError" in error.details


def test_indentation_error(tmp_path: Path) -> None:
    directory = write_plugin(tmp_path / "ind", {"plugin.py": "def f():\nreturn 1\n"})
    error = load_error(directory)
    assert str(error).startswith(f"{directory / 'plugin.py'}: syntax error at line 2: ")


def test_syntax_error_in_helper_names_the_helper(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "synh",
        {"helpers.py": "x = 1\ny = = 2\n", "plugin.py": "from .helpers import x\n"},
    )
    error = load_error(directory)
    assert str(error).startswith(f"{directory / 'helpers.py'}: syntax error at line 2: ")


def test_import_error_names_plugin_py_and_exception(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "imp",
        {"plugin.py": "import os\n\nSETTING = undefined_name + 1\n"},
    )
    error = load_error(directory)
    plugin_py = directory / "plugin.py"
    first_line = str(error).splitlines()[0]
    assert first_line == (
        f"{plugin_py}: import failed: NameError: name 'undefined_name' is not defined"
    )
    assert f'File "{plugin_py}", line 3, in <module>' in error.details
    assert "SETTING = undefined_name + 1" in error.details
    assert error.__cause__ is None
    assert error.stage == "import"


def test_import_error_details_keep_only_plugin_frames(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "deep",
        {
            "plugin.py": """\
                import json


                def parse():
                    return json.loads("{bad json")


                CONFIG = parse()
                """
        },
    )
    error = load_error(directory)
    plugin_py = directory / "plugin.py"
    assert "JSONDecodeError" in str(error).splitlines()[0]
    assert f'File "{plugin_py}", line 8, in <module>' in error.details
    assert f'File "{plugin_py}", line 5, in parse' in error.details
    assert "importlib" not in error.details
    assert "json/decoder.py" not in error.details


def test_import_error_details_with_relative_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading "plugins/deep" relative to the working directory must show the
    # same frames of the plugin as an absolute path does.
    write_plugin(
        tmp_path / "plugins" / "deep",
        {
            "plugin.py": """\
                import json


                def parse():
                    return json.loads("{bad json")


                CONFIG = parse()
                """
        },
    )
    monkeypatch.chdir(tmp_path)
    error = load_error(Path("plugins") / "deep")
    assert "line 8, in <module>" in error.details
    assert "line 5, in parse" in error.details
    assert "json/decoder.py" not in error.details


def test_error_in_submodule_shows_its_frame(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "subfail",
        {
            "helpers.py": "raise RuntimeError('helper exploded')\n",
            "plugin.py": "from . import helpers\n",
        },
    )
    error = load_error(directory)
    assert str(error).startswith(
        f"{directory / 'plugin.py'}: import failed: RuntimeError: helper exploded"
    )
    assert str(directory / "helpers.py") in error.details
    assert str(directory / "plugin.py") in error.details


def test_missing_nexus_module_gives_install_hint(tmp_path: Path) -> None:
    directory = write_plugin(tmp_path / "nx", {"plugin.py": "import nexus.does_not_exist\n"})
    error = load_error(directory)
    message = str(error)
    assert message.startswith(f"{directory / 'plugin.py'}: import failed: ModuleNotFoundError: ")
    assert "nexus.does_not_exist" in message
    assert "hint:" in message
    assert "pip install nexus-platform==0.1.5" in message


def test_missing_other_module_has_no_nexus_hint(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "other", {"plugin.py": "import nexus_lookalike_module_zz\n"}
    )
    error = load_error(directory)
    assert "ModuleNotFoundError" in str(error)
    assert "nexus_lookalike_module_zz" in str(error)
    assert "nexus-platform" not in str(error)


def test_system_exit_at_import_becomes_load_error(tmp_path: Path) -> None:
    directory = write_plugin(tmp_path / "ex", {"plugin.py": "import sys\nsys.exit(3)\n"})
    error = load_error(directory)
    assert str(error).startswith(f"{directory / 'plugin.py'}: import failed: SystemExit: 3")


def test_custom_base_exception_at_import_becomes_load_error(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "bx",
        {"plugin.py": "class Abort(BaseException):\n    pass\n\nraise Abort('no way')\n"},
    )
    error = load_error(directory)
    assert str(error).startswith(f"{directory / 'plugin.py'}: import failed: Abort: no way")


def test_exception_without_message(tmp_path: Path) -> None:
    directory = write_plugin(tmp_path / "bare", {"plugin.py": "raise ValueError\n"})
    error = load_error(directory)
    assert str(error).splitlines()[0] == f"{directory / 'plugin.py'}: import failed: ValueError"


def test_keyboard_interrupt_at_import_propagates(tmp_path: Path) -> None:
    directory = write_plugin(tmp_path / "ki", {"plugin.py": "raise KeyboardInterrupt\n"})
    before = harness_modules()
    with pytest.raises(KeyboardInterrupt):
        import_plugin(directory)
    assert harness_modules() == before


def test_error_in_init_py_names_init(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "initfail",
        {"__init__.py": "raise ImportError('init broke')\n", "plugin.py": duck_plugin("IPlugin")},
    )
    error = load_error(directory)
    assert str(error).startswith(
        f"{directory / '__init__.py'}: import failed: ImportError: init broke"
    )


# --------------------------------------------------------------------------- errors: instance


def test_create_plugin_raising(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "cr",
        {
            "plugin.py": """\
                def create_plugin():
                    raise ValueError("bad configuration")
                """
        },
    )
    error = load_error(directory)
    plugin_py = directory / "plugin.py"
    assert str(error).splitlines()[0] == (
        f"{plugin_py}: create_plugin() raised ValueError: bad configuration"
    )
    assert f'File "{plugin_py}", line 2, in create_plugin' in error.details
    assert error.stage == "instance"


def test_create_plugin_system_exit(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "crx", {"plugin.py": "import sys\n\ndef create_plugin():\n    sys.exit('bye')\n"}
    )
    error = load_error(directory)
    assert "create_plugin() raised SystemExit: bye" in str(error)


def test_create_plugin_returning_none(tmp_path: Path) -> None:
    directory = write_plugin(tmp_path / "none", {"plugin.py": "def create_plugin():\n    pass\n"})
    error = load_error(directory)
    assert str(error) == (
        f"{directory / 'plugin.py'}: create_plugin() returned None; expected a plugin instance"
    )
    assert error.stage == "instance"


def test_create_plugin_returning_object_without_interface(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "obj", {"plugin.py": "def create_plugin():\n    return object()\n"}
    )
    error = load_error(directory)
    message = str(error)
    assert message.startswith(f"{directory / 'plugin.py'}: create_plugin() returned object")
    assert f"(missing: {', '.join(PLUGIN_INTERFACE)})" in message
    assert "BasePlugin" in message
    assert error.stage == "interface"


def test_partial_interface_lists_only_missing_methods(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "half",
        {
            "plugin.py": """\
                class HalfPlugin:
                    async def initialize(self):
                        return True

                    async def shutdown(self):
                        pass

                    get_api_routes = "not callable"
                """
        },
    )
    error = load_error(directory)
    assert "HalfPlugin() returned HalfPlugin" in str(error)
    assert "(missing: get_api_routes, get_database_schema, health_check)" in str(error)


@needs_platform
def test_abstract_plugin_class(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "abs",
        {
            "plugin.py": """\
                from nexus.plugins import BasePlugin


                class HalfDonePlugin(BasePlugin):
                    async def initialize(self):
                        return True
                """
        },
    )
    error = load_error(directory)
    message = str(error)
    assert message.startswith(
        f"{directory / 'plugin.py'}: HalfDonePlugin() raised TypeError: "
        "Can't instantiate abstract class HalfDonePlugin"
    )
    assert "shutdown" in message.splitlines()[0]


def test_plugin_class_init_raising(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "initraise",
        {
            "plugin.py": duck_plugin("BoomPlugin")
            + "\n    def __init__(self):\n        raise RuntimeError('ctor failed')\n"
        },
    )
    error = load_error(directory)
    assert "BoomPlugin() raised RuntimeError: ctor failed" in str(error)
    assert str(directory / "plugin.py") in error.details


@needs_platform
def test_no_plugin_found(tmp_path: Path) -> None:
    directory = write_plugin(
        tmp_path / "nothing",
        {"plugin.py": "from nexus.plugins import BasePlugin\n\nclass Helper:\n    pass\n"},
    )
    error = load_error(directory)
    assert str(error) == (
        f"{directory / 'plugin.py'}: no plugin found: define create_plugin() or a class "
        "whose name ends in 'Plugin'"
    )
    assert error.stage == "instance"


def test_plugin_load_error_format() -> None:
    error = PluginLoadError("/x/plugin.py", "import failed: E", "  File ...")
    assert str(error) == "/x/plugin.py: import failed: E\n  File ..."
    assert error.path == Path("/x/plugin.py")
    assert error.problem == "import failed: E"
    assert error.details == "  File ..."
    assert str(PluginLoadError("/x", "is not a directory")) == "/x: is not a directory"


@needs_platform
def test_loaded_plugin_is_usable(tmp_path: Path, loaded: list[LoadedPlugin]) -> None:
    write_plugin(tmp_path / "use", {"plugin.py": base_plugin("UsePlugin")})
    plugin = load(tmp_path / "use", loaded)
    for method in PLUGIN_INTERFACE:
        assert callable(getattr(plugin.instance, method))
    assert os.path.samefile(plugin.module.__file__, tmp_path / "use" / "plugin.py")

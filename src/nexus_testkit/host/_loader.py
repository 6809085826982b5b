"""Importing a plugin directory and building its plugin instance.

Each load imports the plugin under a package name of its own
(``_nexus_plugin_<n>_<dir>``), so two plugins that both have a ``plugin.py``
never collide, module-level state is fresh for every load, and relative
imports (``from .models import Item``) work as they do on the platform, where
the plugin is the package ``plugins.<category>.<name>``.  ``unload()`` removes
every module of that package from ``sys.modules``.

Compiled code is cached by (path, mtime, size): re-importing an unchanged
plugin for every test costs an ``exec``, not a parse, while an edited file is
always read again.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import logging
import os
import re
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._describe import describe_exception
from .._errors import PluginLoadError
from .._frames import HARNESS_DIR
from .._interrupts import PluginHangInterrupt, is_user_interrupt, user_interrupts

__all__ = [
    "PLUGIN_INTERFACE",
    "LoadedPlugin",
    "import_plugin",
    "platform_plugin_class",
]

#: The methods the platform calls on a plugin.
PLUGIN_INTERFACE = (
    "initialize",
    "shutdown",
    "get_api_routes",
    "get_database_schema",
    "health_check",
)

_counter = itertools.count(1)
_code_cache: dict[tuple[str, int, int], types.CodeType] = {}


class _CachingLoader(importlib.machinery.SourceFileLoader):
    """A source loader that keeps compiled code in memory between loads."""

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        code = _code_cache.get(key)
        if code is None:
            source = self.get_data(path)
            code = compile(source, path, "exec", dont_inherit=True)
            _code_cache[key] = code
        return code


class _DirectoryPackageLoader(importlib.abc.Loader):
    """Loader of a plugin directory without ``__init__.py``: nothing to execute,
    but ``importlib.resources.files(__package__)`` finds the directory."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, "__init__.py")  # FileReader takes the parent

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        return None

    def get_resource_reader(self, name: str) -> Any:
        from importlib.readers import FileReader

        return FileReader(self)  # type: ignore[arg-type]


@dataclass
class LoadedPlugin:
    """A plugin module imported under its own package, and the instance built from it."""

    directory: Path
    file: Path
    package: str
    module: types.ModuleType
    instance: Any
    platform_class: type | None
    factory: str
    _unloaded: bool = field(default=False, repr=False)
    #: The last module in sys.modules and sys.path before the import: what the
    #: plugin added comes after it (dicts keep insertion order).
    _last_module_before: str | None = field(default=None, repr=False)
    _path_before: tuple[str, ...] = field(default=(), repr=False)

    @property
    def plugin_class(self) -> type:
        return type(self.instance)

    @functools.cached_property
    def _root(self) -> Path:
        return Path(resolved_directory(os.fspath(self.directory)))

    def module_names(self) -> list[str]:
        """The plugin's modules: its package, and modules imported from its directory."""
        prefix = self.package + "."
        names = []
        for name in self._added_modules():
            if name == self.package or name.startswith(prefix):
                names.append(name)
                continue
            # A module the plugin imported by a top-level name from its own
            # directory (after putting it on sys.path).
            filename = getattr(sys.modules.get(name), "__file__", None)
            if filename and _inside(filename, self._root):
                names.append(name)
        return sorted(names)

    def _added_modules(self) -> list[str]:
        added = []
        for name in reversed(sys.modules):
            if name == self._last_module_before:
                break
            added.append(name)
        return added

    def unload(self) -> None:
        """Remove the plugin's modules from ``sys.modules`` and its directory from ``sys.path``."""
        if self._unloaded:
            return
        _forget(self.module_names())
        added: list[str] = []
        if tuple(sys.path) != self._path_before:  # the plugin changed sys.path
            before = set(self._path_before)
            added = [p for p in sys.path if p and p not in before and _inside(p, self._root)]
        for entry in added:
            while entry in sys.path:
                sys.path.remove(entry)
        # The next load of this directory must see files written since (a test
        # that edits a plugin between hosts): refresh the finder of this one
        # directory, not every finder (importlib.invalidate_caches() walks them all).
        for entry in (str(self.directory), *added):
            invalidate = getattr(sys.path_importer_cache.get(entry), "invalidate_caches", None)
            if invalidate is not None:
                invalidate()
        self._unloaded = True


def resolved_directory(directory: str) -> str:
    """``directory`` made absolute with symlinks resolved, worked out once per directory
    (a host loads its plugin for every test)."""
    # Keyed by the absolute path: a relative one means another directory
    # once the working directory changes.
    return _resolved(os.path.abspath(directory))


@functools.lru_cache(maxsize=256)
def _resolved(directory: str) -> str:
    return str(Path(directory).resolve())


def _logging_lock() -> Any:
    lock = getattr(logging, "_lock", None)
    return lock if lock is not None else contextlib.nullcontext()


def platform_plugin_class(module: types.ModuleType) -> type | None:
    """The class ``nexus.core.PluginManager.load_plugin`` would instantiate.

    Its rule: the first name in ``dir(module)`` (alphabetical) bound to a class
    whose name ends in ``Plugin`` and is not ``BasePlugin``, imported or not.
    """
    for attr_name in dir(module):
        attr = getattr(module, attr_name, None)
        if isinstance(attr, type) and attr_name.endswith("Plugin") and attr_name != "BasePlugin":
            return attr
    return None


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name) or "plugin"


def plugin_frames(exc: BaseException, directory: Path) -> str:
    """The traceback of ``exc`` limited to frames in the plugin's own files."""
    frames = traceback.extract_tb(exc.__traceback__)
    root = directory.resolve()
    own = [f for f in frames if _inside(f.filename, root)]
    if not own:
        # No frame of the plugin's own: show where it failed, but not the harness.
        here = Path(HARNESS_DIR).resolve()
        own = [f for f in frames if not _inside(f.filename, here)][-3:]
    return "".join(traceback.format_list(own)).rstrip()


def _inside(filename: str, root: Path) -> bool:
    try:
        Path(filename).resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PluginHangInterrupt):
        return f"it did not finish within {exc.timeout:g} s; it was stuck at {exc.site}"
    return describe_exception(exc)


def _hint(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] == "nexus":
        return (
            "\nhint: the plugin imports the Nexus Platform; install it with "
            "`pip install nexus-platform==0.1.5` (or pytest-nexus-platform[platform])"
        )
    return ""


def _load_module(name: str, file: str, *, package_dir: str | None = None) -> types.ModuleType:
    loader = _CachingLoader(name, file)
    spec = importlib.util.spec_from_file_location(
        name,
        file,
        loader=loader,
        submodule_search_locations=[package_dir] if package_dir is not None else None,
    )
    assert spec is not None  # a .py path always gives a spec
    spec.cached = _bytecode_path(file)  # else worked out again for every load
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=256)
def _bytecode_path(file: str) -> str | None:
    try:
        return importlib.util.cache_from_source(file)
    except NotImplementedError:  # sys.implementation.cache_tag is None
        return None


@functools.lru_cache(maxsize=256)
def _path(name: str) -> Path:
    return Path(name)


def _cleanup(package: str) -> None:
    prefix = package + "."
    names = [n for n in sys.modules if n == package or n.startswith(prefix)]
    # The package's logger exists even when its module does not: import_plugin
    # creates it before the import that failed.
    _forget([package, *names])


def _forget(names: list[str]) -> None:
    """Remove modules from ``sys.modules``, and the loggers named after them."""
    for name in names:
        sys.modules.pop(name, None)
    # Loggers too (logging.getLogger(__name__)): each load has a fresh package
    # name, and the logging module never forgets a logger.
    loggers = logging.Logger.manager.loggerDict
    with _logging_lock():
        for name in names:
            loggers.pop(name, None)


def import_plugin(directory: Path | str, *, log_level: int | None = None) -> LoadedPlugin:
    """Import ``directory/plugin.py`` under a fresh package and build the plugin instance.

    The instance comes from ``create_plugin()`` when the module defines it,
    otherwise from the platform's own rule (see :func:`platform_plugin_class`).
    Raises :class:`PluginLoadError` naming the file and the cause; the
    plugin's own traceback frames follow on the next lines.

    ``log_level`` sets the level of the package's logger before the plugin
    runs, so that its modules' loggers (``logging.getLogger(__name__)``)
    inherit it.
    """
    # Strings, not Path objects, on the way: a host imports the plugin afresh
    # for every test, and pathlib was most of that import's cost.
    where = os.fspath(directory)
    file_name = os.path.join(where, "plugin.py")
    directory = _path(where)
    file = _path(file_name)
    if not os.path.isdir(where):
        raise PluginLoadError(directory, "is not a directory")
    if not os.path.isfile(file_name):
        raise PluginLoadError(
            directory, "has no plugin.py; a plugin directory holds manifest.json and plugin.py"
        )

    package = f"_nexus_plugin_{next(_counter)}_{_safe(directory.name)}"
    if log_level is not None:
        # A logger nothing has used yet, with no children: no level caches to
        # clear, which Logger.setLevel would do for every logger in the process.
        logging.getLogger(package).level = log_level
    last_module_before = next(reversed(sys.modules), None)
    path_before = tuple(sys.path)
    try:
        module = _import(package, where, file_name)
        instance, factory = _build_instance(module, file)
    except BaseException:
        _cleanup(package)
        raise
    return LoadedPlugin(
        directory=directory,
        file=file,
        package=package,
        module=module,
        instance=instance,
        platform_class=platform_plugin_class(module),
        factory=factory,
        _last_module_before=last_module_before,
        _path_before=path_before,
    )


def _import(package: str, directory: str, file: str) -> types.ModuleType:
    init = os.path.join(directory, "__init__.py")
    has_init = os.path.isfile(init)
    current = init if has_init else file
    since = user_interrupts()
    try:
        if has_init:
            _load_module(package, init, package_dir=directory)
        else:
            # A package without __init__.py, with a spec so that importlib.resources
            # and relative imports work as they do for plugins.<category>.<name>.
            spec = importlib.machinery.ModuleSpec(
                package, _DirectoryPackageLoader(directory), is_package=True
            )
            spec.submodule_search_locations = [directory]
            pkg = importlib.util.module_from_spec(spec)
            sys.modules[package] = pkg
        current = file
        name = f"{package}.plugin"
        existing = sys.modules.get(name)  # the package's __init__ may import .plugin itself
        return existing if existing is not None else _load_module(name, file)
    except SyntaxError as exc:
        where = Path(exc.filename or current)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        raise PluginLoadError(
            where, f"syntax error at line {exc.lineno}: {exc.msg}", detail
        ) from None
    except BaseException as exc:  # SystemExit and friends must not end the run
        if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
            raise
        raise PluginLoadError(
            Path(current),
            f"import failed: {_describe(exc)}{_hint(exc)}",
            plugin_frames(exc, Path(directory)),
        ) from None


def _build_instance(module: types.ModuleType, file: Path) -> tuple[Any, str]:
    factory: Callable[[], Any]
    create = getattr(module, "create_plugin", None)
    if callable(create):
        factory, how = create, "create_plugin()"
    else:
        cls = platform_plugin_class(module)
        if cls is None:
            raise PluginLoadError(
                file,
                "no plugin found: define create_plugin() or a class whose name ends in 'Plugin'",
                stage="instance",
            )
        factory, how = cls, f"{cls.__name__}()"
    since = user_interrupts()
    try:
        instance = factory()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
            raise
        raise PluginLoadError(
            file,
            f"{how} raised {_describe(exc)}",
            plugin_frames(exc, file.parent),
            stage="instance",
        ) from None
    if isinstance(instance, type):
        raise PluginLoadError(
            file,
            f"{how} returned the class {instance.__name__}, not an instance; return "
            f"{instance.__name__}()",
            stage="instance",
        )
    if instance is None:
        raise PluginLoadError(
            file, f"{how} returned None; expected a plugin instance", stage="instance"
        )
    missing = [m for m in PLUGIN_INTERFACE if not callable(getattr(instance, m, None))]
    if missing:
        raise PluginLoadError(
            file,
            f"{how} returned {type(instance).__name__!s}, which lacks the plugin interface "
            f"(missing: {', '.join(missing)}); subclass nexus.plugins.BasePlugin",
            stage="interface",
        )
    return instance, how

"""Checks of importing plugin.py and building the instance."""

from __future__ import annotations

import inspect

from .._checks import Verdict, check, failed, passed, skipped
from .._evidence import Evidence

_STAGES = ("import", "instance", "interface")


def _load_failure(ev: Evidence, stage: str) -> Verdict | None:
    error = ev.load_error
    if error is None:
        return None
    at = error.stage if error.stage in _STAGES else "import"
    if at == stage:
        return failed(str(error))
    if _STAGES.index(at) < _STAGES.index(stage):
        return skipped(f"load.{at} failed")
    return None


@check(
    "load.import",
    severity="error",
    description="plugin.py imports without error.",
    fix="Fix the error at the plugin frame shown; install missing dependencies.",
    needs={"import"},
)
def import_(ev: Evidence) -> Verdict | None:
    return _load_failure(ev, "import")


@check(
    "load.instance",
    severity="error",
    description="A plugin instance can be built (create_plugin() or the platform's class rule).",
    fix="Define create_plugin() returning an instance, or a class whose name ends in Plugin.",
    needs={"instance"},
)
def instance(ev: Evidence) -> Verdict | None:
    problem = _load_failure(ev, "instance")
    if problem is not None:
        return problem
    if ev.loaded is None:
        return None
    return passed(f"built with {ev.loaded.factory}")


@check(
    "load.interface",
    severity="error",
    description="""The instance has the BasePlugin interface: async
    initialize/shutdown/health_check,
    get_api_routes and get_database_schema.""",
    fix="Subclass nexus.plugins.BasePlugin and implement its abstract methods.",
    needs={"instance"},
)
def interface(ev: Evidence) -> Verdict | None:
    problem = _load_failure(ev, "interface")
    if problem is not None or ev.loaded is None:
        return problem
    not_async = [
        m
        for m in ("initialize", "shutdown", "health_check")
        if not inspect.iscoroutinefunction(getattr(ev.loaded.instance, m))
    ]
    if not_async:
        return failed(
            f"{ev.loaded.file}: {', '.join(m + '()' for m in not_async)} must be async "
            "(the platform awaits them)"
        )
    return None


@check(
    "load.platform_class",
    severity="error",
    description="""The class the platform's discovery rule picks (first *Plugin class in
    dir(module)) is the class create_plugin() builds.""",
    fix="""Rename or stop importing *Plugin classes that sort before yours (import the module,
    not the class), or rename your class so it sorts first.""",
    needs={"loaded"},
)
def platform_class(ev: Evidence) -> Verdict | None:
    loaded = ev.loaded
    picked = ev.platform_class
    built = type(loaded.instance)
    if picked is None:
        return failed(
            f"{loaded.file}: the platform's rule finds no class whose name ends in 'Plugin' "
            f"in plugin.py, so nexus-platform cannot load it ({loaded.factory} builds "
            f"{built.__name__})"
        )
    if picked is not built:
        origin = getattr(picked, "__module__", "?")
        return failed(
            f"{loaded.file}: the platform would instantiate {picked.__name__} (from {origin}), "
            f"the first *Plugin name in dir(module), but {loaded.factory} builds "
            f"{built.__name__}"
        )
    return None

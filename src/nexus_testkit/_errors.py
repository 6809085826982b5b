"""Exception types raised by the harness.

Every error a user can meet names the file it is about and the cause, in one
line first; details (the plugin's own traceback, its log lines) follow on the
next lines so a terminal report stays readable.
"""

from __future__ import annotations

from pathlib import Path


class NexusTestkitError(Exception):
    """Base class of every error the harness raises on purpose."""


class ManifestError(NexusTestkitError):
    """A manifest.json that cannot be used.

    ``path`` is the file, ``where`` the line and column (``"line 3, column 7"``)
    or the field path (``"configuration.max_retries.type"``), ``problem`` what
    was expected.
    """

    def __init__(
        self, path: Path | str, where: str | None, problem: str, *, kind: str = "schema"
    ) -> None:
        #: "file" (missing or unreadable), "syntax" (not a UTF-8 JSON object) or "schema".
        self.kind = kind
        self.path = Path(path)
        self.where = where
        self.problem = problem
        location = f"{self.path}: {where}" if where else str(self.path)
        super().__init__(f"{location}: {problem}")


class PluginLoadError(NexusTestkitError):
    """plugin.py cannot be imported, or no plugin instance can be built from it."""

    def __init__(
        self, path: Path | str, problem: str, details: str = "", *, stage: str = "import"
    ) -> None:
        #: "import" (plugin.py did not import), "instance" (no instance could be
        #: built) or "interface" (the instance lacks the plugin interface).
        self.stage = stage
        self.path = Path(path)
        self.problem = problem
        self.details = details
        message = f"{self.path}: {problem}"
        if details:
            message = f"{message}\n{details}"
        super().__init__(message)


class PluginStartError(NexusTestkitError):
    """The plugin's ``initialize()`` did not return True.

    Carries the plugin's own exception (``cause``), the plugin's log lines and
    the file of the plugin, so the failure names the real cause instead of an
    ``AttributeError`` somewhere later.
    """

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        details: str = "",
        log_lines: list[str] | None = None,
        cause: BaseException | None = None,
        stage: str = "initialize",
    ) -> None:
        #: "initialize" or "routes" (get_api_routes failed or returned no routers).
        self.stage = stage
        self.path = Path(path)
        self.problem = problem
        self.details = details
        self.log_lines = list(log_lines or [])
        self.cause = cause
        parts = [f"{self.path}: {problem}"]
        if details:
            parts.append(details)
        if self.log_lines:
            parts.append("Plugin log:")
            parts.extend(f"  {line}" for line in self.log_lines)
        super().__init__("\n".join(parts))


class PluginTimeoutError(NexusTestkitError, TimeoutError):
    """A plugin coroutine (initialize, shutdown, a handler) did not finish in time."""

    def __init__(self, what: str, timeout: float, stuck_at: str = "") -> None:
        self.what = what
        self.timeout = timeout
        self.stuck_at = stuck_at
        message = f"{what} did not finish within {timeout:g} s"
        if stuck_at:
            message = f"{message}; it was waiting at {stuck_at}"
        super().__init__(message)


class PluginExitError(NexusTestkitError):
    """Plugin code raised ``SystemExit`` or ``KeyboardInterrupt`` where the harness called it.

    In a test, that fails the test instead of ending the run; the user's own
    Ctrl-C still stops it.
    """

    def __init__(self, what: str, exc: BaseException, site: str = "") -> None:
        from ._describe import describe_exception

        self.what = what
        self.exception = exc
        self.site = site
        where = f" at {site}" if site else ""
        super().__init__(
            f"{what}: the plugin raised {describe_exception(exc)}{where}; the harness stops "
            "the call, not the test run"
        )


class PluginDependencyError(NexusTestkitError):
    """The plugins given together cannot start: a dependency is missing, or they form a cycle.

    ``paths`` are the manifest files involved, ``kind`` is ``"missing"`` or
    ``"cycle"``.  The message names every manifest and what it depends on.
    """

    def __init__(self, message: str, *, kind: str, paths: tuple[Path, ...]) -> None:
        self.kind = kind
        self.paths = paths
        super().__init__(message)


class NexusOptionsError(NexusTestkitError, ValueError):
    """An option of the harness has a value it cannot use.

    The message names the option, the bad value and the valid ones.  At the
    pytest boundary it becomes a ``pytest.UsageError`` (command line, ini) or a
    clean test failure (a marker).
    """


class NexusAssertionError(NexusTestkitError, AssertionError):
    """An end-of-test or in-test verification of the harness failed."""


class NexusWarning(UserWarning):
    """Base class of every warning the harness emits: filter this one to silence all."""


class NexusLeftoverWarning(NexusWarning):
    """A plugin left handlers subscribed or services registered after shutdown()."""


class NexusContractWarning(NexusWarning):
    """A warning-level contract check did not pass."""


class NexusGuardWarning(NexusWarning):
    """A guard noticed something worth a note: a blocked network attempt, a blocked loop."""


# Shown as nexus_testkit.ManifestError, not nexus_testkit._errors.ManifestError,
# in tracebacks: the public name is the one users can import and catch.
for _cls in (
    NexusTestkitError,
    ManifestError,
    PluginLoadError,
    PluginStartError,
    PluginTimeoutError,
    PluginExitError,
    PluginDependencyError,
    NexusOptionsError,
    NexusAssertionError,
    NexusWarning,
    NexusLeftoverWarning,
    NexusGuardWarning,
):
    _cls.__module__ = "nexus_testkit"
del _cls
# Shown where pytest users import it from (it is also nexus_testkit.NexusContractWarning).
NexusContractWarning.__module__ = "pytest_nexus"

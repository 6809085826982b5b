"""Host options, validated once: the one place that knows their names, types and valid values.

:class:`HostOptions` is what :class:`~nexus_testkit.PluginHost` runs with.
The CLI and the pytest plugin build it from text (command line, ini file)
with :meth:`HostOptions.from_text`, and pytest markers update it with
:meth:`HostOptions.replace`; a bad value raises :class:`NexusOptionsError`
naming the option, the value and the valid ones, whatever the layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import NexusOptionsError
from ..backends import check_backend

__all__ = [
    "DEFAULT_TIMEOUT",
    "DELIVERIES",
    "FIDELITIES",
    "HostOptions",
    "check_positive",
    "parse_positive",
]

DEFAULT_TIMEOUT = 5.0
FIDELITIES = ("memory", "sql")
DELIVERIES = ("inline", "queued")
#: Defined here (not imported from world) so that validating options loads no clock.
CLOCKS = ("virtual", "real")


def check_positive(name: str, value: Any, *, optional: bool = False) -> None:
    """``value`` is a positive number of seconds (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        valid = "a positive number of seconds" + (" or None" if optional else "")
        raise NexusOptionsError(f"{name}={value!r} is not valid. Valid values: {valid}.")


def parse_positive(name: str, text: str) -> float:
    """A positive number of seconds given as text (``"2.5"``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise NexusOptionsError(
            f"{name}={text!r} is not valid. Valid values: a positive number of seconds."
        )
    return value


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise NexusOptionsError(
            f"{name}={value!r} is not valid. Valid values: {', '.join(choices)}."
        )


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise NexusOptionsError(f"{name}={value!r} is not valid. Valid values: True, False.")


@dataclass(frozen=True)
class HostOptions:
    """How a :class:`~nexus_testkit.PluginHost` runs a plugin.

    - ``timeout``: seconds for ``initialize()``, ``shutdown()``, each async
      event handler and each request (None: no time-out);
    - ``fidelity``: the fake data store's ``"memory"`` or ``"sql"`` round trip;
    - ``delivery``: the fake bus delivers ``"inline"`` or ``"queued"``;
    - ``allow_handler_errors``: a raising handler is recorded, not a failure;
    - ``raise_app_exceptions``: an exception in a route raises in the test
      (False: a 500 response);
    - ``allow_network``: no network guard;
    - ``mask_logs``: secrets of the configuration masked in log records as
      they are made;
    - ``detect_blocking``: seconds; report each time the event loop is
      blocked longer (None: off);
    - ``backend``: ``"fake"`` (recording fakes) or ``"platform"``
      (nexus-platform's own components), and ``db_url`` for the latter;
    - ``allow_undeclared``: configuration keys the manifest does not declare
      are passed to the plugin instead of being an error;
    - ``clock``: ``"virtual"`` (timers and sleeps move only when the test
      advances the clock) or ``"real"`` (see :mod:`nexus_testkit.world`);
    - ``allow_hosts``: ``host:port`` of real local servers the plugin may reach
      while the network is blocked;
    - ``allow_errors``: exceptions the plugin only logged are expected
      (``True``, or patterns of the messages that are).
    """

    timeout: float | None = DEFAULT_TIMEOUT
    fidelity: str = "memory"
    delivery: str = "inline"
    allow_handler_errors: bool = False
    raise_app_exceptions: bool = True
    allow_network: bool = False
    mask_logs: bool = True
    detect_blocking: float | None = None
    backend: str = "fake"
    db_url: str | None = None
    allow_undeclared: bool = False
    clock: str = "virtual"
    allow_hosts: tuple[str, ...] = ()
    allow_errors: bool | tuple[str, ...] = False

    def __post_init__(self) -> None:
        # Lists are accepted (markers are written with them) and kept as tuples:
        # the options are frozen and hashable.
        if isinstance(self.allow_hosts, (list, str)):
            hosts = [self.allow_hosts] if isinstance(self.allow_hosts, str) else self.allow_hosts
            object.__setattr__(self, "allow_hosts", tuple(hosts))
        if not isinstance(self.allow_hosts, tuple) or not all(
            isinstance(h, str) and h for h in self.allow_hosts
        ):
            raise NexusOptionsError(
                f"allow_hosts={self.allow_hosts!r} is not valid. Valid values: a list of "
                "'host:port' strings (like allow_hosts=['localhost:9000'])."
            )
        if isinstance(self.allow_errors, (str, list)):
            patterns = (
                [self.allow_errors] if isinstance(self.allow_errors, str) else self.allow_errors
            )
            object.__setattr__(self, "allow_errors", tuple(patterns))
        if not isinstance(self.allow_errors, bool) and not (
            isinstance(self.allow_errors, tuple)
            and all(isinstance(p, str) for p in self.allow_errors)
        ):
            raise NexusOptionsError(
                f"allow_errors={self.allow_errors!r} is not valid. Valid values: True, False, "
                "a pattern or a list of patterns (like allow_errors='retrying')."
            )
        _check_choice("clock", self.clock, CLOCKS)
        check_positive("timeout", self.timeout, optional=True)
        check_positive("detect_blocking", self.detect_blocking, optional=True)
        _check_choice("fidelity", self.fidelity, FIDELITIES)
        _check_choice("delivery", self.delivery, DELIVERIES)
        check_backend(self.backend)
        for name in (
            "allow_handler_errors",
            "raise_app_exceptions",
            "allow_network",
            "mask_logs",
            "allow_undeclared",
        ):
            _check_bool(name, getattr(self, name))
        if self.db_url is not None:
            if not isinstance(self.db_url, str) or not self.db_url:
                raise NexusOptionsError(
                    f"db_url={self.db_url!r} is not valid. Valid values: a database URL or None."
                )
            if self.backend != "platform":
                raise NexusOptionsError(
                    f"db_url={self.db_url!r} needs backend='platform': the fakes have no database."
                )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return _NAMES

    def replace(self, what: str | None = None, /, **changes: Any) -> HostOptions:
        """A copy with ``changes``; a bad one is an error listing the valid names or
        values, starting with ``what`` (where the changes come from) if given."""
        if not changes:
            return self
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise NexusOptionsError(
                f"{what or 'options'} got {', '.join(map(repr, unknown))}; valid options: "
                f"{', '.join(self.names())}."
            )
        if changes.get("backend") == "fake" and "db_url" not in changes:
            # The database URL belongs to the platform backend: a test that asks
            # for the fakes (nexus_host(backend="fake")) under a session run with
            # --nexus-db-url runs on the fakes, without it.
            changes["db_url"] = None
        try:
            return dataclasses.replace(self, **changes)
        except NexusOptionsError as exc:
            raise _from(what, exc) from None

    @classmethod
    def from_text(
        cls, values: Mapping[str, str | None], origins: Mapping[str, str] | None = None
    ) -> HostOptions:
        """Options given as text (command line, ini file); None or "" keeps the default.

        ``timeout`` and ``detect_blocking`` are numbers of seconds, the flags
        ``true``/``false`` (also ``1``/``0``, ``yes``/``no``).  ``origins``
        names where each option came from (``{"timeout": "--nexus-timeout"}``);
        an error message starts with it.
        """
        origins = origins or {}
        parsed: dict[str, Any] = {}
        default = cls()
        for name, text in values.items():
            if text is None or text == "":
                continue
            try:
                if name in ("timeout", "detect_blocking"):
                    value: Any = parse_positive(name, text)
                elif name in ("fidelity", "delivery", "backend", "db_url", "clock"):
                    value = text
                else:
                    value = _parse_bool(name, text)
                if name != "db_url":  # checked with the backend, below
                    default.replace(**{name: value})
            except NexusOptionsError as exc:
                raise _from(origins.get(name), exc) from None
            parsed[name] = value
        try:
            return default.replace(**parsed)
        except NexusOptionsError as exc:
            raise _from(origins.get("db_url"), exc) from None


def _from(origin: str | None, exc: NexusOptionsError) -> NexusOptionsError:
    return NexusOptionsError(f"{origin}: {exc}") if origin else exc


_NAMES = tuple(f.name for f in dataclasses.fields(HostOptions))


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise NexusOptionsError(f"{name}={text!r} is not valid. Valid values: true, false.")

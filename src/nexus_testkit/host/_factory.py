"""Building hosts on demand, all with one set of defaults (``nexus_host_factory``'s object)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import NexusAssertionError
from ..fakes._bus import RecordingEventBus
from ..fakes._config import ConfigStore
from ..fakes._services import RecordingServiceRegistry
from ..fakes._store import RecordingDataStore
from ..manifest._load import Manifest, load_manifest
from ._host import PluginHost
from ._options import HostOptions

__all__ = ["HostFactory"]


class HostFactory:
    """Builds hosts on demand, all sharing one set of defaults.

    ``factory(config={...}, timeout=1)`` returns a :class:`PluginHost` to use
    with ``async with``: ``config`` is applied over the factory's ``config``
    (``None`` removes a key), components (``event_bus``, ``data_store``,
    ``config_store``, ``services``) are the host's, and other keywords are
    :class:`HostOptions` changes over the factory's ``options``.  Hosts are
    fresh each call, so a factory is safe under ``@given``.
    """

    def __init__(
        self,
        path: Path | str,
        options: HostOptions | None = None,
        *,
        manifest: Manifest | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.options = options if options is not None else HostOptions()
        self.manifest = manifest if manifest is not None else load_manifest(self.path)
        self.config = dict(config or {})
        self.hosts: list[PluginHost] = []

    def __call__(
        self,
        *,
        config: Mapping[str, Any] | None = None,
        event_bus: RecordingEventBus | None = None,
        data_store: RecordingDataStore | None = None,
        config_store: ConfigStore | None = None,
        services: RecordingServiceRegistry | None = None,
        **options: Any,
    ) -> PluginHost:
        merged = {**self.config, **(config or {})}
        host = PluginHost(
            self.path,
            self.options.replace("nexus_host_factory", **options) if options else self.options,
            config=merged,
            manifest=self.manifest,
            event_bus=event_bus,
            data_store=data_store,
            config_store=config_store,
            services=services,
        )
        self.hosts.append(host)
        return host

    def left_running(self) -> list[PluginHost]:
        """Hosts that were started and not closed (``abandon()`` undoes their guards)."""
        return [h for h in self.hosts if h.plugin is not None and not h.closed]

    def verify(self) -> None:
        """Run each host's end-of-test check; report all failures together."""
        failures = []
        for host in self.hosts:
            try:
                host.verify()
            except NexusAssertionError as exc:
                failures.append(str(exc))
        if failures:
            raise NexusAssertionError("\n\n".join(failures))

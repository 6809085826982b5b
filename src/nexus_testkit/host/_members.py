"""One plugin of a host of several: a :class:`PluginHost` without the process-wide parts.

A member runs its plugin exactly as a single-plugin host does (import,
injection, ``initialize()``, its routers behind its own client, ``shutdown()``
and what it left behind), but it enters no guards and owns no component: the
group (``_group``) enters the guards once, starts the shared bus and store,
and gives each member its views of them (``_views``).

Tasks are told apart by where they were created: the group's tracker is the
one installed on the loop, and hands each task to the member whose plugin
directory holds the innermost frame of plugin code that created it, so that a
member's shutdown settles and cancels its own tasks only, and a leaked task is
reported under the plugin that started it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import types
from collections.abc import AsyncIterator, Coroutine, Mapping
from pathlib import Path
from typing import Any

from ..fakes._config import ConfigStore
from ..manifest._load import Manifest
from ._host import PluginHost
from ._options import HostOptions
from ._tasks import TaskTracker, TrackedTask
from ._views import bus_view, services_view, store_view

__all__ = ["GroupTracker", "Member"]


class _MemberTracker(TaskTracker):
    """A member's tasks, handed over by the group's tracker; pausing pauses the group's."""

    def __init__(self, group: GroupTracker) -> None:
        super().__init__()
        self._group = group

    @property
    def paused(self) -> int:
        return self._group.paused

    @paused.setter
    def paused(self, value: int) -> None:
        # Set once by TaskTracker.__init__, before _group exists.
        group = self.__dict__.get("_group")
        if group is not None:
            group.paused = value


class GroupTracker(TaskTracker):
    """The tracker a group installs: records every task and hands it to its member."""

    def __init__(self) -> None:
        super().__init__()
        #: (resolved plugin directory, member tracker), longest directory first.
        self._members: list[tuple[str, _MemberTracker]] = []

    def member(self, directory: str) -> TaskTracker:
        tracker = _MemberTracker(self)
        self._members.append((directory.rstrip("/\\") + "/", tracker))
        self._members.sort(key=lambda entry: -len(entry[0]))
        return tracker

    def _factory(self, loop: Any, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        before = len(self.tasks)
        task = super()._factory(loop, coro, **kwargs)
        if len(self.tasks) > before:
            owner = self._owner()
            if owner is not None:
                owner.tasks.append(self.tasks[-1])
        return task

    def _owner(self) -> _MemberTracker | None:
        frame: types.FrameType | None = sys._getframe(2)
        for _ in range(48):
            if frame is None:
                break
            # Normalised: a plugin imported as "tests/../../other" must not count as
            # the plugin of "tests/..".
            filename = os.path.normpath(frame.f_code.co_filename)
            for directory, tracker in self._members:
                if filename.startswith(directory):
                    return tracker
            frame = frame.f_back
        return None

    def unowned(self) -> list[TrackedTask]:
        """Pending tasks no member's plugin created (they are the group's to report)."""
        owned = {id(t) for _, m in self._members for t in m.tasks}
        return [t for t in self.pending() if id(t) not in owned]


class Member(PluginHost):
    """One plugin of a group: its lifecycle, app and client; the group's guards and components."""

    def __init__(
        self,
        path: Path | str,
        options: HostOptions,
        *,
        group: Any,
        manifest: Manifest | None = None,
        config: Mapping[str, Any] | None = None,
        config_store: ConfigStore | None = None,
    ) -> None:
        super().__init__(
            path,
            options,
            manifest=manifest,
            config=config,
            config_store=config_store,
            event_bus=group.event_bus,
            data_store=group.data_store,
            services=group.services,
            clock=group.world.clock,
            http=group.world.http,
        )
        name = self.manifest.name
        # The plugin is given its views; the host's own attributes stay the shared ones
        # for the leak checks (owned_handlers reads the bus's subscriptions).
        self._views = (
            store_view(group.data_store, name),
            bus_view(group.event_bus, name),
            services_view(group.services, name),
        )
        self._tracker = group._tracker.member(self._prefer)
        self._capture = group._capture

    def _enter_guards(self) -> contextlib.ExitStack:
        return contextlib.ExitStack()  # the group's guards are on

    @contextlib.asynccontextmanager
    async def _components(self) -> AsyncIterator[None]:
        yield  # the group connects, starts and shuts down the shared components

    def _inject(self, plugin: Any) -> None:
        # The views in place of the shared components: what the plugin records is marked.
        plugin.db_adapter, plugin.event_bus, plugin.service_registry = self._views

    @property
    def logs(self) -> list[logging.LogRecord]:
        """The log records of this plugin: its loggers', or made in its files."""
        package = self.loaded.package + "." if self.loaded else None
        own = f"nexus.plugins.{getattr(self.plugin, 'category', '')}.{self.name}"
        return [
            r
            for r in self._capture.records
            if r.pathname.startswith(self._prefer)
            or r.name == own
            or (package is not None and (r.name + ".").startswith(package))
        ]

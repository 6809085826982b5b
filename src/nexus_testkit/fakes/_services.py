"""A recording service registry with the interface of ``nexus.core.ServiceRegistry``."""

from __future__ import annotations

from typing import Any, NamedTuple

from ._recording import CallList, Standalone

__all__ = ["RecordingServiceRegistry", "ServiceCall"]


class ServiceCall(NamedTuple):
    """One ``register`` or ``unregister`` call."""

    op: str
    name: str
    service: Any
    interface: type | None


class RecordingServiceRegistry(Standalone):
    """Same behaviour as the platform's registry, plus ``calls`` in order.

    As on the platform, registering a name twice replaces the service (and
    lists the name twice under its interface); ``get`` of an unknown name is
    ``None``; ``unregister`` of an unknown name does nothing.  ``lookups``
    lists the names asked for with ``get`` and ``has_service``, found or not
    (the contract's ``ecosystem.services`` reads them).
    """

    def __init__(self) -> None:
        self._services: dict[str, Any] = {}
        self._interfaces: dict[type, list[str]] = {}
        self.calls: CallList[ServiceCall] = CallList()
        self.lookups: CallList[str] = CallList()

    def register(self, name: str, service: Any, interface: type | None = None) -> None:
        self._services[name] = service
        if interface:
            self._interfaces.setdefault(interface, []).append(name)
        self.calls.append(ServiceCall("register", name, service, interface))

    def unregister(self, name: str) -> None:
        if name in self._services:
            for names in self._interfaces.values():
                if name in names:
                    names.remove(name)
            service = self._services.pop(name)
            self.calls.append(ServiceCall("unregister", name, service, None))

    def get(self, name: str) -> Any | None:
        self.lookups.append(name)
        return self._services.get(name)

    def get_by_interface(self, interface: type) -> list[Any]:
        names = self._interfaces.get(interface, [])
        return [self._services[n] for n in names if n in self._services]

    def has_service(self, name: str) -> bool:
        self.lookups.append(name)
        return name in self._services

    def list_services(self) -> list[str]:
        return list(self._services)

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __repr__(self) -> str:
        return (
            f"<RecordingServiceRegistry {self._standalone_note()}services={self.list_services()!r}>"
        )

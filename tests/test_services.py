"""Unit tests of nexus_testkit.fakes._services, side by side with nexus.core.ServiceRegistry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nexus_testkit import RecordingServiceRegistry, ServiceCall

from ._helpers import PlatformModule, needs_platform

nexus_core = PlatformModule("nexus.core")


class Storage:
    pass


class Mailer:
    pass


class Impl:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Impl({self.name!r})"


Scenario = Callable[[Any], Any]


def run_both(scenario: Scenario) -> tuple[Any, Any]:
    """Run ``scenario(registry)`` on a fresh recording and a fresh platform registry."""
    return scenario(RecordingServiceRegistry()), scenario(nexus_core.ServiceRegistry())


def state(registry: Any) -> dict[str, Any]:
    return {
        "services": registry.list_services(),
        "storage": registry.get_by_interface(Storage),
        "mailer": registry.get_by_interface(Mailer),
        "none": registry.get_by_interface(Impl),
    }


A, B, C = Impl("a"), Impl("b"), Impl("c")


# --------------------------------------------------------------------------- side by side


@needs_platform
def test_register_and_get_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("db", A)
        r.register("mail", B, Mailer)
        return (
            r.get("db"),
            r.get("mail"),
            r.get("missing"),
            r.has_service("db"),
            r.has_service("missing"),
            state(r),
        )

    recording, real = run_both(scenario)
    assert recording == real
    assert recording[0] is A
    assert recording[2] is None


@needs_platform
def test_register_twice_replaces_and_lists_twice_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("store", A, Storage)
        r.register("store", B, Storage)
        return r.get("store"), state(r)

    recording, real = run_both(scenario)
    assert recording == real
    assert recording[0] is B
    assert recording[1]["services"] == ["store"]
    assert recording[1]["storage"] == [B, B]  # the name is listed twice under the interface


@needs_platform
def test_register_twice_under_different_interfaces_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("svc", A, Storage)
        r.register("svc", B, Mailer)
        return state(r)

    recording, real = run_both(scenario)
    assert recording == real
    assert recording["storage"] == [B]  # the old interface now yields the new service
    assert recording["mailer"] == [B]


@needs_platform
def test_get_by_interface_order_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("z", A, Storage)
        r.register("m", B)
        r.register("a", C, Storage)
        return state(r)

    recording, real = run_both(scenario)
    assert recording == real
    assert recording["storage"] == [A, C]
    assert recording["services"] == ["z", "m", "a"]  # registration order, not sorted


@needs_platform
def test_list_order_after_reregister_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("first", A)
        r.register("second", B)
        r.register("first", C)  # replacing keeps the original position
        r.unregister("second")
        r.register("second", B)  # re-registering after unregister goes last
        return r.list_services()

    recording, real = run_both(scenario)
    assert recording == real == ["first", "second"]


@needs_platform
def test_unregister_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("x", A, Storage)
        r.register("y", B, Storage)
        r.unregister("x")
        return r.get("x"), r.has_service("x"), state(r)

    recording, real = run_both(scenario)
    assert recording == real
    assert recording[2]["storage"] == [B]


@needs_platform
def test_unregister_unknown_does_nothing_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("x", A)
        r.unregister("never-registered")
        r.unregister("never-registered")
        return state(r)

    recording, real = run_both(scenario)
    assert recording == real
    assert recording["services"] == ["x"]


@needs_platform
def test_unregister_after_double_register_leaves_stale_name_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("svc", A, Storage)
        r.register("svc", B, Storage)
        r.unregister("svc")
        before = state(r)
        r.register("svc", C)  # no interface this time
        return before, state(r)

    recording, real = run_both(scenario)
    assert recording == real
    before, after = recording
    assert before["storage"] == []
    # One of the two "svc" entries survives unregister(), so the new service
    # shows up under Storage even though it was registered without it.
    assert after["storage"] == [C]


@needs_platform
def test_falsy_interface_is_ignored_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("x", A, None)
        return state(r)

    recording, real = run_both(scenario)
    assert recording == real


@needs_platform
def test_none_service_is_registered_like_platform() -> None:
    def scenario(r: Any) -> Any:
        r.register("nothing", None)
        return r.has_service("nothing"), r.get("nothing"), r.list_services()

    recording, real = run_both(scenario)
    assert recording == real == (True, None, ["nothing"])


@needs_platform
def test_recording_registry_has_the_platform_methods() -> None:
    platform_methods = {
        name
        for name in vars(nexus_core.ServiceRegistry)
        if not name.startswith("_") and callable(getattr(nexus_core.ServiceRegistry, name))
    }
    for name in platform_methods:
        assert callable(getattr(RecordingServiceRegistry, name, None)), name


# --------------------------------------------------------------------------- recording


def test_calls_are_recorded_in_order() -> None:
    registry = RecordingServiceRegistry()
    assert not registry.calls.called
    registry.register("db", A, Storage)
    registry.register("mail", B)
    registry.unregister("db")
    registry.get("mail")  # reads are not calls
    registry.get_by_interface(Storage)
    assert registry.calls == [
        ServiceCall("register", "db", A, Storage),
        ServiceCall("register", "mail", B, None),
        ServiceCall("unregister", "db", A, None),
    ]
    assert registry.calls.call_count == 3
    assert registry.calls.last.op == "unregister"
    assert registry.calls.last.service is A


def test_replaced_registration_is_recorded_twice() -> None:
    registry = RecordingServiceRegistry()
    registry.register("svc", A)
    registry.register("svc", B)
    assert [(c.op, c.service) for c in registry.calls] == [("register", A), ("register", B)]


def test_contains_and_repr() -> None:
    registry = RecordingServiceRegistry()
    registry.register("db", A)
    assert "db" in registry
    assert "other" not in registry
    assert 42 not in registry
    assert repr(registry) == "<RecordingServiceRegistry services=['db']>"


def test_calls_last_on_empty() -> None:
    with pytest.raises(IndexError, match="nothing was recorded"):
        RecordingServiceRegistry().calls.last  # noqa: B018


def test_list_services_is_a_copy() -> None:
    registry = RecordingServiceRegistry()
    registry.register("db", A)
    registry.list_services().clear()
    registry.get_by_interface(Storage).append(B)
    assert registry.list_services() == ["db"]
    assert registry.get_by_interface(Storage) == []

"""Unit tests of nexus_testkit.fakes._bus (RecordingEventBus) and _mask (Masker).

Where it is cheap, the same scenario is run on the platform's own
``nexus.core.EventBus`` (publish puts on its queue, ``_call_event_handlers``
delivers) and the two are compared.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from nexus_testkit import (
    Event,
    EventPriority,
    HandlerFailure,
    NexusAssertionError,
    PublishedEvent,
    RecordingEventBus,
)
from nexus_testkit._masking import MASK, Masker
from nexus_testkit.fakes._bus import MAX_CASCADE_DEPTH, handler_name

from ._helpers import PlatformModule, needs_platform

nexus_core = PlatformModule("nexus.core")


async def deliver_real(bus: Any) -> None:
    """Deliver everything on a real EventBus's queue, as its processor task would."""
    while not bus._queue.empty():
        _, event = bus._queue.get_nowait()
        await bus._call_event_handlers(event)


def make_buses(**kwargs: Any) -> tuple[RecordingEventBus, Any]:
    return RecordingEventBus(delivery="queued", **kwargs), nexus_core.EventBus()


async def deliver_both(recording: RecordingEventBus, real: Any) -> None:
    await recording.drain()
    await deliver_real(real)


# --------------------------------------------------------------------------- construction


def test_invalid_delivery_mode_names_valid_ones() -> None:
    with pytest.raises(ValueError, match="'sync' is not a valid delivery mode") as info:
        RecordingEventBus(delivery="sync")  # type: ignore[arg-type]
    assert "inline" in str(info.value)
    assert "queued" in str(info.value)


def test_defaults_and_repr() -> None:
    bus = RecordingEventBus()
    assert bus.delivery == "inline"
    assert bus.allow_handler_errors is False
    assert bus.handler_timeout is None
    assert not bus.published.called
    assert bus.pending == []
    assert repr(bus) == "<RecordingEventBus delivery=inline published=0 subscriptions=0>"


@needs_platform
def test_event_model_has_the_platform_fields() -> None:
    assert set(Event.model_fields) == set(nexus_core.Event.model_fields)
    assert {p.name: p.value for p in EventPriority} == {
        p.name: p.value for p in nexus_core.EventPriority
    }


# --------------------------------------------------------------------------- recording


@pytest.mark.asyncio
async def test_published_records_order_and_fields() -> None:
    bus = RecordingEventBus()
    await bus.publish("a.created", {"id": 1}, source="shop.orders")
    await bus.publish("b.deleted", priority=EventPriority.HIGH)
    await bus.publish("a.created", {"id": 2}, priority=EventPriority.LOW, source="x")
    assert [e.name for e in bus.published] == ["a.created", "b.deleted", "a.created"]
    first = bus.published[0]
    assert isinstance(first, PublishedEvent)
    assert first.data == {"id": 1}
    assert first.source == "shop.orders"
    assert first.priority == EventPriority.NORMAL.value == 5
    # The platform's own Event class when the platform is loaded, ours otherwise.
    core = sys.modules.get("nexus.core")
    assert isinstance(first.event, core.Event if core else Event)
    assert first.event.name == "a.created"
    assert first.event.data == {"id": 1}
    assert first.event.source == "shop.orders"
    assert first.event.correlation_id is None
    assert first.timestamp == first.event.timestamp
    assert bus.published[1].priority == 10
    assert bus.published[1].data == {}
    assert bus.published[1].source is None
    assert bus.published[2].priority == 1
    assert bus.published.call_count == 3
    assert bus.published.last.data == {"id": 2}


@needs_platform
@pytest.mark.asyncio
async def test_timestamp_is_naive_utc_like_the_platform() -> None:
    bus = RecordingEventBus()
    await bus.publish("e")
    stamp = bus.published.last.timestamp
    assert isinstance(stamp, datetime)
    assert stamp.tzinfo is None
    assert nexus_core.Event(name="e").timestamp.tzinfo is None


@needs_platform
@pytest.mark.asyncio
async def test_platform_priority_enum_is_accepted() -> None:
    bus = RecordingEventBus()
    await bus.publish("e", priority=nexus_core.EventPriority.CRITICAL)
    assert bus.published.last.priority == 20


@needs_platform
@pytest.mark.asyncio
async def test_data_none_becomes_empty_dict_like_the_platform() -> None:
    recording, real = make_buses()
    await recording.publish("e", None)
    await real.publish("e", None)
    _, real_event = real._queue.get_nowait()
    assert recording.published.last.data == {} == real_event.data


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("falsy", [[], "", 0, ()])
async def test_falsy_non_dict_data_becomes_empty_dict_like_the_platform(falsy: Any) -> None:
    recording, real = make_buses()
    await recording.publish("e", falsy)
    await real.publish("e", falsy)
    _, real_event = real._queue.get_nowait()
    assert recording.published.last.data == real_event.data == {}


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("bad", [[1, 2], "text", 5, ("a", "b")])
async def test_non_dict_data_raises_like_the_platform(bad: Any) -> None:
    recording, real = make_buses()
    with pytest.raises(ValidationError):
        await real.publish("e", bad)
    with pytest.raises(ValidationError):
        await recording.publish("e", bad)
    assert recording.published == []
    assert recording.pending == []
    assert real._queue.empty()


@needs_platform
@pytest.mark.asyncio
@pytest.mark.parametrize("priority", [5, "HIGH", None])
async def test_non_enum_priority_raises_attribute_error_like_the_platform(priority: Any) -> None:
    recording, real = make_buses()
    with pytest.raises(AttributeError):
        await real.publish("e", {}, priority=priority)
    with pytest.raises(AttributeError):
        await recording.publish("e", {}, priority=priority)
    assert recording.published == []
    assert real._queue.empty()


@pytest.mark.asyncio
async def test_data_is_copied_at_publish() -> None:
    bus = RecordingEventBus()
    data = {"a": 1}
    await bus.publish("e", data)
    data["a"] = 2
    assert bus.published.last.data == {"a": 1}


@pytest.mark.asyncio
async def test_events_filter_and_reset() -> None:
    bus = RecordingEventBus()
    calls: list[str] = []
    bus.subscribe("a", lambda e: calls.append(e.name))
    await bus.publish("a")
    await bus.publish("b")
    await bus.publish("a", {"n": 2})
    assert [e.data for e in bus.events("a")] == [{}, {"n": 2}]
    assert [e.name for e in bus.events()] == ["a", "b", "a"]
    assert bus.events("zzz") == []
    bus.reset()
    assert bus.published == []
    assert bus.handler_failures == []
    assert bus.subscribers("a")  # subscriptions stay
    await bus.publish("a")
    assert calls == ["a", "a", "a"]


# --------------------------------------------------------------------------- delivery


@pytest.mark.asyncio
async def test_inline_delivery_happens_before_publish_returns() -> None:
    bus = RecordingEventBus()
    received: list[Event] = []
    bus.subscribe("user.created", received.append)
    await bus.publish("user.created", {"id": 7})
    assert len(received) == 1
    assert received[0].data == {"id": 7}
    assert received[0] is bus.published.last.event
    assert bus.pending == []


@pytest.mark.asyncio
async def test_sync_and_async_handlers_in_subscription_order() -> None:
    bus = RecordingEventBus()
    order: list[str] = []

    def sync_handler(event: Event) -> None:
        order.append("sync")

    async def async_handler(event: Event) -> None:
        await asyncio.sleep(0)
        order.append("async")

    class Subscriber:
        async def on_event(self, event: Event) -> None:
            order.append("method")

    async def with_extra(event: Event, label: str) -> None:
        order.append(label)

    bus.subscribe("e", async_handler)
    bus.subscribe("e", sync_handler)
    bus.subscribe("e", Subscriber().on_event)
    bus.subscribe("e", functools.partial(with_extra, label="partial"))
    await bus.publish("e")
    assert order == ["async", "sync", "method", "partial"]
    assert bus.handler_failures == []


@pytest.mark.asyncio
async def test_handlers_only_for_their_event() -> None:
    bus = RecordingEventBus()
    seen: list[str] = []
    bus.subscribe("a", lambda e: seen.append("a"))
    bus.subscribe("b", lambda e: seen.append("b"))
    await bus.publish("a")
    await bus.publish("c")
    assert seen == ["a"]


@pytest.mark.asyncio
async def test_inline_cascade_is_depth_first() -> None:
    bus = RecordingEventBus()
    order: list[str] = []

    async def on_a(event: Event) -> None:
        order.append("a:start")
        await bus.publish("b")
        order.append("a:end")

    bus.subscribe("a", on_a)
    bus.subscribe("b", lambda e: order.append("b"))
    await bus.publish("a")
    assert order == ["a:start", "b", "a:end"]
    assert [e.name for e in bus.published] == ["a", "b"]


@needs_platform
@pytest.mark.asyncio
async def test_same_handler_twice_is_called_twice_like_the_platform() -> None:
    recording, real = make_buses()
    counts = {"recording": 0, "real": 0}

    def make(which: str) -> Any:
        def handler(event: Event) -> None:
            counts[which] += 1

        return handler

    rec_handler, real_handler = make("recording"), make("real")
    for _ in range(2):
        recording.subscribe("e", rec_handler)
        real.subscribe("e", real_handler)
    await recording.publish("e")
    await real.publish("e")
    await deliver_both(recording, real)
    assert counts == {"recording": 2, "real": 2}


# --------------------------------------------------------------------------- subscribe / unsubscribe


def test_subscriptions_and_subscribers() -> None:
    bus = RecordingEventBus()

    def h1(event: Event) -> None: ...

    def h2(event: Event) -> None: ...

    bus.subscribe("a", h1)
    bus.subscribe("a", h2)
    bus.subscribe("b", h1)
    assert bus.subscriptions == {"a": [h1, h2], "b": [h1]}
    assert bus.subscribers("a") == [h1, h2]
    assert bus.subscribers("none") == []
    # copies: changing them changes nothing
    bus.subscribers("a").clear()
    bus.subscriptions["a"].clear()
    assert bus.subscribers("a") == [h1, h2]
    bus.unsubscribe("b", h1)
    assert bus.subscriptions == {"a": [h1, h2]}  # empty lists omitted
    assert "subscriptions=2" in repr(bus)


@needs_platform
def test_unsubscribe_not_subscribed_raises_value_error_like_the_platform() -> None:
    recording, real = RecordingEventBus(), nexus_core.EventBus()

    def handler(event: Event) -> None: ...

    def other(event: Event) -> None: ...

    for bus in (recording, real):
        bus.subscribe("e", handler)
        with pytest.raises(ValueError, match="not in list"):
            bus.unsubscribe("e", other)
        # an event nobody subscribed to: silently nothing, on both
        bus.unsubscribe("never.subscribed", other)
        bus.unsubscribe("e", handler)
        with pytest.raises(ValueError, match="not in list"):
            bus.unsubscribe("e", handler)


def test_subscription_calls_are_recorded_in_order() -> None:
    bus = RecordingEventBus()

    def h1(event: Event) -> None: ...

    def h2(event: Event) -> None: ...

    assert not bus.subscription_calls.called
    bus.subscribe("a", h1)
    bus.subscribe("b", h2)
    bus.unsubscribe("a", h1)
    with pytest.raises(ValueError, match="not in list"):
        bus.unsubscribe("b", h1)  # a failed call is a call too
    assert [(c.op, c.event_name, c.handler) for c in bus.subscription_calls] == [
        ("subscribe", "a", h1),
        ("subscribe", "b", h2),
        ("unsubscribe", "a", h1),
        ("unsubscribe", "b", h1),
    ]
    assert bus.subscription_calls.call_count == 4
    assert bus.subscription_calls.last.op == "unsubscribe"


@pytest.mark.asyncio
async def test_unsubscribed_handler_is_not_called() -> None:
    bus = RecordingEventBus()
    seen: list[int] = []

    def handler(event: Event) -> None:
        seen.append(1)

    bus.subscribe("e", handler)
    bus.unsubscribe("e", handler)
    await bus.publish("e")
    assert seen == []


@needs_platform
@pytest.mark.asyncio
async def test_subscribe_during_delivery_like_the_platform() -> None:
    recording, real = make_buses()
    logs: dict[str, list[str]] = {"recording": [], "real": []}

    def setup(bus: Any, log: list[str]) -> None:
        def late(event: Event) -> None:
            log.append(f"late:{event.data['n']}")

        def first(event: Event) -> None:
            log.append(f"first:{event.data['n']}")
            if event.data["n"] == 1:
                bus.subscribe("e", late)

        bus.subscribe("e", first)

    setup(recording, logs["recording"])
    setup(real, logs["real"])
    for bus in (recording, real):
        await bus.publish("e", {"n": 1})
        await bus.publish("e", {"n": 2})
    await deliver_both(recording, real)
    # The live list is iterated: the handler added during delivery sees the same event.
    assert logs["real"] == ["first:1", "late:1", "first:2", "late:2"]
    assert logs["recording"] == logs["real"]


@pytest.mark.asyncio
async def test_subscribe_during_inline_delivery() -> None:
    bus = RecordingEventBus()
    log: list[str] = []

    def late(event: Event) -> None:
        log.append("late")

    def first(event: Event) -> None:
        log.append("first")
        bus.subscribe("e", late)

    bus.subscribe("e", first)
    await bus.publish("e")
    assert log == ["first", "late"]


@needs_platform
@pytest.mark.asyncio
async def test_unsubscribe_during_delivery_skips_next_like_the_platform() -> None:
    recording, real = make_buses()
    logs: dict[str, list[str]] = {"recording": [], "real": []}

    def setup(bus: Any, log: list[str]) -> None:
        def once(event: Event) -> None:
            log.append("once")
            bus.unsubscribe("e", once)

        def second(event: Event) -> None:
            log.append("second")

        bus.subscribe("e", once)
        bus.subscribe("e", second)

    setup(recording, logs["recording"])
    setup(real, logs["real"])
    for bus in (recording, real):
        await bus.publish("e")
        await bus.publish("e")
    await deliver_both(recording, real)
    assert logs["real"] == ["once", "second"]
    assert logs["recording"] == logs["real"]


# --------------------------------------------------------------------------- queued delivery


@pytest.mark.asyncio
async def test_queued_mode_delivers_at_drain() -> None:
    bus = RecordingEventBus(delivery="queued")
    seen: list[str] = []
    bus.subscribe("e", lambda e: seen.append(e.data["v"]))
    await bus.publish("e", {"v": "one"})
    await bus.publish("e", {"v": "two"})
    assert seen == []
    assert [e.data["v"] for e in bus.pending] == ["one", "two"]
    assert len(bus.published) == 2  # recorded at publish time
    await bus.drain()
    assert seen == ["one", "two"]
    assert bus.pending == []
    await bus.drain()  # nothing left: a no-op
    assert seen == ["one", "two"]


@pytest.mark.asyncio
async def test_pending_is_a_copy() -> None:
    bus = RecordingEventBus(delivery="queued")
    await bus.publish("e")
    bus.pending.clear()
    assert len(bus.pending) == 1


@pytest.mark.asyncio
async def test_queued_events_without_subscribers_are_pending() -> None:
    bus = RecordingEventBus(delivery="queued")
    await bus.publish("nobody.listens")
    assert [e.name for e in bus.pending] == ["nobody.listens"]
    await bus.drain()
    assert bus.pending == []


@needs_platform
@pytest.mark.asyncio
async def test_drain_delivers_events_published_by_handlers_fifo_like_the_platform() -> None:
    recording, real = make_buses()
    logs: dict[str, list[str]] = {"recording": [], "real": []}

    def setup(bus: Any, log: list[str]) -> None:
        async def on_a(event: Event) -> None:
            log.append("a")
            await bus.publish("b")

        bus.subscribe("a", on_a)
        bus.subscribe("b", lambda e: log.append("b"))
        bus.subscribe("c", lambda e: log.append("c"))

    setup(recording, logs["recording"])
    setup(real, logs["real"])
    for bus in (recording, real):
        await bus.publish("a")
        await bus.publish("c")
    await deliver_both(recording, real)
    assert logs["real"] == ["a", "c", "b"]
    assert logs["recording"] == logs["real"]
    assert [e.name for e in recording.published] == ["a", "c", "b"]
    assert recording.pending == []


@needs_platform
@pytest.mark.asyncio
async def test_queue_is_fifo_whatever_the_priority_like_the_platform() -> None:
    recording, real = make_buses()
    logs: dict[str, list[str]] = {"recording": [], "real": []}
    for bus, log in ((recording, logs["recording"]), (real, logs["real"])):
        bus.subscribe("e", lambda e, log=log: log.append(e.data["p"]))
        await bus.publish("e", {"p": "low"}, priority=EventPriority.LOW)
        await bus.publish("e", {"p": "critical"}, priority=EventPriority.CRITICAL)
        await bus.publish("e", {"p": "normal"})
    await deliver_both(recording, real)
    assert logs["real"] == ["low", "critical", "normal"]
    assert logs["recording"] == logs["real"]


@pytest.mark.asyncio
async def test_drain_in_inline_mode_returns_at_once() -> None:
    bus = RecordingEventBus()
    await bus.drain()
    assert bus.pending == []


@pytest.mark.asyncio
async def test_start_and_shutdown_keep_pending() -> None:
    bus = RecordingEventBus(delivery="queued")
    await bus.start()
    await bus.publish("e")
    await bus.shutdown()
    assert [e.name for e in bus.pending] == ["e"]


@pytest.mark.asyncio
async def test_reset_clears_the_queue() -> None:
    bus = RecordingEventBus(delivery="queued")
    await bus.publish("e")
    bus.reset()
    assert bus.pending == []


@pytest.mark.asyncio
async def test_queued_handler_failure_recorded_at_drain() -> None:
    bus = RecordingEventBus(delivery="queued")

    def bad(event: Event) -> None:
        raise ValueError("late failure")

    bus.subscribe("e", bad)
    await bus.publish("e")
    assert bus.handler_failures == []
    await bus.drain()
    assert [str(f.exception) for f in bus.handler_failures] == ["late failure"]
    bus.assert_handler_failed("e", ValueError)


# --------------------------------------------------------------------------- handler failures


@pytest.mark.asyncio
async def test_handler_raising_is_recorded_and_later_handlers_still_run() -> None:
    bus = RecordingEventBus()
    calls: list[str] = []

    def first(event: Event) -> None:
        calls.append("first")

    async def broken(event: Event) -> None:
        calls.append("broken")
        raise KeyError("missing")

    def last(event: Event) -> None:
        calls.append("last")

    for h in (first, broken, last):
        bus.subscribe("order.placed", h)
    await bus.publish("order.placed", {"id": 1})  # does not raise
    assert calls == ["first", "broken", "last"]
    assert len(bus.handler_failures) == 1
    failure = bus.handler_failures[0]
    assert isinstance(failure, HandlerFailure)
    assert failure.handler is broken
    assert failure.event.name == "order.placed"
    assert failure.event.data == {"id": 1}
    assert isinstance(failure.exception, KeyError)
    assert "broken" in failure.describe()
    assert "on 'order.placed' raised KeyError: 'missing'" in failure.describe()
    bus.assert_handler_failed("order.placed", KeyError)


@needs_platform
@pytest.mark.asyncio
async def test_handler_failures_match_the_platform_calls() -> None:
    recording, real = make_buses()
    logs: dict[str, list[str]] = {"recording": [], "real": []}

    def setup(bus: Any, log: list[str]) -> None:
        def a(event: Event) -> None:
            log.append("a")
            raise RuntimeError("a failed")

        async def b(event: Event) -> None:
            log.append("b")
            raise ValueError("b failed")

        def c(event: Event) -> None:
            log.append("c")

        for h in (a, b, c):
            bus.subscribe("e", h)

    setup(recording, logs["recording"])
    setup(real, logs["real"])
    await recording.publish("e")
    await real.publish("e")
    await deliver_both(recording, real)
    assert logs["real"] == ["a", "b", "c"]
    assert logs["recording"] == logs["real"]
    assert [type(f.exception) for f in recording.handler_failures] == [RuntimeError, ValueError]
    recording.assert_handler_failed("e")


def test_handler_name_shows_qualname_and_location() -> None:
    def local_handler(event: Event) -> None: ...

    name = handler_name(local_handler)
    assert name.startswith("test_handler_name_shows_qualname_and_location.<locals>.local_handler (")
    assert __file__ in name
    assert name.endswith(f":{local_handler.__code__.co_firstlineno})")

    class Sub:
        def on(self, event: Event) -> None: ...

    assert handler_name(Sub().on).startswith(
        "test_handler_name_shows_qualname_and_location.<locals>.Sub.on ("
    )

    class CallableObj:
        def __call__(self, event: Event) -> None: ...

    obj = CallableObj()
    assert handler_name(obj) == repr(obj)


@pytest.mark.asyncio
async def test_verify_lists_unacknowledged_failures() -> None:
    bus = RecordingEventBus()

    def on_user(event: Event) -> None:
        raise ValueError("bad user")

    async def on_order(event: Event) -> None:
        raise TypeError("bad order")

    bus.subscribe("user.created", on_user)
    bus.subscribe("order.placed", on_order)
    await bus.publish("user.created")
    await bus.publish("order.placed")
    with pytest.raises(NexusAssertionError) as info:
        bus.verify()
    message = str(info.value)
    lines = message.splitlines()
    failure_lines = [line for line in lines if line.startswith("- ")]
    assert len(failure_lines) == 2
    assert "on_user" in failure_lines[0]
    assert "on 'user.created' raised ValueError: bad user" in failure_lines[0]
    assert "on_order" in failure_lines[1]
    assert "on 'order.placed' raised TypeError: bad order" in failure_lines[1]
    assert "assert_handler_failed" in message
    assert "allow_handler_errors=True" in message
    assert lines[0].startswith("The following event handlers raised")


@pytest.mark.asyncio
async def test_verify_reports_once() -> None:
    bus = RecordingEventBus()

    def bad(event: Event) -> None:
        raise ValueError("x")

    bus.subscribe("e", bad)
    await bus.publish("e")
    with pytest.raises(NexusAssertionError):
        bus.verify()
    bus.verify()  # already reported
    await bus.publish("e")  # a new failure is reported again
    with pytest.raises(NexusAssertionError) as info:
        bus.verify()
    assert len([line for line in str(info.value).splitlines() if line.startswith("- ")]) == 1


@pytest.mark.asyncio
async def test_verify_passes_without_failures() -> None:
    bus = RecordingEventBus()
    bus.subscribe("e", lambda e: None)
    await bus.publish("e")
    bus.verify()


@pytest.mark.asyncio
async def test_assert_handler_failed_acknowledges() -> None:
    bus = RecordingEventBus()

    def bad(event: Event) -> None:
        raise ValueError("expected")

    bus.subscribe("e", bad)
    await bus.publish("e")
    failures = bus.assert_handler_failed("e", ValueError)
    assert [str(f.exception) for f in failures] == ["expected"]
    bus.verify()  # acknowledged: passes


@pytest.mark.asyncio
async def test_assert_handler_failed_only_acknowledges_matches() -> None:
    bus = RecordingEventBus()

    def value_error(event: Event) -> None:
        raise ValueError("v")

    def key_error(event: Event) -> None:
        raise KeyError("k")

    bus.subscribe("a", value_error)
    bus.subscribe("b", key_error)
    await bus.publish("a")
    await bus.publish("b")
    assert len(bus.assert_handler_failed("a")) == 1  # any Exception by default
    with pytest.raises(NexusAssertionError) as info:
        bus.verify()
    assert "KeyError" in str(info.value)
    assert "ValueError" not in str(info.value)


@pytest.mark.asyncio
async def test_assert_handler_failed_without_match_fails() -> None:
    bus = RecordingEventBus()
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_handler_failed("e", ValueError)
    message = str(info.value)
    assert "Expected a handler of 'e' to raise ValueError, but none did." in message
    assert "(none)" in message

    def bad(event: Event) -> None:
        raise KeyError("k")

    bus.subscribe("e", bad)
    await bus.publish("e")
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_handler_failed("e", ValueError)
    assert "- " in str(info.value)
    assert "raised KeyError" in str(info.value)
    with pytest.raises(NexusAssertionError, match="'any event'"):
        bus.assert_handler_failed(exception=ZeroDivisionError)


@pytest.mark.asyncio
async def test_allow_handler_errors() -> None:
    bus = RecordingEventBus(allow_handler_errors=True)

    def bad(event: Event) -> None:
        raise ValueError("ok")

    bus.subscribe("e", bad)
    await bus.publish("e")
    assert len(bus.handler_failures) == 1
    bus.verify()


@pytest.mark.asyncio
async def test_base_exception_in_handler_is_recorded_not_fatal() -> None:
    # SystemExit or a custom BaseException in a handler must not end the test run.
    bus = RecordingEventBus()
    after: list[str] = []

    class Stop(BaseException):
        pass

    def stopper(event: Event) -> None:
        raise Stop("stop")

    def exits(event: Event) -> None:
        raise SystemExit(3)

    bus.subscribe("e", stopper)
    bus.subscribe("e", exits)
    bus.subscribe("e", lambda e: after.append("next"))
    await bus.publish("e")
    assert after == ["next"]
    assert [type(f.exception) for f in bus.handler_failures] == [Stop, SystemExit]
    bus.assert_handler_failed("e", BaseException)
    bus.verify()


@pytest.mark.asyncio
@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, asyncio.CancelledError])
async def test_interrupt_and_cancellation_propagate(exc_type: type[BaseException]) -> None:
    bus = RecordingEventBus()

    def handler(event: Event) -> None:
        raise exc_type()

    bus.subscribe("e", handler)
    with pytest.raises(exc_type):
        await bus.publish("e")
    assert bus.handler_failures == []


@pytest.mark.asyncio
async def test_sync_handler_returning_coroutine_is_recorded_and_closed() -> None:
    bus = RecordingEventBus()
    started: list[bool] = []

    async def work(event: Event) -> None:
        started.append(True)

    def handler(event: Event) -> Any:
        return work(event)  # forgot to make the handler async

    bus.subscribe("e", handler)
    await bus.publish("e")  # no "coroutine was never awaited" RuntimeWarning (filterwarnings=error)
    assert started == []  # the platform never runs it either
    [failure] = bus.handler_failures
    assert failure.handler is handler
    assert isinstance(failure.exception, TypeError)
    assert "never awaits" in str(failure.exception)
    assert "async def" in str(failure.exception)
    with pytest.raises(NexusAssertionError, match="never awaits"):
        bus.verify()


@pytest.mark.asyncio
async def test_callable_object_with_async_call_is_recorded() -> None:
    bus = RecordingEventBus()

    class AsyncCallable:
        async def __call__(self, event: Event) -> None: ...

    bus.subscribe("e", AsyncCallable())
    await bus.publish("e")
    assert isinstance(bus.handler_failures.last.exception, TypeError)
    bus.assert_handler_failed("e", TypeError)


@pytest.mark.asyncio
async def test_handler_returning_plain_value_is_fine() -> None:
    bus = RecordingEventBus()
    bus.subscribe("e", lambda e: 42)
    await bus.publish("e")
    assert bus.handler_failures == []


# --------------------------------------------------------------------------- cascades and timeouts


@pytest.mark.asyncio
async def test_cascade_of_same_event_is_cut_and_recorded() -> None:
    bus = RecordingEventBus()

    async def echo(event: Event) -> None:
        await bus.publish("ping", {"n": event.data["n"] + 1})

    bus.subscribe("ping", echo)
    await bus.publish("ping", {"n": 0})  # no RecursionError crash
    assert len(bus.published) == MAX_CASCADE_DEPTH + 1
    [failure] = bus.handler_failures
    assert isinstance(failure.exception, RecursionError)
    assert "'ping'" in str(failure.exception)
    assert str(MAX_CASCADE_DEPTH) in str(failure.exception)
    assert failure.handler is echo
    with pytest.raises(NexusAssertionError, match="RecursionError"):
        bus.verify()


@pytest.mark.asyncio
async def test_cascade_between_two_events_is_cut() -> None:
    bus = RecordingEventBus()

    async def a_to_b(event: Event) -> None:
        await bus.publish("b")

    async def b_to_a(event: Event) -> None:
        await bus.publish("a")

    bus.subscribe("a", a_to_b)
    bus.subscribe("b", b_to_a)
    await bus.publish("a")
    assert len(bus.handler_failures) == 1
    bus.assert_handler_failed(exception=RecursionError)


@pytest.mark.asyncio
async def test_bounded_cascade_is_not_cut() -> None:
    bus = RecordingEventBus()

    async def countdown(event: Event) -> None:
        if event.data["n"] > 0:
            await bus.publish("tick", {"n": event.data["n"] - 1})

    bus.subscribe("tick", countdown)
    await bus.publish("tick", {"n": MAX_CASCADE_DEPTH - 1})
    assert bus.handler_failures == []
    assert len(bus.published) == MAX_CASCADE_DEPTH


@pytest.mark.asyncio
async def test_runaway_cascade_in_queued_mode_is_cut_at_drain() -> None:
    # Inline delivery cuts a handler that keeps republishing its event; drain()
    # must too, or the test hangs forever.  The handler gives up by itself
    # after SAFETY republishes so that this test cannot hang.
    safety = 5_000
    bus = RecordingEventBus(delivery="queued")
    calls = 0

    async def echo(event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls < safety:
            await bus.publish("ping")

    bus.subscribe("ping", echo)
    await bus.publish("ping")
    await bus.drain()
    assert calls < safety, "drain() did not cut the runaway cascade"
    assert any(isinstance(f.exception, RecursionError) for f in bus.handler_failures)


@pytest.mark.asyncio
async def test_handler_timeout_cuts_a_hanging_handler() -> None:
    bus = RecordingEventBus(handler_timeout=0.01)
    after: list[str] = []

    async def hangs(event: Event) -> None:
        await asyncio.Event().wait()

    bus.subscribe("e", hangs)
    bus.subscribe("e", lambda e: after.append("next"))
    await bus.publish("e")
    assert after == ["next"]
    [failure] = bus.handler_failures
    assert failure.handler is hangs
    assert isinstance(failure.exception, TimeoutError)
    assert "did not return within 0.01 s" in str(failure.exception)


@pytest.mark.asyncio
async def test_handler_timeout_does_not_touch_fast_handlers() -> None:
    bus = RecordingEventBus(handler_timeout=30)
    seen: list[int] = []

    async def fast(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(1)

    bus.subscribe("e", fast)
    await bus.publish("e")
    assert seen == [1]
    assert bus.handler_failures == []


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_handler_raising_timeout_error_is_recorded(kind: str) -> None:
    # Without handler_timeout, a handler's own TimeoutError (a failed upstream
    # call) is a handler failure like any other: the platform logs it and goes on.
    bus = RecordingEventBus()
    after: list[str] = []

    def sync_handler(event: Event) -> None:
        raise TimeoutError("upstream timed out")

    async def async_handler(event: Event) -> None:
        raise TimeoutError("upstream timed out")

    bus.subscribe("e", sync_handler if kind == "sync" else async_handler)
    bus.subscribe("e", lambda e: after.append("next"))
    await bus.publish("e")
    assert after == ["next"]
    [failure] = bus.handler_failures
    assert isinstance(failure.exception, TimeoutError)
    assert "upstream timed out" in str(failure.exception)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_own_timeout_error_is_not_reported_as_handler_timeout(kind: str) -> None:
    bus = RecordingEventBus(handler_timeout=30)

    def sync_handler(event: Event) -> None:
        raise TimeoutError("upstream timed out")

    async def async_handler(event: Event) -> None:
        raise TimeoutError("upstream timed out")

    bus.subscribe("e", sync_handler if kind == "sync" else async_handler)
    await bus.publish("e")
    [failure] = bus.handler_failures
    assert "upstream timed out" in str(failure.exception)
    assert "did not return within" not in str(failure.exception)


@needs_platform
@pytest.mark.asyncio
async def test_real_bus_logs_and_skips_timeout_error() -> None:
    real = nexus_core.EventBus()
    after: list[str] = []

    def handler(event: Any) -> None:
        raise TimeoutError("upstream timed out")

    real.subscribe("e", handler)
    real.subscribe("e", lambda e: after.append("next"))
    await real.publish("e")
    await deliver_real(real)
    assert after == ["next"]


# --------------------------------------------------------------------------- assert_published


@pytest.mark.asyncio
async def test_assert_published_returns_matches() -> None:
    bus = RecordingEventBus()
    await bus.publish("order.placed", {"id": 1, "total": 10})
    await bus.publish("order.placed", {"id": 2, "total": 10})
    await bus.publish("other", {"id": 1})
    assert len(bus.assert_published("order.placed")) == 2
    assert [e.data["id"] for e in bus.assert_published("order.placed", {"total": 10})] == [1, 2]
    [match] = bus.assert_published("order.placed", {"id": 2}, times=1)
    assert match.data == {"id": 2, "total": 10}
    assert bus.assert_published("order.placed", {}, times=2)
    assert bus.assert_published("never", times=0) == []
    assert bus.assert_published("order.placed", {"id": 3}, times=0) == []


@pytest.mark.asyncio
async def test_assert_published_partial_data_failure_lists_events() -> None:
    bus = RecordingEventBus()
    await bus.publish("order.placed", {"id": 1}, source="shop.orders")
    await bus.publish("order.shipped", {"id": 1, "carrier": "ups"})
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_published("order.placed", {"id": 2})
    message = str(info.value)
    assert message.startswith(
        "Expected event 'order.placed' with data matching {'id': 2} to be published "
        "at least once, but it was never published."
    )
    lines = message.splitlines()
    assert "Published events:" in lines
    event_lines = [line for line in lines if line.startswith("- ")]
    assert event_lines == [
        "- order.placed {'id': 1} (source: shop.orders)",
        "- order.shipped {'id': 1, 'carrier': 'ups'} (source: None)",
    ]


@pytest.mark.asyncio
async def test_assert_published_missing_key_is_no_match() -> None:
    bus = RecordingEventBus()
    await bus.publish("e", {"a": None})
    bus.assert_published("e", {"a": None})
    with pytest.raises(NexusAssertionError):
        bus.assert_published("e", {"b": None})  # absent is not None


@pytest.mark.asyncio
async def test_assert_published_times_failure() -> None:
    bus = RecordingEventBus()
    await bus.publish("e", {"n": 1})
    await bus.publish("e", {"n": 2})
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_published("e", times=1)
    message = str(info.value)
    assert "to be published once, but it was published 2 times." in message
    assert len([line for line in message.splitlines() if line.startswith("- ")]) == 2
    with pytest.raises(
        NexusAssertionError, match="published 3 times, but it was published 2 times"
    ):
        bus.assert_published("e", times=3)
    with pytest.raises(NexusAssertionError, match="published 0 times, but it was published once"):
        bus.assert_published("e", {"n": 1}, times=0)


@pytest.mark.asyncio
async def test_assert_published_when_nothing_was_published() -> None:
    bus = RecordingEventBus()
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_published("e")
    message = str(info.value)
    assert (
        "Expected event 'e' to be published at least once, but it was never published." in message
    )
    assert message.splitlines()[-1] == "No event was published."
    assert "- " not in message


@pytest.mark.asyncio
async def test_assert_not_published() -> None:
    bus = RecordingEventBus()
    await bus.publish("a", {"x": 1})
    bus.assert_not_published("b")
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_not_published("a")
    message = str(info.value)
    assert "Expected event 'a' not to be published, but it was published once:" in message
    assert message.splitlines()[-1] == "- a {'x': 1} (source: None)"
    await bus.publish("a")
    with pytest.raises(NexusAssertionError, match="published 2 times"):
        bus.assert_not_published("a")


def test_nexus_assertion_error_is_an_assertion_error() -> None:
    assert issubclass(NexusAssertionError, AssertionError)


# --------------------------------------------------------------------------- masking


def test_masker_basics() -> None:
    masker = Masker(["sk-live-123456", None, True, "abc", 12345, "sk-live"])
    assert masker
    assert masker("key=sk-live-123456;") == f"key={MASK};"  # longest first, masked whole
    assert masker("prefix sk-live only") == f"prefix {MASK} only"
    assert masker("abc stays") == "abc stays"  # shorter than 4: not masked
    assert masker("id 12345") == f"id {MASK}"
    assert masker("True False None") == "True False None"
    assert masker.contains_secret("x sk-live-123456")
    assert not masker.contains_secret("nothing here")
    assert not Masker()
    assert Masker()("unchanged") == "unchanged"


def test_masker_add_deduplicates() -> None:
    masker = Masker()
    masker.add(["secret-one", "secret-one"])
    masker.add(["secret-one-longer"])
    assert masker("secret-one-longer secret-one") == f"{MASK} {MASK}"


SECRET = "sk-live-9f8e7d6c"


@pytest.mark.asyncio
async def test_assert_published_masks_secrets() -> None:
    bus = RecordingEventBus(masker=Masker([SECRET]))
    await bus.publish("auth", {"token": SECRET})
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_published("auth", {"token": "other-" + SECRET})
    assert SECRET not in str(info.value)
    assert MASK in str(info.value)
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_not_published("auth")
    assert SECRET not in str(info.value)


@pytest.mark.asyncio
async def test_verify_and_assert_handler_failed_mask_secrets() -> None:
    bus = RecordingEventBus(masker=Masker([SECRET]))

    def leaky(event: Event) -> None:
        raise ValueError(f"rejected key {SECRET}")

    bus.subscribe("e", leaky)
    await bus.publish("e")
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_handler_failed("e", KeyError)
    assert SECRET not in str(info.value)
    with pytest.raises(NexusAssertionError) as info:
        bus.verify()
    assert SECRET not in str(info.value)
    assert f"rejected key {MASK}" in str(info.value)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "secret",
    ["pa'ss\"word-1", "C:\\keys\\prod", "tab\tsecret"],
    ids=["quotes", "backslashes", "tab"],
)
async def test_masking_covers_secrets_shown_through_repr(secret: str) -> None:
    # Event data is shown with repr(), which escapes quotes and backslashes;
    # the secret must not leak in its escaped spelling either.
    bus = RecordingEventBus(masker=Masker([secret]))
    await bus.publish("auth", {"password": secret})
    with pytest.raises(NexusAssertionError) as info:
        bus.assert_published("auth", {"password": "wrong"})
    message = str(info.value)
    escaped = repr(secret)[1:-1]
    assert secret not in message
    assert escaped not in message


@needs_platform
@pytest.mark.asyncio
async def test_published_read_between_publishes_and_cleared_keeps_order() -> None:
    # Publishes are recorded flat and become PublishedEvent records when read.
    bus = RecordingEventBus()
    await bus.publish("a", {"n": 1})
    assert bus.published.last.data == {"n": 1}
    await bus.publish("b", priority=EventPriority.HIGH, source="s")
    await bus.publish("c")
    assert [(e.name, e.priority, e.source) for e in bus.published] == [
        ("a", 5, None),
        ("b", 10, "s"),
        ("c", 5, None),
    ]
    assert all(isinstance(e.event, nexus_core.Event) for e in bus.published)
    bus.published.clear()
    await bus.publish("d")
    assert [e.name for e in bus.published] == ["d"]


@pytest.mark.asyncio
async def test_a_handler_replaced_under_the_same_name_is_called_for_what_it_is() -> None:
    # Whether a handler is a coroutine function is worked out once per handler
    # object: a sync handler and an async one subscribed in turn are each called right.
    bus = RecordingEventBus()
    calls: list[str] = []
    for _ in range(3):

        def sync_handler(event: Any) -> None:
            calls.append("sync")

        async def async_handler(event: Any) -> None:
            await asyncio.sleep(0)
            calls.append("async")

        for handler in (sync_handler, async_handler):
            bus.subscribe("e", handler)
            await bus.publish("e")
            bus.unsubscribe("e", handler)
            del handler
    assert calls == ["sync", "async"] * 3
    assert not bus.handler_failures


@pytest.mark.asyncio
async def test_a_kept_reference_to_published_sees_later_events() -> None:
    bus = RecordingEventBus()
    held = bus.published
    await bus.publish("a")
    assert held.call_count == 1
    assert held.last.name == "a"
    bus.reset()
    assert held == []
    assert held is bus.published


def test_a_flat_recording_is_built_whatever_reads_it() -> None:
    # Records still in the buffer are built on every way in, including the
    # reflected operators that list's own C code would serve from its storage.
    from nexus_testkit.fakes._recording import FlatRecording

    def recording() -> FlatRecording[tuple[int, int]]:
        flat: FlatRecording[tuple[int, int]] = FlatRecording(tuple, 2)
        flat.buffer.extend([1, 2, 3, 4])
        return flat

    records = [(1, 2), (3, 4)]
    assert [] + recording() == records  # noqa: RUF005 (the operator is the point)
    assert [(0, 0)] + recording() == [(0, 0), *records]  # noqa: RUF005
    assert recording() + [] == records  # noqa: RUF005
    assert 2 * recording() == records * 2
    assert recording() * 2 == records * 2
    assert [*recording()] == records
    assert list(recording()) == records
    held: list[tuple[int, int]] = []
    held[:] = recording()
    assert held == records
    held = []
    held += recording()
    assert held == records
    assert records == recording()

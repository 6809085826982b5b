"""A recording event bus with the interface of ``nexus.core.EventBus``.

Differences from the platform's bus are deliberate and listed in
docs/fakes.md:

* Delivery is inline by default: ``await bus.publish(...)`` returns once every
  subscriber has handled the event, so a test can assert right after the call
  that caused it.  A handler that publishes delivers depth-first.  The
  platform's queued behaviour (FIFO, delivered later by a processor task) is
  ``RecordingEventBus(delivery="queued")`` plus ``await bus.drain()``.
* A handler that raises is logged and skipped by the platform; here it is also
  recorded, and fails the test at teardown unless the test acknowledged it.
* A sync handler that returns an awaitable is never awaited by the platform
  (the coroutine is dropped); here that is recorded as a handler failure.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import sys
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from .._deadlines import Deadline, blocked_at, resume
from .._describe import describe_exception
from .._errors import NexusAssertionError
from .._interrupts import (
    PluginHangInterrupt,
    is_user_interrupt,
    start_deadline,
    stop_deadline,
    user_interrupts,
)
from .._masking import Masker
from ._recording import CallList, FlatRecording, Standalone

__all__ = [
    "Event",
    "EventPriority",
    "HandlerFailure",
    "PublishedEvent",
    "RecordingEventBus",
    "Subscription",
]

Handler = Callable[..., Any]
Delivery = Literal["inline", "queued"]
_DELIVERY_MODES: tuple[Delivery, ...] = ("inline", "queued")
#: An event handler that publishes the event it handles would recurse forever
#: with inline delivery; past this depth the cascade is cut and recorded.
MAX_CASCADE_DEPTH = 64
#: Queued delivery has no depth; a runaway cascade is cut after this many events.
MAX_DRAIN_EVENTS = 1_000
#: A cascade that fans out (a handler publishing its own event twice) stays
#: under the depth limit and still doubles at each level: one publish from
#: outside any handler is cut after this many handler calls.
MAX_DELIVERIES_PER_PUBLISH = 1_000


def _utcnow() -> datetime:
    # Naive UTC like the platform's datetime.utcnow default, without its
    # deprecation warning on newer Pythons.
    return datetime.now(UTC).replace(tzinfo=None)


class Event(BaseModel):
    """An event as handlers receive it; the same fields as ``nexus.core.Event``."""

    name: str
    data: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime = Field(default_factory=_utcnow)
    source: str | None = None
    correlation_id: str | None = None


#: What a handler raises that is not a handler failure: it ends the delivery.
#: (A KeyboardInterrupt does too when it is the user's Ctrl-C; the plugin's own is a failure.)
_PASSED_THROUGH = (asyncio.CancelledError, GeneratorExit)


def _event_class() -> type[Event]:
    # Handlers get the platform's own Event class when the platform is loaded
    # (a plugin that imports nexus.plugins has loaded it), so isinstance checks
    # against nexus.core.Event hold; the harness never imports it itself.
    core = sys.modules.get("nexus.core")
    cls: type[Event] = getattr(core, "Event", Event) if core is not None else Event
    return cls


class EventPriority(enum.Enum):
    """The platform's priorities (``nexus.core.EventPriority``); accepted, not used for ordering.

    The platform's queue is FIFO whatever the priority, and so is this bus.
    """

    LOW = 1
    NORMAL = 5
    HIGH = 10
    CRITICAL = 20


class PublishedEvent(NamedTuple):
    """One call of ``publish``, in the order they happened."""

    name: str
    data: dict[str, Any]
    source: str | None
    priority: int
    timestamp: datetime
    event: Event


class Subscription(NamedTuple):
    """One ``subscribe`` or ``unsubscribe`` call."""

    op: str
    event_name: str
    handler: Handler


class HandlerFailure(NamedTuple):
    """A subscribed handler that raised (or returned an awaitable nobody awaits)."""

    event: Event
    handler: Handler
    exception: BaseException

    def describe(self) -> str:
        return (
            f"{handler_name(self.handler)} on {self.event.name!r} raised "
            f"{describe_exception(self.exception)}"
        )


def handler_name(handler: Handler) -> str:
    """``Class.method (file.py:12)`` for messages."""
    func = getattr(handler, "__func__", handler)
    name = getattr(func, "__qualname__", None) or repr(handler)
    code = getattr(func, "__code__", None)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return name


def _partial_match(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return all(key in actual and value == actual[key] for key, value in expected.items())


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


class RecordingEventBus(Standalone):
    """In-memory event bus that records every publish and delivers deterministically.

    Same interface as ``nexus.core.EventBus``: ``await publish(name, data,
    priority=..., source=...)``, ``subscribe(name, handler)``,
    ``unsubscribe(name, handler)``, ``await start()``, ``await shutdown()``.

    ``published`` lists every publish in order (a :class:`CallList` of
    :class:`PublishedEvent`); ``handler_failures`` lists handlers that raised.
    """

    def __init__(
        self,
        *,
        delivery: Delivery = "inline",
        allow_handler_errors: bool = False,
        handler_timeout: float | None = None,
        masker: Masker | None = None,
    ) -> None:
        if delivery not in _DELIVERY_MODES:
            raise ValueError(
                f"{delivery!r} is not a valid delivery mode. Valid modes: "
                f"{', '.join(_DELIVERY_MODES)}."
            )
        self.delivery: Delivery = delivery
        self.allow_handler_errors = allow_handler_errors
        self.handler_timeout = handler_timeout
        self.masker = masker or Masker()
        #: The plugin's directory: a hanging handler is reported at its own frame there.
        self.prefer: str | None = None
        #: The host's ProcessWatch (``host._state``): delivering an event calls into the plugin.
        self.call_watch: Any = None
        # Publishes are recorded flat, six fields each, and become
        # PublishedEvent records when read (see FlatRecording).
        self._published = FlatRecording(PublishedEvent._make, 6)
        self._recorded = self._published.buffer
        #: id(handler) -> (handler, is a coroutine function), worked out once per handler.
        self._kinds: dict[int, tuple[Handler, bool]] = {}
        self.handler_failures: CallList[HandlerFailure] = CallList()
        self.subscription_calls: CallList[Subscription] = CallList()
        self._acknowledged: set[int] = set()
        self._subscribers: dict[str, list[Handler]] = {}
        self._queue: deque[Event] = deque()
        self._depth = 0
        #: Handler calls of the current top-level publish, and the path of
        #: (event name, handler) being delivered, for the storm failure.
        self._deliveries = 0
        self._chain: list[tuple[str, Handler]] = []
        self._storm_cut = False
        self._running = False

    # ------------------------------------------------------------ platform interface

    async def start(self) -> None:
        """Like ``EventBus.start``; delivery needs no processor task here."""
        self._running = True

    async def shutdown(self) -> None:
        """Like ``EventBus.shutdown``; undelivered queued events stay in ``pending``."""
        self._running = False

    async def publish(
        self,
        event_name: str,
        data: dict[str, Any] | None = None,
        priority: Any = EventPriority.NORMAL,
        source: str | None = None,
    ) -> None:
        """Record the event and deliver it (now, or at ``drain()`` in queued mode).

        As on the platform, ``data`` must be a dict (``None`` becomes ``{}``)
        and ``priority`` an ``EventPriority``: anything else raises here, as it
        would there.
        """
        event = self._record(event_name, data, priority, source)
        if self.delivery == "queued":
            self._queue.append(event)
            return
        await self._deliver(event)

    def _record(
        self, event_name: str, data: dict[str, Any] | None, priority: Any, source: str | None
    ) -> Event:
        # Built and validated as the platform builds its Event; raises where it would.
        event = _event_class()(name=event_name, data=data or {}, source=source)
        # Enum.value is a property, ten times slower than the attribute behind it;
        # anything but an enum raises AttributeError as on the platform.
        value = priority._value_ if isinstance(priority, enum.Enum) else priority.value
        self._recorded.extend((event_name, event.data, source, value, event.timestamp, event))
        return event

    @property
    def published(self) -> CallList[PublishedEvent]:
        """Every ``publish`` call, in order (a :class:`CallList` of :class:`PublishedEvent`)."""
        return self._published

    def subscribe(self, event_name: str, handler: Handler) -> None:
        """Add ``handler`` for ``event_name`` (a handler may be added twice, as on the platform)."""
        self._subscribers.setdefault(event_name, []).append(handler)
        self.subscription_calls.append(Subscription("subscribe", event_name, handler))

    def unsubscribe(self, event_name: str, handler: Handler) -> None:
        """Remove ``handler``; ``ValueError`` if it is not subscribed, as on the platform."""
        self.subscription_calls.append(Subscription("unsubscribe", event_name, handler))
        if event_name in self._subscribers:
            self._subscribers[event_name].remove(handler)
            self._kinds.pop(id(handler), None)  # worked out again if still subscribed elsewhere

    # ------------------------------------------------------------ delivery

    async def drain(self) -> None:
        """Deliver every queued event, including those handlers publish meanwhile.

        Returns at once with inline delivery, so tests may call it in either mode.
        """
        budget = len(self._queue) + MAX_DRAIN_EVENTS
        while self._queue:
            if budget == 0:
                event = self._queue[0]
                handlers = self._subscribers.get(event.name) or [drain_cut]
                self._fail(
                    event,
                    handlers[0],
                    RecursionError(
                        f"drain() delivered {MAX_DRAIN_EVENTS} events published by handlers "
                        f"and the queue still grows ({len(self._queue)} pending, next "
                        f"{event.name!r}): handlers keep publishing"
                    ),
                )
                self._queue.clear()
                return
            budget -= 1
            await self._deliver(self._queue.popleft())

    @property
    def pending(self) -> list[Event]:
        """Queued events not delivered yet (always empty with inline delivery)."""
        return list(self._queue)

    async def _deliver(self, event: Event) -> None:
        watch = self.call_watch
        if watch is None or event.name not in self._subscribers:
            await self._deliver_handlers(event)
            return
        with watch.call(f"the handlers of {event.name!r}", light=True):
            await self._deliver_handlers(event)

    async def _deliver_handlers(self, event: Event) -> None:
        handlers = self._subscribers.get(event.name)
        if not handlers:
            return
        if self._depth == 0:
            self._deliveries = 0
            self._storm_cut = False
        elif self._storm_cut:
            return
        if self._depth >= MAX_CASCADE_DEPTH:
            # Cut the whole cascade, not just this branch: one that fans out
            # would otherwise reach this depth again on every other branch.
            self._storm_cut = True
            self._fail(
                event,
                handlers[0],
                RecursionError(
                    f"event cascade deeper than {MAX_CASCADE_DEPTH} levels: handlers keep "
                    f"publishing {event.name!r}. The chain of handlers: "
                    f"{describe_chain(self._chain)}"
                ),
            )
            return
        self._depth += 1
        kinds = self._kinds
        chain = self._chain
        try:
            # The live list, like the platform: a handler subscribed during
            # delivery is called for this event too.
            for handler in handlers:
                if self._storm_cut:
                    return
                self._deliveries += 1
                if self._deliveries > MAX_DELIVERIES_PER_PUBLISH:
                    self._cut_storm(event, handler)
                    return
                kind = kinds.get(id(handler))
                if kind is None or kind[0] is not handler:
                    kind = kinds[id(handler)] = (handler, inspect.iscoroutinefunction(handler))
                chain.append((event.name, handler))
                since = user_interrupts()
                # Most handlers finish without suspending: run the first step
                # here (a synchronous hang in it is cut by SIGALRM), and only
                # one that waits is awaited under the time-out.
                deadline = start_deadline(self.handler_timeout, self.prefer)
                try:
                    if not kind[1]:
                        result = handler(event)
                        if inspect.isawaitable(result):
                            raise_unawaited(result)
                        continue
                    coro = handler(event)
                    first = coro.send(None)
                except StopIteration:
                    continue
                except _PASSED_THROUGH:
                    raise
                except BaseException as exc:  # SystemExit in a handler must not end the run
                    if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
                        raise
                    self._fail(event, handler, self._failure(exc))
                    continue
                finally:
                    stop_deadline(deadline)
                    chain.pop()
                chain.append((event.name, handler))
                try:
                    await self._finish(handler, event, coro, first)
                finally:
                    chain.pop()
        finally:
            self._depth -= 1

    def _cut_storm(self, event: Event, handler: Handler) -> None:
        """Stop the whole cascade of the current publish and record it, naming its chain."""
        self._storm_cut = True
        root = self._chain[0][0] if self._chain else event.name
        self._fail(
            event,
            handler,
            RecursionError(
                f"event storm: one publish of {root!r} led to more than "
                f"{MAX_DELIVERIES_PER_PUBLISH} handler calls and was stopped; handlers "
                f"keep publishing. The chain of handlers: {describe_chain(self._chain)}"
            ),
        )

    def _failure(self, exc: BaseException) -> BaseException:
        if isinstance(exc, PluginHangInterrupt):
            return TimeoutError(
                f"handler did not return within {exc.timeout:g} s; it was waiting at "
                f"{blocked_at(exc)}"
            )
        return exc

    async def _finish(self, handler: Handler, event: Event, coro: Any, first: Any) -> None:
        """Await the rest of a handler's coroutine whose first step yielded ``first``."""
        deadline = Deadline(self.handler_timeout, "handler", self.prefer)
        since = user_interrupts()
        try:
            async with deadline:
                await resume(coro, first)
        except _PASSED_THROUGH:
            raise
        except BaseException as exc:  # SystemExit in a handler must not end the run
            if isinstance(exc, KeyboardInterrupt) and is_user_interrupt(since):
                raise
            failure: BaseException = exc  # a handler's own TimeoutError is kept as raised
            if deadline.stuck is not None:
                failure = TimeoutError(
                    f"handler did not return within {self.handler_timeout:g} s; "
                    f"it was waiting at {deadline.stuck}"
                )
            self._fail(event, handler, failure)

    def _fail(self, event: Event, handler: Handler, exc: BaseException) -> None:
        self.handler_failures.append(HandlerFailure(event, handler, exc))

    # ------------------------------------------------------------ inspection

    @property
    def subscriptions(self) -> dict[str, list[Handler]]:
        """Current subscribers by event name (a copy; empty lists omitted)."""
        return {name: list(hs) for name, hs in self._subscribers.items() if hs}

    def subscribers(self, event_name: str) -> list[Handler]:
        return list(self._subscribers.get(event_name, ()))

    def events(self, name: str | None = None) -> list[PublishedEvent]:
        """Published events, all or those named ``name``."""
        if name is None:
            return list(self.published)
        return [e for e in self.published if e.name == name]

    def reset(self) -> None:
        """Forget what was recorded (subscriptions stay)."""
        self._published.clear()
        self.handler_failures.clear()
        self._acknowledged.clear()
        self._queue.clear()

    # ------------------------------------------------------------ assertions

    def assert_published(
        self,
        name: str,
        data: Mapping[str, Any] | None = None,
        times: int | None = None,
        *,
        source: str | None = None,
    ) -> list[PublishedEvent]:
        """Assert ``name`` was published (``times`` times exactly, if given).

        ``data`` is a partial match: each listed key must be present and equal.
        ``source`` is the plugin that published it: in a host of several
        plugins the one whose bus it was published on, elsewhere the event's
        own ``source`` (a name, or the platform's ``category.name``).
        Returns the matching events.
        """
        __tracebackhide__ = True
        matching = [
            e
            for e in self.published
            if e.name == name
            and (data is None or _partial_match(e.data, data))
            and (source is None or self._from(e, source))
        ]
        if (times is None and matching) or (times is not None and len(matching) == times):
            return matching
        what = f"event {name!r}"
        if data is not None:
            what += f" with data matching {dict(data)!r}"
        if source is not None:
            what += f" from {source!r}"
        expected = "at least once" if times is None else _times(times)
        got = f"published {_times(len(matching))}" if matching else "never published"
        raise NexusAssertionError(
            self.masker(
                f"Expected {what} to be published {expected}, but it was {got}.\n"
                + self._published_listing()
            )
        )

    def assert_not_published(self, name: str) -> None:
        """Assert no event named ``name`` was published."""
        __tracebackhide__ = True
        matching = self.events(name)
        if matching:
            lines = "\n".join(f"- {self._describe(e)}" for e in matching)
            raise NexusAssertionError(
                self.masker(
                    f"Expected event {name!r} not to be published, but it was published "
                    f"{_times(len(matching))}:\n{lines}"
                )
            )

    def assert_handler_failed(
        self, event_name: str | None = None, exception: type[BaseException] = Exception
    ) -> list[HandlerFailure]:
        """Acknowledge expected handler failures (so teardown does not fail) and return them."""
        __tracebackhide__ = True
        matching = [
            f
            for f in self.handler_failures
            if (event_name is None or f.event.name == event_name)
            and isinstance(f.exception, exception)
        ]
        if not matching:
            listing = "\n".join(f"- {f.describe()}" for f in self.handler_failures) or "(none)"
            raise NexusAssertionError(
                self.masker(
                    f"Expected a handler of {event_name or 'any event'!r} to raise "
                    f"{exception.__name__}, but none did.\nHandler failures:\n{listing}"
                )
            )
        self._acknowledged.update(id(f) for f in matching)
        return matching

    def verify(self) -> None:
        """End-of-test check: fail on handler failures the test did not acknowledge."""
        if self.allow_handler_errors:
            return
        unexpected = [f for f in self.handler_failures if id(f) not in self._acknowledged]
        if not unexpected:
            return
        # Reported once: the host's check and the bus fixture's must not repeat it.
        self._acknowledged.update(id(f) for f in unexpected)
        lines = "\n".join(f"- {f.describe()}" for f in unexpected)
        raise NexusAssertionError(
            self.masker(
                "The following event handlers raised (the platform logs and skips them):\n"
                f"{lines}\n\n"
                "If this is on purpose, acknowledge it with "
                "event_bus.assert_handler_failed(event_name, ExceptionType) in the test, "
                "or allow it with @pytest.mark.nexus_host(allow_handler_errors=True)."
            )
        )

    # ------------------------------------------------------------ formatting

    def _from(self, e: PublishedEvent, source: str) -> bool:
        origins = self._published.origins
        if origins is not None:
            return origins.of(e) == source
        return e.source == source or (e.source or "").endswith("." + source)

    def _describe(self, e: PublishedEvent) -> str:
        origins = self._published.origins
        by = f", by {origins.of(e) or 'the test'}" if origins is not None else ""
        return f"{e.name} {e.data!r} (source: {e.source}{by})"

    def _published_listing(self) -> str:
        if not self.published:
            return "No event was published."
        lines = "\n".join(f"- {self._describe(e)}" for e in self.published)
        return f"Published events:\n{lines}"

    def __repr__(self) -> str:
        return (
            f"<RecordingEventBus {self._standalone_note()}delivery={self.delivery} "
            f"published={len(self.published)} "
            f"subscriptions={sum(len(h) for h in self._subscribers.values())}>"
        )


def describe_chain(chain: list[tuple[str, Handler]]) -> str:
    """``'a' -> A.on_a (file:12) -> 'b' -> ...`` for a path of deliveries, its cycle shown once.

    A storm repeats a short cycle of handlers many levels deep: the cycle is
    what the user needs, followed by how deep it went.
    """
    steps: list[str] = []
    seen: set[tuple[str, int]] = set()
    for name, handler in chain:
        key = (name, id(handler))
        if key in seen:
            steps.append(f"{name!r} again ({len(chain)} levels deep)")
            break
        seen.add(key)
        steps += [repr(name), handler_name(handler)]
    return " -> ".join(steps)


def drain_cut(event: Event) -> None:
    """Stands for "no handler" in the failure recorded when drain() cuts a cascade."""


def raise_unawaited(awaitable: Any) -> None:
    """Close an awaitable the platform would drop, and raise to record it."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
    raise TypeError(
        "handler returned an awaitable that the platform never awaits; "
        "make the handler itself an `async def` function or method"
    )

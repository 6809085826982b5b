"""SwallowedErrors: exceptions that were only logged fail the end-of-test check."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from nexus_testkit import NexusAssertionError, RecordingEventBus
from nexus_testkit.world import SwallowedErrors

HERE = str(Path(__file__).resolve().parent)


def plugin_sync(logger: logging.Logger) -> None:
    try:
        raise ConnectionError("upstream down")
    except Exception:
        logger.exception("sync failed, retrying")


def test_a_logged_exception_fails_naming_logger_message_and_frame() -> None:
    logger = logging.getLogger("plugins.my_plugin")
    with pytest.raises(NexusAssertionError) as info, SwallowedErrors(prefer=HERE):
        plugin_sync(logger)
    lines = str(info.value).splitlines()
    assert lines[0] == "Exceptions were logged or swallowed instead of raised while the plugin ran:"
    assert lines[1].startswith(
        "- plugins.my_plugin: sync failed, retrying: ConnectionError: upstream down at "
    )
    assert lines[1].endswith("test_swallowed.py:19 in plugin_sync")
    assert lines[2].startswith("Code that catches an exception and only logs it hides a failure")
    assert lines[2].endswith(
        '@pytest.mark.nexus_allow_errors(match="...") (SwallowedErrors(match=...)).'
    )


def test_errors_without_an_exception_and_warnings_are_not_collected() -> None:
    logger = logging.getLogger("plugins.my_plugin")
    with SwallowedErrors() as errors:
        logger.error("quota at 95%")
        try:
            raise ValueError("minor")
        except ValueError:
            logger.warning("ignored", exc_info=True)
    assert errors.errors == []


def test_allow_and_match_let_expected_errors_pass() -> None:
    logger = logging.getLogger("plugins.my_plugin")
    with SwallowedErrors(allow=True) as errors:
        plugin_sync(logger)
    assert [e.source for e in errors.errors] == ["plugins.my_plugin"]
    with SwallowedErrors(match="retrying"):
        plugin_sync(logger)
    with SwallowedErrors(match=[r"^nothing$", "ConnectionError: upstream"]):
        plugin_sync(logger)
    with pytest.raises(NexusAssertionError, match="sync failed"), SwallowedErrors(match="other"):
        plugin_sync(logger)


def test_loggers_of_any_thread_and_non_propagating_ones_are_collected() -> None:
    quiet = logging.getLogger("plugins.quiet")
    quiet.propagate = False
    try:
        with SwallowedErrors(allow=True) as errors:
            errors.watch(quiet)
            worker = threading.Thread(target=plugin_sync, args=(logging.getLogger("w"),))
            worker.start()
            worker.join()
            plugin_sync(quiet)
        plugin_sync(quiet)  # after the end: not collected
        assert [e.source for e in errors.errors] == ["w", "plugins.quiet"]
        assert quiet.handlers == []
    finally:
        quiet.propagate = True


@pytest.mark.asyncio
async def test_handler_failures_a_bus_allowed_are_listed_acknowledged_ones_not() -> None:
    bus = RecordingEventBus(allow_handler_errors=True)

    async def on_order(event: object) -> None:
        raise KeyError("sku")

    bus.subscribe("shop.order", on_order)
    with pytest.raises(NexusAssertionError) as info, SwallowedErrors(prefer=HERE) as errors:  # noqa: PT012
        errors.add_bus(bus)
        await bus.publish("shop.order", {"id": 1})
    assert (
        str(info.value)
        .splitlines()[1]
        .startswith("- event bus: handler for 'shop.order' raised: KeyError: 'sku' at ")
    )
    assert "test_swallowed.py:" in str(info.value)
    bus.assert_handler_failed("shop.order", KeyError)
    errors.verify()  # acknowledged now


@pytest.mark.asyncio
async def test_a_bus_that_reports_its_own_failures_is_not_reported_twice() -> None:
    bus = RecordingEventBus()

    def on_order(event: object) -> None:
        raise KeyError("sku")

    bus.subscribe("shop.order", on_order)
    with SwallowedErrors() as errors:
        errors.add_bus(bus)
        await bus.publish("shop.order", {"id": 1})
    with pytest.raises(NexusAssertionError, match="The following event handlers raised"):
        bus.verify()


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match=r"match= takes regular expressions; '\(': "):
        SwallowedErrors(match="(")

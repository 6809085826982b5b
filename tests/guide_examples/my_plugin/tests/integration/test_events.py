# Copied from the Nexus testing guide: docs/plugins/testing.md of dnviti/Nexus
# (commit 3f20c1d, MIT License, Copyright (c) 2024 Nexus Framework Team),
# section "Event Integration", lines 627-743. Changed: `from nexus.testing import`
# became `from nexus_testkit.testing import`.
# tests/integration/test_events.py
import pytest
import asyncio
from unittest.mock import AsyncMock
from my_plugin.plugin import MyPlugin


class TestEventIntegration:
    """Test event system integration."""

    async def test_event_emission_and_handling(self, plugin_instance, test_event_bus):
        """Test emitting and handling events."""

        # Set up event handler spy
        handler_called = asyncio.Event()
        received_events = []

        async def test_handler(event):
            received_events.append(event)
            handler_called.set()

        # Subscribe to event
        await test_event_bus.subscribe("user.created", test_handler)

        # Emit event through plugin
        await plugin_instance.emit_user_created_event(
            {"user_id": "123", "username": "testuser", "email": "test@example.com"}
        )

        # Wait for handler to be called
        await asyncio.wait_for(handler_called.wait(), timeout=1.0)

        # Verify event was received
        assert len(received_events) == 1
        assert received_events[0]["user_id"] == "123"
        assert received_events[0]["username"] == "testuser"

    async def test_event_handler_error_handling(self, plugin_instance, test_event_bus):
        """Test event handler error handling."""

        # Set up failing handler
        async def failing_handler(event):
            raise Exception("Handler error")

        # Set up successful handler
        success_called = asyncio.Event()

        async def success_handler(event):
            success_called.set()

        # Subscribe both handlers
        await test_event_bus.subscribe("test.event", failing_handler)
        await test_event_bus.subscribe("test.event", success_handler)

        # Emit event
        await test_event_bus.emit({"type": "test.event", "data": {"test": "data"}})

        # Verify successful handler still worked despite failing handler
        await asyncio.wait_for(success_called.wait(), timeout=1.0)

    async def test_event_priority_handling(self, plugin_instance, test_event_bus):
        """Test event priority handling."""

        execution_order = []

        # High priority handler
        async def high_priority_handler(event):
            execution_order.append("high")

        # Low priority handler
        async def low_priority_handler(event):
            execution_order.append("low")

        # Subscribe with different priorities
        await test_event_bus.subscribe("priority.test", low_priority_handler, priority=1)
        await test_event_bus.subscribe("priority.test", high_priority_handler, priority=10)

        # Emit event
        await test_event_bus.emit({"type": "priority.test", "data": {}})

        # Give time for handlers to execute
        await asyncio.sleep(0.1)

        # Verify execution order
        assert execution_order == ["high", "low"]

    async def test_cross_plugin_communication(self, plugin_instance, test_event_bus):
        """Test communication between plugins via events."""

        # Create mock second plugin
        second_plugin = AsyncMock()
        second_plugin_events = []

        async def second_plugin_handler(event):
            second_plugin_events.append(event)

        # Subscribe second plugin to first plugin's events
        await test_event_bus.subscribe("user.created", second_plugin_handler)

        # First plugin creates user and emits event
        await plugin_instance.create_user_and_emit_event(
            {"username": "crosstest", "email": "cross@example.com"}
        )

        # Give time for event processing
        await asyncio.sleep(0.1)

        # Verify second plugin received the event
        assert len(second_plugin_events) == 1
        assert second_plugin_events[0]["username"] == "crosstest"

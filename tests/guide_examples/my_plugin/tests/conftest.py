# The Nexus testing guide's tests/conftest.py (docs/plugins/testing.md of
# dnviti/Nexus, commit 3f20c1d, section "Test Configuration", lines 80-176),
# with `from nexus.testing import` changed to `from nexus_testkit.testing import`
# and, marked REPLACED, the fixtures that cannot run on nexus-platform 0.1.5
# (guide_conftest.py is the guide's text as it stands):
# - test_db runs CREATE TABLE on the test database: the platform's adapter is a
#   key-value store with no SQL (divergence "raw-sql");
# - plugin_instance builds MyPlugin(config), sets plugin.db and calls
#   plugin.cleanup(): the platform builds plugins with no arguments, injects
#   db_adapter/event_bus/service_registry and calls shutdown() (divergence
#   "plugin-built-by-test");
# - user_service and test_user use the guide's SQL UserService, which has no
#   place on the platform either; they are left out.
# Also left out: `from nexus.events import EventBus` (nexus-platform 0.1.5 has no
# nexus.events; its EventBus is nexus.core.EventBus) and the guide's own modules.
import pytest
import asyncio
from unittest.mock import AsyncMock, Mock
from nexus_testkit.testing import TestApplication, TestDatabase, TestEventBus
from nexus.database import DatabaseAdapter
from my_plugin.plugin import MyPlugin


@pytest.fixture(scope="session")
def event_loop():
    """Create event loop for async tests."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
async def test_app():
    """Create test application."""
    app = TestApplication()
    await app.setup()
    yield app
    await app.cleanup()


@pytest.fixture
async def test_db():
    """Create test database."""
    db = TestDatabase()
    await db.setup()

    # REPLACED: no CREATE TABLE; the plugin keeps its users under a data key.

    yield db
    await db.cleanup()


@pytest.fixture
async def test_event_bus():
    """Create test event bus."""
    event_bus = TestEventBus()
    await event_bus.setup()
    yield event_bus
    await event_bus.cleanup()


@pytest.fixture
async def plugin_instance(test_db, test_event_bus):
    """Create plugin instance for testing."""
    config = {"enabled": True, "api_key": "test_key", "max_retries": 3}

    # REPLACED: the platform's way, over the guide's test_db and test_event_bus.
    app = TestApplication(database=test_db, event_bus=test_event_bus)
    plugin = await app.register_plugin("my_plugin", config)
    yield plugin
    await app.cleanup()


@pytest.fixture
def sample_user_data():
    """Sample user data for testing."""
    return {
        "username": "testuser",
        "email": "test@example.com",
        "full_name": "Test User",
        "tags": ["developer", "python"],
    }

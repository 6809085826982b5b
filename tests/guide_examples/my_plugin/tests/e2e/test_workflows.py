# Copied from the Nexus testing guide: docs/plugins/testing.md of dnviti/Nexus
# (commit 3f20c1d, MIT License, Copyright (c) 2024 Nexus Framework Team),
# section "End-to-End Tests / Workflow Testing", lines 877-953. Changed: `from nexus.testing
# import` became `from nexus_testkit.testing import`. The original ends mid-line in
# Step 9 ("events = await full_app.get_em"); the copy stops before Step 9.
# tests/e2e/test_workflows.py
import pytest
import asyncio
from nexus_testkit.testing import TestApplication, TestClient


class TestUserWorkflows:
    """Test complete user workflows end-to-end."""

    @pytest.fixture
    async def full_app(self):
        """Create full application with all plugins."""
        app = TestApplication()
        await app.setup_full_environment()
        yield app
        await app.cleanup()

    async def test_complete_user_lifecycle(self, full_app):
        """Test complete user lifecycle from creation to deletion."""

        client = full_app.get_client()

        # Step 1: Create user via API
        user_data = {
            "username": "lifecycle_test",
            "email": "lifecycle@example.com",
            "full_name": "Lifecycle Test User",
            "tags": ["test", "e2e"],
        }

        response = await client.post("/my-plugin/users", json=user_data)
        assert response.status_code == 201
        user = response.json()
        user_id = user["user_id"]

        # Step 2: Verify user creation event was emitted
        events = await full_app.get_emitted_events()
        user_created_events = [e for e in events if e["type"] == "user.created"]
        assert len(user_created_events) == 1
        assert user_created_events[0]["user_id"] == user_id

        # Step 3: Update user profile
        profile_data = {
            "bio": "Test user biography",
            "preferences": {"theme": "dark", "notifications": True},
        }

        response = await client.put(f"/my-plugin/users/{user_id}/profile", json=profile_data)
        assert response.status_code == 200

        # Step 4: Verify profile was created
        response = await client.get(f"/my-plugin/users/{user_id}")
        assert response.status_code == 200
        user_with_profile = response.json()
        assert user_with_profile["profile"]["bio"] == "Test user biography"

        # Step 5: Search for user
        response = await client.get("/my-plugin/users?search=lifecycle")
        assert response.status_code == 200
        search_results = response.json()
        assert search_results["pagination"]["total"] == 1
        assert search_results["users"][0]["username"] == "lifecycle_test"

        # Step 6: Filter users by tag
        response = await client.get("/my-plugin/users?tags=e2e")
        assert response.status_code == 200
        filtered_results = response.json()
        assert filtered_results["pagination"]["total"] == 1

        # Step 7: Deactivate user
        response = await client.post(f"/my-plugin/users/{user_id}/deactivate")
        assert response.status_code == 200

        # Step 8: Verify user is deactivated
        response = await client.get(f"/my-plugin/users/{user_id}")
        assert response.status_code == 200
        deactivated_user = response.json()
        assert deactivated_user["is_active"] is False

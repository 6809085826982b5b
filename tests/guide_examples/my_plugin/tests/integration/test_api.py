# Copied from the Nexus testing guide: docs/plugins/testing.md of dnviti/Nexus
# (commit 3f20c1d, MIT License, Copyright (c) 2024 Nexus Framework Team),
# section "API Integration", lines 749-869. Changed: `from nexus.testing import`
# became `from nexus_testkit.testing import`.
# tests/integration/test_api.py
import pytest
from nexus_testkit.testing import TestClient


class TestAPIIntegration:
    """Test API endpoint integration."""

    @pytest.fixture
    async def test_client(self, plugin_instance):
        """Create test client with plugin routes."""
        client = TestClient()
        await client.setup_with_plugin(plugin_instance)
        yield client
        await client.cleanup()

    async def test_user_api_workflow(self, test_client):
        """Test complete user API workflow."""

        # Create user
        user_data = {
            "username": "apitest",
            "email": "api@example.com",
            "full_name": "API Test User",
        }

        response = await test_client.post("/my-plugin/users", json=user_data)
        assert response.status_code == 201

        created_user = response.json()
        user_id = created_user["user_id"]
        assert created_user["username"] == "apitest"

        # Get user
        response = await test_client.get(f"/my-plugin/users/{user_id}")
        assert response.status_code == 200

        user = response.json()
        assert user["username"] == "apitest"
        assert user["email"] == "api@example.com"

        # Update user
        update_data = {"full_name": "Updated API Test User"}
        response = await test_client.put(f"/my-plugin/users/{user_id}", json=update_data)
        assert response.status_code == 200

        updated_user = response.json()
        assert updated_user["full_name"] == "Updated API Test User"

        # List users
        response = await test_client.get("/my-plugin/users")
        assert response.status_code == 200

        users_data = response.json()
        assert users_data["pagination"]["total"] >= 1

        # Delete user
        response = await test_client.delete(f"/my-plugin/users/{user_id}")
        assert response.status_code == 204

        # Verify deletion
        response = await test_client.get(f"/my-plugin/users/{user_id}")
        assert response.status_code == 404

    async def test_api_validation(self, test_client):
        """Test API input validation."""

        # Test missing required fields
        response = await test_client.post("/my-plugin/users", json={})
        assert response.status_code == 422

        # Test invalid email format
        response = await test_client.post(
            "/my-plugin/users", json={"username": "testuser", "email": "invalid-email"}
        )
        assert response.status_code == 422

        # Test username too short
        response = await test_client.post(
            "/my-plugin/users", json={"username": "ab", "email": "test@example.com"}
        )
        assert response.status_code == 422

    async def test_api_authentication(self, test_client):
        """Test API authentication requirements."""

        # Test unauthenticated access to protected endpoint
        response = await test_client.get("/my-plugin/admin/users")
        assert response.status_code == 401

        # Test with authentication
        test_client.set_auth_token("valid-test-token")
        response = await test_client.get("/my-plugin/admin/users")
        assert response.status_code == 200

    async def test_api_error_handling(self, test_client):
        """Test API error handling."""

        # Test 404 for non-existent user
        response = await test_client.get("/my-plugin/users/999999")
        assert response.status_code == 404

        error_data = response.json()
        assert "error" in error_data
        assert "User not found" in error_data["error"]["message"]

        # Test 409 for duplicate username
        user_data = {"username": "duplicate_test", "email": "duplicate1@example.com"}

        # Create first user
        response = await test_client.post("/my-plugin/users", json=user_data)
        assert response.status_code == 201

        # Try to create duplicate
        user_data["email"] = "duplicate2@example.com"
        response = await test_client.post("/my-plugin/users", json=user_data)
        assert response.status_code == 409

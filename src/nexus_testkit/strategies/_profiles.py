"""Hypothesis settings profiles for plugin tests: ``nexus-dev`` and ``nexus-ci``.

``nexus-dev`` is for the edit-test loop: few examples, no deadline (a host
start is slower than hypothesis' default 200 ms deadline expects on a loaded
laptop).  ``nexus-ci`` runs more examples, derandomised so a CI failure
reproduces, with no deadline flakiness and no example database on disk.
"""

from __future__ import annotations

__all__ = ["PROFILES", "register_profiles"]

PROFILES = ("nexus-dev", "nexus-ci")


def register_profiles() -> None:
    """Register both profiles (idempotent); loading one is the caller's choice."""
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "nexus-dev",
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        "nexus-ci",
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )

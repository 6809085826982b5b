"""Backend names, importable without importing the platform."""

from __future__ import annotations

__all__ = ["BACKENDS"]

#: ``fake``: the recording fakes; ``platform``: nexus-platform's own components.
BACKENDS = ("fake", "platform")

"""The plugin's outside world under test: a virtual clock for its periodic jobs,
fakes for its outbound HTTP calls, and a check that fails on errors it only logged.

Each object is a context manager that a host enters for the length of a test,
and each has an end-of-test check of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_WHERE = {
    "ClockError": "_clock",
    "VirtualClock": "_clock",
    "NexusHTTP": "_http",
    "UnmockedRequestError": "_http",
    "SwallowedError": "_swallowed",
    "SwallowedErrors": "_swallowed",
}
__all__ = [
    "ClockError",
    "NexusHTTP",
    "SwallowedError",
    "SwallowedErrors",
    "UnmockedRequestError",
    "VirtualClock",
]
__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._clock import ClockError, VirtualClock
    from ._http import NexusHTTP, UnmockedRequestError
    from ._swallowed import SwallowedError, SwallowedErrors

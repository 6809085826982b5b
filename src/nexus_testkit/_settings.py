"""A run's settings given as text (command line, ini file), parsed once for the CLI and pytest.

The host's options are :meth:`HostOptions.from_text`; this module adds what
only a contract run takes: skipped checks (``ID=REASON``), the number of
examples and the simulated time.  Each error is a :class:`NexusOptionsError` starting with where the
text came from; the CLI prints it, pytest turns it into a ``UsageError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._errors import NexusOptionsError

__all__ = [
    "DEFAULT_SIMULATE",
    "contract_options",
    "parse_examples",
    "parse_simulate",
    "parse_skips",
]

#: Seconds of simulated time the contract runs a started plugin for: an hour.
DEFAULT_SIMULATE = 3600.0


def parse_skips(entries: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``(origin, "[PLUGIN:]CHECK_ID=REASON")`` pairs as ``{[plugin:]check id: reason}``;
    the first of an id wins.

    The ids are checked against the contract by :class:`ContractOptions`.
    """
    skip: dict[str, str] = {}
    for origin, text in entries:
        from .contract._checks import parse_skip

        parsed = parse_skip(text)
        if parsed is None:
            raise NexusOptionsError(
                f"{origin}: {text!r} is not a valid skip. Valid form: [PLUGIN:]CHECK_ID=REASON "
                "(a reason is required, so that the opt-out shows in every report)."
            )
        skip.setdefault(*parsed)
    return skip


def parse_examples(origin: str, text: str | None) -> int:
    """The number of examples per property-based check (25 when not given)."""
    if text is None:
        return 25
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise NexusOptionsError(
            f"{origin}: {text!r} is not a valid number of examples. "
            "Valid values: a whole number from 1."
        )
    return value


def parse_simulate(origin: str, text: str | None) -> float:
    """Seconds of simulated time after initialize() (an hour when not given; 0: none)."""
    if text is None or text == "":
        return DEFAULT_SIMULATE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise NexusOptionsError(
            f"{origin}: {text!r} is not a valid simulated time. "
            "Valid values: a number of seconds from 0 (0: no simulated time)."
        )
    return value


def contract_options(**kwargs: Any) -> Any:
    """``ContractOptions(**kwargs)``, imported when needed (it loads the contract)."""
    from .contract._runner import ContractOptions

    return ContractOptions(**kwargs)

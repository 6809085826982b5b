"""A run's settings given as text (command line, ini file), parsed once for the CLI and pytest.

The host's options are :meth:`HostOptions.from_text`; this module adds what
only a contract run takes: skipped checks (``ID=REASON``) and the number of
examples.  Each error is a :class:`NexusOptionsError` starting with where the
text came from; the CLI prints it, pytest turns it into a ``UsageError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._errors import NexusOptionsError

__all__ = ["contract_options", "parse_examples", "parse_skips"]


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


def contract_options(**kwargs: Any) -> Any:
    """``ContractOptions(**kwargs)``, imported when needed (it loads the contract)."""
    from .contract._runner import ContractOptions

    return ContractOptions(**kwargs)

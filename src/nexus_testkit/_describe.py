"""Describing what plugin code hands the harness, without letting it raise.

A plugin may return or raise anything: an exception whose ``__str__``
raises, an object whose ``__repr__`` raises or returns a megabyte.  Every
message the harness builds from such values goes through these, so that
describing a failure can never become a failure of the run.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["describe_exception", "escape_control", "safe_repr", "safe_str"]

#: Longer descriptions are cut in the middle: a report line, not a dump.
LIMIT = 2_000


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}...[{len(text) - 2 * keep} characters cut]...{text[-keep:]}"


def _type_name(obj: Any) -> str:
    try:
        return type(obj).__name__
    except BaseException:  # a metaclass may raise too
        return "object"


def _unprintable(obj: Any, how: str, exc: BaseException) -> str:
    return f"<unprintable {_type_name(obj)} object: {how}() raised {_type_name(exc)}>"


def safe_repr(obj: Any, limit: int = LIMIT) -> str:
    """``repr(obj)``, or ``<unprintable T object: repr() raised E>``; never raises."""
    try:
        text = repr(obj)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from plugin code must not end the run
        return _unprintable(obj, "repr", exc)
    return _cut(text, limit)


def safe_str(obj: Any, limit: int = LIMIT) -> str:
    """``str(obj)``, or ``<unprintable T object: str() raised E>``; never raises."""
    try:
        text = str(obj)
        if not isinstance(text, str):
            raise TypeError("__str__ returned a non-string")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from plugin code must not end the run
        return _unprintable(obj, "str", exc)
    return _cut(text, limit)


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` (just ``Type`` when the message is empty); never raises."""
    text = safe_str(exc)
    name = _type_name(exc)
    return f"{name}: {text}" if text else name


#: Characters that move the cursor, recolour or reorder a terminal line, or end it
#: where a reader does not see a newline: C0/C1 controls but the newline and the
#: tab, DEL, the Unicode line and paragraph separators and the bidirectional
#: overrides and isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """``text`` with control characters written as ``\\x1b``, ``\\r``-like escapes.

    What a plugin says (an exception message, its output) reaches text
    reports and terminals: a carriage return or an escape sequence there
    could overwrite or forge a report line.  Newlines stay (reports indent
    every continuation line) and so do tabs.
    """
    return _CONTROL.sub(_escape, text)

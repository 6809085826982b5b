"""Where a plugin's secrets can leak without passing through the host's capture.

The host captures the records of the plugin's own loggers, its events,
stored data and responses; ``config.secrets`` looks there.  A plugin can
also print a secret, write it to stderr, pass it to ``warnings.warn``, log it
through a logger that does not propagate to the captured ones, or put it in
the message of an exception a handler raises.  :func:`watching_leaks`
watches those channels for the contract's run (the log-record factory, which
sees every record whatever its logger; proxies of ``sys.stdout`` and
``sys.stderr``; ``warnings.warn``) and appends one line per leak, masked,
with the plugin's line that made it, to ``ev.leaks``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._describe import safe_str

if TYPE_CHECKING:
    from ._evidence import Evidence

__all__ = ["watching_leaks"]

#: Each channel reports at most this many leaks: one is enough to fix it.
PER_CHANNEL = 3
_STDLIB = str(Path(logging.__file__).parent.parent)


def _caller(depth: int) -> str:
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return ""
    return f" at {frame.f_code.co_filename}:{frame.f_lineno}"


class _Stream:
    """A proxy of ``sys.stdout``/``sys.stderr`` that notes writes holding a secret."""

    def __init__(self, stream: Any, name: str, note: Callable[[str, str], None]) -> None:
        self._stream = stream
        self._name = name
        self._note = note

    def write(self, text: str) -> Any:
        try:
            caller = sys._getframe(1).f_code.co_filename
        except ValueError:
            caller = ""
        # Written by the warnings or logging machinery: that leak is noted at its source.
        if not caller.startswith(_STDLIB):
            self._note(self._name, safe_str(text) + _caller(2))
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def watching_leaks(ev: Evidence) -> Iterator[None]:
    """Note every secret written through print, stderr, warnings or any logger, for the block."""
    counts: dict[str, int] = {}

    def note(channel: str, text: str) -> None:
        masker = ev.masker
        if not masker or not masker.contains_secret(text):
            return
        kind = channel.split(" ")[0]
        if counts.get(kind, 0) >= PER_CHANNEL:
            return
        counts[kind] = counts.get(kind, 0) + 1
        ev.leaks.append(f"{channel}: {masker(text.strip())[:300]}")

    factory = logging.getLogRecordFactory()

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if ev.masker:
            text = safe_str(record.getMessage()) if record.args else safe_str(record.msg)
            if ev.masker.contains_secret(text):
                logger = logging.getLogger(record.name)
                if not logger.propagate or (not logger.handlers and not logger.parent):
                    note(
                        f"log record {record.levelname} {record.name} (a logger that does not "
                        "propagate)",
                        f"{text} at {record.pathname}:{record.lineno}",
                    )
        return record

    original_warn = warnings.warn

    def warn(message: Any, *args: Any, **kwargs: Any) -> None:
        stacklevel = kwargs.get("stacklevel", args[1] if len(args) > 1 else 1)
        note("warnings.warn", safe_str(message) + _caller(1 + max(int(stacklevel) - 1, 0) + 1))
        kwargs["stacklevel"] = int(stacklevel) + 1
        original_warn(message, *args[:1], **kwargs)

    stdout, stderr = sys.stdout, sys.stderr
    logging.setLogRecordFactory(record_factory)
    warnings.warn = warn
    sys.stdout = _Stream(stdout, "print (stdout)", note)
    sys.stderr = _Stream(stderr, "stderr", note)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _Stream):
            sys.stdout = stdout
        if isinstance(sys.stderr, _Stream):
            sys.stderr = stderr
        if warnings.warn is warn:
            warnings.warn = original_warn
        if logging.getLogRecordFactory() is record_factory:
            logging.setLogRecordFactory(factory)

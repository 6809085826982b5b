"""The plugin's log records: captured while a host runs, and secrets masked as records are made.

:class:`LogCapture` is the one handler that keeps records (the host and the
contract both use it); :func:`masking_records` installs a log-record factory
that replaces a configured secret by ``***`` in every record created while it
is installed, so that every handler, pytest's captured-log sections included,
sees the masked text.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from .._masking import Masker

__all__ = ["LOG_FORMAT", "LogCapture", "masking_records"]

LOG_FORMAT = logging.Formatter("%(levelname)-8s %(name)s: %(message)s")


class LogCapture(logging.Handler):
    """Keeps every record it is given (DEBUG upward).

    ``attached(logger, ...)`` adds it to loggers for a ``with`` block, setting
    each to DEBUG if it would drop records, and restores them afterwards.
    """

    def __init__(self, records: list[logging.LogRecord] | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        #: Where records go: a list of its own, or the caller's (the contract's evidence).
        self.records: list[logging.LogRecord] = [] if records is None else records
        self._attached: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attach(self, logger: logging.Logger) -> None:
        """Capture ``logger``'s records until :meth:`detach_all`."""
        self._attached.append((logger, logger.level))
        if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)  # setLevel walks every logger: only when needed
        logger.addHandler(self)

    def detach_all(self) -> None:
        """Remove the handler from every logger it was attached to, levels restored."""
        for logger, level in reversed(self._attached):
            logger.removeHandler(self)
            if logger.level != level:
                logger.setLevel(level)
        self._attached.clear()

    @contextlib.contextmanager
    def attached(self, *loggers: logging.Logger) -> Iterator[LogCapture]:
        """:meth:`attach` each logger for a ``with`` block."""
        for logger in loggers:
            self.attach(logger)
        try:
            yield self
        finally:
            self.detach_all()


class _MaskingRecordFactory:
    """Masks secrets in log records as they are created."""

    def __init__(self, previous: Any, masker: Masker) -> None:
        self.previous = previous
        self.masker: Masker | None = masker

    def uninstall(self) -> None:
        if logging.getLogRecordFactory() is self:
            logging.setLogRecordFactory(self.previous)
        else:  # another factory was installed over ours: make ours inert
            self.masker = None

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        masker = self.masker
        if not masker:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's to report
            return record
        if masker.contains_secret(message):
            record.msg, record.args = masker(message), None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if masker.contains_secret(text):
                record.exc_text = masker(text)
        return record


@contextlib.contextmanager
def masking_records(masker: Masker) -> Iterator[None]:
    """Mask ``masker``'s secrets in every log record created inside the block."""
    factory = _MaskingRecordFactory(logging.getLogRecordFactory(), masker)
    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        factory.uninstall()

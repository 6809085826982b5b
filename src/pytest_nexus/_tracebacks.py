"""Tracebacks a plugin author reads: without the harness's frames, or the web stack's.

One mechanism for every report (test failures, fixture set-up and teardown
errors, warnings turned into errors, hypothesis' failing examples): before
pytest builds a report, the exception's traceback, and those of the
exceptions chained to it, are relinked without

- the frames of ``nexus_testkit`` and ``pytest_nexus`` (always), and
- the frames of the stack between the test and the plugin (httpx, starlette,
  FastAPI, anyio, asyncio's runner, pytest-asyncio, ...) when a frame of the
  user's code lies deeper, so a route's exception reads from the test's
  ``await nexus_client.get(...)`` straight to the plugin's line, as pytest
  hides its own frames.  A failure raised inside httpx itself keeps them.

hypothesis' explanation notes lose the lines that name a harness file.  An
exception left with no frame of the user's (a warning of ours raised as an
error by ``-W error``, an error of a contract item) is reported by its
message alone.  ``--fulltrace`` turns all of this off, as it does pytest's
own filtering.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

import pytest
from _pytest._code.code import ExceptionRepr, ReprFileLocation, TerminalRepr, Traceback

__all__ = ["MessageRepr"]

#: Packages whose frames sit between a test and the plugin's code.  Only the
#: ones already imported can be in a traceback, so nothing is imported here.
_FRAMEWORKS = (
    "anyio",
    "asgi_lifespan",
    "asyncio",
    "concurrent",
    "contextlib",
    "fastapi",
    "httpcore",
    "httpx",
    "pytest_asyncio",
    "sniffio",
    "starlette",
)
#: pytest's own frames: neither the user's nor hidden here (pytest does that).
_PYTEST = ("_pytest", "pluggy")


class MessageRepr(TerminalRepr):
    """A failure shown as its text alone, with no traceback; its first line is
    also the summary line pytest prints after ``FAILED <item>``."""

    def __init__(self, text: str, path: str, lineno: int = 0) -> None:
        self.text = text
        first = text.splitlines()[0] if text else ""
        self.reprcrash = ReprFileLocation(path, lineno, first)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    excinfo = call.excinfo
    message_only = False
    if excinfo is not None and not item.config.getoption("fulltrace", False):
        message_only = _prune(excinfo)
    report = yield
    # Only a traceback pytest formatted: an item's own repr_failure is kept.
    if message_only and isinstance(report.longrepr, ExceptionRepr) and excinfo is not None:
        report.longrepr = MessageRepr(_message(excinfo.value), str(item.path))
    return report


def _prune(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """Relink the tracebacks of the exception and its chain; True when no frame
    of the user's code is left in the exception's own traceback."""
    exc = excinfo.value
    if isinstance(exc, (pytest.skip.Exception, pytest.xfail.Exception)):
        return False  # reported by location, never with a traceback
    if isinstance(exc, pytest.fail.Exception) and not exc.pytrace:
        return False  # shown as its message already
    kind = _Classifier()
    seen: set[int] = set()
    for exc in _chain(excinfo.value, seen):
        if exc is not excinfo.value:
            exc.__traceback__ = _relink(exc.__traceback__, kind)
        _clean_notes(exc, kind)
    head = _relink(excinfo.tb, kind)
    excinfo.value.__traceback__ = head
    excinfo.traceback = Traceback(head) if head is not None else Traceback([])
    tb: TracebackType | None = head
    while tb is not None:
        if kind(tb.tb_frame.f_code.co_filename) == "user":
            return False
        tb = tb.tb_next
    return True


def _chain(exc: BaseException, seen: set[int]) -> Generator[BaseException, None, None]:
    """The exception, what it was raised from or during, and a group's members."""
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            todo.append(current.__cause__)
        if current.__context__ is not None and not current.__suppress_context__:
            todo.append(current.__context__)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)


def _relink(tb: TracebackType | None, kind: Callable[[str], str]) -> TracebackType | None:
    """The traceback without harness frames, and without framework frames that
    have a frame of the user's deeper down."""
    entries: list[tuple[TracebackType, str]] = []
    while tb is not None:
        entries.append((tb, kind(tb.tb_frame.f_code.co_filename)))
        tb = tb.tb_next
    kept: list[TracebackType] = []
    user_below = False
    # The nearest frame deeper down that is not a framework's: framework frames
    # that only lead into the harness (contextlib's, under the host's exit
    # stack) are the harness's too.
    next_below = ""
    for entry, what in reversed(entries):
        if (
            what == "user"
            or what == "pytest"
            or (what == "framework" and not user_below and next_below != "harness")
        ):
            kept.append(entry)
        user_below = user_below or what == "user"
        if what != "framework":
            next_below = what
    if not kept:
        return None
    kept.reverse()
    for outer, inner in itertools.pairwise(kept):
        outer.tb_next = inner
    kept[-1].tb_next = None
    return kept[0]


def _clean_notes(exc: BaseException, kind: Callable[[str], str]) -> None:
    """Drop the lines of hypothesis' explanation (one note per line) that point
    into the harness, and the explanation's heading when nothing is left under it."""
    notes = getattr(exc, "__notes__", None)
    if not notes:
        return
    kept = [note for note in notes if _location(note, kind) != "harness"]
    cleaned: list[Any] = []
    for i, note in enumerate(kept):
        if str(note) in _EXPLANATION_STUB:
            following = (n for n in kept[i + 1 :] if str(n) not in _EXPLANATION_STUB)
            if _location(next(following, ""), kind) is None:
                continue
        cleaned.append(note)
    exc.__notes__ = cleaned


#: The heading notes of hypothesis' explain phase (hypothesis.internal.scrutineer).
_EXPLANATION_STUB = (
    "Explanation:",
    "    These lines were always and only run by failing test cases:",
    "    These lines were always and only run by failing examples:",
)


def _location(note: object, kind: Callable[[str], str]) -> str | None:
    """The kind of file a ``path:lineno`` note names, or None for another note."""
    text = str(note).strip()
    if text.startswith("(and ") and text.endswith(")"):
        return "more"
    path, _, lineno = text.rpartition(":")
    if not path or not lineno.isdigit() or "\n" in text:
        return None
    return kind(path)


def _message(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    name = (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )
    from nexus_testkit._describe import safe_str

    text = f"{name}: {safe_str(exc)}"
    if isinstance(exc, Warning):
        text += (
            "\n(a warning raised as an error by a warnings filter: -W error, "
            "filterwarnings = error or @pytest.mark.filterwarnings)"
        )
    notes = getattr(exc, "__notes__", None) or []
    return "\n".join([text, *map(str, notes)])


class _Classifier:
    """``harness``, ``framework``, ``pytest`` or ``user`` for a frame's file."""

    def __init__(self) -> None:
        from nexus_testkit._frames import is_harness_file

        self.is_harness_file = is_harness_file
        self.frameworks = _locations(_FRAMEWORKS)
        self.pytest = _locations(_PYTEST)
        self.cache: dict[str, str] = {}

    def __call__(self, filename: str) -> str:
        found = self.cache.get(filename)
        if found is None:
            if self.is_harness_file(filename):
                found = "harness"
            elif filename.startswith(self.pytest):
                found = "pytest"
            elif filename.startswith((*self.frameworks, "<frozen ")):
                found = "framework"
            else:
                found = "user"
            self.cache[filename] = found
        return found


def _locations(names: tuple[str, ...]) -> tuple[str, ...]:
    """Where the imported ones of these modules live: a package's directory, or a
    module's file."""
    found = []
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            package = os.path.basename(file) == "__init__.py"
            found.append(os.path.dirname(file) + os.sep if package else file)
    return tuple(found)

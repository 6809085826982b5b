"""Strings matching the simple anchored patterns manifests use, drawn directly.

``st.from_regex`` handles every regular expression, at close to a millisecond
per draw for ``^[a-z]{2}-[a-z]+-[0-9]$``.  The patterns of configuration keys
are nearly always of that kind: anchored at both ends, made of literals,
character classes, groups, alternatives and repeats.  For those this module
builds the strategy from the parsed pattern (lists of characters joined), at
a fraction of the cost; anything else (flags, look-arounds, back-references,
negated categories, an unanchored pattern) returns ``None`` and the caller
uses ``st.from_regex``.  Every draw is checked against the pattern itself, so
a construct read wrongly here could only be filtered out, never returned.
"""

from __future__ import annotations

import importlib
import re
import string
from typing import Any, Final

from hypothesis import strategies as st

__all__ = ["simple_pattern_strings"]

#: How many repeats past the minimum an unbounded ``*`` or ``+`` draws at most.
_UNBOUNDED_EXTRA: Final = 8

_CATEGORIES: Final = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_SPACE": " \t\n\r\f\v",
}
_PRINTABLE: Final = string.ascii_letters + string.digits + string.punctuation + " "


class _Unsupported(Exception):
    pass


def simple_pattern_strings(pattern: str, min_length: int = 0) -> st.SearchStrategy[str] | None:
    """Strings ``s`` with ``re.search(pattern, s)``, for an anchored simple ``pattern``.

    ``None`` when the pattern is not of the simple kind (see the module docstring).
    An unbounded repeat draws up to ``min_length`` characters more than its minimum
    (at least eight), so that a length rule can be met.
    """
    body = unchecked_strings(pattern, min_length)
    if body is None:
        return None
    compiled = re.compile(pattern)
    return body.filter(lambda s: compiled.search(s) is not None)


def unchecked_strings(pattern: str, min_length: int = 0) -> st.SearchStrategy[str] | None:
    """The strategy built from the parsed pattern, before the final check
    (the tests prove the check never rejects)."""
    try:
        parser = importlib.import_module("re._parser")
        constants = importlib.import_module("re._constants")
        tree = parser.parse(pattern)
    except Exception:  # the parser is private: any surprise means "not simple"
        return None
    if tree.state.flags & ~(re.UNICODE):
        return None
    items = list(tree)
    starts = ((constants.AT, constants.AT_BEGINNING), (constants.AT, constants.AT_BEGINNING_STRING))
    ends = ((constants.AT, constants.AT_END), (constants.AT, constants.AT_END_STRING))
    if len(items) < 2 or items[0] not in starts or items[-1] not in ends:
        return None
    try:
        return _sequence(items[1:-1], _Context(constants, max(_UNBOUNDED_EXTRA, min_length)))
    except (_Unsupported, TypeError, ValueError):
        return None


class _Context:
    def __init__(self, constants: Any, extra: int) -> None:
        self.c = constants
        self.extra = extra


def _sequence(items: list[Any], ctx: _Context) -> st.SearchStrategy[str]:
    c = ctx.c
    parts: list[st.SearchStrategy[str]] = []
    literal = ""
    for op, av in items:
        if op is c.LITERAL:  # a run of literals is one fixed string
            literal += chr(av)
            continue
        if literal:
            parts.append(st.just(literal))
            literal = ""
        parts.append(_item(op, av, ctx))
    if literal:
        parts.append(st.just(literal))
    if not parts:
        return st.just("")
    if len(parts) == 1:
        return parts[0]
    return st.tuples(*parts).map("".join)


def _item(op: Any, av: Any, ctx: _Context) -> st.SearchStrategy[str]:
    c = ctx.c
    chars = _characters(op, av, c)
    if chars is not None:
        return st.just(chars) if len(chars) == 1 else st.sampled_from(chars)
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise _Unsupported("inline flags")
        return _sequence(list(sub), ctx)
    if op is c.BRANCH:
        _, branches = av
        return st.one_of([_sequence(list(b), ctx) for b in branches])
    # A possessive repeat (*+, Python 3.11) never gives back what it took:
    # drawing it as a greedy one would make strings it cannot match.
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, sub = av
        if high == c.MAXREPEAT:
            high = low + ctx.extra
        items = list(sub)
        if len(items) == 1:
            op, value = items[0]
            chars = _characters(op, value, c)
            if chars is not None:
                # One draw for the whole run, not one per character.
                return st.text(alphabet=chars, min_size=low, max_size=high)
        element = _sequence(items, ctx)
        return st.lists(element, min_size=low, max_size=high).map("".join)
    raise _Unsupported(str(op))


def _characters(op: Any, av: Any, c: Any) -> str | None:
    """The characters one item matches, or ``None`` if it is not a single character."""
    if op is c.LITERAL:
        return chr(av)
    if op is c.ANY:
        return _PRINTABLE
    if op is c.IN:
        negate = bool(av) and av[0][0] is c.NEGATE
        members = av[1:] if negate else av
        chars: set[str] = set()
        for kind, value in members:
            if kind is c.LITERAL:
                chars.add(chr(value))
            elif kind is c.RANGE:
                low, high = value
                if high - low > 0x2000:
                    raise _Unsupported("huge range")
                chars.update(chr(code) for code in range(low, high + 1))
            elif kind is c.CATEGORY and str(value) in _CATEGORIES and not negate:
                chars.update(_CATEGORIES[str(value)])
            else:
                raise _Unsupported(str(kind))
        if negate:
            chars = set(_PRINTABLE) - chars
        if not chars:
            raise _Unsupported("empty class")
        return "".join(sorted(chars))
    return None

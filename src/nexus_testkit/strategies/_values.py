"""JSON values, and realistic strings for the common ``format`` names.

Realistic values are built from an integer that Hypothesis draws: a name and
a domain from short lists, a date in a ten-year range, an address from the
bits of the seed.  Each value is reproducible from its seed, and shrinking the
seed to 0 gives the same small example every time (``alice@example.com``).
No Faker: its pytest plugin would load, and cost a third of a second, in every
pytest run of every project that installs pytest-nexus-platform.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hypothesis import strategies as st

__all__ = ["FORMATS", "json_key", "json_values", "mix", "realistic", "samples"]

_NAMES: Final = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil",
)  # fmt: skip
_DOMAINS: Final = (
    "example.com", "example.org", "example.net", "mail.example.com",
    "corp.example.com", "example.co.uk", "example.io", "test.example.org",
)  # fmt: skip
_PATHS: Final = ("", "api", "docs", "v1/items", "status", "search", "login", "files/report")
_EPOCH: Final = datetime(2020, 1, 1, tzinfo=UTC)
_TEN_YEARS: Final = 10 * 365 * 86400
_MASK64: Final = 2**64 - 1


def _mixed(seed: int, salt: int = 0) -> int:
    """64 well-mixed bits of ``seed`` (splitmix64): neighbouring seeds give unrelated values."""
    z = (seed + 0x9E3779B97F4A7C15 * (salt + 1)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _pick(items: Sequence[str], seed: int, salt: int) -> str:
    # Seed 0 picks the first of each list: the shrunk example reads naturally.
    return items[_mixed(seed, salt) % len(items)] if seed else items[0]


def _email(seed: int) -> str:
    number = str(_mixed(seed, 3) % 100) if seed else ""
    return f"{_pick(_NAMES, seed, 1)}{number}@{_pick(_DOMAINS, seed, 2)}"


def _hostname(seed: int) -> str:
    return f"{_pick(_NAMES, seed, 1)}.{_pick(_DOMAINS, seed, 2)}"


def _url(seed: int) -> str:
    path = _pick(_PATHS, seed, 4)
    return f"https://{_hostname(seed)}/{path}"


def _moment(seed: int) -> datetime:
    return _EPOCH + timedelta(seconds=_mixed(seed, 5) % _TEN_YEARS if seed else 0)


def _ipv4(seed: int) -> str:
    if not seed:
        return "192.0.2.1"  # the documentation range (RFC 5737)
    bits = _mixed(seed, 6)
    first = 1 + (bits >> 24) % 223  # 1..223: no 0.x.x.x, no multicast or reserved
    return f"{first}.{(bits >> 16) & 255}.{(bits >> 8) & 255}.{bits & 255}"


def _ipv6(seed: int) -> str:
    if not seed:
        return "2001:db8::1"  # the documentation range (RFC 3849)
    bits = (_mixed(seed, 7) << 64) | _mixed(seed, 8)
    return ipaddress.IPv6Address(bits).compressed


def _uuid(seed: int) -> str:
    if not seed:
        return "00000000-0000-4000-8000-000000000000"
    return str(uuid.UUID(int=(_mixed(seed, 9) << 64) | _mixed(seed, 10), version=4))


#: format name -> a realistic value of it, built from an integer seed.
FORMATS: Final[dict[str, Callable[[int], str]]] = {
    "email": _email,
    "idn-email": _email,
    "uri": _url,
    "url": _url,
    "date-time": lambda seed: _moment(seed).isoformat(),
    "date": lambda seed: _moment(seed).date().isoformat(),
    "time": lambda seed: f"{_moment(seed).time().isoformat()}Z",
    "duration": lambda seed: f"PT{_mixed(seed, 11) % 86401 if seed else 0}S",
    "uuid": _uuid,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "hostname": _hostname,
}

_SEEDS: Final = st.integers(min_value=0, max_value=2**32 - 1)


def realistic(format_name: str) -> st.SearchStrategy[str] | None:
    """Realistic strings of ``format_name``, or ``None`` for a format we do not know."""
    make = FORMATS.get(format_name)
    if make is None:
        return None
    return _SEEDS.map(make)


@functools.cache
def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, numbers, strings, arrays and objects, nested."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    # Three levels of containers, built level by level: st.recursive draws
    # the same space of small documents at about two and a half times the cost.
    values: st.SearchStrategy[Any] = scalars
    for _ in range(3):
        values = (
            scalars
            | st.lists(values, max_size=3)
            | st.dictionaries(st.text(max_size=12), values, max_size=3)
        )
    return values


def json_key(value: Any) -> str:
    """A key equal for values JSON Schema considers equal (1 and 1.0), distinct for true and 1."""
    return json.dumps(_canonical(value), sort_keys=True)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _mutable(value: Any) -> bool:
    return isinstance(value, list | dict)


def samples(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    """``sampled_from(values)``; a mutable member is copied per draw, so a test may change it."""
    strategy = st.sampled_from(list(values))
    if any(_mutable(v) for v in values):
        return strategy.map(copy.deepcopy)
    return strategy


def mix(boundaries: Sequence[Any], general: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Boundary values half of the time (examples shrink to the first), else ``general``."""
    unique: dict[str, Any] = {}
    for value in boundaries:
        unique.setdefault(json_key(value), value)
    if not unique:
        return general
    return st.one_of(samples(list(unique.values())), general)

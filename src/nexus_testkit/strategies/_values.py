"""JSON values, and realistic strings for the common ``format`` names.

Realistic values come from Faker, seeded from an integer that Hypothesis
draws: the value is reproducible from the seed, and shrinking the seed to 0
gives the same small example every time.  One Faker instance is created on
first use and reseeded per draw, which costs microseconds; creating one per
draw would cost milliseconds.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, Final

from hypothesis import strategies as st

__all__ = ["FORMATS", "json_key", "json_values", "mix", "realistic", "samples"]

#: format name -> how a Faker instance produces a realistic value of it.
FORMATS: Final[dict[str, Callable[[Any], str]]] = {
    "email": lambda fake: str(fake.email()),
    "idn-email": lambda fake: str(fake.email()),
    "uri": lambda fake: str(fake.uri()),
    "url": lambda fake: str(fake.url()),
    "date-time": lambda fake: fake.date_time(tzinfo=UTC).isoformat(),
    "date": lambda fake: str(fake.date()),
    "time": lambda fake: f"{fake.time()}Z",
    "duration": lambda fake: f"PT{fake.random_int(0, 86400)}S",
    "uuid": lambda fake: str(fake.uuid4()),
    "ipv4": lambda fake: str(fake.ipv4()),
    "ipv6": lambda fake: str(fake.ipv6()),
    "hostname": lambda fake: str(fake.hostname()),
}

_SEEDS: Final = st.integers(min_value=0, max_value=2**32 - 1)


@functools.cache
def _faker() -> Any:
    from faker import Faker

    return Faker("en_US")


def _fake(make: Callable[[Any], str], seed: int) -> str:
    fake = _faker()
    fake.seed_instance(seed)
    return make(fake)


def realistic(format_name: str) -> st.SearchStrategy[str] | None:
    """Realistic strings of ``format_name``, or ``None`` for a format we do not know."""
    make = FORMATS.get(format_name)
    if make is None:
        return None
    return _SEEDS.map(functools.partial(_fake, make))


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
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=8,
    )


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

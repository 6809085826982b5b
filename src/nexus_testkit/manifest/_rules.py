"""The rules a manifest declares for a configuration value, and values that break them.

``check_value`` says which rule a value breaks (or ``None``); it is the one
definition of validity that the contract, the manifest checks and the
strategies share.  ``violations`` builds, deterministically, one
configuration per rule that breaks exactly that rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._load import ConfigOption, Manifest

__all__ = ["Violation", "check_value", "violations"]

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def type_matches(type_name: str | None, value: Any) -> bool:
    if type_name is None:
        return True
    if type_name == "null":
        return value is None
    if isinstance(value, bool) and type_name != "boolean":
        return False
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _PY_TYPES.get(type_name, (object,)))


def check_value(option: ConfigOption, value: Any) -> str | None:
    """The rule of ``option`` that ``value`` breaks, as a phrase, or ``None``."""
    if not type_matches(option.type, value):
        return f"type: expected {option.type}, got {type(value).__name__}"
    if option.enum is not None and value not in option.enum:
        return f"enum: {value!r} is not one of {list(option.enum)!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if option.minimum is not None and value < option.minimum:
            return f"min: {value!r} is below the minimum {option.minimum!r}"
        if option.maximum is not None and value > option.maximum:
            return f"max: {value!r} is above the maximum {option.maximum!r}"
    if isinstance(value, str):
        if option.pattern is not None and re.search(option.pattern, value) is None:
            return f"pattern: {value!r} does not match {option.pattern!r}"
        if option.min_length is not None and len(value) < option.min_length:
            return f"min_length: {value!r} is shorter than {option.min_length}"
        if option.max_length is not None and len(value) > option.max_length:
            return f"max_length: {value!r} is longer than {option.max_length}"
    return None


@dataclass(frozen=True)
class Violation:
    """A configuration that breaks exactly one rule: ``rule`` of ``key``."""

    config: Mapping[str, Any]
    key: str
    rule: str

    def __str__(self) -> str:
        return f"{self.key}: {self.rule}"


_WRONG_TYPE_VALUES: dict[str, Any] = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "yes",
    "array": "not-a-list",
    "object": "not-an-object",
}


def _pattern_breaker(pattern: str) -> str | None:
    for candidate in ("", "!!", "nexus test value", "0", "~"):
        if re.search(pattern, candidate) is None:
            return candidate
    return None


def violations(manifest: Manifest, valid: Mapping[str, Any]) -> Iterator[Violation]:
    """One configuration per declared rule, each breaking that rule only.

    ``valid`` is a configuration that satisfies every rule; each violation
    changes (or removes) one key of it.
    """
    for key, option in manifest.configuration.items():
        if option.required:
            config = {k: v for k, v in valid.items() if k != key}
            yield Violation(config, key, "required: the key is missing")
        candidates: list[tuple[str, Any]] = []
        if option.type in _WRONG_TYPE_VALUES:
            candidates.append(("type", _WRONG_TYPE_VALUES[option.type]))
        if option.type in ("integer", "number"):
            if option.minimum is not None:
                below = option.minimum - 1
                candidates.append(("min", int(below) if option.type == "integer" else below))
            if option.maximum is not None:
                above = option.maximum + 1
                candidates.append(("max", int(above) if option.type == "integer" else above))
        if option.enum and all(isinstance(e, str) for e in option.enum):
            candidates.append(("enum", "-".join(option.enum) + "-other"))
        if option.pattern is not None:
            breaker = _pattern_breaker(option.pattern)
            if breaker is not None:
                candidates.append(("pattern", breaker))
        for rule, value in candidates:
            problem = check_value(option, value)
            if problem is None or not problem.startswith(rule):
                continue  # the value would break another rule first, or none
            yield Violation({**valid, key: value}, key, problem)

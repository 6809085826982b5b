"""Eager argument checks shared by the public strategy functions.

Hypothesis style: a bad argument is an ``InvalidArgument`` raised when the
strategy is *built*, naming the argument and the value, never a strategy that
fails (or silently generates nothing) when drawn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis.errors import InvalidArgument

from .._errors import ManifestError
from ..manifest._load import Manifest, _build

__all__ = ["as_manifest", "short_repr"]

#: The path a manifest given as a dict is reported under.
DICT_PATH = Path("<dict>")


def short_repr(value: object, limit: int = 100) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_manifest(value: object, argname: str = "manifest") -> Manifest:
    """``value`` as a :class:`Manifest`: loaded already, or a dict parsed from manifest.json.

    A dict goes through the same building code as ``load_manifest``, so every
    dialect is understood and a broken manifest is refused with the loader's
    own message.
    """
    if isinstance(value, Manifest):
        return value
    if isinstance(value, Mapping):
        try:
            return _build(DICT_PATH, dict(value))
        except ManifestError as exc:
            where = f"{exc.where}: " if exc.where else ""
            raise InvalidArgument(
                f"{argname}={short_repr(value)} is not a valid manifest: {where}{exc.problem}"
            ) from None
    raise InvalidArgument(
        f"{argname} must be a Manifest (from nexus_testkit.load_manifest) or a dict parsed "
        f"from manifest.json, got {argname}={short_repr(value)}"
    )


def describe(manifest: Manifest) -> str:
    """How error messages name a manifest: its plugin name, and its file if it has one."""
    if manifest.path == DICT_PATH:
        return f"manifest {manifest.name!r}"
    return f"manifest {manifest.name!r} ({manifest.path})"


def check_bool(value: Any, argname: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{argname} must be True or False, got {argname}={short_repr(value)}")
    return value

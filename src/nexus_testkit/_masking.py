"""Masking of secret configuration values in everything the harness prints."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["Masker"]

MASK = "***"


class Masker:
    """Replaces registered secret values with ``***`` in text.

    Values shorter than four characters are not masked: masking ``"1"`` would
    mangle every number in a report while protecting nothing.
    """

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[Any]) -> None:
        for value in secrets:
            if value is None or isinstance(value, bool):
                continue
            text = str(value)
            if len(text) < 4:
                continue
            # Also the forms repr() and JSON give it inside a message: a secret
            # with a quote, backslash or tab appears escaped there.
            for form in (text, repr(text)[1:-1], json.dumps(text)[1:-1]):
                if form not in self._secrets:
                    self._secrets.append(form)
        # Longest first, so a secret that contains another is masked whole.
        self._secrets.sort(key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def contains_secret(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)

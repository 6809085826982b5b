"""Masking of secret configuration values in everything the harness prints."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["Masker"]

MASK = "***"
#: The shortest start or end of a secret masked where a repr cut the secret short.
MIN_PIECE = 4


class Masker:
    """Replaces registered secret values with ``***`` in text.

    Values shorter than four characters are not masked: masking ``"1"`` would
    mangle every number in a report while protecting nothing.
    """

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self._secrets: list[str] = []
        self._pieces: tuple[int, re.Pattern[str]] | None = None
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

    def update(self, other: Masker) -> None:
        """Mask what ``other`` masks too."""
        for form in other._secrets:
            if form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "..." in text and self._secrets:
            # pytest's saferepr (and reprlib) shorten a long value to its start and
            # end around "...": either piece of a secret is masked too.
            text = self._cut_pieces().sub(MASK, text)
        return text

    def _cut_pieces(self) -> re.Pattern[str]:
        if self._pieces is None or self._pieces[0] != len(self._secrets):
            alternatives = []
            for secret in self._secrets:
                for k in range(len(secret) - 1, MIN_PIECE - 1, -1):
                    alternatives.append(re.escape(secret[:k]) + r"(?=\.\.\.)")
                    alternatives.append(r"(?<=\.\.\.)" + re.escape(secret[-k:]))
            self._pieces = (len(self._secrets), re.compile("|".join(alternatives) or "(?!)"))
        return self._pieces[1]

    def contains_secret(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)

"""The statistics of every benchmark, defined once: spread, paired ratios, interleaving.

Each figure is the median of its repetitions; its spread is the inter-quartile
range (inclusive quantiles, so a few repetitions never extrapolate past the
extremes) relative to the median.  Compared variants run interleaved, A B A B
..., the first of each pair alternating, so that drift of the machine affects
both alike.  run.py and the in-process workloads of _work.py both use these.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from typing import Any


def spread(values: list[float]) -> dict[str, Any]:
    """Median, quartiles, extremes, count and the raw values of one figure's repetitions."""
    ordered = sorted(values)
    if len(ordered) >= 2:
        q = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q = [ordered[0]] * 3
    return {
        "median": statistics.median(ordered),
        "p25": q[0],
        "p75": q[2],
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
        "values": list(values),
    }


def iqr_text(s: dict[str, Any]) -> str:
    """The spread column: ``IQR 1.6% n=15`` (the IQR relative to the median)."""
    if s["n"] < 2 or not s["median"]:
        return f"n={s['n']}"
    return f"IQR {100 * (s['p75'] - s['p25']) / abs(s['median']):.1f}% n={s['n']}"


def ratios(a: list[float], b: list[float]) -> list[float]:
    """Per-repetition ratios of two interleaved variants (paired, so drift cancels)."""
    return [x / y for x, y in zip(a, b, strict=True)]


def alternating(names: list[str], rounds: int) -> Iterator[str]:
    """Each name once per round, the order reversed every other round."""
    for r in range(rounds):
        yield from (names if r % 2 == 0 else names[::-1])


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each variant's figures, run in :func:`alternating` order."""
    out: dict[str, list[float]] = {n: [] for n in variants}
    for name in alternating(list(variants), rounds):
        out[name].append(variants[name]())
    return out

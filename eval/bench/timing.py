"""Timing helpers: repeated runs after one warm-up, and their median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def repeat_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn``, in order, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def interleaved_seconds(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Wall seconds of ``repeats`` rounds, each calling every ``fns`` entry once in turn (after ``warmup`` untimed
    rounds): what else runs on the machine then weighs on every entry alike, so their ratios, round by round, are
    fairer than those of timings taken one after the other."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    return statistics.median(repeat_seconds(fn, repeats, warmup))

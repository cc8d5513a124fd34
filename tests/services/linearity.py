"""Shared by the untrusted-input tests: is a function's running time linear in its input's size?

Machine-independent: it compares the CPU time of the same function on inputs of two sizes (best of a few rounds,
garbage collection paused) and never looks at an absolute duration.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable

SMALL = 10_000
LARGE = 100_000
MAX_RATIO = 25.0  # linear is ~10x for a 10x larger input; quadratic is ~100x
_ROUNDS = 5
_BATCH_SECONDS = 0.02  # repeat fast calls until a measurement is long enough to time


def _per_call(
    function: Callable[[str], object], text: str, *, repeats: int, stop_below: float, stop_above: float
) -> float:
    best = math.inf
    for _ in range(_ROUNDS):
        start = time.process_time()
        for _ in range(repeats):
            function(text)
        best = min(best, (time.process_time() - start) / repeats)
        # Stop once the verdict is clear: fast enough to pass, or so slow that no noise explains it.
        if best <= stop_below or best >= stop_above:
            break
    return best


def time_ratio(function: Callable[[str], object], make: Callable[[int], str]) -> float:
    """CPU time of `function` on make(LARGE) over its time on make(SMALL)."""
    small_text, large_text = make(SMALL), make(LARGE)
    assert len(large_text) >= LARGE - 100 and len(small_text) <= SMALL + 100
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time()
        function(small_text)
        single = max(time.process_time() - start, 1e-6)
        repeats = max(1, math.ceil(_BATCH_SECONDS / single))
        small = _per_call(function, small_text, repeats=repeats, stop_below=0.0, stop_above=math.inf)
        large = _per_call(
            function,
            large_text,
            repeats=max(1, repeats * SMALL // LARGE),
            stop_below=small * MAX_RATIO / 2,
            stop_above=small * MAX_RATIO * 4,
        )
    finally:
        if enabled:
            gc.enable()
    return large / max(small, 1e-9)


def fill(unit: str, size: int) -> str:
    """`unit` repeated to exactly `size` characters."""
    return (unit * (size // len(unit) + 1))[:size]

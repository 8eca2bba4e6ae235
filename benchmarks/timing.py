"""Shared timing harness for everything in benchmarks/: interleaved rounds, min/median/max, machine info.

Other jobs may share the computer's cores, so a single timing of a single candidate says little. Here each
round times every candidate once, in a rotating order, so a slow period hits all of them alike; a
ratio is taken *within* a round (same conditions) and the rounds are summarized as min / median / max.
Report the median, and show the spread.

    from benchmarks.timing import interleaved, ratio_summary, describe_machine
    times = interleaved({"ours": f, "reference": g}, rounds=15)
    print(ratio_summary(times, "reference", "ours"))      # reference time / our time: > 1 means we are faster
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tinygrad_bn.cli.reporting import machine


@dataclass(frozen=True)
class Summary:
    """min / median / max of a list of measurements."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("Summary.of: no values to summarize")
        return cls(min(values), statistics.median(values), max(values))

    def format(self, fmt: str = ".2f", unit: str = "") -> str:
        """e.g. ``2.31x (min 2.10, max 2.52)``."""
        return f"{self.median:{fmt}}{unit} (min {self.min:{fmt}}, max {self.max:{fmt}})"


def calibrate(fn: Callable[[], object], target: float = 0.05) -> int:
    """How many calls of ``fn`` one measurement needs to last at least ``target`` seconds (after a warm-up)."""
    fn()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target or number >= 1 << 20:
            return number
        number = max(number * 2, int(number * target / max(elapsed, 1e-9) * 1.2))


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int = 15, target: float = 0.05,
                warmup: int = 1, timer: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one value per round; candidates alternate within each round.

    Each candidate is calibrated once to take about ``target`` seconds per measurement; ``warmup``
    untimed rounds run first. The order of candidates rotates from round to round. ``timer``:
    wall-clock by default; ``time.process_time`` counts only this process's CPU time, which is steadier
    on a busy machine when BLAS runs one thread (with more threads it also counts their spinning).
    """
    if not candidates or rounds < 1:
        raise ValueError(f"interleaved: need at least one candidate and one round, got {len(candidates)} and {rounds}")
    names = list(candidates)
    numbers = {name: calibrate(candidates[name], target) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(-warmup, rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, number = candidates[name], numbers[name]
            start = timer()
            for _ in range(number):
                fn()
            if r >= 0:
                times[name].append((timer() - start) / number)
    return times


def ratio_summary(times: dict[str, list[float]], slower: str, faster: str) -> Summary:
    """Per-round ``times[slower] / times[faster]`` (above 1: ``faster`` really is faster), summarized."""
    return Summary.of([a / b for a, b in zip(times[slower], times[faster])])


def ms(times: list[float]) -> Summary:
    """Seconds per call as milliseconds, summarized."""
    return Summary.of([t * 1e3 for t in times])


def describe_machine() -> str:
    """``machine()`` as Markdown bullet lines."""
    return "\n".join(f"- {k}: {v}" for k, v in machine().items())


def load_warning(threads: int | None) -> str:
    """A warning line when BLAS runs several threads on a machine busier than its cores, else ''."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if threads or not hasattr(os, "getloadavg") or os.getloadavg()[0] <= cores:
        return ""
    return (f"- WARNING: load average {os.getloadavg()[0]:.1f} on {cores} cores with multi-threaded BLAS: BLAS "
            "threads wait for cores other jobs hold, and the timings (and their status) are unreliable; "
            "use --threads 1 (and --cpu-time where offered) on a busy machine")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)

"""Paired-by-seed comparisons: the mean difference of two rows over the seeds they share,
its 95% confidence interval, and the words a report may use for it.

The interval is the paired t interval ``mean ± t(0.975, n - 1) * sd / sqrt(n)`` of the
per-seed differences (scipy's Student t quantile; scipy comes with scikit-learn, which the
experiments need anyway). Both rows of a seed share its data set, its split, its initial
experts and its minibatch order, so the per-seed difference removes what the seed draws
and the interval is about the routers alone. A difference is *detectable* only when its
interval excludes 0; otherwise a report says "no detectable difference", whatever the sign
of the mean.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence

CONFIDENCE = 0.95


def t_quantile(probability: float, dof: int) -> float:
    """Student t quantile (scipy.stats.t.ppf)."""
    from scipy.stats import t

    return float(t.ppf(probability, dof))


@dataclasses.dataclass(frozen=True)
class Paired:
    """``first − second`` paired by seed: mean, 95% interval ``[low, high]``, the seeds
    ``first`` is above / equal to / below ``second``, and how many seeds."""

    mean: float
    low: float
    high: float
    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def direction(self) -> int:
        """+1: first is higher (the interval lies above 0), -1: lower, 0: not detectable."""
        if self.low > 0:
            return 1
        if self.high < 0:
            return -1
        return 0

    def interval(self, digits: int = 3) -> str:
        """``+0.012 [+0.004, +0.020]``."""
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    def record(self) -> str:
        return f"{self.wins}/{self.ties}/{self.losses}"

    def verdict(self, higher: str = "higher", lower: str = "lower") -> str:
        """``higher`` / ``lower`` when the interval excludes 0, else "no detectable
        difference"."""
        return {1: higher, -1: lower, 0: "no detectable difference"}[self.direction]


def paired(first: Mapping[int, float], second: Mapping[int, float]) -> Paired | None:
    """``first[s] − second[s]`` over the seeds both have (None when they share none). One
    seed, or differences that are all equal, give a zero-width interval at the mean."""
    seeds = sorted(set(first) & set(second))
    if not seeds:
        return None
    differences = [first[s] - second[s] for s in seeds]
    return paired_differences(differences)


def paired_differences(differences: Sequence[float]) -> Paired:
    """The interval and record of per-seed differences."""
    n = len(differences)
    mean = statistics.fmean(differences)
    half = 0.0
    if n > 1:
        sd = statistics.stdev(differences)
        half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
    wins = sum(d > 0 for d in differences)
    losses = sum(d < 0 for d in differences)
    return Paired(mean, mean - half, mean + half, wins, n - wins - losses, losses)


def mean_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and its 95% t interval ``(mean, low, high)`` (zero width for one value)."""
    result = paired_differences(list(values))
    return result.mean, result.low, result.high

"""One row of a phase's table (a model over every seed), shared by the report and the
comparisons, which report.py renders: its own module, so neither imports the other."""

from __future__ import annotations

import dataclasses

from .phases import COLLAPSE_SHARE, PAPER_ACCURACY


@dataclasses.dataclass
class Row:
    """One row of a phase's table: a model, its runs over every seed."""

    phase: str
    row: str
    label: str
    paper: bool
    router_kind: str
    noise: str | None
    level: float
    parameters: dict[str, int]
    z_loss: float = 0.0
    seeds: list[int] = dataclasses.field(default_factory=list)
    train: list[float] = dataclasses.field(default_factory=list)
    test: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    shares: list[list[float]] = dataclasses.field(default_factory=list)
    eval_shots: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)

    @property
    def paper_accuracy(self) -> float | None:
        return PAPER_ACCURACY.get((self.phase, self.row))

    def test_by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.test, strict=True))

    @property
    def collapsed(self) -> int:
        """Seeds whose router sends at least COLLAPSE_SHARE of the training points to one
        expert (so the MoE is in effect one expert)."""
        return sum(max(shares) >= COLLAPSE_SHARE for shares in self.shares)

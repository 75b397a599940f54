"""The comparisons the reproduction draws, each a paired-by-seed difference of test
accuracy between two rows of one phase, and the sentence each one allows.

A sentence says "more accurate" or "less accurate" only when the 95% interval of the
paired difference excludes 0 (:mod:`.stats`), and "no detectable difference" otherwise:
the wording comes from the numbers, so a rerun that moves an interval across 0 changes
the sentence (and ``rounding.md`` shows where that happens).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .phases import EQUAL_BUDGET, EVAL_SHOTS, GATE_NOISE_LEVELS, TRAIN_SHOTS, Z_LOSS
from .stats import Paired, paired

if TYPE_CHECKING:
    from .rows import Row


@dataclasses.dataclass(frozen=True)
class Side:
    """A row of a phase, read exactly or (``shots``) with finite shots after training."""

    row: str
    label: str
    shots: int | None = None

    def values(self, rows: dict[str, Row]) -> dict[int, float] | None:
        row = rows.get(self.row)
        if row is None:
            return None
        if self.shots is None:
            return row.test_by_seed()
        accuracies = row.eval_shots.get(str(self.shots))
        if accuracies is None:
            return None
        return dict(zip(row.seeds, accuracies["test_acc"], strict=True))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """``first − second`` test accuracy in ``phase``; ``question`` names what it tests."""

    phase: str
    first: Side
    second: Side
    question: str

    @property
    def key(self) -> str:
        def side(s: Side) -> str:
            return s.row + ("" if s.shots is None else f"@{s.shots}shots")

        return f"{self.phase}:{side(self.first)}-vs-{side(self.second)}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    result: Paired

    def sentence(self) -> str:
        """The reading the interval allows, with the interval."""
        c, r = self.comparison, self.result
        numbers = f"{r.interval()} ({r.record()} of {r.n} seeds)"
        if r.direction == 0:
            return (
                f"no detectable difference between {c.first.label} and {c.second.label}: {numbers}"
            )
        word = "more" if r.direction > 0 else "less"
        return f"{c.first.label} is {word} accurate than {c.second.label}: {numbers}"


Q3 = "the quantum router (3 layers)"


def _quantum(layers: int) -> Side:
    return Side(f"quantum-L{layers}", f"the quantum router ({layers} layer{'s' * (layers > 1)})")


def _mlp(hidden: int, z_loss: bool = False) -> Side:
    suffix = f"+zloss{Z_LOSS:g}" if z_loss else ""
    words = f" + z-loss {Z_LOSS:g}" if z_loss else ""
    return Side(f"mlp-h{hidden}{suffix}", f"the MLP router (hidden {hidden}{words})")


def _comparisons() -> list[Comparison]:
    noiseless = Side("quantum-L3", "the noiseless quantum router")
    found = [
        Comparison(
            "1",
            Side("linear+quantum-experts", "the MoE of quantum experts"),
            Side("linear", "the MoE of linear experts"),
            "quantum vs classical experts",
        ),
        Comparison(
            "1",
            Side("linear+quantum-experts", "the MoE of quantum experts"),
            Side("no-router+quantum-experts", "one quantum expert alone"),
            "a mixture of quantum experts vs one",
        ),
        Comparison(
            "2",
            Side("quantum-L3", Q3),
            Side("linear+bias", "the linear router with bias"),
            "the paper's quantum vs linear router",
        ),
        Comparison(
            "2",
            Side("quantum-L3", Q3),
            _mlp(4),
            "quantum vs MLP router, 24 / 22 parameters",
        ),
    ]
    for hidden, layers in EQUAL_BUDGET:
        found.append(
            Comparison("3a", _quantum(layers), _mlp(hidden), "quantum vs MLP, equal budget")
        )
    for hidden, layers in EQUAL_BUDGET:
        found.append(
            Comparison(
                "3a",
                _quantum(layers),
                _mlp(hidden, z_loss=True),
                "quantum vs MLP + z-loss, equal budget",
            )
        )
    found += [
        Comparison("3a", _quantum(layers), _quantum(3), "depth of the quantum router")
        for layers in (1, 6, 13)
    ]
    found += [
        Comparison("3a", _mlp(hidden, z_loss=True), _mlp(hidden), "the z-loss on MLP routers")
        for hidden, _ in EQUAL_BUDGET
    ]
    found.append(
        Comparison(
            "3a",
            Side(f"quantum-L3+zloss{Z_LOSS:g}", f"{Q3} + z-loss {Z_LOSS:g}"),
            _quantum(3),
            "the z-loss on the quantum router",
        )
    )
    for family, levels, words in (
        ("depolarizing", (0.05, 0.1, 0.2), "depolarizing"),
        ("amplitude_damping", (0.2,), "amplitude damping"),
        ("depolarizing_after_every_gate", GATE_NOISE_LEVELS, "depolarizing after every gate"),
    ):
        for level in levels:
            found.append(
                Comparison(
                    "3b",
                    Side(f"quantum-L3-{family}-{level:g}", f"the router under {words} p={level:g}"),
                    noiseless,
                    "the cost of noise",
                )
            )
    for shots in TRAIN_SHOTS:
        found.append(
            Comparison(
                "3b",
                Side(f"quantum-L3-shots-{shots}", f"the router trained with {shots} shots"),
                noiseless,
                "the cost of shots in training",
            )
        )
    for shots in EVAL_SHOTS:
        found.append(
            Comparison(
                "3b",
                Side("quantum-L3", f"the router read out with {shots} shots", shots=shots),
                Side("quantum-L3", "its exact readout"),
                "the cost of shots at readout",
            )
        )
    return found


COMPARISONS: tuple[Comparison, ...] = tuple(_comparisons())


def evaluate(summaries: dict[str, Sequence[Row]]) -> list[Outcome]:
    """Every comparison whose two sides ran (at least one shared seed)."""
    outcomes = []
    for comparison in COMPARISONS:
        rows = {r.row: r for r in summaries.get(comparison.phase, [])}
        first, second = comparison.first.values(rows), comparison.second.values(rows)
        if first is None or second is None:
            continue
        result = paired(first, second)
        if result is not None:
            outcomes.append(Outcome(comparison, result))
    return outcomes

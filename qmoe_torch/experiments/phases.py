"""What each phase trains: its presets (the paper's sizes, and tiny ones for tests), its
routers, and the paper's reported numbers to print beside ours.

Every phase runs each of its rows once per seed. Seed ``s`` draws the data set
(``random_state=s``), its stratified train/test split, the initial weights (experts from
``s``; the gate from its own stream, see :func:`.models.make_model`), the minibatch order
and the shot sampling, so all routers of one seed see the same data and the same initial
experts (paired comparisons).

- ``1``: feasibility of quantum experts: a linear router over three ``QuantumExpert`` s (16
  features amplitude-embedded into 4 qubits, 2 strongly entangling layers), one such expert
  alone (the paper's "plain quantum network") and the MoE with three ``nn.Linear(16, 2)``
  experts (its "classical MoE"), on digits 0 vs 1 pooled to 4x4.
- ``2``: decision boundaries of the linear router (``nn.Linear(2, 2)``) and the quantum
  router on 500 Two Moons points (paper); a bias-free linear router and the MLP router of
  the quantum router's size (extras).
- ``3a``: accuracy against router parameters: ReLU MLP routers of hidden 2..64 and the
  quantum router (paper); the linear routers (without and with bias), quantum routers of
  1, 6 and 13 layers, whose 12 / 42 / 84 parameters match the MLPs of hidden 2, 8 and 16,
  and the MLP routers of those sizes and the quantum router trained with the router z-loss
  (weight 0.01), the usual remedy for routers that collapse onto one expert (extras).
- ``3b``: the quantum router trained and evaluated under depolarizing noise (paper);
  amplitude damping at the same levels, depolarizing noise after every gate (p = 0.01 and
  0.05: noise inside the ansatz, which the trainable adapter cannot rescale away as it can
  a channel after the ansatz), training and evaluation with 100 and 1,000 shots, and the
  noiseless router evaluated with 10 / 100 / 1,000 shots (extras).
"""

from __future__ import annotations

import dataclasses
import math

from .data import Split, digits_zero_one, two_moons
from .models import ExpertKind, NoiseSpec, RouterSpec
from .training import TrainConfig

PHASES: dict[str, str] = {
    "1": "Phase 1: quantum experts behind a linear router (digits 0 vs 1, 4x4)",
    "2": "Phase 2: decision boundaries of linear, MLP and quantum routers (Two Moons)",
    "3a": "Phase 3A: accuracy vs router parameters (Two Moons)",
    "3b": "Phase 3B: the quantum router under noise (Two Moons)",
}

MIN_POINTS = 20  # the fewest data points a run accepts
NOISE_LEVELS = (0.0, 0.02, 0.05, 0.10, 0.15, 0.20)  # the paper's depolarizing p
GATE_NOISE_LEVELS = (0.01, 0.05)  # depolarizing after every gate (about 30 channels)
TRAIN_SHOTS = (100, 1000)  # quantum router trained and evaluated with this many shots
EVAL_SHOTS = (10, 100, 1000)  # the noiselessly trained router evaluated with shots
MLP_HIDDEN = (2, 4, 8, 16, 32, 64)  # the paper's MLP routers: 12 ... 322 parameters
Z_LOSS = 0.01  # router z-loss weight of the extra "MLP + z-loss" routers of 3A
COLLAPSE_SHARE = 0.95  # a router that sends this share of points to one expert collapsed
EQUAL_BUDGET = ((2, 1), (4, 3), (8, 6), (16, 13))  # (MLP hidden, quantum layers): 12/12,
# 22/24, 42/42, 82/84 parameters

PAPER_ROUTER = RouterSpec("quantum", layers=3)
BIASED_LINEAR = RouterSpec("linear", bias=True)

# The paper's numbers (training-set accuracy, one seed) and phase 1's training time.
PAPER_ACCURACY: dict[tuple[str, str], float] = {
    ("3a", "mlp-h2"): 0.875,
    ("3a", "mlp-h4"): 0.882,
    ("3a", "mlp-h8"): 0.877,
    ("3a", "mlp-h16"): 0.991,
    ("3a", "mlp-h32"): 0.995,
    ("3a", "mlp-h64"): 0.995,
    ("3a", "quantum-L3"): 0.996,
    ("3b", "quantum-L3"): 1.000,
    ("3b", "quantum-L3-depolarizing-0.02"): 0.982,
    ("3b", "quantum-L3-depolarizing-0.05"): 0.989,
    ("3b", "quantum-L3-depolarizing-0.1"): 0.994,
    ("3b", "quantum-L3-depolarizing-0.15"): 0.986,
    ("3b", "quantum-L3-depolarizing-0.2"): 0.975,
}
# Phase 1 on MNIST 0 vs 1 at 4x4, 8 epochs (PennyLane default.qubit): accuracy, seconds.
PAPER_PHASE1: dict[str, tuple[float, float]] = {
    "linear+quantum-experts": (0.9934, 5258.0),
    "no-router+quantum-experts": (0.9939, 1709.0),
    "linear": (0.9948, 23.0),
}
PHASE1_EXPERTS = 3  # the paper's QMoE: a linear router over three quantum experts


@dataclasses.dataclass(frozen=True)
class PhaseSettings:
    """Data points (phase 1: images, None = all 360), epochs, Adam learning rate, batch."""

    points: int | None
    epochs: int
    lr: float
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.points is not None and self.points < MIN_POINTS:
            raise ValueError(
                f"points={self.points}: expected at least {MIN_POINTS}, so that "
                "both splits hold both classes"
            )
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: expected at least 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr}: expected a positive learning rate")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: expected at least 1")


PRESETS: dict[str, dict[str, PhaseSettings]] = {
    # The paper's sizes, epochs and learning rates (3B: 3A's data, 20 epochs). Every batch
    # size is ours (the authors' notebooks load Two Moons in batches of 32 and give none for
    # phase 1).
    "paper": {
        "1": PhaseSettings(None, 8, 0.01),
        "2": PhaseSettings(500, 50, 0.1),
        "3a": PhaseSettings(1000, 30, 0.05),
        "3b": PhaseSettings(1000, 20, 0.05),
    },
    # For tests and smoke runs: seconds, not minutes; the numbers mean nothing.
    "tiny": {
        "1": PhaseSettings(40, 1, 0.05, 16),
        "2": PhaseSettings(40, 2, 0.1, 16),
        "3a": PhaseSettings(40, 1, 0.05, 16),
        "3b": PhaseSettings(40, 1, 0.05, 16),
    },
}


@dataclasses.dataclass(frozen=True)
class Job:
    """One training run: a row of a phase's table for one seed."""

    phase: str
    router: RouterSpec
    experts: ExpertKind
    settings: PhaseSettings
    seed: int
    test_size: float = 0.3
    eval_shots: tuple[int, ...] = ()
    grid: int = 0  # > 0: record the router's and the classifier's decision grid
    paper: bool = True  # a row of the paper's (else a reviewer's extra)
    z_loss: float = 0.0  # router z-loss weight (0: the paper's plain cross-entropy)

    @property
    def row(self) -> str:
        experts = "" if self.experts == "linear" else f"+{self.experts}-experts"
        return self.router.key + experts + (f"+zloss{self.z_loss:g}" if self.z_loss else "")

    @property
    def label(self) -> str:
        z_loss = f" + z-loss {self.z_loss:g}" if self.z_loss else ""
        if self.phase == "1":
            count = 1 if self.router.kind == "none" else self.n_experts
            plural = "s" if count > 1 else ""
            experts = (
                f"{count} quantum expert{plural} (amplitude embedding, 4 qubits, 2 layers)"
                if self.experts == "quantum"
                else f"{count} linear expert{plural} Linear(16, 2)"
            )
            return f"{self.router.label} + {experts}{z_loss}"
        return self.router.label + z_loss

    @property
    def n_experts(self) -> int:
        return PHASE1_EXPERTS if self.phase == "1" else 2

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(
            self.settings.epochs, self.settings.lr, self.settings.batch_size, z_loss=self.z_loss
        )

    def data(self) -> Split:
        if self.phase == "1":
            return digits_zero_one(
                self.seed, test_size=self.test_size, n_points=self.settings.points
            )
        return two_moons(self.settings.points, self.seed, test_size=self.test_size)

    def cost(self) -> float:
        """Rough relative cost, to start the longest runs first."""
        points = self.settings.points or 360
        steps = self.settings.epochs * math.ceil(
            points * (1 - self.test_size) / self.settings.batch_size
        )
        noise = self.router.noise
        factor = (
            1.0
            if noise is None
            else (5.0 if noise.kind == "shots" else 4.0 if noise.at == "gate" else 1.5)
        )
        return steps * factor * (1 + 0.02 * self.router.layers) + 20 * len(self.eval_shots)


Row = tuple[RouterSpec, ExpertKind, bool, float]  # router, experts, the paper's?, z-loss


def _rows(phase: str, extras: bool) -> list[Row]:
    """Every row of ``phase``, in table order."""
    linear = RouterSpec("linear")
    if phase == "1":  # the QMoE, the plain quantum network, the classical MoE
        return [
            (linear, "quantum", True, 0.0),
            (RouterSpec("none"), "quantum", True, 0.0),
            (linear, "linear", True, 0.0),
        ]
    if phase == "2":
        rows = [(BIASED_LINEAR, "linear", True, 0.0)]
        if extras:  # bias-free; the MLP of the quantum router's size (22 vs 24 parameters)
            rows += [
                (linear, "linear", False, 0.0),
                (RouterSpec("mlp", hidden=4), "linear", False, 0.0),
            ]
        return [*rows, (PAPER_ROUTER, "linear", True, 0.0)]
    if phase == "3a":
        rows = (
            [(linear, "linear", False, 0.0), (BIASED_LINEAR, "linear", False, 0.0)]
            if extras
            else []
        )
        rows += [(RouterSpec("mlp", hidden=h), "linear", True, 0.0) for h in MLP_HIDDEN]
        for _, layers in EQUAL_BUDGET:
            if layers == PAPER_ROUTER.layers or extras:
                rows.append(
                    (
                        RouterSpec("quantum", layers=layers),
                        "linear",
                        layers == PAPER_ROUTER.layers,
                        0.0,
                    )
                )
        if extras:  # the z-loss at the equal-budget sizes
            rows += [
                (RouterSpec("mlp", hidden=h), "linear", False, Z_LOSS) for h, _ in EQUAL_BUDGET
            ]
            rows.append((PAPER_ROUTER, "linear", False, Z_LOSS))
        return rows
    if phase == "3b":
        rows = [
            (
                PAPER_ROUTER.with_noise(NoiseSpec("depolarizing", p) if p else None),
                "linear",
                True,
                0.0,
            )
            for p in NOISE_LEVELS
        ]
        if extras:
            rows += [
                (PAPER_ROUTER.with_noise(NoiseSpec("amplitude_damping", p)), "linear", False, 0.0)
                for p in NOISE_LEVELS
                if p
            ]
            rows += [
                (
                    PAPER_ROUTER.with_noise(NoiseSpec("depolarizing", p, at="gate")),
                    "linear",
                    False,
                    0.0,
                )
                for p in GATE_NOISE_LEVELS
            ]
            rows += [
                (PAPER_ROUTER.with_noise(NoiseSpec("shots", s)), "linear", False, 0.0)
                for s in TRAIN_SHOTS
            ]
        return rows
    raise ValueError(f"unknown phase {phase!r}, expected one of {sorted(PHASES)}")


def jobs_for_phase(
    phase: str,
    settings: PhaseSettings,
    seeds: list[int],
    *,
    test_size: float = 0.3,
    extras: bool = True,
    grid: int = 121,
) -> list[Job]:
    """Every (row, seed) run of ``phase``; phase 2 records decision grids of its first seed,
    phase 3B evaluates the noiseless router with shots (extras)."""
    jobs = []
    for router, experts, paper, z_loss in _rows(phase, extras):
        for seed in seeds:
            eval_shots = EVAL_SHOTS if phase == "3b" and extras and router.noise is None else ()
            jobs.append(
                Job(
                    phase,
                    router,
                    experts,
                    settings,
                    seed,
                    test_size=test_size,
                    eval_shots=eval_shots,
                    grid=grid if phase == "2" and seed == seeds[0] else 0,
                    paper=paper,
                    z_loss=z_loss,
                )
            )
    return jobs

"""qmoe_torch.experiments: every phase runs at a tiny size and writes its table and figures;
the models are the paper's; the same seed gives the same numbers; the comparisons carry
paired intervals and their readings follow from them."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

import qmoe_torch as qm  # noqa: E402
from qmoe_torch.experiments import pipeline  # noqa: E402
from qmoe_torch.experiments.__main__ import main  # noqa: E402
from qmoe_torch.experiments.data import digits_zero_one, two_moons  # noqa: E402
from qmoe_torch.experiments.models import NoiseSpec, RouterSpec, make_model  # noqa: E402
from qmoe_torch.experiments.phases import PAPER_ROUTER, PRESETS, jobs_for_phase  # noqa: E402
from qmoe_torch.opcodes import is_channel  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMES = {"train_seconds", "eval_seconds"}


def _accuracies(run: dict) -> list[float]:
    values = [run["train_acc"], run["test_acc"], *run["expert_shares"]]
    for shots in run["eval_shots"].values():
        values += [shots["train_acc"], shots["test_acc"]]
    return values


def _table_accuracies(markdown: str) -> list[float]:
    """Every mean and standard deviation in the ``train acc`` / ``test acc`` columns."""
    values, columns = [], []
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = []
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if "train acc" in cells or "test acc" in cells:
            columns = [i for i, c in enumerate(cells) if c in ("train acc", "test acc")]
            continue
        for i in columns:
            if i < len(cells):
                values += [float(v) for v in re.findall(r"\d+\.\d+", cells[i])]
    return values


def _numbers(out: Path) -> list[dict]:
    runs = json.loads((out / "results.json").read_text())["runs"]
    return [{k: v for k, v in run.items() if k not in TIMES} for run in runs]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> pipeline.Outcome:
    out = tmp_path_factory.mktemp("tiny")
    return pipeline.run(
        ["1", "2", "3a", "3b"], out, preset="tiny", seeds=[0, 1], workers=1, progress=False
    )


def test_every_phase_writes_its_table_and_figures(tiny: pipeline.Outcome) -> None:
    markdown = tiny.results_md.read_text()
    for heading in ("Phase 1:", "Phase 2:", "Phase 3A:", "Phase 3B:"):
        assert f"## {heading}" in markdown
    assert set(tiny.figures) == {"2", "3a", "3b"}
    for name, path in tiny.figures.items():
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert f"]({path.name})" in markdown
    runs = json.loads(tiny.results_json.read_text())["runs"]
    assert {r["phase"] for r in runs} == {"1", "2", "3a", "3b"}
    assert all(r["seed"] in (0, 1) for r in runs)
    # the paper's rows and the reviewer's extras are all there
    assert "equal parameter budgets" in markdown.lower()
    assert "evaluated with 100 shots" in markdown
    assert "amplitude damping p=0.1 †" in markdown
    assert "5,258 s" in markdown


def test_every_number_is_an_accuracy(tiny: pipeline.Outcome) -> None:
    runs = json.loads(tiny.results_json.read_text())["runs"]
    values = [v for run in runs for v in _accuracies(run)]
    assert values and all(0.0 <= v <= 1.0 for v in values)
    table = _table_accuracies(tiny.results_md.read_text())
    assert len(table) > 100 and all(0.0 <= v <= 1.0 for v in table)
    assert all(math.isfinite(run["train_seconds"]) and run["train_seconds"] >= 0 for run in runs)


def test_same_seed_same_numbers(tiny: pipeline.Outcome, tmp_path: Path) -> None:
    # again, in another process layout: two worker processes instead of this one
    again = pipeline.run(
        ["1", "2", "3a", "3b"], tmp_path, preset="tiny", seeds=[0, 1], workers=2, progress=False
    )
    assert _numbers(again.out) == _numbers(tiny.out)


def test_another_seed_other_numbers(tiny: pipeline.Outcome, tmp_path: Path) -> None:
    other = pipeline.run(["2"], tmp_path, preset="tiny", seeds=[2], workers=1, progress=False)
    first = [r["final_loss"] for r in _numbers(tiny.out) if r["phase"] == "2" and r["seed"] == 0]
    assert [r["final_loss"] for r in _numbers(other.out)] != first


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "run",
                "--phase",
                "2",
                "--preset",
                "tiny",
                "--seeds",
                "1",
                "--epochs",
                "1",
                "--workers",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "## Phase 2:" in printed and str(tmp_path / "results.md") in printed
    assert (tmp_path / "phase2_decision_boundaries.png").exists()
    settings = json.loads((tmp_path / "results.json").read_text())["meta"]["settings"]
    assert settings["2"]["epochs"] == 1
    result = subprocess.run(
        [sys.executable, "-m", "qmoe_torch.experiments", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "demo" in result.stdout


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (["--test-size", "1.5"], "test_size=1.5: expected a fraction in (0, 1)"),
        (["--points", "3"], "points=3: expected at least 20"),
        (["--epochs", "0"], "epochs=0: expected at least 1"),
        (["--lr", "-1"], "lr=-1.0: expected a positive learning rate"),
        (["--batch-size", "0"], "batch_size=0: expected at least 1"),
    ],
)
def test_bad_settings_are_named_and_write_nothing(
    argument: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert (
        main(
            [
                "run",
                "--phase",
                "2",
                "--preset",
                "tiny",
                "--seeds",
                "1",
                "--no-progress",
                "--out",
                str(out),
                *argument,
            ]
        )
        == 2
    )
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_paper_model() -> None:
    model = make_model(PAPER_ROUTER, "linear", d_model=2, seed=0)
    assert isinstance(model, qm.MoE) and model.k == model.n_experts == 2
    assert isinstance(model.gate, qm.QuantumGate) and model.gate.projection is None
    assert model.gate.parameter_counts() == {"classical": 6, "quantum": 18, "total": 24}
    assert [type(e) for e in model.experts] == [torch.nn.Linear] * 2
    assert model(torch.rand(5, 2)).output.shape == (5, 2)
    mlp = [
        make_model(RouterSpec("mlp", hidden=h), "linear", d_model=2).gate.parameter_counts()[
            "total"
        ]
        for h in (2, 4, 8, 16, 32, 64)
    ]
    assert mlp == [12, 22, 42, 82, 162, 322]
    assert isinstance(
        make_model(RouterSpec("mlp", hidden=4), "linear", d_model=2).gate.layers[1], torch.nn.ReLU
    )
    # phase 1: a linear router over three quantum experts; one expert alone; classical MoE
    phase1 = [
        make_model(job.router, job.experts, d_model=16, n_experts=job.n_experts)
        for job in jobs_for_phase("1", PRESETS["paper"]["1"], [0])
    ]
    assert isinstance(phase1[0], qm.MoE) and phase1[0].n_experts == 3
    assert all(isinstance(e, qm.QuantumExpert) for e in phase1[0].experts)
    assert isinstance(phase1[1], qm.QuantumExpert) and phase1[1].n_qubits == 4
    assert [type(e) for e in phase1[2].experts] == [torch.nn.Linear] * 3
    # phase 2's paper rows: nn.Linear(2, 2) with its bias (6 parameters) and the quantum router
    paper_rows = [
        job.router for job in jobs_for_phase("2", PRESETS["paper"]["2"], [0]) if job.paper
    ]
    assert [
        make_model(r, "linear", d_model=2).gate.parameter_counts()["total"] for r in paper_rows
    ] == [6, 24]
    # depolarizing on both qubits after the embedding and after the ansatz
    noisy = make_model(
        PAPER_ROUTER.with_noise(NoiseSpec("depolarizing", 0.05)), "linear", d_model=2
    ).gate
    opcodes = [op[0] for op in noisy.circuit.ops]
    channels = [i for i, opcode in enumerate(opcodes) if is_channel(opcode)]
    assert channels == [2, 3, len(opcodes) - 2, len(opcodes) - 1]
    # after every gate: a channel on each wire a gate acts on, right after it
    everywhere = make_model(
        PAPER_ROUTER.with_noise(NoiseSpec("depolarizing", 0.01, at="gate")), "linear", d_model=2
    ).gate
    gate_opcodes = [op[0] for op in everywhere.circuit.ops]
    assert sum(map(is_channel, gate_opcodes)) > len(channels) and is_channel(gate_opcodes[-1])
    # the same seed: the same experts for every router
    quantum, linear = (
        make_model(RouterSpec(k), "linear", d_model=2, seed=3) for k in ("quantum", "linear")
    )
    assert torch.equal(quantum.experts[0].weight, linear.experts[0].weight)


def test_data() -> None:
    split = two_moons(100, seed=0)
    assert split.x_train.shape == (70, 2) and split.x_test.shape == (30, 2)
    assert torch.allclose(split.x_train.min(0).values, torch.zeros(2))
    assert torch.allclose(split.x_train.max(0).values, torch.full((2,), math.pi))
    digits = digits_zero_one(seed=0)
    assert digits.n_features == 16 and len(digits.x_train) + len(digits.x_test) == 360
    assert set(digits.y_train.tolist()) == {0, 1}
    assert 0 <= float(digits.x_train.min()) and float(digits.x_train.max()) <= 1


def test_paired_interval_is_scipys_paired_t() -> None:
    from scipy import stats as scipy_stats

    from qmoe_torch.experiments.stats import paired

    generator = torch.Generator().manual_seed(7)
    for n in (2, 5, 30):
        a = (torch.rand(n, generator=generator, dtype=torch.float64) * 0.2 + 0.8).tolist()
        b = (torch.rand(n, generator=generator, dtype=torch.float64) * 0.2 + 0.8).tolist()
        result = paired(dict(enumerate(a)), dict(enumerate(b)))
        expected = scipy_stats.ttest_rel(a, b).confidence_interval(0.95)
        assert result.n == n and result.wins + result.ties + result.losses == n
        assert math.isclose(result.low, expected.low, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(result.high, expected.high, rel_tol=1e-9, abs_tol=1e-12)
        assert result.direction == (1 if expected.low > 0 else -1 if expected.high < 0 else 0)


def test_a_difference_is_stated_only_where_its_interval_excludes_zero() -> None:
    from qmoe_torch.experiments.stats import paired

    clear = paired({0: 0.9, 1: 0.92, 2: 0.91}, {0: 0.8, 1: 0.81, 2: 0.79})
    assert clear.low > 0 and clear.direction == 1 and clear.verdict() == "higher"
    unclear = paired({0: 0.9, 1: 0.8, 2: 0.95}, {0: 0.85, 1: 0.9, 2: 0.85})
    assert unclear.low < 0 < unclear.high
    assert unclear.verdict() == "no detectable difference"
    assert paired({0: 1.0}, {1: 1.0}) is None  # no shared seed


def test_the_readings_come_from_the_intervals(tiny: pipeline.Outcome) -> None:
    from qmoe_torch.experiments import report
    from qmoe_torch.experiments.comparisons import COMPARISONS, evaluate

    runs = json.loads(tiny.results_json.read_text())
    outcomes = evaluate(report.summarize(runs["runs"]))
    assert len(outcomes) == len(COMPARISONS) == len(runs["comparisons"])
    markdown = tiny.results_md.read_text()
    assert "## Readings" in markdown and "[95% CI]" in markdown
    for outcome, stored in zip(outcomes, runs["comparisons"], strict=True):
        result = outcome.result
        assert result.n == 2 and stored["key"] == outcome.comparison.key
        assert result.low <= result.mean <= result.high
        undetected = result.low <= 0 <= result.high
        assert ("no detectable difference" in outcome.sentence()) == undetected
        assert outcome.sentence() in markdown


def test_rounding_comparison(tiny: pipeline.Outcome, tmp_path: Path) -> None:
    # two "runs" that differ in one row: phase 2's quantum router clearly above the linear
    # router with bias in one, clearly below in the other; every other reading agrees
    folders = []
    for name, shift in (("above", 0.3), ("below", -0.3)):
        data = json.loads(tiny.results_json.read_text())
        linear = {
            r["seed"]: r["test_acc"]
            for r in data["runs"]
            if r["phase"] == "2" and r["row"] == "linear+bias"
        }
        for run in data["runs"]:
            if run["phase"] == "2" and run["row"] == "quantum-L3":
                run["test_acc"] = linear[run["seed"]] + shift + 0.001 * run["seed"]
        folder = tmp_path / name
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(data))
        folders.append(folder)
    out = tmp_path / "rounding.md"
    code = main(["compare", f"above={folders[0]}", f"below={folders[1]}", "--out", str(out)])
    assert code == 0
    text = out.read_text()
    differing = [line for line in text.splitlines() if "differ: not a conclusion" in line]
    assert len(differing) == 1 and "quantum router (3 layers) − the linear router" in differing[0]
    assert "`2:quantum-L3-vs-linear+bias`" in text and "| agree |" in text
    assert "Single runs move" in text and "changed the test accuracy of 2 of" in text
    assert main(["compare", f"only={tiny.out}", "--out", str(out)]) == 2

"""qmoe_torch.experiments lm: the MoE language model at a tiny size writes its table and
figures with sane numbers; every router of a seed starts from the same non-router weights
and sees the same data; the same seed gives the same numbers; the corpus is split by
document."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

import qmoe_torch as qm  # noqa: E402
from qmoe_torch.experiments import lm_pipeline  # noqa: E402
from qmoe_torch.experiments.__main__ import main  # noqa: E402
from qmoe_torch.experiments.lm_cli import LM_PRESETS  # noqa: E402
from qmoe_torch.experiments.lm_corpus import DOCUMENT_SEPARATOR, load  # noqa: E402
from qmoe_torch.experiments.lm_model import LMRouter, build  # noqa: E402
from qmoe_torch.experiments.lm_training import LMJob, run_lm_job  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMES = {"step_seconds", "step_cpu_seconds", "train_seconds"}
CONFIG, SETTINGS = LM_PRESETS["tiny"]


def _documents(folder: Path, count: int = 12) -> Path:
    """``count`` small text documents, each made of words that name it."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        words = " ".join(f"doc{index:02d}word{w}" for w in range(400))
        (folder / f"doc{index:02d}.txt").write_text(f"Document {index}.\n{words}\n")
    return folder


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _documents(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> lm_pipeline.LMOutcome:
    return lm_pipeline.run(
        tmp_path_factory.mktemp("lm"),
        seeds=[0, 1],
        config=CONFIG,
        settings=SETTINGS,
        corpus=str(corpus_dir),
        workers=1,
        progress=False,
    )


def test_the_corpus_is_split_by_document(corpus_dir: Path) -> None:
    corpus = load(corpus_dir)
    assert (corpus.train_documents, corpus.validation_documents) == (10, 2)
    validation = bytes(corpus.validation.tolist())
    train = bytes(corpus.train.tolist())
    # documents 0 and 10 (every tenth in name order) are validation, the rest training
    assert b"doc00word" in validation and b"doc10word" in validation
    assert b"doc00word" not in train and b"doc10word" not in train
    assert all(f"doc{i:02d}word".encode() in train for i in range(1, 10))
    assert validation.count(DOCUMENT_SEPARATOR) == 1
    windows = corpus.batch(torch.Generator().manual_seed(3), 4, 32)
    again = corpus.batch(torch.Generator().manual_seed(3), 4, 32)
    assert windows.shape == (4, 33) and torch.equal(windows, again)
    with pytest.raises(FileNotFoundError, match="need at least 2"):
        load(_documents(corpus_dir.parent / "one", 1))


def test_every_router_starts_from_the_same_model() -> None:
    models = {
        r.key: build(CONFIG, r, seed=5)
        for r in lm_pipeline.routers(CONFIG)  # linear, mlp, 3 and 8 qubits
    }
    assert set(models) == {"linear", "mlp", "quantum-3q", "quantum-8q"}
    reference = models["linear"]
    for key, model in models.items():
        gates = model.gates()
        assert len(gates) == CONFIG.layers
        kind = {"linear": qm.LinearGate, "mlp": qm.MLPGate}.get(key, qm.QuantumGate)
        assert all(isinstance(g, kind) for g in gates)
        # every weight outside the gates is that of the linear-router model
        mine = {n: p for n, p in model.named_parameters() if ".gate." not in n}
        theirs = {n: p for n, p in reference.named_parameters() if ".gate." not in n}
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[n], theirs[n]) for n in mine)
    assert [g.n_qubits for g in models["quantum-8q"].gates()] == [8] * CONFIG.layers
    # the MLP router's budget is the 8-qubit quantum router's
    budget = models["quantum-8q"].gates()[0].parameter_counts()["total"]
    mlp = models["mlp"].gates()[0].parameter_counts()["total"]
    assert mlp <= budget and mlp + CONFIG.d_model + 1 + 2 * CONFIG.n_experts > budget
    logits, routed = reference(torch.randint(0, 256, (2, 9)))
    assert logits.shape == (2, 9, 256) and len(routed) == CONFIG.layers
    assert routed[0].routing.indices.shape == (18, CONFIG.k)


def test_the_experiment_writes_its_table_and_figures(tiny: lm_pipeline.LMOutcome) -> None:
    markdown = tiny.results_md.read_text()
    for name in lm_pipeline.FIGURES.values():
        assert (tiny.out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in markdown
    for label in ("LinearGate", "MLPGate (ReLU)", "QuantumGate, 3 qubits", "QuantumGate, 8 qubits"):
        assert f"| {label}" in markdown
    assert "## Readings" in markdown and "95% CI" in markdown
    data = json.loads(tiny.results_json.read_text())
    assert len(data["runs"]) == 8 and data["meta"]["seeds"] == [0, 1]
    assert len(data["comparisons"]) == len(lm_pipeline.PAIRS) * len(lm_pipeline.MEASURES)
    for comparison in data["comparisons"]:
        undetected = comparison["low"] <= 0 <= comparison["high"]
        assert ("no detectable difference" in comparison["reading"]) == undetected
        assert comparison["reading"] in markdown


def test_the_numbers_are_sane(tiny: lm_pipeline.LMOutcome) -> None:
    experts = CONFIG.n_experts
    for run in tiny.results:
        assert 0 < run["validation_loss"] < math.log(256) + 2
        assert math.isclose(run["perplexity"], math.exp(run["validation_loss"]))
        assert 0 <= run["load_entropy"] <= 1 + 1e-12
        assert 1 - 1e-12 <= run["max_load"] <= experts / CONFIG.k + 1e-12
        assert 0 <= run["dropped_fraction"] <= 1 and 0 <= run["stability"] <= 1
        assert run["step_seconds"] > 0 and run["step_cpu_seconds"] >= 0
        assert run["gate_parameters"] > 0
        assert len(run["shares"]) == CONFIG.layers
        assert all(math.isclose(sum(layer), 1.0) for layer in run["shares"])
        steps = [point["step"] for point in run["curve"]]
        assert steps == list(range(SETTINGS.eval_every, SETTINGS.steps + 1, SETTINGS.eval_every))
    # the table's validation losses are the runs' means
    markdown = tiny.results_md.read_text()
    linear = [r["validation_loss"] for r in tiny.results if r["router"] == "linear"]
    row = next(line for line in markdown.splitlines() if line.startswith("| LinearGate |"))
    assert float(re.findall(r"\d+\.\d+", row.split("|")[3])[0]) == pytest.approx(
        sum(linear) / len(linear), abs=1e-4
    )


def test_same_seed_same_numbers(tiny: lm_pipeline.LMOutcome, corpus_dir: Path) -> None:
    router = LMRouter("quantum", qubits=8)
    again = run_lm_job(LMJob(router, 1, CONFIG, SETTINGS, str(corpus_dir)))
    first = next(r for r in tiny.results if r["router"] == router.key and r["seed"] == 1)
    assert {k: v for k, v in again.items() if k not in TIMES} == {
        k: v for k, v in first.items() if k not in TIMES
    }
    other = next(r for r in tiny.results if r["router"] == router.key and r["seed"] == 0)
    assert other["validation_loss"] != first["validation_loss"]


def test_command_line(tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "never"
    assert main(["lm", "--preset", "tiny", "--seeds", "0", "--out", str(out)]) == 2
    assert main(["lm", "--preset", "tiny", "--steps", "0", "--out", str(out)]) == 2
    assert main(["lm", "--corpus", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "steps=0: expected at least 1" in capsys.readouterr().err
    assert not out.exists()

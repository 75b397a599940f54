"""benchmarks/bench_peers.py at a tiny size with the systems this environment has: qmoe and
the reference always, each peer where it imports (the others are listed as not run)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_peers.py"
ALWAYS = ("qmoe-adjoint", "qmoe-shift", "reference")
STATUSES = {"timed", "budget", "n/a", "disagrees", "failed"}
TINY = [
    "--router-batches",
    "4",
    "--wide-qubits",
    "3",
    "--wide-batch",
    "4",
    "--epoch-points",
    "20",
    "--probe-batch",
    "4",
    "--check-batch",
    "3",
    "--min-time",
    "0.001",
    "--max-time",
    "0.01",
    "--budget",
    "20",
    "--max-call",
    "5",
]


def run_script(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("peers")
    done = run_script([*TINY, "--out", str(out / "peers.md"), "--json", str(out / "peers.json")])
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "peers.json").read_text())
    return {"dir": out, "results": results, "markdown": (out / "peers.md").read_text()}


def test_every_cell_of_qmoe_and_the_reference_is_checked_and_timed(tiny_run: dict) -> None:
    results = tiny_run["results"]
    cells = [cell["key"] for cell in results["cells"]]
    assert len(cells) == 2 + 2 + 2  # router fwd/bwd, 3 qubits fwd/bwd, the two epochs
    for system in ALWAYS:
        assert system in results["versions"]
        for cell in cells:
            outcome = results["outcomes"][f"{system}/{cell}"]
            assert outcome["status"] == "timed", (system, cell, outcome)
            assert math.isfinite(outcome["median"]) and outcome["median"] > 0
            assert 0 < outcome["min"] <= outcome["median"]
            assert outcome["repeats"] >= 3
    checked = {(a["system"], a["cell"]) for a in results["agreements"]}
    assert {(s, c) for s in ALWAYS for c in cells} <= checked


def test_agreement_is_measured_not_assumed(tiny_run: dict) -> None:
    agreements = tiny_run["results"]["agreements"]
    for agreement in agreements:
        if agreement["system"] in ALWAYS:
            assert agreement["ok"], agreement
            assert all(0 <= d <= 1e-5 for d in agreement["diffs"].values()), agreement
    # qmoe's own parameter shift and the reference are independent of the adjoint: their
    # gradients differ from it by rounding, not by exactly nothing everywhere
    gradient_diffs = [
        d
        for a in agreements
        if a["system"] in ("qmoe-shift", "reference")
        for name, d in a["diffs"].items()
        if name.startswith("d/d")
    ]
    assert gradient_diffs and max(gradient_diffs) > 0


def test_peers_are_run_or_listed_with_the_reason(tiny_run: dict) -> None:
    results = tiny_run["results"]
    peers = ("pennylane-lightning", "pennylane-default", "torchquantum")
    peers += ("qiskit-aer", "tensorcircuit", "qulacs")
    for peer in peers:
        assert (peer in results["versions"]) != (peer in results["missing"]), peer
        if peer in results["missing"]:
            assert results["missing"][peer]
            assert peer in tiny_run["markdown"]
        else:
            outcomes = [o for key, o in results["outcomes"].items() if key.startswith(peer + "/")]
            assert outcomes and all(o["status"] in STATUSES for o in outcomes)
            assert all(o["note"] for o in outcomes if o["status"] != "timed")


def test_report_and_figure(tiny_run: dict) -> None:
    markdown = tiny_run["markdown"]
    for section in ("## Systems", "## Agreement with qmoe (adjoint)", "## Medians"):
        assert section in markdown
    assert "load average at start" in markdown and "CPU" in markdown
    medians = markdown.split("## Medians", 1)[1]
    header = next(line for line in medians.splitlines() if line.startswith("| cell"))
    assert all(system in header for system in ALWAYS)
    assert "router, fwd+bwd, 4 tokens" in medians and "Phase-3B epoch" in medians
    assert "(1×)" in medians  # qmoe adjoint against itself
    pytest.importorskip("matplotlib")
    png = tiny_run["dir"] / "peers.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![" in markdown and "peers.png" in markdown


def test_bad_arguments_are_named() -> None:
    done = run_script(["--systems", "qmoe-adjoint,nonesuch"])
    assert done.returncode == 2
    assert "--systems" in done.stderr and "nonesuch" in done.stderr

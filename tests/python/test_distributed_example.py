"""examples/distributed_moe.py under torchrun (``python -m torch.distributed.run``): two
ranks train and checkpoint, one rank resumes from the checkpoint and continues the same
loss curve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_moe.py"
TINY = ["--batch", "4", "--seq-len", "16", "--d-model", "16", "--d-hidden", "16"]

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="needs torch.distributed with gloo",
)


def torchrun(ranks: int, *arguments: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={ranks}",
            str(EXAMPLE),
            *TINY,
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_example_trains_checkpoints_and_resumes_at_another_world_size(tmp_path) -> None:
    if not Path("/usr/share/common-licenses/GPL-3").exists():
        pytest.skip("the example's default text file is not on this machine")
    out = torchrun(
        2, "--steps", "4", "--save-dir", str(tmp_path), "--save-every", "2",
        "--losses-out", str(tmp_path / "uninterrupted.json"),
    )  # fmt: skip
    assert "final loss" in out and "on 2 ranks" in out and "per-expert load" in out
    assert (tmp_path / "step-2" / ".metadata").exists()
    out = torchrun(
        1, "--steps", "4", "--resume", str(tmp_path / "step-2"),
        "--losses-out", str(tmp_path / "resumed.json"),
    )  # fmt: skip
    assert "on 1 ranks" in out
    uninterrupted = json.loads((tmp_path / "uninterrupted.json").read_text())
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert sorted(resumed) == ["3", "4"]
    for step, loss in resumed.items():
        # float32, other reduction orders at one rank than at two
        assert loss == pytest.approx(uninterrupted[step], rel=1e-4), step

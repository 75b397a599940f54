"""The examples run (a few steps each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_swap_router_mixtral_runs() -> None:
    pytest.importorskip("transformers")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "swap_router_mixtral.py"), "--steps", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "replaced 2 routers" in result.stdout
    assert "per-expert load" in result.stdout

"""Loads the compiled operator library that registers ``torch.ops.qmoe``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

_loaded = False


def library_path() -> Path:
    """Path of the operator library: ``$QMOE_OPS_LIBRARY``, else the one built into the package."""
    override = os.environ.get("QMOE_OPS_LIBRARY")
    if override:
        return Path(override)
    candidates = sorted(Path(__file__).parent.glob("_qmoe_ops*.so"))
    if not candidates:
        raise ImportError(
            "qmoe_torch: the operator library is not built; run "
            "`pip install --no-build-isolation -e .` (or `make build`) in the qmoe checkout"
        )
    return candidates[0]


def load() -> None:
    """Loads the library once; later calls do nothing."""
    global _loaded
    if not _loaded:
        torch.ops.load_library(str(library_path()))
        _loaded = True

"""qmoe_torch.libtorch: the weights files shared with the C++ modules, Python side."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qmoe_torch import MoE, QuantumGate
from qmoe_torch.libtorch import load_state_dict, read_tensor_dict, save_state_dict


def _moe(d_model: int = 4) -> MoE:
    return MoE(d_model, 3, 5, k=2, gate=QuantumGate(d_model, 3, n_qubits=2, layers=1))


def test_round_trip_gives_the_same_outputs(tmp_path: Path) -> None:
    saved, loaded = _moe(), _moe()
    path = save_state_dict(saved, tmp_path / "moe.pt")
    assert set(read_tensor_dict(path)) == set(saved.state_dict())
    load_state_dict(loaded, path)
    hidden = torch.randn(6, 4)
    with torch.no_grad():
        assert torch.equal(saved(hidden).output, loaded(hidden).output)


def test_missing_truncated_and_mismatched_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_state_dict(_moe(), missing)
    path = save_state_dict(_moe(), tmp_path / "moe.pt")
    truncated = tmp_path / "truncated.pt"
    data = path.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.pt' cannot be read"):
        load_state_dict(_moe(), truncated)
    with pytest.raises(ValueError, match="moe.pt' does not fit the module"):
        load_state_dict(_moe(d_model=5), path)
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds a list"):
        read_tensor_dict(tmp_path / "list.pt")

"""The weights files shared with qmoe's C++ modules (``qmoe/nn/weights_file.h``).

One format both ways: a ``torch.save`` file of a plain ``dict`` of parameter and buffer
name -> tensor, a module's ``state_dict()`` (CPU, contiguous). C++ reads it with
``torch::pickle_load`` (``qmoe::nn::load_weights``) and writes it with
``torch::pickle_save`` (``qmoe::nn::save_weights``), which :func:`read_tensor_dict` reads
(``torch.load`` with ``weights_only=True`` and one more allowed global, the type tag
``torch::pickle_save`` puts on a typed dict: ``torch.jit._pickle.restore_type_tag``). The
names are the modules' own (``router.gate.circuit_weights``, ``experts.0.gate_proj.weight``,
...): the C++ modules register theirs under Python's names.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.jit._pickle  # the type tag of torch::pickle_save files
from torch import nn

_EXPECTED = "a torch.save file of a dict of name -> tensor (a state dict)"


def save_state_dict(module: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Writes ``module``'s parameters and buffers for ``qmoe::nn::load_weights``."""
    # a plain dict (an OrderedDict pickles its _metadata too), tensors that own their data
    tensors = {name: t.detach().cpu().contiguous() for name, t in module.state_dict().items()}
    path = Path(path)
    torch.save(tensors, path)
    return path


def read_tensor_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (written by either side), by name.

    Raises FileNotFoundError or ValueError naming the file and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"qmoe: no weights file '{path}' (expected {_EXPECTED})")
    try:
        # torch::pickle_save tags a typed dict with its type (restore_type_tag, which only
        # returns the value); allowed here, every other global is still refused
        with torch.serialization.safe_globals([torch.jit._pickle.restore_type_tag]):
            value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises several types for a bad archive
        raise ValueError(
            f"qmoe: the weights file '{path}' cannot be read (truncated, or not a torch.save "
            f"file?); expected {_EXPECTED}. Reading it said: {error}"
        ) from error
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
    ):
        raise ValueError(
            f"qmoe: the weights file '{path}' holds a {type(value).__name__}, expected {_EXPECTED}"
        )
    return value


def load_state_dict(module: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Loads a weights file (e.g. from ``qmoe::nn::save_weights``) into ``module``, strictly:
    the file must hold exactly the module's names with their shapes."""
    tensors = read_tensor_dict(path)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"qmoe: the weights file '{path}' does not fit the module: {error}"
        ) from error
    return module

"""Experts of an MoE layer: classical feed-forward blocks, and the circuit as an expert."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from . import ops
from .circuits import Circuit
from .templates import AngleEmbedding, StronglyEntanglingLayers, amplitude_embedding

ExpertKind = Literal["mlp", "swiglu"]


class MLPExpert(nn.Module):
    """``Linear(d_model, d_hidden) -> GELU -> Linear(d_hidden, d_out)``."""

    def __init__(self, d_model: int, d_hidden: int, d_out: int | None = None) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out or d_model)
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.layers(hidden)


class SwiGLUExpert(nn.Module):
    """``down(silu(gate(x)) * up(x))``, bias-free: the Mixtral / Qwen-MoE / OLMoE expert."""

    def __init__(self, d_model: int, d_hidden: int, d_out: int | None = None) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_hidden, bias=False)
        self.up_proj = nn.Linear(d_model, d_hidden, bias=False)
        self.down_proj = nn.Linear(d_hidden, d_out or d_model, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(hidden)) * self.up_proj(hidden))


def make_expert(
    kind: ExpertKind, d_model: int, d_hidden: int, d_out: int | None = None
) -> nn.Module:
    if kind == "mlp":
        return MLPExpert(d_model, d_hidden, d_out)
    if kind == "swiglu":
        return SwiGLUExpert(d_model, d_hidden, d_out)
    raise ValueError(f"expert={kind!r}, expected 'mlp' or 'swiglu'")


class QuantumExpert(nn.Module):
    """The circuit as an expert (the paper's first experiment).

    ``embedding="amplitude"``: the token's ``d_model`` features, zero-padded to
    ``2**n_qubits`` and normalised, are the initial state (``d_model <= 2**n_qubits``);
    ``embedding="angle"``: ``Linear(d_model, n_qubits)`` squashed to ``pi * sigmoid`` angles,
    RX-embedded. Then ``layers`` strongly entangling layers, <Z> on every wire, and
    ``Linear(n_qubits, d_out)``.
    """

    def __init__(
        self,
        d_model: int,
        n_qubits: int,
        d_out: int,
        *,
        layers: int = 2,
        embedding: Literal["amplitude", "angle"] = "amplitude",
        diff_method: ops.DiffMethod = "adjoint",
    ) -> None:
        super().__init__()
        if embedding not in ("amplitude", "angle"):
            raise ValueError(
                f"QuantumExpert: embedding={embedding!r}, expected 'amplitude' or 'angle'"
            )
        if embedding == "amplitude" and d_model > 2**n_qubits:
            raise ValueError(
                f"QuantumExpert: amplitude embedding of d_model={d_model} "
                f"features needs 2**n_qubits >= {d_model}, got n_qubits={n_qubits}"
            )
        self.d_model, self.n_qubits, self.embedding = d_model, n_qubits, embedding
        self.diff_method = diff_method
        circuit = Circuit(n_qubits)
        if embedding == "angle":
            circuit.append(AngleEmbedding("X"))
        circuit.append(StronglyEntanglingLayers(layers))
        circuit.measure_expval([[w] for w in range(n_qubits)])
        self.circuit = circuit
        self._program, self._z_masks = circuit.program, circuit.z_masks
        self.projection = nn.Linear(d_model, n_qubits) if embedding == "angle" else None
        self.circuit_weights = nn.Parameter(torch.rand(circuit.n_weights) * (2 * math.pi))
        self.readout = nn.Linear(n_qubits, d_out)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        tokens = hidden.reshape(-1, self.d_model).to(self.circuit_weights.dtype)
        if self.projection is not None:
            angles, state = math.pi * torch.sigmoid(self.projection(tokens)), None
        else:
            # a zero token has no direction: it starts from |0...0> instead
            zero = tokens.abs().sum(-1, keepdim=True) == 0
            tokens = torch.where(
                zero,
                nn.functional.one_hot(torch.zeros(len(tokens), dtype=torch.long), self.d_model).to(
                    tokens.dtype
                ),
                tokens,
            )
            state = amplitude_embedding(tokens, self.n_qubits, pad_with=0.0)
            angles = tokens[:, :0]
        values = ops.expval(
            angles,
            self.circuit_weights,
            self._program,
            self.n_qubits,
            self._z_masks,
            initial_state=state,
            diff_method=self.diff_method,
        )
        out = self.readout(values)
        return out.reshape(*hidden.shape[:-1], -1).to(hidden.dtype)

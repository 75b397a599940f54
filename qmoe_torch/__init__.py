"""qmoe: quantum routers for Mixture-of-Experts models.

Circuits are built with `qmoe_torch.circuits` and simulated exactly, batched
over every sample, by the fused operators ``torch.ops.qmoe.*`` (`qmoe_torch.ops`).
`qmoe_torch.reference` is the plain-PyTorch simulator every kernel is tested against;
programs with noise channels (`qmoe_torch.noise`) run on the density-matrix engine, and
`qmoe_torch.density_reference` is their oracle.
"""

from . import circuits, density_reference, noise, reference
from .circuits import (
    AmplitudeEmbedding,
    AngleEmbedding,
    BasicEntanglerLayers,
    Circuit,
    DataReuploading,
    StronglyEntanglingLayers,
)
from .experts import MLPExpert, QuantumExpert, SwiGLUExpert
from .gates import LinearGate, MLPGate, QuantumGate
from .moe import MoE, MoEOutput
from .noise import Channel, NoiseModel, ReadoutError
from .ops import active_isa, expval, probs, run, set_isa, supported_isas
from .routing import RouterOutput, TopKRouter

__all__ = [
    "AmplitudeEmbedding",
    "AngleEmbedding",
    "BasicEntanglerLayers",
    "Channel",
    "Circuit",
    "DataReuploading",
    "LinearGate",
    "MLPExpert",
    "MLPGate",
    "MoE",
    "MoEOutput",
    "NoiseModel",
    "QuantumExpert",
    "QuantumGate",
    "ReadoutError",
    "RouterOutput",
    "StronglyEntanglingLayers",
    "SwiGLUExpert",
    "TopKRouter",
    "active_isa",
    "circuits",
    "density_reference",
    "expval",
    "noise",
    "probs",
    "reference",
    "run",
    "set_isa",
    "supported_isas",
]

"""qmoe: quantum routers for Mixture-of-Experts models.

Circuits are built with `qmoe_torch.circuits` and simulated exactly, batched
over every sample, by the fused operators ``torch.ops.qmoe.*`` (`qmoe_torch.ops`).
`qmoe_torch.reference` is the plain-PyTorch simulator every kernel is tested against.
"""

from . import circuits, reference
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
from .ops import active_isa, expval, probs, run, set_isa, supported_isas
from .routing import RouterOutput, TopKRouter

__all__ = [
    "AmplitudeEmbedding",
    "AngleEmbedding",
    "BasicEntanglerLayers",
    "Circuit",
    "DataReuploading",
    "LinearGate",
    "MLPExpert",
    "MLPGate",
    "MoE",
    "MoEOutput",
    "QuantumExpert",
    "QuantumGate",
    "RouterOutput",
    "StronglyEntanglingLayers",
    "SwiGLUExpert",
    "TopKRouter",
    "active_isa",
    "circuits",
    "expval",
    "probs",
    "reference",
    "run",
    "set_isa",
    "supported_isas",
]

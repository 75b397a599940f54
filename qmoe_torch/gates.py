"""Gates: a token's hidden state in, one logit per expert out.

Every gate here has the contract of the ``nn.Linear(d_model, n_experts, bias=False)``
router of a Mixtral / Qwen-MoE / OLMoE style block (``forward(hidden[..., d_model]) ->
logits[..., n_experts]``, output in the dtype of ``hidden``), so it replaces one unchanged,
and reports its parameter count split into classical and quantum parts.

Under ``torch.autocast`` a gate returns what that ``nn.Linear`` would: logits in the
autocast dtype (bfloat16 / float16) for float32 or lower-precision ``hidden``, float64 for
float64 ``hidden`` (autocast leaves float64 alone); see :func:`gate_output_dtype`. The
circuit itself always runs in float32 or float64 (the operators' autocast rule upcasts),
so only the logits are rounded to the autocast dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from . import ops
from .circuits import Circuit
from .noise import NoiseModel, measure
from .templates import (
    AngleEmbedding,
    BasicEntanglerLayers,
    DataReuploading,
    StronglyEntanglingLayers,
)

Readout = Literal["expval", "probs", "parity"]
Entangler = Literal["strong", "basic"]

# log of a probability floor: keeps "probs" logits finite when a basis state has p = 0
_PROBABILITY_FLOOR = 1e-12


def _check_hidden(hidden: torch.Tensor, d_model: int, gate: str) -> None:
    if hidden.dim() < 1 or hidden.shape[-1] != d_model:
        raise ValueError(
            f"{gate}: hidden must have d_model={d_model} as its last dimension, "
            f"got shape {tuple(hidden.shape)}"
        )


def gate_output_dtype(hidden: torch.Tensor) -> torch.dtype:
    """The dtype of a gate's logits for ``hidden``: that of ``nn.Linear(hidden)``.

    ``hidden.dtype``, except under ``torch.autocast`` on ``hidden``'s device, where a
    float32 / float16 / bfloat16 ``hidden`` gives the autocast dtype (a Linear is on
    autocast's lower-precision list) and float64 stays float64."""
    device_type = hidden.device.type
    if (
        hidden.is_floating_point()
        and hidden.dtype != torch.float64
        and torch.is_autocast_enabled(device_type)
    ):
        return torch.get_autocast_dtype(device_type)
    return hidden.dtype


def _plain_linear(module: nn.Module | None) -> bool:
    """True for an ``nn.Linear`` (not a subclass or a replacement: LoRA, quantised,
    parametrised) with no hooks, whose call is exactly ``F.linear`` of its parameters."""
    return module is None or (
        type(module) is nn.Linear
        and not (
            module._forward_hooks
            or module._forward_pre_hooks
            or module._backward_hooks
            or module._backward_pre_hooks
        )
    )


def _module_hooks_everywhere() -> bool:
    """True when hooks registered for every module (``nn.modules.module.register_module_*``)
    are set: a gate's submodules must then be called as modules."""
    hooks = nn.modules.module
    return bool(
        hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hooks._global_backward_hooks
        or hooks._global_backward_pre_hooks
    )


def _default_qubits(n_experts: int, readout: Readout) -> int:
    if readout == "probs":  # one basis state per expert
        return max(1, math.ceil(math.log2(n_experts)))
    if readout == "parity":  # one non-empty set of wires per expert
        return max(1, math.ceil(math.log2(n_experts + 1)))
    return max(2, math.ceil(math.log2(n_experts)))


def _parity_masks(n_qubits: int, n_experts: int) -> list[int]:
    """The first ``n_experts`` non-empty wire sets, fewest wires first (Z0, Z1, ..., Z0Z1, ...)."""
    masks = sorted(range(1, 1 << n_qubits), key=lambda mask: (bin(mask).count("1"), mask))
    return masks[:n_experts]


class QuantumGate(nn.Module):
    """A variational-circuit router (arXiv 2512.22296), batched over every token.

    Per token: a classical projection ``Linear(d_model, n_qubits)`` squashed into angles
    ``angle_range * sigmoid(.)`` (in (0, pi) by default, as the paper min-max scales its
    features into [0, pi]); an angle embedding (``embedding`` = "X", "Y" or "Z") of those
    angles, repeated ``reuploads`` times with ``layers`` entangling layers after each
    (``entangler`` = "strong": StronglyEntanglingLayers, "basic": BasicEntanglerLayers);
    then a readout:

    - ``"expval"``: <Z> on every wire, then ``Linear(n_qubits, n_experts)`` (the paper's
      design);
    - ``"probs"``: ``log p_e`` of the basis states 0..n_experts-1 (needs n_experts <=
      2**n_qubits), so a softmax over them is the Born distribution, renormalised over the
      experts that exist;
    - ``"parity"``: <Z-string> on the first n_experts non-empty wire sets, fewest wires
      first, times a learned scale.

    The circuit runs through ``torch.ops.qmoe`` (``diff_method`` "adjoint" or
    "parameter_shift") in the dtype of the circuit weights (float32 by default); ``hidden``
    of another dtype (bfloat16, ...) is cast in and the logits cast back. Under
    ``torch.autocast`` the projection and adapter run in the autocast dtype as Linears do,
    the circuit in float32 (the operators' autocast rule casts its angles up), and the
    logits come back in the autocast dtype (:func:`gate_output_dtype`).

    ``projection=False`` embeds the features themselves as the angles (no projection, no
    squashing; needs ``d_model == n_qubits``): the paper's router, which min-max scales its
    2 features into [0, pi] itself and has 24 parameters (18 circuit angles and the
    ``Linear(2, 2)`` readout).

    ``noise`` (a :class:`~qmoe_torch.noise.NoiseModel`) puts its channels into the circuit,
    which then runs on the density-matrix engine, and its readout error and shots into the
    readout (shot estimates are differentiated by the shot-based parameter-shift rule).
    """

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        n_qubits: int | None = None,
        *,
        layers: int = 3,
        embedding: str = "X",
        readout: Readout = "expval",
        entangler: Entangler = "strong",
        reuploads: int = 1,
        angle_range: float = math.pi,
        diff_method: ops.DiffMethod = "adjoint",
        noise: NoiseModel | None = None,
        projection: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if d_model < 1 or n_experts < 1:
            raise ValueError(
                f"QuantumGate: d_model and n_experts must be >= 1, got {d_model} and {n_experts}"
            )
        if readout not in ("expval", "probs", "parity"):
            raise ValueError(
                f"QuantumGate: readout={readout!r}, expected 'expval', 'probs' or 'parity'"
            )
        if entangler not in ("strong", "basic"):
            raise ValueError(f"QuantumGate: entangler={entangler!r}, expected 'strong' or 'basic'")
        if layers < 0 or reuploads < 1:
            raise ValueError(
                f"QuantumGate: layers must be >= 0 and reuploads >= 1, got {layers} and {reuploads}"
            )
        if diff_method not in ("adjoint", "parameter_shift"):
            raise ValueError(
                f"QuantumGate: diff_method={diff_method!r}, expected 'adjoint' or 'parameter_shift'"
            )
        if n_qubits is None:
            n_qubits = _default_qubits(n_experts, readout) if projection else d_model
        if not projection and d_model != n_qubits:
            raise ValueError(
                f"QuantumGate: projection=False embeds the d_model={d_model} "
                f"features directly and needs n_qubits == d_model, got {n_qubits}"
            )
        if readout == "probs" and n_experts > 2**n_qubits:
            raise ValueError(
                f"QuantumGate: readout='probs' gives 2**n_qubits = {2**n_qubits} "
                f"scores, fewer than n_experts={n_experts}"
            )
        if readout == "parity" and n_experts > 2**n_qubits - 1:
            raise ValueError(
                f"QuantumGate: readout='parity' gives 2**n_qubits - 1 = "
                f"{2**n_qubits - 1} Z strings, fewer than n_experts={n_experts}"
            )
        self.d_model, self.n_experts, self.n_qubits = d_model, n_experts, n_qubits
        self.readout, self.angle_range, self.diff_method = readout, angle_range, diff_method

        circuit = Circuit(n_qubits)
        template = (
            StronglyEntanglingLayers(layers)
            if entangler == "strong"
            else BasicEntanglerLayers(layers)
        )
        if reuploads == 1:
            circuit.append(AngleEmbedding(embedding))
            if layers:
                circuit.append(template)
        else:
            circuit.append(DataReuploading(AngleEmbedding(embedding), template, reuploads))
        if readout == "probs":
            circuit.measure_probs()
        else:
            masks = (
                [1 << w for w in range(n_qubits)]
                if readout == "expval"
                else _parity_masks(n_qubits, n_experts)
            )
            circuit.measure_expval([[w for w in range(n_qubits) if m >> w & 1] for m in masks])
        if noise is not None and not isinstance(noise, NoiseModel):
            raise TypeError(f"QuantumGate: noise must be a NoiseModel, got {noise!r}")
        self.noise = noise
        if noise is not None:
            circuit = noise.apply(circuit)
        self.generator = (
            torch.Generator().manual_seed(noise.seed)
            if noise is not None and noise.seed is not None
            else None
        )
        self.circuit = circuit
        # built once, in the operators' types: every forward passes the same lists
        self._program = [int(v) for v in circuit.program]
        self._constants = [float(c) for c in circuit.constants]
        self._z_masks = [] if readout == "probs" else [int(m) for m in circuit.z_masks]

        self.projection = nn.Linear(d_model, n_qubits, dtype=dtype) if projection else None
        self.circuit_weights = nn.Parameter(
            torch.rand(circuit.n_weights, dtype=dtype) * (2 * math.pi)
        )
        self.adapter = nn.Linear(n_qubits, n_experts, dtype=dtype) if readout == "expval" else None
        self.scale = nn.Parameter(torch.ones((), dtype=dtype)) if readout == "parity" else None
        self._plan_forward = self._make_plan_forward()

    # The eager fast path. A decoding step spends more time in Python than in the gate's
    # arithmetic; a plan (torch.classes.qmoe.QuantumGatePlan, csrc/ops/classes/) holds the
    # program in C++ and runs forward in one call: with an autograd graph to build, the
    # same ATen calls in the same order (the same bits, the same graph); without one, at
    # decoding sizes on the CPU, the projection and adapter as loops summed in double
    # (equal to rounding). Wherever Python must see the calls, forward takes its Python
    # path instead: torch.compile / torch.export tracing, functorch transforms, autocast,
    # tensor subclasses and torch-function modes, noise, and a projection or adapter that
    # is hooked or is not a plain nn.Linear.

    def _make_plan_forward(self) -> Callable[..., torch.Tensor] | None:
        # the bound method, looked up once: a method lookup on a ScriptObject costs about
        # as much as the call
        if self.noise is not None:
            return None
        return torch.classes.qmoe.QuantumGatePlan(
            self.d_model,
            self.n_experts,
            self.n_qubits,
            self._program,
            self._constants,
            self._z_masks,
            self.readout,
        ).forward

    def _plan_applies(self, hidden: torch.Tensor) -> bool:
        return (
            type(hidden) is torch.Tensor
            and not torch.compiler.is_compiling()
            and not torch._C._are_functorch_transforms_active()
            and not torch._C._is_torch_function_mode_enabled()
            and not torch._C._is_any_autocast_enabled()
            and _plain_linear(self._modules.get("projection"))
            and _plain_linear(self._modules.get("adapter"))
            and not _module_hooks_everywhere()
        )

    def __getstate__(self) -> dict:
        # a plan is rebuilt from the module's own fields, never pickled or deep-copied
        state = super().__getstate__().copy()
        state.pop("_plan_forward", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._plan_forward = self._make_plan_forward()

    def angles(self, hidden: torch.Tensor) -> torch.Tensor:
        """The circuit's per-token angles ``[tokens, n_qubits]`` for ``hidden[..., d_model]``."""
        return self._angles(hidden, self.circuit_weights.dtype)

    # A decoding step spends microseconds here: each no-op skipped (a reshape of a 2-D
    # hidden, a cast to its own dtype) and each submodule or parameter read once into a
    # local (nn.Module attribute lookup is not free) counts.

    def _angles(self, hidden: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        tokens = hidden if hidden.dim() == 2 else hidden.reshape(-1, self.d_model)
        if tokens.dtype != dtype:
            tokens = tokens.to(dtype)
        projection = self.projection
        if projection is None:
            return tokens
        return self.angle_range * torch.sigmoid(projection(tokens))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        plan_forward = self._plan_forward
        if plan_forward is not None and self._plan_applies(hidden):
            # the parameters read from the dictionaries nn.Module keeps them in (an
            # attribute read goes through Module.__getattr__, about 0.5 us each)
            parameters = self._parameters
            projection = self._modules.get("projection")
            projection = None if projection is None else projection._parameters
            adapter = self._modules.get("adapter")
            adapter = None if adapter is None else adapter._parameters
            return plan_forward(
                hidden,
                None if projection is None else projection["weight"],
                None if projection is None else projection["bias"],
                parameters["circuit_weights"],
                None if adapter is None else adapter["weight"],
                None if adapter is None else adapter["bias"],
                parameters.get("scale"),
                self.angle_range,
                self.diff_method,
            )
        _check_hidden(hidden, self.d_model, "QuantumGate")
        weights = self.circuit_weights
        angles = self._angles(hidden, weights.dtype)
        if self.noise is not None and self.noise.changes_measurement:
            values = measure(
                self.circuit,
                angles,
                weights,
                noise=self.noise,
                generator=self.generator,
                diff_method=self.diff_method,
            )
            if self.readout == "probs":
                logits = torch.log(values[:, : self.n_experts].clamp_min(0) + _PROBABILITY_FLOOR)
            else:
                logits = self._read_out(values)
        elif self.readout == "probs":
            probabilities = ops._probs(
                angles,
                weights,
                None,
                self._program,
                self._constants,
                self.n_qubits,
                self.diff_method,
            )
            logits = torch.log(probabilities[:, : self.n_experts] + _PROBABILITY_FLOOR)
        else:
            values = ops._expval(
                angles,
                weights,
                None,
                self._program,
                self._constants,
                self.n_qubits,
                self._z_masks,
                self.diff_method,
            )
            logits = self._read_out(values)
        if hidden.dim() != 2:
            logits = logits.reshape(*hidden.shape[:-1], self.n_experts)
        dtype = gate_output_dtype(hidden)
        return logits if logits.dtype == dtype else logits.to(dtype)

    def _read_out(self, values: torch.Tensor) -> torch.Tensor:
        """Logits from the Z expectation values: the adapter ("expval") or the scale ("parity")."""
        adapter = self.adapter
        return adapter(values) if adapter is not None else self.scale * values

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: ``quantum`` (circuit angles) and ``classical`` (the rest)."""
        quantum = self.circuit_weights.numel()
        total = sum(p.numel() for p in self.parameters())
        return {"classical": total - quantum, "quantum": quantum, "total": total}

    def extra_repr(self) -> str:
        noise = "" if self.noise is None else f", noise={self.noise}"
        return (
            f"d_model={self.d_model}, n_experts={self.n_experts}, n_qubits={self.n_qubits}, "
            f"readout={self.readout!r}, ops={len(self.circuit)}{noise}"
        )


class LinearGate(nn.Module):
    """The classical router: ``nn.Linear(d_model, n_experts, bias=bias)``, bias-free by
    default as in Mixtral-style models (the paper's linear router has one)."""

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        *,
        bias: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.d_model, self.n_experts = d_model, n_experts
        self.linear = nn.Linear(d_model, n_experts, bias=bias, dtype=dtype)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        _check_hidden(hidden, self.d_model, "LinearGate")
        return self.linear(hidden.to(self.linear.weight.dtype)).to(gate_output_dtype(hidden))

    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.linear.parameters())
        return {"classical": total, "quantum": 0, "total": total}


MLP_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class MLPGate(nn.Module):
    """A two-layer router ``Linear(d_model, hidden) -> activation -> Linear(hidden,
    n_experts)``; ``activation`` is "tanh" (default), "relu" (the paper's MLP routers) or
    "gelu".

    ``hidden`` may be given directly, or chosen as the largest size whose parameter count
    fits ``parameter_budget`` (to compare routers at equal size): the paper's MLP routers
    of hidden 2, 4, ..., 64 for 2 features and 2 experts have 12, 22, ..., 322 parameters.
    """

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        hidden: int | None = None,
        *,
        parameter_budget: int | None = None,
        activation: str = "tanh",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if activation not in MLP_ACTIVATIONS:
            raise ValueError(
                f"MLPGate: activation={activation!r} is unknown, expected one of "
                f"{sorted(MLP_ACTIVATIONS)}"
            )
        if (hidden is None) == (parameter_budget is None):
            raise ValueError("MLPGate: give exactly one of hidden and parameter_budget")
        if hidden is None:
            # parameters = hidden * (d_model + 1 + n_experts) + n_experts
            hidden = (parameter_budget - n_experts) // (d_model + 1 + n_experts)
            if hidden < 1:
                raise ValueError(
                    f"MLPGate: parameter_budget={parameter_budget} is below the "
                    f"smallest MLP ({d_model + 1 + 2 * n_experts} parameters)"
                )
        self.d_model, self.n_experts, self.hidden = d_model, n_experts, hidden
        self.activation = activation
        self.layers = nn.Sequential(
            nn.Linear(d_model, hidden, dtype=dtype),
            MLP_ACTIVATIONS[activation](),
            nn.Linear(hidden, n_experts, dtype=dtype),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        _check_hidden(hidden, self.d_model, "MLPGate")
        return self.layers(hidden.to(self.layers[0].weight.dtype)).to(gate_output_dtype(hidden))

    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        return {"classical": total, "quantum": 0, "total": total}

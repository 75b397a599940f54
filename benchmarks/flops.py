"""Flop count of a circuit: the yardstick behind the benchmark's GFLOP/s and % peak columns.

The count is the useful real arithmetic of a *straightforward* statevector simulation of one
sample, gate by gate on the full ``N = 2**n`` complex amplitudes: not what qmoe's kernels
happen to execute. Fusing gates, skipping zero amplitudes or taking the product-state path
therefore shows up as a higher rate (it can exceed 100% of the FMA peak). The full
convention, with worked numbers, is docs/flops.md. In short (1 real FMA = 2 flops; a
complex multiply-add ``acc += u * a`` = 4 real FMAs = 8 flops):

- a one-qubit gate that is not a permutation with signs (H, T, RX, RY, RZ): a dense 2x2
  complex matrix, each of the N output amplitudes 2 complex multiply-adds: ``16 N``;
- permutations and sign / ±i phases (X, Y, Z, S, CNOT, CZ, SWAP): ``0``;
- IsingXX, IsingYY (a sparse 4x4 with 2 entries per row): ``16 N``; IsingZZ (diagonal, 1
  entry per row): ``8 N``;
- readout: ``|a|**2`` is 3 flops per amplitude, plus 1 add per amplitude per Z mask
  (``3 N`` for probabilities);
- embeddings are the gates they emit (AngleEmbedding: one rotation per wire).

Adjoint backward = the forward again (the backward recomputes it; its readout term stands
for forming ``lambda = O_g psi``) + every gate un-applied to both ``psi`` and ``lambda``
(``2 x`` the gates' forward flops) + for every angle read from ``inputs`` or ``weights``
the gradient inner product ``Im <lambda| P |psi>`` (P the generator, a signed permutation:
2 real FMAs per amplitude, ``4 N``).

Parameter shift fwd+bwd = ``(2 S + 1)`` forward runs, ``S`` = angles read from ``inputs``
or ``weights`` (shifted angle occurrences).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from qmoe_torch.circuits import Circuit
from qmoe_torch.opcodes import OP_WIDTH, Opcode, ParamSource

FREE = frozenset({Opcode.X, Opcode.Y, Opcode.Z, Opcode.S, Opcode.CNOT, Opcode.CZ, Opcode.SWAP})
"""Permutations with signs / ±i phases: no arithmetic."""

ENTRIES_PER_ROW = {
    Opcode.H: 2,
    Opcode.T: 2,
    Opcode.RX: 2,
    Opcode.RY: 2,
    Opcode.RZ: 2,
    Opcode.ISING_XX: 2,
    Opcode.ISING_YY: 2,
    Opcode.ISING_ZZ: 1,
}
"""Complex multiply-adds per output amplitude (nonzeros per row of the gate's matrix)."""

FLOPS_PER_MULTIPLY_ADD = 8  # 4 real FMAs
READOUT_FLOPS = 3  # |a|^2 = re*re + im*im: 1 multiply + 1 FMA
INNER_PRODUCT_FLOPS = 4  # Im(conj(l) * p): 2 real FMAs per amplitude
GRADIENT_SOURCES = frozenset({ParamSource.INPUT, ParamSource.WEIGHT})


@dataclasses.dataclass(frozen=True)
class Flops:
    """Flops of one sample: forward, adjoint backward alone, and the shifted angle count."""

    forward: int
    backward: int
    shifted: int

    @property
    def adjoint(self) -> int:
        """Forward + adjoint backward."""
        return self.forward + self.backward

    @property
    def parameter_shift(self) -> int:
        """Forward + parameter-shift backward: ``2 * shifted + 1`` forward runs."""
        return (2 * self.shifted + 1) * self.forward


def gate_flops(opcode: int, n_qubits: int) -> int:
    """Flops of applying one gate to a state of ``n_qubits`` (one sample)."""
    op = Opcode(opcode)
    if op in FREE:
        return 0
    if op not in ENTRIES_PER_ROW:
        raise ValueError(f"{op.name} has no statevector flop count (a noise channel)")
    return ENTRIES_PER_ROW[op] * FLOPS_PER_MULTIPLY_ADD * 2**n_qubits


def circuit_flops(
    circuit: Circuit | Sequence[int], n_qubits: int | None = None, n_masks: int | None = None
) -> Flops:
    """Flops of one forward simulation of one sample and of its adjoint backward.

    ``circuit`` is a :class:`~qmoe_torch.circuits.Circuit` (``n_qubits`` and the readout's
    Z masks are taken from it unless given) or a flat program (5 ints per op,
    docs/program.md) with ``n_qubits``; ``n_masks`` is the number of Z masks of an expval
    readout, 0 for a probabilities readout (the default for a bare program).
    """
    if isinstance(circuit, Circuit):
        program = circuit.program
        n_qubits = circuit.n_qubits if n_qubits is None else n_qubits
        if n_masks is None:
            readout = circuit.readout
            n_masks = len(readout.z_masks) if readout is not None else 0
    else:
        program = [int(v) for v in circuit]
        if n_qubits is None:
            raise ValueError("a bare program needs n_qubits")
    if len(program) % OP_WIDTH:
        raise ValueError(f"a program has {OP_WIDTH} ints per op, got {len(program)} ints")
    amplitudes = 2**n_qubits
    gates = 0
    shifted = 0
    for start in range(0, len(program), OP_WIDTH):
        opcode, _, _, source, _ = program[start : start + OP_WIDTH]
        gates += gate_flops(opcode, n_qubits)
        shifted += source in GRADIENT_SOURCES
    forward = gates + (READOUT_FLOPS + (n_masks or 0)) * amplitudes
    backward = forward + 2 * gates + INNER_PRODUCT_FLOPS * amplitudes * shifted
    return Flops(forward=forward, backward=backward, shifted=shifted)

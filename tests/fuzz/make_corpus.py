"""Writes the seed corpus of tests/fuzz/program_fuzzer.cpp into tests/fuzz/corpus/.

A few valid programs (statevector and density matrix, float and double, with and
without initial states, every opcode) and a few that parse_program, validate_z_masks
or the engines must refuse. The byte layout is described at the top of
program_fuzzer.cpp. Run: python3 tests/fuzz/make_corpus.py
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"

H, X, Y, Z, S, T, CNOT, CZ, SWAP, RX, RY, RZ, XX, YY, ZZ = range(15)
DEPOL, AMP, PHASE, FLIP = range(15, 19)
NONE, INPUT, WEIGHT, CONST = range(4)

PROBS, FLOAT, STATE, COMPLEX, KEEP, SHIFT, NO_CHANNELS, NO_INPUT_GRAD = (1 << i for i in range(8))


def word(w: int) -> bytes:
    if -127 <= w <= 127:
        return struct.pack("b", w)
    return b"\x80" + struct.pack("<q", w)


def value(v: float, raw: str | None = None) -> bytes:
    q = round(v * 32)
    if raw is None and -127 <= q <= 127 and q / 32 == v:
        return struct.pack("b", q)
    return b"\x80" + struct.pack("<" + (raw or "d"), v)


def op(opcode: int, w0: int, w1: int = -1, source: int = NONE, index: int = -1) -> list[int]:
    return [opcode, w0, w1, source, index]


def case(
    n_qubits: int,
    ops: list[list[int]],
    *,
    flags: int = 0,
    batch: int = 2,
    batch_code: int | None = None,
    columns: int = 0,
    weights: list[float] = (),
    constants: list[float] = (),
    masks: list[int] = (),
    isa: int = 0,
    budget: int = 3,
    stray_words: bool = False,
    seed: int = 1,
) -> bytes:
    """The fuzzer's bytes for one call; inputs, state and grad_out are filled from `seed`.

    batch_code (250..255) asks for 8192 + 37 * (code - 250) samples instead of `batch`.
    """
    assert len(ops) < 32 and batch <= 20 and columns < 4 and len(weights) < 4
    assert len(constants) < 4 and len(masks) < 6
    words = [w for o in ops for w in o] + ([0, 0, 0] if stray_words else [])
    out = bytes(
        [
            n_qubits % 8,
            flags,
            batch - 1 if batch_code is None else batch_code,
            columns | (len(weights) << 2) | (isa << 4),
            len(ops) | ((7 << 5) if stray_words else 0),
            len(masks) | (len(constants) << 3) | (budget << 5),
        ]
    )
    out += b"".join(word(m) for m in masks) + b"".join(word(w) for w in words)
    out += b"".join(value(c) for c in constants)
    real = "f" if flags & FLOAT else "d"
    out += b"".join(value(w, None if value(w)[0] != 0x80 else real) for w in weights)
    # Of a larger batch (batch_code) the fuzzer reads 20 rows and repeats them.
    if batch_code is not None:
        batch = 20
    # Deterministic pseudo-random filler in [0, 1) / [-1, 1): probabilities stay valid.
    dim = 1 << max(n_qubits % 8, 1)
    n_state = batch * dim * (2 if flags & COMPLEX else 1) if flags & STATE else 0
    width = dim if flags & PROBS else len(masks)
    state = seed
    filler = []
    for i in range(batch * columns + n_state + batch * width):
        state = (state * 1103515245 + 12345) % (1 << 31)
        q = state % 32 if i < batch * columns else state % 64 - 32
        filler.append(struct.pack("b", q))
    return out + b"".join(filler)


SEEDS = {
    # valid: statevector
    "sv_bell_rotations": case(
        2,
        [
            op(H, 0),
            op(CNOT, 0, 1),
            op(RX, 1, -1, INPUT, 0),
            op(RY, 0, -1, WEIGHT, 0),
            op(RZ, 1, -1, CONST, 0),
        ],
        batch=3,
        columns=1,
        weights=[0.5],
        constants=[math.pi / 4],
        masks=[0, 1, 2, 3],
        flags=SHIFT,
    ),
    "sv_every_gate_float_blocked": case(
        4,
        [
            op(H, 0),
            op(X, 1),
            op(Y, 2),
            op(Z, 3),
            op(S, 0),
            op(T, 1),
            op(CNOT, 1, 2),
            op(CZ, 2, 3),
            op(SWAP, 0, 3),
            op(RX, 0, -1, INPUT, 1),
            op(RY, 1, -1, WEIGHT, 1),
            op(RZ, 2, -1, CONST, 0),
            op(XX, 0, 1, WEIGHT, 0),
            op(YY, 1, 2, INPUT, 0),
            op(ZZ, 2, 3, CONST, 1),
        ],
        batch=17,
        columns=2,
        weights=[0.25, -1.5],
        constants=[1.0, 2.0],
        masks=[1, 6, 15],
        flags=FLOAT | SHIFT,
    ),
    "sv_probs_complex_state_keep": case(
        3,
        [
            op(RX, 0, -1, WEIGHT, 0),
            op(XX, 0, 2, WEIGHT, 1),
            op(RY, 2, -1, INPUT, 0),
            op(CNOT, 2, 1),
        ],
        batch=9,
        columns=1,
        weights=[0.75, -0.5],
        flags=PROBS | STATE | COMPLEX | KEEP | SHIFT,
    ),
    "sv_product_state_6q": case(
        6,
        [op(RY, w, -1, INPUT, w % 3) for w in range(6)]
        + [op(RZ, w, -1, WEIGHT, w % 2) for w in range(6)],
        batch=20,
        columns=3,
        weights=[0.3, -0.7],
        masks=[1, 3, 63, 32],
        isa=1,
    ),
    "sv_dense_runs_3q": case(
        3,
        [
            op(CNOT, w % 3, (w + 1) % 3) if w % 2 else op(RY, w % 3, -1, WEIGHT, w % 3)
            for w in range(14)
        ]
        + [op(RX, 0, -1, INPUT, 0)]
        + [op(XX, w % 3, (w + 2) % 3, CONST, w % 2) for w in range(6)],
        batch=12,
        columns=1,
        weights=[0.3, -0.6, 1.1],
        constants=[0.5, -0.25],
        masks=[1, 2, 4, 7],
        flags=SHIFT,
    ),
    "sv_dense_runs_2q_float": case(
        2,
        [op(RX, w % 2, -1, WEIGHT, w % 2) for w in range(4)]
        + [op(CZ, 0, 1), op(RZ, 1, -1, INPUT, 0), op(SWAP, 0, 1)]
        + [op(YY, 0, 1, WEIGHT, 0), op(RY, 0, -1, CONST, 0), op(ZZ, 1, 0, WEIGHT, 1)],
        batch=20,
        columns=1,
        weights=[0.7, -0.2],
        constants=[2.5],
        flags=FLOAT | PROBS | SHIFT,
    ),
    "sv_router_2q_many_chunks": case(
        2,
        [op(RY, 0, -1, INPUT, 0), op(RY, 1, -1, INPUT, 1), op(CNOT, 0, 1)]
        + [op(RX, 0, -1, WEIGHT, 0), op(RZ, 1, -1, WEIGHT, 1), op(XX, 0, 1, WEIGHT, 2)],
        batch_code=251,
        columns=2,
        weights=[0.4, -0.9, 0.2],
        masks=[1, 2],
    ),
    "sv_router_3q_many_chunks_float": case(
        3,
        [op(RX, 0, -1, INPUT, 0), op(RY, 1, -1, INPUT, 1), op(RZ, 2, -1, INPUT, 2)]
        + [op(CNOT, 0, 1), op(CNOT, 1, 2), op(RY, 2, -1, WEIGHT, 0), op(RY, 0, -1, CONST, 0)],
        batch_code=250,
        columns=3,
        weights=[0.8],
        constants=[-1.0],
        masks=[1, 2, 4, 0],
        flags=FLOAT,
        isa=2,
    ),
    "sv_router_1q": case(
        1,
        [op(RY, 0, -1, INPUT, 0), op(RX, 0, -1, WEIGHT, 0)],
        batch=20,
        columns=1,
        weights=[0.5],
        masks=[1, 0],
        isa=1,
    ),
    "sv_empty_program_real_state": case(1, [], batch=1, masks=[0, 1], flags=STATE),
    # valid: density matrix
    "dm_every_channel": case(
        2,
        [
            op(H, 0),
            op(DEPOL, 0, -1, CONST, 0),
            op(CNOT, 0, 1),
            op(AMP, 1, -1, WEIGHT, 0),
            op(RX, 1, -1, INPUT, 0),
            op(PHASE, 0, -1, INPUT, 1),
            op(FLIP, 1, -1, CONST, 1),
        ],
        batch=5,
        columns=2,
        weights=[0.5],
        constants=[0.25, 0.125],
        masks=[1, 2, 3],
        flags=SHIFT,
        budget=0,
    ),
    "dm_float_probs_state_replay": case(
        3,
        [
            op(RY, 0, -1, WEIGHT, 0),
            op(AMP, 0, -1, CONST, 0),
            op(ZZ, 0, 2, WEIGHT, 1),
            op(DEPOL, 2, -1, CONST, 1),
            op(SWAP, 1, 2),
            op(PHASE, 1, -1, CONST, 0),
        ],
        batch=18,
        weights=[0.5, 1.25],
        constants=[0.5, 0.75],
        flags=FLOAT | PROBS | STATE | COMPLEX | SHIFT,
        budget=1,
    ),
    "dm_6q_checkpoints": case(
        6,
        [op(H, w) for w in range(6)]
        + [op(FLIP, w, -1, CONST, 0) for w in range(6)]
        + [op(YY, w, (w + 1) % 6, WEIGHT, 0) for w in range(6)],
        batch=3,
        weights=[0.4],
        constants=[0.0625],
        masks=[63, 1],
        budget=2,
        isa=2,
    ),
    "dm_damping_at_one": case(
        1,
        [op(AMP, 0, -1, WEIGHT, 0), op(PHASE, 0, -1, CONST, 0)],
        batch=1,
        weights=[1.0],
        constants=[1.0],
        masks=[1],
    ),
    # refused
    "bad_opcode": case(2, [op(19, 0)], masks=[1]),
    "bad_wire": case(2, [op(RX, 2, -1, WEIGHT, 0)], weights=[0.5], masks=[1]),
    "bad_same_wires": case(2, [op(CNOT, 1, 1)], masks=[1]),
    "bad_index": case(2, [op(RZ, 0, -1, CONST, 1)], constants=[0.5], masks=[1]),
    "bad_length": case(2, [op(H, 0)], masks=[1], stray_words=True),
    "bad_mask": case(2, [op(H, 0)], masks=[4]),
    "bad_huge_words": case(3, [op(1 << 40, -(1 << 62), 1 << 33, 1 << 35, -(1 << 63))], masks=[1]),
    "bad_channel_not_allowed": case(
        2, [op(DEPOL, 0, -1, CONST, 0)], constants=[0.5], masks=[1], flags=NO_CHANNELS
    ),
    "bad_probability": case(2, [op(FLIP, 0, -1, CONST, 0)], constants=[1.5], masks=[1]),
    "bad_zero_qubits": case(0, [op(H, 0)], masks=[0]),
    "bad_seven_qubits": case(7, [op(H, 0)], masks=[0]),
}


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, data in SEEDS.items():
        (CORPUS / name).write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds to {CORPUS}")


if __name__ == "__main__":
    main()

"""qmoe_torch/opcodes.py against the one opcode list of the C++ side.

csrc/core/program/opcodes.def defines the C++ enums, names, arity and kinds;
the Python enums and sets must say the same, or a program built in Python would
mean something else to the kernels.
"""

from __future__ import annotations

import re
from pathlib import Path

from qmoe_torch import opcodes
from qmoe_torch.opcodes import Opcode, ParamSource

DEF_FILE = Path(__file__).resolve().parents[2] / "csrc" / "core" / "program" / "opcodes.def"

OPCODE_ROW = re.compile(
    r"^QMOE_OPCODE\((\w+), (\d+), \"(\w+)\", (\w+), ([12]), (Fixed|Rotation|Channel)\)$"
)
SOURCE_ROW = re.compile(r"^QMOE_PARAM_SOURCE\((\w+), (\d+), (\w+)\)$")


def _rows(pattern: re.Pattern[str], macro: str) -> list[tuple[str, ...]]:
    lines = [line.strip() for line in DEF_FILE.read_text().splitlines()]
    rows = [line for line in lines if line.startswith(macro + "(")]
    parsed = [pattern.match(line) for line in rows]
    bad = [row for row, match in zip(rows, parsed, strict=True) if match is None]
    assert not bad, f"rows of {DEF_FILE.name} this test cannot read: {bad}"
    return [match.groups() for match in parsed if match is not None]


def test_the_list_is_read_whole():
    rows = _rows(OPCODE_ROW, "QMOE_OPCODE")
    assert len(rows) >= 19  # the format's opcodes as of its first release
    assert [int(row[1]) for row in rows] == list(range(len(rows))), "values must be 0..count-1"


def test_python_opcodes_are_the_cpp_list():
    rows = _rows(OPCODE_ROW, "QMOE_OPCODE")
    assert {row[3]: int(row[1]) for row in rows} == {op.name: op.value for op in Opcode}


def test_arity_and_kinds_agree():
    for _, value, name, python_name, wires, kind in _rows(OPCODE_ROW, "QMOE_OPCODE"):
        op = Opcode(int(value))
        assert op.name == python_name
        assert opcodes.n_wires(op) == int(wires), name
        assert opcodes.is_two_qubit(op) == (wires == "2"), name
        assert opcodes.takes_parameter(op) == (kind != "Fixed"), name
        assert opcodes.is_channel(op) == (kind == "Channel"), name
        assert (op in opcodes.ROTATIONS) == (kind == "Rotation"), name
        assert (op in opcodes.FIXED_GATES) == (kind == "Fixed"), name


def test_param_sources_agree():
    rows = _rows(SOURCE_ROW, "QMOE_PARAM_SOURCE")
    assert {row[2]: int(row[1]) for row in rows} == {s.name: s.value for s in ParamSource}

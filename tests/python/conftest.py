"""Shared fixtures: run kernel tests on every instruction set this CPU has."""

from __future__ import annotations

import pytest


def _isas() -> list[str]:
    from qmoe_torch import ops

    return ops.supported_isas()


@pytest.fixture(params=_isas())
def isa(request: pytest.FixtureRequest):
    """Forces one instruction-set path of the CPU kernels for the test."""
    from qmoe_torch import ops

    ops.set_isa(request.param)
    yield request.param
    ops.set_isa("")

"""Layout of a circuit's flat weight vector: named, row-major blocks of weight indices.

Below both :mod:`qmoe_torch.circuits` (which allocates the blocks) and
:mod:`qmoe_torch.templates` (which reads its block's indices), so neither imports the
other for it.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class WeightBlock:
    """A named, contiguous block of the flat weight vector, laid out row-major."""

    name: str
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of weights in the block."""
        return math.prod(self.shape)

    @property
    def indices(self) -> range:
        """The flat weight indices of the block."""
        return range(self.offset, self.offset + self.size)

    def index(self, *position: int) -> int:
        """Flat weight index of ``block[position]`` (row-major)."""
        if len(position) != len(self.shape):
            raise ValueError(
                f"weight block {self.name!r} has shape {self.shape}, got position {position}"
            )
        flat = 0
        for i, extent in zip(position, self.shape, strict=True):
            if not 0 <= i < extent:
                raise IndexError(
                    f"position {position} is outside weight block "
                    f"{self.name!r} of shape {self.shape}"
                )
            flat = flat * extent + i
        return self.offset + flat

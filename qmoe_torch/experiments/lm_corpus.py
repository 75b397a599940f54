"""The language-model corpus: Vim's help files, byte-level, split by document.

Debian's ``vim-runtime`` package ships Vim's user manual and reference as plain-text help
files (``/usr/share/vim/vim90/doc/*.txt`` in Debian 12: 151 documents, about 9.5 MB of
English prose about an editor, with tables and examples), under the Open Publication
License (OPL-1+, see ``/usr/share/doc/vim-runtime/copyright``). It is real, varied text that
is on this machine without a download; ``--corpus`` points at another folder of ``*.txt``
files.

Tokens are bytes (vocabulary 256): no tokenizer to train or download, and a loss in nats
per byte that any other byte-level model can be compared with. A document is one file; the
validation documents are every ``VALIDATION_EVERY``-th file in name order (a fixed split,
the same for every seed), so no validation text appears in training, not even as part of a
window that crosses a file boundary.
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

import torch

VOCAB = 256  # bytes
VALIDATION_EVERY = 10  # files 0, 10, 20, ... (name order) are the validation documents
DEFAULT_GLOB = "/usr/share/vim/vim*/doc"
DOCUMENT_SEPARATOR = b"\n\x00\n"  # between documents in a split's byte stream


def default_corpus() -> Path:
    """The help folder of the installed ``vim-runtime``; a clear error without it."""
    found = sorted(glob.glob(DEFAULT_GLOB))
    if not found:
        raise FileNotFoundError(
            f"corpus: no Vim help folder matches {DEFAULT_GLOB} (install the Debian "
            "package vim-runtime, or pass --corpus with a folder of *.txt files)"
        )
    return Path(found[-1])


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Train and validation byte streams (uint8 tensors) and what they hold."""

    train: torch.Tensor
    validation: torch.Tensor
    train_documents: int
    validation_documents: int
    description: str

    def batch(self, generator: torch.Generator, batch_size: int, length: int) -> torch.Tensor:
        """``[batch_size, length + 1]`` training windows at offsets drawn from ``generator``."""
        starts = torch.randint(
            0, len(self.train) - length - 1, (batch_size,), generator=generator
        ).tolist()
        return torch.stack([self.train[s : s + length + 1] for s in starts]).long()

    def validation_windows(self, count: int, length: int) -> torch.Tensor:
        """``[count, length + 1]`` validation windows, evenly spaced over the validation
        stream (the same for every run)."""
        last = len(self.validation) - length - 1
        if count < 1 or last < 0:
            raise ValueError(
                f"corpus: {count} validation windows of {length} bytes do not fit the "
                f"{len(self.validation)}-byte validation split"
            )
        starts = [round(i * last / max(1, count - 1)) for i in range(count)]
        return torch.stack([self.validation[s : s + length + 1] for s in starts]).long()


def load(folder: Path | str | None = None, *, max_bytes: int | None = None) -> Corpus:
    """The ``*.txt`` files of ``folder`` (default: Vim's help), split by document.

    ``max_bytes`` keeps at most that many bytes of each split (tests)."""
    folder = default_corpus() if folder is None else Path(folder)
    files = sorted(folder.glob("*.txt"))
    if len(files) < 2:
        raise FileNotFoundError(
            f"corpus: {folder} holds {len(files)} *.txt files; need at least 2 "
            "(one for training, one for validation)"
        )
    validation = [f for i, f in enumerate(files) if i % VALIDATION_EVERY == 0]
    train = [f for i, f in enumerate(files) if i % VALIDATION_EVERY != 0]

    def stream(paths: list[Path]) -> torch.Tensor:
        data = DOCUMENT_SEPARATOR.join(p.read_bytes() for p in paths)
        if max_bytes is not None:
            data = data[:max_bytes]
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    train_bytes, validation_bytes = stream(train), stream(validation)
    return Corpus(
        train_bytes,
        validation_bytes,
        len(train),
        len(validation),
        f"{folder}/*.txt: {len(files)} documents, {len(train)} for training "
        f"({len(train_bytes):,} bytes) and {len(validation)} for validation "
        f"({len(validation_bytes):,} bytes; every {VALIDATION_EVERY}th file in name order), "
        "byte-level",
    )

#!/usr/bin/env python3
"""Every symbol an instruction set's object file exports lives in that set's namespace.

Each csrc/core/cpu/isa/isa_<name>.cpp compiles the same kernel headers with its
own target flags. A global or weak symbol outside `qmoe::core::isa_<name>::`
(an inline function or template instantiated there, say) would be one the
linker may merge with the baseline build's copy, so a CPU without AVX-512
could end up running EVEX code depending on link order. The only exception is
the set's entry point `qmoe::core::<name>_kernels()` and its static locals.

Usage: check_isa_symbols.py OBJECT...  (objects not named isa_<set>.cpp.o are skipped)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

OBJECT_NAME = re.compile(r"isa_(baseline|avx2|avx512)\.cpp\.o(bj)?$")


def exported_symbols(path: Path) -> list[tuple[str, str]]:
    """(kind, mangled name) of every global or weak symbol the object defines."""
    listing = subprocess.run(
        ["nm", "--defined-only", str(path)], check=True, capture_output=True, text=True
    ).stdout
    symbols = []
    for line in listing.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        # upper case: global; W/V: weak; u: unique global (GNU); lower case others are local
        if kind.isupper() or kind == "u":
            symbols.append((kind, name))
    return symbols


def _source_name(word: str) -> str:
    return f"{len(word)}{word}"


def demangle(name: str) -> str:
    return subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip()


def stray_symbols(path: Path, isa: str) -> list[str]:
    # Itanium mangling: a name nested in qmoe::core::isa_<set> starts with
    # _ZN4qmoe4core<len>isa_<set>; the entry point is _ZN4qmoe4core<len><set>_kernelsEv,
    # entities local to a function (lambdas, static locals) _ZZ<function>..., their
    # guards _ZGVZ<function>...
    core = "_ZN" + _source_name("qmoe") + _source_name("core")
    nested = core + _source_name(f"isa_{isa}")
    entry = core + _source_name(f"{isa}_kernels") + "Ev"
    allowed = tuple(
        prefix + name[2:] if prefix else name
        for name in (nested, entry)
        for prefix in ("", "_ZZ", "_ZGVZ")
    )
    return [
        f"{kind} {demangle(name)}"
        for kind, name in exported_symbols(path)
        if not name.startswith(allowed)
    ]


def main(arguments: list[str]) -> int:
    objects = [Path(a) for a in arguments if OBJECT_NAME.search(a)]
    if not objects:
        print("no isa_<set>.cpp.o among the arguments", file=sys.stderr)
        return 2
    failed = False
    for path in objects:
        isa = OBJECT_NAME.search(str(path)).group(1)
        stray = stray_symbols(path, isa)
        print(
            f"{path.name}: {len(exported_symbols(path))} exported, {len(stray)} outside isa_{isa}"
        )
        for symbol in stray:
            print(f"  outside the namespace: {symbol}")
        failed = failed or bool(stray)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The wheel's package list, as setuptools computes it from pyproject.toml, holds every
package of qmoe_torch, and the license is declared and shipped.

setuptools' own reader expands ``[tool.setuptools.packages.find]`` exactly as a wheel
build does, without running setup.py, so the C++ extension is not built here.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "qmoe_torch"
# What may sit in the source tree without being package data: bytecode caches, and the
# operator library, which setup.py's build_ext puts into the wheel.
NOT_DATA = ("*.pyc", "_qmoe_ops*.so")


def packages_on_disk(root: Path) -> set[str]:
    """Every directory under ``root/qmoe_torch`` (itself included) with an ``__init__.py``."""
    return {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / PACKAGE).rglob("__init__.py")
    }


def configured(pyproject: Path) -> dict:
    return read_configuration(pyproject)


def configured_packages(pyproject: Path) -> set[str]:
    """The packages setuptools would put into the wheel for this pyproject.toml."""
    return set(configured(pyproject)["tool"]["setuptools"]["packages"])


def missing_packages(pyproject: Path) -> set[str]:
    return packages_on_disk(pyproject.parent) - configured_packages(pyproject)


def test_the_tree_has_subpackages():
    # Otherwise the next test would pass for the wrong reason.
    found = packages_on_disk(ROOT)
    assert {PACKAGE, f"{PACKAGE}.integrations", f"{PACKAGE}.experiments"} <= found


def test_every_subpackage_is_packaged():
    on_disk = packages_on_disk(ROOT)
    packaged = configured_packages(ROOT / "pyproject.toml")
    assert not on_disk - packaged, f"left out of the wheel: {sorted(on_disk - packaged)}"
    # Nothing else either: no namespace package made of a stray directory (__pycache__,
    # a data folder without __init__.py) and nothing from outside qmoe_torch.
    assert not packaged - on_disk, f"packaged but not packages: {sorted(packaged - on_disk)}"


def test_a_fixed_package_list_is_caught(tmp_path):
    # The regression this guards against: an explicit list naming only the top package.
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index("[tool.setuptools.packages.find]")
    end = text.index("\n[", start + 1)
    regressed = text[:start] + '[tool.setuptools]\npackages = ["qmoe_torch"]\n' + text[end:]
    for name in ("README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    os.symlink(ROOT / PACKAGE, tmp_path / PACKAGE, target_is_directory=True)
    (tmp_path / "pyproject.toml").write_text(regressed)
    assert missing_packages(tmp_path / "pyproject.toml") >= {
        f"{PACKAGE}.integrations",
        f"{PACKAGE}.experiments",
    }


def test_package_data_is_declared():
    # setuptools ships only .py files of a package unless package-data names the rest.
    declared = configured(ROOT / "pyproject.toml")["tool"]["setuptools"].get("package-data", {})
    undeclared = []
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        if not path.is_file() or path.suffix == ".py" or "__pycache__" in path.parts:
            continue
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in NOT_DATA):
            continue
        # package-data is keyed by the nearest enclosing package
        directory = path.parent
        while not (directory / "__init__.py").exists():
            directory = directory.parent
        package = ".".join(directory.relative_to(ROOT).parts)
        relative = path.relative_to(directory).as_posix()
        patterns = [*declared.get(package, []), *declared.get("*", [])]
        if not any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
            undeclared.append(str(path.relative_to(ROOT)))
    assert not undeclared, f"files the wheel would leave out (add package-data): {undeclared}"


def test_license_is_apache_2_and_shipped():
    project = configured(ROOT / "pyproject.toml")["project"]
    assert project["license"] == "Apache-2.0"
    assert "LICENSE" in project["license-files"]
    text = (ROOT / "LICENSE").read_text()
    for line in (
        "Apache License",
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
    ):
        assert line in text, f"LICENSE lacks {line!r}: not the full Apache License 2.0 text"

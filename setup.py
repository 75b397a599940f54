"""Builds qmoe_torch: the operator library comes from the project's one CMake build."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configures CMakeLists.txt and builds only the operator library target."""

    def build_extension(self, ext: Extension) -> None:
        import torch.utils

        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        stem, _, suffix = target.name.partition(".")
        # A fixed folder keeps rebuilds incremental across `pip install -e .` runs, and the
        # library is linked into it (build/ops/lib), then copied where setuptools wants it:
        # that place is a temporary folder for an editable install, and a later build of
        # the folder's other targets (qmoe::nn, `make cpp-package`) must find the library
        # where the folder's CMake cache says it is.
        build_dir = ROOT / "build" / "ops"
        library_dir = build_dir / "lib"
        library_dir.mkdir(parents=True, exist_ok=True)
        configure = [
            "cmake",
            "-S", str(ROOT),
            "-B", str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DQMOE_BUILD_TESTS=OFF",
            f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
            f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DQMOE_OPS_OUTPUT_DIR={library_dir}",
            f"-DQMOE_OPS_OUTPUT_NAME={stem}",
            f"-DQMOE_OPS_SUFFIX=.{suffix}",
        ]
        subprocess.run(configure, check=True)
        jobs = os.environ.get("MAX_JOBS", str(os.cpu_count() or 1))
        build = ["cmake", "--build", str(build_dir), "--target", "qmoe_ops", "-j", jobs]
        subprocess.run(build, check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library_dir / target.name, target)


setup(
    ext_modules=[CMakeExtension("qmoe_torch._qmoe_ops")],
    cmdclass={"build_ext": CMakeBuild},
)

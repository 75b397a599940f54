"""The installed C++ package end to end: ``cmake --install`` of qmoe::ops and qmoe::nn,
both examples and the modules' GoogleTests built against it (tests/cpp_package, one
CMake configure), run, and compared with Python.

The package is installed from the build folder that ``pip install -e .`` used (setup.py:
build/ops), so the op library is not compiled again; only qmoe_nn and the small programs
are (ccache and the fixed folders under build/cpp-package keep reruns incremental).
``QMOE_CPP_PACKAGE_BUILD_DIR`` names another configured build folder of the project.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from qmoe_torch import LinearGate, MLPGate, MoE, QuantumGate, TopKRouter
from qmoe_torch.libtorch import load_state_dict, read_tensor_dict, save_state_dict

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "cpp-package"
JOBS = os.environ.get("MAX_JOBS", "2")

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True)


def _checked(command: list[str], **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def package() -> dict[str, Path]:
    """Installs the package into build/cpp-package/prefix and builds tests/cpp_package."""
    source_build = Path(os.environ.get("QMOE_CPP_PACKAGE_BUILD_DIR", ROOT / "build" / "ops"))
    if not (source_build / "CMakeCache.txt").is_file():
        pytest.skip(f"{source_build} is not a configured build (run `make build` first)")
    _checked(["cmake", "--build", str(source_build), "--target", "qmoe_nn", "-j", JOBS])
    prefix = WORK / "prefix"
    shutil.rmtree(prefix, ignore_errors=True)
    _checked(["cmake", "--install", str(source_build), "--prefix", str(prefix)])
    consumer = WORK / "consumer"
    configure = [
        "cmake",
        "-S",
        str(ROOT / "tests" / "cpp_package"),
        "-B",
        str(consumer),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={prefix};{torch.utils.cmake_prefix_path}",
    ]
    if shutil.which("ccache"):
        configure.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    _checked(configure)
    _checked(["cmake", "--build", str(consumer), "-j", JOBS])
    return {
        "prefix": prefix,
        "serve": consumer / "cpp_inference" / "qmoe_serve",
        "train": consumer / "cpp_train" / "qmoe_train_two_moons",
        "nn_tests": consumer / "qmoe_nn_tests",
        "as_needed": consumer / "qmoe_ops_registered_as_needed",
    }


def _example(name: str, script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / name / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the package itself -------------------------------------------------------------


def test_installed_package_has_config_version_and_no_libpython(package) -> None:
    config = package["prefix"] / "lib" / "cmake" / "qmoe"
    assert "find_dependency(Torch)" in (config / "qmoeConfig.cmake").read_text()
    assert 'PACKAGE_VERSION "0.1.0"' in (config / "qmoeConfigVersion.cmake").read_text()
    targets = (config / "qmoeTargets.cmake").read_text()
    assert "add_library(qmoe::ops SHARED IMPORTED)" in targets
    assert "add_library(qmoe::nn SHARED IMPORTED)" in targets
    assert (package["prefix"] / "include" / "qmoe" / "nn" / "quantum_gate.h").is_file()
    if shutil.which("readelf") is None:
        pytest.skip("needs readelf")
    libraries = [p for p in (package["prefix"] / "lib").iterdir() if ".so" in p.name]
    assert len(libraries) == 2
    for library in libraries:
        dynamic = _checked(["readelf", "-d", str(library)])
        assert "libpython" not in dynamic, library
    # what keeps the op library linked: the symbol qmoe/ops.h references
    for program in ("serve", "train", "nn_tests"):
        needed = _checked(["readelf", "-d", str(package[program])])
        ops_name = next(p.name for p in libraries if "qmoe_nn" not in p.name)
        assert f"[{ops_name}]" in needed, (program, needed)


def test_linking_qmoe_ops_registers_the_operators_even_with_as_needed(package) -> None:
    # the program calls nothing of the library; linked with -Wl,--as-needed
    assert _checked([str(package["as_needed"])]).strip() == "qmoe::expval registered"


# ---- the C++ modules' GoogleTests, against Python's modules --------------------------


def _fixture_modules() -> dict[str, torch.nn.Module]:
    """The modules tests/cpp_package/nn_modules_test.cpp builds with the same options."""
    return {
        "quantum_expval": QuantumGate(6, 4, n_qubits=3, layers=2),
        "quantum_probs": QuantumGate(
            5, 4, readout="probs", entangler="basic", layers=2, embedding="Y"
        ),
        "quantum_parity": QuantumGate(
            4, 5, readout="parity", n_qubits=3, reuploads=2, layers=1, embedding="Z"
        ),
        "quantum_paper": QuantumGate(2, 2, projection=False, layers=3),
        "linear": LinearGate(6, 4, bias=True),
        "mlp": MLPGate(6, 4, hidden=5, activation="gelu"),
    }


def _message(run) -> str:
    with pytest.raises(Exception) as error:  # noqa: PT011 - the message is what is compared
        run()
    return str(error.value)


def _write_fixtures(folder: Path) -> dict[str, torch.nn.Module]:
    """Weights files, fresh random inputs, Python's outputs, programs and messages."""
    data: dict[str, object] = {}
    modules = _fixture_modules()
    with torch.no_grad():
        for name, module in modules.items():
            d_model = module.d_model
            hidden = (
                torch.rand(7, d_model) * 3.0 if name == "quantum_paper" else torch.randn(7, d_model)
            )
            save_state_dict(module, folder / f"{name}.pt")
            data[f"{name}.hidden"] = hidden
            data[f"{name}.logits"] = module(hidden)
            if isinstance(module, QuantumGate):
                data[f"{name}.program"] = torch.tensor(module._program, dtype=torch.int64)
                data[f"{name}.z_masks"] = torch.tensor(module._z_masks, dtype=torch.int64)
        router = TopKRouter(MLPGate(6, 4, hidden=5), k=2, softmax="after").eval()
        save_state_dict(router, folder / "router_after.pt")
        hidden = torch.randn(9, 6)
        routing = router(hidden)
        data.update(
            {
                "router_after.hidden": hidden,
                "router_after.indices": routing.indices,
                "router_after.weights": routing.weights,
                "router_after.aux_loss": routing.aux_loss,
                "router_after.z_loss": routing.z_loss,
            }
        )
        moes = {
            "moe_swiglu": MoE(6, 4, 8, k=2, gate=QuantumGate(6, 4, n_qubits=3, layers=1)),
            "moe_mlp_capacity": MoE(6, 4, 8, k=2, expert="mlp", capacity_factor=0.5),
        }
        for name, moe in moes.items():
            save_state_dict(moe, folder / f"{name}.pt")
            hidden = torch.randn(3, 5, 6)
            out = moe.eval()(hidden)
            data[f"{name}.hidden"] = hidden
            data[f"{name}.output"] = out.output
            data[f"{name}.indices"] = out.routing.indices
            data[f"{name}.dropped"] = out.dropped
    gate = modules["quantum_expval"]
    data["message.bad_hidden"] = _message(lambda: gate(torch.randn(2, 5)))
    data["message.bad_weights"] = _message(
        lambda: torch.ops.qmoe.expval(
            torch.rand(2, 3),
            torch.rand(4),
            None,
            gate._program,
            gate._constants,
            gate.n_qubits,
            gate._z_masks,
            "adjoint",
        )
    )
    data["message.bad_entangler"] = _message(lambda: QuantumGate(4, 2, entangler="ring"))
    torch.save(data, folder / "fixtures.pt")
    return modules


def test_cpp_modules_googletests_against_python(package, tmp_path: Path) -> None:
    modules = _write_fixtures(tmp_path)
    env = dict(os.environ, QMOE_NN_FIXTURES=str(tmp_path))
    output = _checked([str(package["nn_tests"])], env=env)
    assert "[  PASSED  ]" in output and "SKIPPED" not in output, output[-3000:]
    # weights saved in C++ load into Python and give C++'s logits
    gate = load_state_dict(modules["quantum_expval"], tmp_path / "cpp_quantum_expval.pt")
    data = torch.load(tmp_path / "fixtures.pt", weights_only=True)
    expected = read_tensor_dict(tmp_path / "cpp_quantum_expval_logits.pt")["logits"]
    with torch.no_grad():
        torch.testing.assert_close(gate(data["quantum_expval.hidden"]), expected, rtol=0, atol=1e-6)


# ---- serving: an AOTInductor package from Python, run from C++ -----------------------


@pytest.fixture(scope="module")
def served_model() -> Path:
    """export_model.py's trained layer, exported (AOTInductor compiles C++: the slow part)."""
    folder = WORK / "model"
    _checked(
        [
            sys.executable,
            str(ROOT / "examples" / "cpp_inference" / "export_model.py"),
            "--out",
            str(folder),
            "--steps",
            "10",
        ]
    )
    return folder


def test_serving_from_cpp_matches_python(package, served_model: Path, tmp_path: Path) -> None:
    export_model = _example("cpp_inference", "export_model.py")
    model = load_state_dict(export_model.build_model(), served_model / "moe_weights.pt").eval()
    hidden = torch.randn(33, export_model.D_MODEL)  # fresh tokens, not the example's batch
    torch.save({"hidden": hidden}, tmp_path / "batch.pt")
    stdout = _checked(
        [
            str(package["serve"]),
            str(served_model / "moe.pt2"),
            str(tmp_path / "batch.pt"),
            "--out",
            str(tmp_path / "out.pt"),
            "--eager",
            str(served_model / "moe_weights.pt"),
        ]
    )
    with torch.no_grad():
        output, weights, indices = export_model.Served(model)(hidden)
    got = read_tensor_dict(tmp_path / "out.pt")
    for prefix in ("", "eager_"):  # the package, and qmoe::nn modules on the same weights
        torch.testing.assert_close(got[prefix + "output"], output, rtol=0, atol=1e-5)
        torch.testing.assert_close(got[prefix + "weights"], weights, rtol=0, atol=1e-5)
        assert torch.equal(got[prefix + "indices"], indices)
    first = " ".join(str(int(e)) for e in indices[0])
    assert re.search(rf"^token 0: experts {first}  weights ", stdout, re.MULTILINE), stdout


def test_serving_names_a_missing_or_truncated_package(
    package, served_model: Path, tmp_path: Path
) -> None:
    torch.save({"hidden": torch.randn(2, 8)}, tmp_path / "batch.pt")
    missing = tmp_path / "missing.pt2"
    result = _run([str(package["serve"]), str(missing), str(tmp_path / "batch.pt")])
    assert result.returncode == 1 and str(missing) in result.stderr, result.stderr
    truncated = tmp_path / "truncated.pt2"
    data = (served_model / "moe.pt2").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    result = _run([str(package["serve"]), str(truncated), str(tmp_path / "batch.pt")])
    assert result.returncode == 1, result.stderr
    assert str(truncated) in result.stderr and "AOTInductor package" in result.stderr


# ---- training in C++ -----------------------------------------------------------------


def test_cpp_training_matches_python_and_loads_back(package, tmp_path: Path) -> None:
    script = str(ROOT / "examples" / "cpp_train" / "write_data.py")
    # the paper's phase 3A model and settings on 400 points (a few seconds each side)
    _checked(
        [
            sys.executable,
            script,
            "write",
            "--out",
            str(tmp_path),
            "--points",
            "400",
            "--epochs",
            "20",
        ]
    )
    stdout = _checked(
        [
            str(package["train"]),
            str(tmp_path / "data.pt"),
            str(tmp_path / "cpp_weights.pt"),
            "--init",
            str(tmp_path / "init_weights.pt"),
            "--epochs",
            "20",
        ]
    )
    cpp_accuracy = float(re.search(r"^test accuracy ([0-9.]+)$", stdout, re.MULTILINE).group(1))
    python = json.loads((tmp_path / "python_result.json").read_text())
    # same data, initial weights and minibatch order; Adam's rounding differs (fused in
    # Python), so within a few test points
    assert abs(cpp_accuracy - python["test_accuracy"]) <= 0.03, (cpp_accuracy, python)
    assert cpp_accuracy >= 0.9, stdout
    _checked(
        [sys.executable, script, "check", "--out", str(tmp_path), str(tmp_path / "cpp_weights.pt")]
    )
    back = json.loads((tmp_path / "check_result.json").read_text())
    assert back["test_accuracy"] == pytest.approx(cpp_accuracy, abs=1e-6)

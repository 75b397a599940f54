"""The Python side of the C++ Two Moons example: the data file, the initial weights,
the same training in Python, and the check that C++-trained weights load back.

``write``: ``make_moons`` split and min-max scaled as the paper's phase 3A
(``qmoe_torch.experiments.data.two_moons``) -> ``data.pt``; the model's initial weights
(``make_model`` of the quantum router, seed ``--seed``) -> ``init_weights.pt``; then
trains that model in Python with the same settings and writes its accuracy to
``python_result.json``.

``check WEIGHTS``: loads weights written by ``qmoe_train_two_moons`` into the Python
model and prints its test accuracy (``check_result.json``).

Usage::

    python examples/cpp_train/write_data.py write --out build/cpp_train_data
    build/cpp_train/qmoe_train_two_moons build/cpp_train_data/data.pt \\
        build/cpp_train_data/cpp_weights.pt --init build/cpp_train_data/init_weights.pt
    python examples/cpp_train/write_data.py check --out build/cpp_train_data \\
        build/cpp_train_data/cpp_weights.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from qmoe_torch.experiments.data import two_moons
from qmoe_torch.experiments.models import RouterSpec, make_model
from qmoe_torch.experiments.training import TrainConfig, accuracy, single_thread, train
from qmoe_torch.libtorch import load_state_dict, save_state_dict


def model(seed: int) -> torch.nn.Module:
    """The paper's router: QuantumGate(2, 2, layers=3, projection=False), two Linear experts."""
    return make_model(RouterSpec("quantum", layers=3), "linear", d_model=2, seed=seed)


def write(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    split = two_moons(args.points, args.seed)
    torch.save(
        {
            "x_train": split.x_train,
            "y_train": split.y_train,
            "x_test": split.x_test,
            "y_test": split.y_test,
        },
        args.out / "data.pt",
    )
    python_model = model(args.seed)
    save_state_dict(python_model, args.out / "init_weights.pt")
    with single_thread():
        train(
            python_model,
            split.x_train,
            split.y_train,
            TrainConfig(args.epochs, args.lr, args.batch),
            seed=args.seed,
        )
        result = {
            "train_accuracy": accuracy(python_model, split.x_train, split.y_train),
            "test_accuracy": accuracy(python_model, split.x_test, split.y_test),
        }
    save_state_dict(python_model, args.out / "python_weights.pt")
    (args.out / "python_result.json").write_text(json.dumps(result))
    print(f"data in {args.out}; Python run: test accuracy {result['test_accuracy']:.4f}")


def check(args: argparse.Namespace) -> None:
    data = torch.load(args.out / "data.pt", weights_only=True)
    trained = load_state_dict(model(args.seed), args.weights)
    result = {"test_accuracy": accuracy(trained, data["x_test"], data["y_test"])}
    (args.out / "check_result.json").write_text(json.dumps(result))
    print(f"C++-trained weights in Python: test accuracy {result['test_accuracy']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write_parser = commands.add_parser("write", help="data, initial weights, the Python run")
    check_parser = commands.add_parser("check", help="load C++-trained weights into Python")
    check_parser.add_argument("weights", type=Path)
    for sub in (write_parser, check_parser):
        sub.add_argument("--out", type=Path, required=True)
        sub.add_argument("--seed", type=int, default=0)
    # the paper's phase 3A settings
    write_parser.add_argument("--points", type=int, default=1000)
    write_parser.add_argument("--epochs", type=int, default=30)
    write_parser.add_argument("--lr", type=float, default=0.05)
    write_parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    write(args) if args.command == "write" else check(args)


if __name__ == "__main__":
    main()

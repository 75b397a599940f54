"""Data sets: Two Moons (the paper's phases 2 and 3) and scikit-learn's digits 0 vs 1.

Every split is a stratified train/test split drawn from ``seed``; scalers are fitted on the
training part only, so the test points never inform preprocessing.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class Split:
    """Features ``[N, F]`` (float32) and labels ``[N]`` (int64) of a train/test split."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    description: str

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


def _split(features: np.ndarray, labels: np.ndarray, test_size: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels
    )


def two_moons(n_points: int, seed: int, *, test_size: float = 0.3, noise: float = 0.1) -> Split:
    """``make_moons(n_points, noise, random_state=seed)``, split, then min-max scaled to
    [0, pi] per feature with the training split's minimum and maximum (the paper scales
    the whole set; test points may fall slightly outside [0, pi])."""
    from sklearn.datasets import make_moons

    points, labels = make_moons(n_points, noise=noise, random_state=seed)
    x_train, x_test, y_train, y_test = _split(points, labels, test_size, seed)
    low, high = x_train.min(axis=0), x_train.max(axis=0)

    def scale(x: np.ndarray) -> torch.Tensor:
        return torch.tensor((x - low) / (high - low) * math.pi, dtype=torch.float32)

    return Split(
        scale(x_train),
        torch.tensor(y_train),
        scale(x_test),
        torch.tensor(y_test),
        f"make_moons({n_points}, noise={noise}, random_state=seed), "
        f"min-max scaled to [0, pi] on the training split",
    )


def digits_zero_one(seed: int, *, test_size: float = 0.3, n_points: int | None = None) -> Split:
    """scikit-learn's digits (8x8, 0-16 grey levels), classes 0 and 1 (360 images),
    average-pooled over 2x2 blocks to 4x4 = 16 features in [0, 1]: the stand-in for the
    paper's MNIST 0-vs-1 at 4x4, which cannot be downloaded here. ``n_points`` keeps the
    first that many images (all when None)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 2
    images = digits.images[keep].astype(np.float32) / 16.0
    labels = digits.target[keep]
    if n_points is not None:
        images, labels = images[:n_points], labels[:n_points]
    pooled = images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    x_train, x_test, y_train, y_test = _split(pooled, labels, test_size, seed)
    return Split(
        torch.tensor(x_train),
        torch.tensor(y_train),
        torch.tensor(x_test),
        torch.tensor(y_test),
        f"sklearn load_digits, classes 0 and 1 ({len(labels)} images), 8x8 "
        f"average-pooled to 4x4, pixels / 16",
    )

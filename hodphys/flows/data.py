"""Data sets a CNF trains on: the 2-D toys (fresh samples every batch) and the 8×8 digits (64-D).

    data = flow_dataset("pinwheel", seed=0)
    batch = data.train_batch(torch.Generator().manual_seed(1), 512)   # (512, d), float64
    data.validation, data.test                                        # fixed (n, d) sets

Digits: scikit-learn's bundled 1797 images of 8×8 pixels in 0 … 16 (no download), split
train/validation/test (70/15/15 %, seeded), dequantised x = (p + u)/17 with u ~ U[0, 1)
(fresh u for every training batch, one fixed draw for validation and test), then standardised
per pixel with the training split's mean μ and spread σ: the flow models y = (x − μ)/σ, and
log p(x) = log p(y) + ``log_det`` with log_det = −Σ log σ, so NLLs are reported for x.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import torch
from torch import Tensor

from hodphys.flows.datasets import TOY_DATASETS, toy_data

DATASETS = (*TOY_DATASETS, "digits")
SPLIT = (0.70, 0.15)  # train, validation fractions of the digits; the rest is the test split


@dataclass(frozen=True)
class FlowDataset:
    """A density-estimation data set in the space the flow models.

    Attributes:
        name: the data set's name.
        draw_train: (generator, n) → n training samples (n, d).
        validation, test: fixed sets (n, d).
        log_det: log |det ∂y/∂x| of the fixed standardisation (0 for the toys), added to log p(y).
        mean, scale: μ and σ of that standardisation y = (x − μ)/σ (None for the toys).
    """

    name: str
    draw_train: Callable[[torch.Generator, int], Tensor]
    validation: Tensor
    test: Tensor
    log_det: float = 0.0
    mean: Tensor | None = None
    scale: Tensor | None = None

    @property
    def d(self) -> int:
        return self.test.shape[-1]

    def train_batch(self, generator: torch.Generator, n: int) -> Tensor:
        """n training samples (n, d), float64, drawn with ``generator``."""
        return self.draw_train(generator, n)

    def to_data_space(self, y: Tensor) -> Tensor:
        """x = μ + σ y: samples of the flow back in the data's own units (the identity for the toys)."""
        if self.mean is None:
            return y
        return self.mean.to(y) + self.scale.to(y) * y


def digit_pixels() -> Tensor:
    """The 1797 × 64 pixel intensities (0 … 16) of scikit-learn's bundled digits, float64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the 'digits' data set needs scikit-learn (it ships the 8×8 digits; nothing is "
                          "downloaded): pip install 'hodphys[flows]' or pip install scikit-learn") from None
    return torch.as_tensor(load_digits().data, dtype=torch.float64)


def dequantise(pixels: Tensor, generator: torch.Generator) -> Tensor:
    """x = (p + u)/17, u ~ U[0, 1): integer intensities 0 … 16 → a density on [0, 1)."""
    return (pixels + torch.rand(pixels.shape, generator=generator, dtype=pixels.dtype)) / 17


def digits(seed: int = 0) -> FlowDataset:
    """The digits split train/validation/test by a seeded permutation, dequantised and standardised."""
    pixels = digit_pixels()
    order = torch.randperm(pixels.shape[0], generator=torch.Generator().manual_seed(seed))
    n_train, n_val = (int(f * pixels.shape[0]) for f in SPLIT)
    train, val, test = (pixels[part] for part in order.split([n_train, n_val, len(order) - n_train - n_val]))
    fixed = torch.Generator().manual_seed(seed + 1)
    reference = dequantise(train, fixed)
    mean, scale = reference.mean(0), reference.std(0)

    def standardise(x: Tensor) -> Tensor:
        return (x - mean) / scale

    def draw_train(generator: torch.Generator, n: int) -> Tensor:
        rows = torch.randint(0, train.shape[0], (n,), generator=generator)
        return standardise(dequantise(train[rows], generator))

    return FlowDataset("digits", draw_train, standardise(dequantise(val, fixed)),
                       standardise(dequantise(test, fixed)), log_det=-float(scale.log().sum()),
                       mean=mean, scale=scale)


def flow_dataset(name: str, seed: int = 0, n_validation: int = 2000, n_test: int = 5000) -> FlowDataset:
    """The data set ``name`` (one of :data:`DATASETS`); toys get fixed validation/test samples."""
    if name == "digits":
        return digits(seed)
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")
    validation = toy_data(name, n_validation, torch.Generator().manual_seed(seed + 7919))
    test = toy_data(name, n_test, torch.Generator().manual_seed(seed + 104729))
    return FlowDataset(name, lambda generator, n: toy_data(name, n, generator), validation, test)

"""The shared cost model behind ``method="auto"``: multiply-adds plus a price per tensor op.

Every engine estimates its work in the same currency so :func:`hodphys.engines.choose` can
compare them. A sweep that pushes K rows per sample through the network costs
N·K·(L + c_σ·E), with L the multiply-adds of the linear maps per row and E the total width
of the activation sites (σ and its derivative products cost about c_σ = :data:`ELEMENTWISE`
operations per entry and row). Each tensor op also pays :data:`LAUNCH` (dispatch,
allocation), which is what dominates at batch 1; an engine states how many ops it issues per
layer and sweep.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from hodphys.elementwise import elementwise_of
from hodphys.nn.block import BranchBlock
from hodphys.nn.compose import cached_by_structure, leaf_layers

LAUNCH = 3e4  # multiply-adds one tensor op costs besides its arithmetic (a few µs on one core)
ELEMENTWISE = 4.0  # operations per σ-site entry and row


@dataclass(frozen=True)
class Sizes:
    """L (multiply-adds per row), E (σ-site width) and the number of layers of a network."""

    linear: float
    sites: float
    layers: int


def _numel(m: object) -> int:
    return 0 if isinstance(m, float) else m.numel()


@cached_by_structure
def network_sizes(model: nn.Module, d: int) -> Sizes:
    """Sizes of any model: exact for Sequentials of known layers, parameter count otherwise."""
    linear, sites, width = 0.0, 0.0, d
    layers = leaf_layers(model)
    for _, layer in layers:
        if isinstance(layer, nn.Linear):
            linear, width = linear + layer.weight.numel(), layer.out_features
        elif isinstance(layer, BranchBlock):
            br = layer.branch()
            linear += _numel(br.skip) + br.inner.numel() + _numel(br.outer)
            sites += br.inner.shape[0]
            width = getattr(layer, "out_features", width)
        elif elementwise_of(layer) is not None:
            sites += width
        else:
            linear += sum(p.numel() for p in layer.parameters())
    return Sizes(max(linear, d), sites, len(layers))


def sweep(n: int, rows: float, sizes: Sizes) -> float:
    """Arithmetic of pushing ``rows`` rows per sample through the network."""
    return n * rows * (sizes.linear + ELEMENTWISE * sizes.sites)


def launches(sizes: Sizes, sweeps: float, ops_per_layer: float) -> float:
    """The fixed price of the tensor ops a computation issues."""
    return LAUNCH * ops_per_layer * sweeps * sizes.layers

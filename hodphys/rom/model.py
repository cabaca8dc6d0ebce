"""A reduced model: decoder + reduced internal forces + reduced external load.

Index letters: n free dofs, p prefix size, r latent size.

    model = ReducedModel.build(beam.body, decoder, load)                 # exact projected forces
    model = ReducedModel.build(beam.body, decoder, load, cubature)       # a few elements only

The external load f(t) (n,) enters as Uᵀ f(t) (p,); a LoadHistory is projected once (steady and
pulse parts), so evaluating it per step costs O(p), not O(n).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hodphys.fem import ElasticBody, LoadHistory
from hodphys.rom.cubature import Cubature
from hodphys.rom.decoder import Decoder
from hodphys.rom.forces import ProjectedForces


class ReducedForces(Protocol):
    """F(z) (p,), K(z) (p, p), K(z) D (p, r) and Π(z) in prefix coordinates z (p,); force_floor:
    the round-off level of ‖F‖."""

    force_floor: float

    def evaluate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def force(self, z: np.ndarray) -> np.ndarray: ...

    def stiffness_product(self, z: np.ndarray, directions: np.ndarray) -> np.ndarray: ...

    def energy(self, z: np.ndarray) -> float: ...


@dataclass
class ReducedModel:
    """decoder, forces (exact projection or cubature) and load t ↦ Uᵀ f(t) (p,)."""

    decoder: Decoder
    forces: ReducedForces
    load: Callable[[float], np.ndarray]

    @classmethod
    def build(cls, body: ElasticBody, decoder: Decoder, external_force: Callable[[float], np.ndarray],
              cubature: Cubature | None = None) -> ReducedModel:
        """Check that decoder, body and cubature fit together, then project the load."""
        if decoder.n_free != body.n_free:
            raise ValueError(f"ReducedModel.build: the decoder's output size is {decoder.n_free}, the body "
                             f"has {body.n_free} free dofs; expected them equal (a decoder of another mesh?)")
        if cubature is None:
            forces: ReducedForces = ProjectedForces(body, decoder.basis)
        else:
            if cubature.basis.basis.shape != decoder.basis.basis.shape or not np.array_equal(
                    cubature.basis.basis, decoder.basis.basis):
                raise ValueError("ReducedModel.build: the cubature was fitted for another basis than the "
                                 "decoder's; fit it with the decoder's basis (decoder.basis)")
            forces = cubature.forces()
        return cls(decoder, forces, project_load(decoder.basis.basis, external_force))

    @property
    def latent_dim(self) -> int:
        return self.decoder.latent_dim


def project_load(basis: np.ndarray, external_force: Callable[[float], np.ndarray]
                 ) -> Callable[[float], np.ndarray]:
    """t ↦ Uᵀ f(t); a LoadHistory stays a LoadHistory of projected vectors."""
    if isinstance(external_force, LoadHistory):
        return LoadHistory(basis.T @ external_force.steady, basis.T @ external_force.pulse,
                           external_force.pulse_duration)
    return lambda time: basis.T @ external_force(time)

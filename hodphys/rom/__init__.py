"""Reduced-order FEM: decoders u = f(q), reduced forces and cubature, implicit latent integrators.

Index letters: n free dofs, p prefix (basis) size, r latent size, T snapshots, c cubature elements.

    from hodphys.rom import (Decoder, EulerLagrangeEuler, ReducedModel, fit_cubature,
                             fit_neural_decoder, mass_pca)
    basis = mass_pca(snapshots, beam.body.mass, n_modes=30)            # (T, n) → U (n, 30), UᵀMU = I
    decoder, _ = fit_neural_decoder(basis, snapshots, latent_dim=6, run=run)  # u₀ + U [q; h(q)]
    cubature = fit_cubature(beam.body, basis, basis.coordinates(snapshots))
    model = ReducedModel.build(beam.body, decoder, load, cubature)
    integrator = EulerLagrangeEuler(model)                             # HoD-Net eq. 12, 3rd order
    trajectory = simulate(integrator, integrator.initial_state(), dt=0.01, n_steps=200)
    u = decoder.decode(trajectory.arrays()["displacements"])           # (t, r) → (t, n)

Layers: basis (mass PCA) → decoder (+ training) → forces, cubature → model → newton → integrators.
"""
from hodphys.rom.basis import MassBasis, full_mass_basis, mass_pca
from hodphys.rom.cubature import Cubature, fit_cubature, full_cubature
from hodphys.rom.decoder import Decoder, DecoderJet, Normalisation, closure_network
from hodphys.rom.forces import ElementForces, ProjectedForces
from hodphys.rom.integrators import (
    REDUCED_INTEGRATORS,
    EulerLagrangeEuler,
    ReducedIntegrator,
    VariationalEuler,
)
from hodphys.rom.model import ReducedModel
from hodphys.rom.newton import ReducedNewtonResult
from hodphys.rom.training import ClosureConfig, fit_neural_decoder

__all__ = [
    "MassBasis", "full_mass_basis", "mass_pca", "Cubature", "fit_cubature", "full_cubature",
    "Decoder", "DecoderJet", "Normalisation", "closure_network", "ElementForces", "ProjectedForces",
    "REDUCED_INTEGRATORS", "EulerLagrangeEuler", "ReducedIntegrator", "VariationalEuler",
    "ReducedModel", "ReducedNewtonResult", "ClosureConfig", "fit_neural_decoder",
]

"""Small float64 cantilevers and snapshot sets for the ROM tests (seconds, not minutes)."""
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from hodphys.fem import LoadHistory, NewtonOptions, make_integrator, simulate
from hodphys.rom import Decoder, Normalisation, closure_network, mass_pca
from tests.fem.beams import make_beam

TIGHT = NewtonOptions(rtol=1e-12)


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def beam():
    return make_beam((6, 2, 2))


def tap(beam, force=(0.0, 40.0, 10.0), duration=0.1) -> LoadHistory:
    return LoadHistory(beam.gravity(), beam.tip_force(list(force)), duration)


def full_order(beam, load, n_steps=20, dt=0.01, options=TIGHT) -> np.ndarray:
    integrator = make_integrator("implicit-euler", beam.body, load, options)
    return np.array(simulate(integrator, integrator.initial_state(), dt, n_steps).displacements)


@pytest.fixture(scope="session")
def snapshots(beam) -> np.ndarray:
    """Two tapped trajectories of the small beam; shape (42, n_free)."""
    return np.concatenate([full_order(beam, tap(beam, (0, 60.0, 0))),
                           full_order(beam, tap(beam, (0, 0, -60.0)))])


@pytest.fixture(scope="session")
def neural_decoder(beam, snapshots) -> Decoder:
    """A random (untrained) closure on an 8-mode basis, r = 3: strongly nonlinear, smooth."""
    basis = mass_pca(snapshots, beam.body.mass, 8)
    torch.manual_seed(0)
    net = closure_network(3, 5, [16, 16])
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(2.0)
    z = basis.coordinates(snapshots)
    normalisation = Normalisation(np.zeros(3), np.full(3, 0.05), np.zeros(5), z[:, 3:].std(0))
    return Decoder(basis, 3, net, normalisation)

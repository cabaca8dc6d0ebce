"""Same mesh, same clamp, same nodal forces: hodphys.fem against felupe, an independent FEM code.

felupe is in the ``test`` extra, so these run wherever the test suite does (CI included): a
missing felupe is an import error here, not a skip.
"""
import numpy as np
import pytest

from hodphys.bench.references.felupe import (
    felupe_angular_frequencies,
    felupe_model,
    felupe_static_displacement,
)
from hodphys.fem import NewtonOptions, end_load, modal_analysis, solve_static
from tests.fem.beams import DENSITY, LENGTH, SECOND_MOMENT, YOUNG, make_beam


@pytest.fixture(scope="module")
def beam():
    return make_beam((12, 2, 2))


@pytest.fixture(scope="module")
def twin(beam):
    body = beam.body
    return felupe_model(body.mesh, body.material, body.density, body.dirichlet.nodes)


def test_large_static_tip_deflection_agrees(beam, twin):
    nodal = end_load(beam.mesh, np.array([0.0, 0.0, -300.0]))
    ours = solve_static(beam.body, beam.body.restrict(nodal), 5, NewtonOptions(rtol=1e-12))
    theirs = felupe_static_displacement(twin, nodal, load_steps=5)
    tip = beam.tip_nodes
    our_tip = beam.body.field(ours.displacement)[tip].mean(axis=0)
    assert -our_tip[2] > 0.2                      # a large deflection, well past linear
    np.testing.assert_allclose(our_tip, theirs[tip].mean(axis=0), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(beam.body.field(ours.displacement), theirs, atol=1e-6 * -our_tip[2])


def test_first_eigenfrequency_agrees(beam, twin):
    ours = modal_analysis(beam.body, n_modes=3).angular_frequencies
    theirs = felupe_angular_frequencies(twin, n_modes=3)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_only_neo_hookean_has_a_twin(beam):
    from hodphys.fem import StVenantKirchhoff
    with pytest.raises(ValueError, match="only NeoHookean has a felupe twin"):
        felupe_model(beam.mesh, StVenantKirchhoff(mu=1.0, lmbda=1.0), DENSITY, beam.body.dirichlet.nodes)


def test_linear_limit_tip_deflections_agree_on_a_mesh_sequence():
    """The discrete numbers test_static.py's convergence check sees (0.245, 0.553, 0.829 of
    Euler–Bernoulli), from felupe: a tip load at 1e-4 L of deflection, ν = 0."""
    load = 1e-4 * 3 * YOUNG * SECOND_MOMENT / LENGTH**2
    for n in (10, 20, 40):
        beam = make_beam((n, n // 10, n // 10), poisson=0.0)
        nodal = end_load(beam.mesh, np.array([0.0, 0.0, -load]))
        ours = solve_static(beam.body, beam.body.restrict(nodal), 1, NewtonOptions(rtol=1e-12))
        twin = felupe_model(beam.mesh, beam.body.material, DENSITY, beam.body.dirichlet.nodes)
        theirs = felupe_static_displacement(twin, nodal, load_steps=1, tolerance=1e-9)
        np.testing.assert_allclose(beam.tip_displacement(ours.displacement),
                                   theirs[beam.tip_nodes].mean(axis=0), rtol=1e-6, atol=1e-9 * LENGTH)

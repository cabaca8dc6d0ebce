import numpy as np
import pytest

from hodphys.rom import Decoder, ReducedModel, full_cubature, mass_pca
from hodphys.rom.metrics import projection_error, trajectory_errors
from tests.rom.conftest import tap


def test_projected_load_history_equals_projecting_every_time(beam, neural_decoder):
    load = tap(beam)
    history = ReducedModel.build(beam.body, neural_decoder, load).load
    plain = ReducedModel.build(beam.body, neural_decoder, lambda t: load(t)).load
    for time in (0.0, 0.05, 0.2):
        assert np.allclose(history(time), plain(time), rtol=1e-13, atol=1e-13)


def test_cubature_of_another_basis_is_refused(beam, snapshots, neural_decoder):
    other = full_cubature(beam.body, mass_pca(snapshots, beam.body.mass, 8 - 1))
    with pytest.raises(ValueError, match="cubature was fitted for another basis"):
        ReducedModel.build(beam.body, neural_decoder, tap(beam), other)


def test_trajectory_errors_measure_tip_and_frames():
    reference = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    reduced = reference + np.array([[0.0, 0.0], [0.0, 0.5], [0.0, 0.0]])
    tip = np.array([[0, 0, 0], [0, 1.0, 0], [0, 2.0, 0]])
    errors = trajectory_errors(reference, reduced, tip, tip + np.array([[0, 0, 0], [0, 0, 0.3], [0, 0, 0.4]]))
    assert errors["tip_max_error_m"] == pytest.approx(0.4)
    assert errors["tip_rms_error_m"] == pytest.approx(np.sqrt((0.09 + 0.16) / 3))
    assert errors["tip_rms_error_relative_to_peak"] == pytest.approx(np.sqrt((0.09 + 0.16) / 3) / 2.0)
    assert errors["relative_displacement_error"] == pytest.approx([0.0, 0.1, 0.0])


def test_trajectory_errors_need_matching_shapes():
    with pytest.raises(ValueError, match="expected trajectories of one shape"):
        trajectory_errors(np.zeros((3, 4)), np.zeros((2, 4)), np.zeros((3, 3)), np.zeros((3, 3)))


def test_pca_decoder_round_trips_its_subspace(beam, snapshots):
    decoder = Decoder(mass_pca(snapshots, beam.body.mass, 5), 5)
    q = np.array([0.1, -0.2, 0.05, 0.0, 0.3])
    assert np.allclose(decoder.encode(decoder.decode(q)), q, rtol=0, atol=1e-14)


def test_projection_error_of_pca_is_the_discarded_snapshot_energy(beam, snapshots):
    """Method of snapshots: PCA with r of all modes misses Σ_{k>r} σ_k² of Σ_k σ_k² (M-energy)."""
    weighted = snapshots @ np.linalg.cholesky(beam.body.mass.toarray())     # ‖u‖²_M = ‖Lᵀu‖²
    energy = np.linalg.svd(weighted, compute_uv=False) ** 2                  # σ_k², all of them
    basis = mass_pca(snapshots, beam.body.mass, 4)
    assert projection_error(Decoder(basis, 4), snapshots, beam.body.mass) == pytest.approx(
        np.sqrt(energy[4:].sum() / energy.sum()), rel=1e-8)

import numpy as np
import pytest

from hodphys.rom import Decoder, mass_pca
from hodphys.rom.training import ClosureConfig, fit_neural_decoder
from hodphys.io.runs import Run


def projection_error(decoder, snapshots, mass):
    """M-norm error of decode(encode(u)) over the snapshots."""
    error = decoder.decode(decoder.encode(snapshots)) - snapshots
    return np.sqrt(np.einsum("ti,ti->", error, (mass @ error.T).T))


def test_neural_decoder_beats_pca_of_the_same_size(beam, snapshots, tmp_path):
    config = ClosureConfig(widths=[16, 16], adam_steps=300, optimizer_steps=100, seed=0)
    run = Run.create("rom-test", config, root=tmp_path)
    basis = mass_pca(snapshots, beam.body.mass, 10)
    decoder, metrics = fit_neural_decoder(basis, snapshots, latent_dim=2, run=run, config=config)
    pca = Decoder(mass_pca(snapshots, beam.body.mass, 2), 2)
    mass = beam.body.mass
    assert projection_error(decoder, snapshots, mass) < 0.5 * projection_error(pca, snapshots, mass)
    assert metrics["steps"] == 400 and metrics["rel_l2_mean"] < 0.5
    loaded = Decoder.load(decoder.save(tmp_path / "decoder.pt"))
    q = decoder.encode(snapshots[9])
    assert np.allclose(loaded.decode(q), decoder.decode(q), rtol=0, atol=1e-15)


def test_latent_size_must_leave_room_for_a_closure(beam, snapshots, tmp_path):
    basis = mass_pca(snapshots, beam.body.mass, 4)
    with pytest.raises(ValueError, match="expected 1 ≤ latent_dim < the basis size 4"):
        fit_neural_decoder(basis, snapshots, latent_dim=4, run=None)


def test_rough_activation_is_refused(beam, snapshots, tmp_path):
    config = ClosureConfig(activation="relu")
    basis = mass_pca(snapshots, beam.body.mass, 4)
    with pytest.raises(ValueError, match="activation 'relu'"):
        fit_neural_decoder(basis, snapshots, 2, Run.create("rom-test", config, root=tmp_path), config)

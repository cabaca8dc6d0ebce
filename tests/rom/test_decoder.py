import numpy as np
import pytest
import torch
from torch import nn

from hodphys.rom import Decoder, mass_pca


def func_prefix(decoder):
    """g(q) = [q; h(q)] as a torch function (the torch.func reference)."""
    return lambda q: torch.cat([q, decoder.closure(q)])


def test_jet_matches_torch_func(neural_decoder):
    q = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    g = func_prefix(neural_decoder)
    jet = neural_decoder.jet(q.numpy())
    jacobian = torch.func.jacrev(g)(q).numpy()
    hessian = torch.func.hessian(g)(q).numpy()
    assert np.abs(jet.value - g(q).detach().numpy()).max() < 1e-12
    assert np.abs(jet.jacobian - jacobian).max() <= 1e-10 * np.abs(jacobian).max()
    a, b = np.array([1.0, 2.0, -1.0]), np.array([0.5, 0.0, 3.0])
    assert np.allclose(jet.second(a, b), np.einsum("kij,i,j->k", hessian, a, b), rtol=1e-10, atol=1e-14)
    assert np.allclose(jet.hvp(a), hessian @ a, rtol=1e-10, atol=1e-14)
    w = np.linspace(-1, 1, 8)
    assert np.allclose(jet.contract(w), np.einsum("k,kij->ij", w, hessian), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method,compile", [("auto", False), ("multicomplex", False), ("auto", True)],
                         ids=["auto", "multicomplex", "auto-compiled"])
def test_third_order_term_matches_nested_torch_func(neural_decoder, method, compile):
    q = torch.tensor([0.1, 0.4, -0.3], dtype=torch.float64)
    v = np.array([0.7, -1.1, 0.4])
    weights = np.random.default_rng(1).normal(size=(3, 8))
    g = func_prefix(neural_decoder)
    third = torch.func.jacfwd(torch.func.jacfwd(torch.func.jacrev(g)))(q).numpy()   # (p, r, r, r)
    reference = np.einsum("mp,pijk,i,j->mk", weights, third, v, v)
    neural_decoder.method, neural_decoder.compile = method, compile   # the planned calls follow
    try:
        rows = neural_decoder.third_order(q.numpy(), v, weights)
        hessian = neural_decoder.jet(q.numpy()).closure_hessian
        assert (neural_decoder.compile_seconds > 0) == compile
    finally:
        neural_decoder.method, neural_decoder.compile = "auto", False
    assert np.abs(rows - reference).max() <= 1e-10 * np.abs(reference).max()
    reference_hessian = torch.func.hessian(neural_decoder.closure)(q).numpy()
    assert np.abs(hessian - reference_hessian).max() <= 1e-10 * np.abs(reference_hessian).max()


def test_acceleration_from_engines_equals_finite_differences_in_time(neural_decoder):
    """ü = J q̈ + ∇²f[q̇, q̇] against (f(q(t+τ)) − 2 f(q(t)) + f(q(t−τ)))/τ²."""
    def path(t):
        return np.array([0.3 * np.sin(2 * t), 0.5 * t**2 - 0.2, np.cos(t)])

    t, tau = 0.7, 1e-4
    q = path(t)
    q_dot = np.array([0.6 * np.cos(2 * t), t, -np.sin(t)])
    q_ddot = np.array([-1.2 * np.sin(2 * t), 1.0, -np.cos(t)])
    jet = neural_decoder.jet(q)
    U = neural_decoder.basis.basis
    acceleration = U @ (jet.jacobian @ q_ddot + jet.second(q_dot, q_dot))
    decode = neural_decoder.decode
    finite = (decode(path(t + tau)) - 2 * decode(q) + decode(path(t - tau))) / tau**2
    assert np.linalg.norm(acceleration - finite) <= 1e-6 * np.linalg.norm(acceleration)


def test_encode_inverts_decode(neural_decoder):
    q = np.array([[0.2, -0.1, 0.3], [0.0, 0.5, -0.4]])
    assert np.allclose(neural_decoder.encode(neural_decoder.decode(q)), q, rtol=0, atol=1e-12)


def test_save_and_load_reproduce_decoder(neural_decoder, tmp_path):
    path = neural_decoder.save(tmp_path / "decoder.pt")
    loaded = Decoder.load(path)
    q = np.array([0.2, -0.7, 0.1])
    assert np.array_equal(loaded.decode(q), neural_decoder.decode(q))
    assert np.array_equal(loaded.basis.basis, neural_decoder.basis.basis)
    assert np.array_equal(loaded.normalisation.h_scale, neural_decoder.normalisation.h_scale)
    assert np.array_equal(loaded.jet(q).closure_hessian, neural_decoder.jet(q).closure_hessian)


def test_pca_decoder_save_and_load(beam, snapshots, tmp_path):
    decoder = Decoder(mass_pca(snapshots, beam.body.mass, 4), 4)
    loaded = Decoder.load(decoder.save(tmp_path / "pca.pt"))
    assert loaded.closure is None and np.array_equal(loaded.decode(np.ones(4)), decoder.decode(np.ones(4)))


def test_load_refuses_other_files(tmp_path):
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a decoder file"):
        Decoder.load(tmp_path / "other.pt")


def test_closure_of_wrong_output_size_is_refused(neural_decoder):
    with pytest.raises(ValueError, match=r"expected \(1, 5\)"):
        Decoder(neural_decoder.basis, 3, nn.Sequential(nn.Linear(3, 4)).double())


def test_latent_size_mismatch_is_named(neural_decoder):
    with pytest.raises(ValueError, match=r"last dimension 3 \(the latent size r\)"):
        neural_decoder.decode(np.zeros(4))
    with pytest.raises(ValueError, match="need no closure"):
        Decoder(neural_decoder.basis, 8, nn.Sequential(nn.Linear(8, 1)).double())
    with pytest.raises(ValueError, match="need a closure"):
        Decoder(neural_decoder.basis, 3)
    with pytest.raises(ValueError, match="latent_dim ≤ the basis size 8"):
        Decoder(neural_decoder.basis, 9)


def test_encode_refuses_other_mesh(neural_decoder):
    with pytest.raises(ValueError, match="last dimension 162"):
        neural_decoder.encode(np.zeros(150))


def test_compiled_prefix_of_one_q_equals_the_module(neural_decoder):
    """Decoder(compile=True).prefix of one q runs a compiled closure: the module's values, for one q
    and (through the module) for a batch; the compile counts in compile_seconds."""
    compiled = Decoder(neural_decoder.basis, neural_decoder.latent_dim, neural_decoder.network,
                       neural_decoder.normalisation, compile=True)
    qs = np.random.default_rng(4).normal(scale=0.05, size=(3, neural_decoder.latent_dim))
    for q in qs:
        np.testing.assert_allclose(compiled.prefix(q), neural_decoder.prefix(q), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(compiled.prefix(qs), neural_decoder.prefix(qs), rtol=1e-13, atol=1e-16)
    assert compiled.compile_seconds > 0 and neural_decoder.compile_seconds == 0
    compiled.compile = False                     # remembered per setting: the module again
    assert compiled._single_closure() is compiled.closure

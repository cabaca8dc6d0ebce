"""The Fokker–Planck residual: zero on the OU closed form; equal to a brute-force autograd residual
(conservative form ∂_t p + Σ ∂_i(f_i p) − ½ Σ ∂_i²(g_i² p), differentiated one coordinate at a time)
for HollowNets and general modules, values and parameter gradients."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import hodphys.sde as sde
from hodphys.nn import HollowNet



@pytest.fixture(autouse=True)
def _float64():
    """These tests build their modules and points in float64; the default is restored for other tests."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / b.norm())


class TimeMLP(nn.Module):
    """A general (non-hollow) time-conditioned drift f(x, t)."""

    time = True

    def __init__(self, d):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d + 1, 16), nn.Tanh(), nn.Linear(16, d))

    def forward(self, x, t):
        return self.net(torch.cat([x, t.unsqueeze(-1).expand(*x.shape[:-1], 1)], -1))


class Exp(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, z):
        return torch.exp(self.net(z))


def _call(module, x, t):
    return module(x, t) if getattr(module, "time", False) else module(x)


def brute_force_residual(drift, diffusion, log_p, x, t, form):
    """Independent reference: p = exp(s) and the conservative form, d autograd passes per term."""
    x = x.clone().requires_grad_(True)
    t = t.clone().requires_grad_(True)
    s = log_p(torch.cat([x, t.unsqueeze(-1)], -1))[:, 0]
    p = torch.exp(s)
    (dp_dt,) = torch.autograd.grad(p.sum(), t, create_graph=True)
    flux, spread = _call(drift, x, t) * p[:, None], _call(diffusion, x, t) ** 2 * p[:, None]
    total = dp_dt
    for i in range(x.shape[1]):
        (dflux,) = torch.autograd.grad(flux[:, i].sum(), x, create_graph=True)
        (dspread,) = torch.autograd.grad(spread[:, i].sum(), x, create_graph=True)
        (d2spread,) = torch.autograd.grad(dspread[:, i].sum(), x, create_graph=True)
        total = total + dflux[:, i] - 0.5 * d2spread[:, i]
    return total / p if form == "log" else total


def _density_net(d):
    return nn.Sequential(nn.Linear(d + 1, 24), nn.Tanh(), nn.Linear(24, 24), nn.Softplus(), nn.Linear(24, 1))


MODELS = {
    "hollow": lambda d: (HollowNet(d, width=16, transformer_width=16), sde.DiagonalDiffusion(HollowNet(d, width=16))),
    "hollow-time": lambda d: (HollowNet(d, width=16, time=True),
                              sde.DiagonalDiffusion(HollowNet(d, width=16, time=True))),
    "hollow-masked": lambda d: (HollowNet(d, conditioner="masked", width=8),
                                sde.DiagonalDiffusion(HollowNet(d, conditioner="masked", width=8))),
    "mlp": lambda d: (nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, d)),
                      nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, d), nn.Softplus())),
    "mlp-time": lambda d: (TimeMLP(d), sde.DiagonalDiffusion(TimeMLP(d))),
}


@pytest.mark.parametrize("form", ["log", "plain"])
@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("d", [1, 3])
def test_residual_equals_brute_force(kind, d, form, device):
    """hodphys's residual on device against the brute-force one on the CPU: values and gradients."""
    torch.manual_seed(d + len(kind))
    drift, diffusion = MODELS[kind](d)
    log_p = _density_net(d)
    x, t = torch.randn(7, d), torch.rand(7)
    params = [*drift.parameters(), *diffusion.parameters(), *log_p.parameters()]
    reference = brute_force_residual(drift, diffusion, log_p, x, t, form)
    expected = torch.autograd.grad(reference.square().mean(), params, allow_unused=True, materialize_grads=True)
    for module in (drift, diffusion, log_p):
        module.to(device)  # moves the parameters in place: `params` stays valid
    x, t = x.to(device), t.to(device)
    model = log_p if form == "log" else Exp(log_p)
    r = sde.fokker_planck_residual(drift, diffusion, sde.density_terms(model, x, t), x, t, form=form)
    assert r.shape == (7,) and r.device.type == device
    assert _rel(r.cpu(), reference) <= 1e-10

    grads = torch.autograd.grad(r.square().mean(), params, allow_unused=True, materialize_grads=True)
    for g, e in zip(grads, expected):
        assert float((g.cpu() - e).norm()) <= 1e-10 * float(e.norm()) + 1e-14
    if kind.startswith("hollow") and d > 1:  # a loss on D_dim f trains the conditioner too
        conditioner = {id(p) for p in drift.conditioner.parameters()}
        assert all(float(g.abs().max()) > 0 for g, p in zip(grads, params) if id(p) in conditioner)


def test_hollow_path_equals_autograd_engine():
    torch.manual_seed(3)
    drift, diffusion = MODELS["hollow"](5)
    x, t = torch.randn(6, 5), torch.rand(6)
    terms = sde.density_terms(_density_net(5), x, t)
    fast = sde.fokker_planck_residual(drift, diffusion, terms, x, t)
    brute = sde.fokker_planck_residual(drift, diffusion, terms, x, t, method="autograd")
    assert _rel(fast, brute) <= 1e-10


def test_float32_agrees():
    torch.manual_seed(4)
    drift, diffusion = MODELS["hollow"](3)
    log_p = _density_net(3)
    x, t = torch.randn(5, 3), torch.rand(5)
    r64 = sde.fokker_planck_residual(drift, diffusion, sde.density_terms(log_p, x, t), x, t)
    drift, diffusion, log_p = drift.float(), diffusion.float(), log_p.float()
    r32 = sde.fokker_planck_residual(drift, diffusion, sde.density_terms(log_p, x.float(), t.float()),
                                     x.float(), t.float())
    assert _rel(r32.double(), r64) <= 1e-4


@pytest.mark.parametrize("d", [1, 2, 5])
def test_ou_closed_form_residual_is_zero(d):
    torch.manual_seed(d)
    ou = sde.OrnsteinUhlenbeck(torch.rand(d) + 0.3, torch.rand(d) + 0.2, torch.randn(d), torch.rand(d) + 0.1, d=d)
    x, t = 2 * torch.randn(64, d), 3 * torch.rand(64)
    log_terms = ou.log_density_terms(x, t)
    r = sde.fokker_planck_residual(ou.drift, ou.diffusion, log_terms, x, t)
    scale = log_terms.time.abs().mean()
    assert float(r.abs().max()) <= 1e-10 * float(scale)
    p = log_terms.value.exp()
    plain = sde.plain_terms(log_terms)
    r_plain = sde.fokker_planck_residual(ou.drift, ou.diffusion, plain, x, t, form="plain")
    assert float(r_plain.abs().max()) <= 1e-10 * float((p * log_terms.time).abs().max())


def test_ou_log_density_terms_match_autograd():
    ou = sde.OrnsteinUhlenbeck([1.0, 0.4], [0.5, 1.0], [1.0, -1.0], [0.2, 0.5])
    x, t = torch.randn(5, 2), torch.rand(5) + 0.1
    x.requires_grad_(True)
    t.requires_grad_(True)
    terms = ou.log_density_terms(x, t)
    s = ou.log_density(x, t)
    gx, gt = torch.autograd.grad(s.sum(), (x, t), create_graph=True)
    assert _rel(terms.gradient, gx) <= 1e-12 and _rel(terms.time, gt) <= 1e-12
    diag = torch.stack([torch.autograd.grad(gx[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2)], -1)
    assert _rel(terms.hessian_diagonal, diag) <= 1e-12


def test_diffusion_is_positive_and_its_derivatives_exact():
    torch.manual_seed(0)
    g = sde.DiagonalDiffusion(HollowNet(4, width=8), floor=1e-3)
    x = 5 * torch.randn(100, 4)
    assert float(g(x).detach().min()) > 1e-3 - 1e-15
    terms = sde.dimwise_terms(g, x, torch.zeros(100))
    brute = sde.dimwise_terms(g, x, torch.zeros(100), method="autograd")
    for a, b in zip(terms, brute):
        assert _rel(a, b) <= 1e-10


def test_bad_input():
    drift, diffusion = MODELS["hollow"](2)
    x, t = torch.randn(4, 2), torch.rand(4)
    terms = sde.density_terms(_density_net(2), x, t)
    with pytest.raises(ValueError, match="expected form in"):
        sde.fokker_planck_residual(drift, diffusion, terms, x, t, form="weak")
    with pytest.raises(ValueError, match=r"expected x \(N, d\), t \(N,\)"):
        sde.fokker_planck_residual(drift, diffusion, terms, x, t[:3])
    with pytest.raises(ValueError, match="expected floor > 0"):
        sde.DiagonalDiffusion(HollowNet(2), floor=0.0)
    with pytest.raises(ValueError, match="expected sigma of 2 finite positive values"):
        sde.OrnsteinUhlenbeck(1.0, [1.0, -1.0], 0.0, 1.0)
    with pytest.raises(ValueError, match="expected d ≥ 2"):
        sde.DoubleWell(d=1)

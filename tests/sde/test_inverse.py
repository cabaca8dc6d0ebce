"""The inverse problem's parts: the time-conditioned mixture density, snapshot checks, the loss, the run."""
from __future__ import annotations

import json
import math

import pytest
import torch

import hodphys.sde as sde
from hodphys.nn import HollowNet
from hodphys.sde.inverse import InverseConfig, InverseFokkerPlanck
from hodphys.sde.inverse_config import ground_truth
from hodphys.sde.mixture import GaussianMixtureDensity
from hodphys.sde.snapshots import Snapshots, check_diffusion, check_snapshots, simulate_snapshots


def _mixture(d=2, seed=0):
    torch.manual_seed(seed)
    density = GaussianMixtureDensity(d, 3, width=8, centres=torch.randn(3, d), scale=0.7, min_scale=0.1).double()
    with torch.no_grad():  # make the parameters depend on t
        density.time_net[-1].weight.normal_(0, 0.3)
    return density


def test_mixture_is_normalised_at_every_time():
    density = _mixture()
    axis = torch.linspace(-7, 7, 401, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    x = torch.stack([gx.flatten(), gy.flatten()], -1)
    cell = float(axis[1] - axis[0]) ** 2
    for t in (0.0, 0.7, 2.0):
        with torch.no_grad():
            p = density(sde.space_time(x, torch.full((len(x),), t, dtype=torch.float64)))[:, 0].exp()
        assert float(p.sum()) * cell == pytest.approx(1.0, abs=1e-6)


def test_mixture_samples_match_its_moments_and_marginal():
    density = _mixture(d=3, seed=1)
    t = torch.full((20000,), 0.5, dtype=torch.float64)
    x = density.sample(t, torch.Generator().manual_seed(0))
    log_w, means, log_stds = density.parameters_at(t[:1])
    w = log_w.exp()[0]
    mean = (w[:, None] * means[0]).sum(0)
    second = (w[:, None] * (means[0] ** 2 + torch.exp(2 * log_stds[0]))).sum(0)
    std = (second - mean**2).sqrt()
    assert ((x.mean(0) - mean).abs() <= 4 * std / math.sqrt(len(x))).all()
    # the (x1, x2) marginal integrates the third coordinate out exactly
    grid = torch.linspace(-8, 8, 801, dtype=torch.float64)
    point = torch.tensor([0.3, -0.2], dtype=torch.float64)
    full = torch.cat([point.expand(len(grid), 2), grid[:, None]], -1)
    tt = torch.full((len(grid),), 0.5, dtype=torch.float64)
    with torch.no_grad():
        integrated = float(density(sde.space_time(full, tt))[:, 0].exp().sum()) * float(grid[1] - grid[0])
    marginal = float(density.marginal_log_prob(point[None], tt[:1]).exp())
    assert integrated == pytest.approx(marginal, rel=1e-8)


def test_mixture_density_terms_match_autograd():
    density = _mixture()
    x, t = torch.randn(6, 2, dtype=torch.float64), torch.rand(6, dtype=torch.float64)
    terms = sde.density_terms(density, x, t)
    z = sde.space_time(x, t).requires_grad_(True)
    (grad,) = torch.autograd.grad(density(z).sum(), z, create_graph=True)
    diag = torch.stack([torch.autograd.grad(grad[:, i].sum(), z, retain_graph=True)[0][:, i] for i in range(2)], -1)
    assert torch.allclose(terms.gradient, grad[:, :2], rtol=1e-10, atol=0)
    assert torch.allclose(terms.time, grad[:, 2], rtol=1e-10, atol=0)
    assert torch.allclose(terms.hessian_diagonal, diag, rtol=1e-10, atol=0)


def test_mixture_bad_input():
    with pytest.raises(ValueError, match=r"expected centres of shape \(3, 2\)"):
        GaussianMixtureDensity(2, 3, centres=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="expected 0 ≤ min_scale < scale"):
        GaussianMixtureDensity(2, 3, scale=0.1, min_scale=0.2)


def test_snapshot_checks():
    good = [torch.randn(5, 2), torch.randn(4, 2)]
    assert check_snapshots([0.0, 1.0], good).d == 2
    with pytest.raises(ValueError, match="strictly increasing finite times"):
        check_snapshots([1.0, 1.0], good)
    with pytest.raises(ValueError, match=r"expected samples\[1\] of shape \(n, 2\)"):
        check_snapshots([0.0, 1.0], [good[0], torch.randn(4, 3)])
    with pytest.raises(ValueError, match=r"samples\[0\] \(t = 0\) contains NaN"):
        check_snapshots([0.0, 1.0], [torch.full((3, 2), math.nan), good[1]])
    with pytest.raises(ValueError, match="at least two times and one sample set per time"):
        check_snapshots([0.0, 1.0, 2.0], good)
    with pytest.raises(ValueError, match="expected n ≥ 2 samples per time and times ≥ 0"):
        simulate_snapshots(sde.DoubleWell().drift, sde.DoubleWell().diffusion, sde.DoubleWell().initial,
                           [-1.0, 1.0], 10, 0)


class Signed(torch.nn.Module):
    def forward(self, x):
        return x


def test_diffusion_checks():
    x, t = torch.randn(10, 2), torch.zeros(10)
    check_diffusion(sde.DiagonalDiffusion(HollowNet(2)), x, t)
    with pytest.raises(ValueError, match=r"expected g\(x\) ≥ 0, got a minimum of"):
        check_diffusion(Signed(), x, t)
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_diffusion(Signed(), torch.full((3, 2), math.nan), torch.zeros(3))
    with pytest.raises(ValueError, match=r"expected g\(x\) of shape \(10, 2\)"):
        check_diffusion(torch.nn.Linear(2, 1), x, t)


def _tiny(**overrides):
    values = dict(n_per_time=40, simulation_dt=0.05, times=[0.0, 0.3, 0.6], held_out_times=[0.45],
                  components=2, hollow_width=8, hidden_features=2, n_interior=16, adam_steps=3,
                  checkpoint_every=2, eval_every=100, dtype="float64") | overrides
    return InverseConfig(**values)


def test_loss_trains_coefficients_and_density_by_likelihood_only():
    problem = InverseFokkerPlanck(_tiny())
    torch.manual_seed(0)
    model = problem.build_model()
    batch = problem.sample(torch.Generator().manual_seed(0), 16)
    loss, terms = problem.loss(model, batch)
    assert set(terms) == {"nll", "fp"} and math.isfinite(float(loss))
    fp_grads = torch.autograd.grad(terms["fp"], list(model.parameters()), allow_unused=True)
    named = dict(zip([n for n, _ in model.named_parameters()], fp_grads))
    assert all(g is None for n, g in named.items() if n.startswith("density"))
    assert any(g is not None and float(g.abs().max()) > 0 for n, g in named.items() if n.startswith("drift"))
    assert any(g is not None and float(g.abs().max()) > 0 for n, g in named.items() if n.startswith("diffusion"))


def test_bad_data_and_config_fail_before_training():
    times = torch.tensor([0.0, 0.3, 0.6])
    with pytest.raises(ValueError, match=r"expected samples\[2\] of shape \(n, 2\)"):
        InverseFokkerPlanck(_tiny(), Snapshots(times, [torch.randn(5, 2), torch.randn(5, 2), torch.randn(5, 3)]))
    with pytest.raises(ValueError, match="contains NaN"):
        InverseFokkerPlanck(_tiny(), Snapshots(times, [torch.randn(5, 2), torch.full((5, 2), math.nan),
                                                       torch.randn(5, 2)]))
    with pytest.raises(ValueError, match="strictly increasing"):
        InverseFokkerPlanck(_tiny(times=[0.0, 0.6, 0.3]))
    with pytest.raises(ValueError, match="config key 'held_out_times'"):
        InverseFokkerPlanck(_tiny(held_out_times=[2.0]))
    with pytest.raises(ValueError, match="expected dim ≥ 2"):
        InverseFokkerPlanck(_tiny(dim=1))
    with pytest.raises(ValueError, match=r"config key 'initial_spread': expected a finite value > 0, got -0.1"):
        InverseFokkerPlanck(_tiny(initial_spread=-0.1))
    with pytest.raises(ValueError, match=r"config key 'test_jitter': expected a finite value ≥ 0, got -1.0"):
        InverseFokkerPlanck(_tiny(test_jitter=-1.0))


def test_data_too_big_for_memory_is_refused_before_anything_is_simulated(monkeypatch):
    """The largest phase (here the torchsde paths: (T + 1) · T · n · d float64 = 4 · 3 · 10⁷ · 2 · 8 B ≈ 1.9 GB)
    is refused against the limit before any data exists; the default's estimate passes a 1 GB limit."""
    from hodphys.errors import MemoryLimitError
    from hodphys.sde.inverse_config import data_bytes

    monkeypatch.setenv("HODPHYS_MAX_MEMORY", "1GB")
    with pytest.raises(MemoryLimitError, match=r"n_per_time=10000000.*the simulation phase"):
        InverseFokkerPlanck(_tiny(n_per_time=10**7))
    assert data_bytes(_tiny(n_per_time=10**7))["simulation"] == 4 * 3 * 10**7 * 2 * 8
    default = data_bytes(InverseConfig())
    assert default["kept"] + max(default.values()) < 1e9


def test_initial_spread_sets_the_double_well_start():
    """x(0)'s per-coordinate std is s₀ (the mean is (0, 0.5)), and the simulated snapshot at t = 0 follows it."""
    process = ground_truth(_tiny(initial_spread=0.9))
    x0 = process.initial(20000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x0.std(0), torch.full((2,), 0.9, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(x0.mean(0), torch.tensor([0.0, 0.5], dtype=torch.float64), atol=0.02, rtol=0)


def test_run_writes_metrics_plots_and_resumes(tmp_path):
    from hodphys.app.problem_loader import run_problem

    overrides = ["n_per_time=40", "simulation_dt=0.05", "times=[0.0, 0.3, 0.6]", "held_out_times=[0.45]",
                 "components=2", "hollow_width=8", "hidden_features=2", "n_interior=16", "adam_steps=4",
                 "checkpoint_every=2", "eval_every=100", "dtype=float64", "n_reference_sets=3"]
    run, metrics = run_problem("fokker-planck", overrides=overrides, root=tmp_path)
    written = json.loads((run.dir / "metrics.json").read_text())
    for key in ("drift_rel_l2", "diffusion_rel_l2", "mmd_t0.45", "mmd_true_t0.45", "mmd_true_sd_t0.45", "w2_t0.6",
                "mmd_ratio_max", "mmd_ratio_single_draw_max"):
        assert math.isfinite(written[key])
    for name in ("snapshots.png", "drift.png", "diffusion.png"):
        assert (run.dir / "plots" / name).stat().st_size > 5000
    # a run killed after its step-2 checkpoint, resumed: steps 3 and 4 again, bit for bit
    (last,) = [p for p in (run.dir / "checkpoints").iterdir() if "4" in p.name]
    last.unlink()
    _, again = run_problem("fokker-planck", overrides=overrides, root=tmp_path, resume=run.dir)
    assert again["final_loss"] == metrics["final_loss"] and again["drift_rel_l2"] == metrics["drift_rel_l2"]


def test_flow_density_terms_match_finite_differences():
    from hodphys.sde.flow_density import FlowLogDensity, flow_density_terms, time_conditioned_flow

    torch.manual_seed(0)
    density = FlowLogDensity(time_conditioned_flow(2, steps=2, width=8, hidden_features=2).double())
    x, t = torch.randn(4, 2, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    terms = flow_density_terms(density, x, t)

    def s(x, t):
        with torch.no_grad():
            return density(sde.space_time(x, t))[:, 0]

    h, eye = 1e-4, torch.eye(2, dtype=torch.float64)
    gradient = torch.stack([(s(x + h * e, t) - s(x - h * e, t)) / (2 * h) for e in eye], -1)
    curvature = torch.stack([(s(x + h * e, t) - 2 * s(x, t) + s(x - h * e, t)) / h**2 for e in eye], -1)
    assert torch.allclose(terms.value.detach(), s(x, t), rtol=1e-12, atol=0)
    assert torch.allclose(terms.gradient.detach(), gradient, rtol=1e-7, atol=1e-9)  # central differences: O(h²)
    assert torch.allclose(terms.time.detach(), (s(x, t + h) - s(x, t - h)) / (2 * h), rtol=1e-7, atol=1e-9)
    assert torch.allclose(terms.hessian_diagonal.detach(), curvature, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected a CNF conditioned on the time alone"):
        from hodphys.flows import CNF, hollow_dynamics
        FlowLogDensity(CNF(hollow_dynamics(2)))


def test_cnf_density_option_trains(tmp_path):
    problem = InverseFokkerPlanck(_tiny(density="cnf", flow_steps=1))
    torch.manual_seed(0)
    model = problem.build_model()
    loss, terms = problem.loss(model, problem.sample(torch.Generator().manual_seed(0), 4))
    loss.backward()
    assert math.isfinite(float(loss)) and all(p.grad is not None for p in model.drift.parameters())
    with pytest.raises(ValueError, match="config key 'density'"):
        InverseFokkerPlanck(_tiny(density="kde"))


@pytest.mark.slow
def test_exact_density_recovers_ou_drift_and_diffusion():
    """With the exact OU log-density the FP residual alone identifies f and g (HollowNets, 800 Adam steps)."""
    torch.manual_seed(0)
    ou = sde.OrnsteinUhlenbeck([1.0, 0.5], [0.8, 0.6], [1.5, -1.0], [0.2, 0.3])
    hollow = dict(hidden_features=8, width=32, transformer_width=32)
    drift, diffusion = HollowNet(2, **hollow), sde.DiagonalDiffusion(HollowNet(2, **hollow))
    optimizer = torch.optim.Adam([*drift.parameters(), *diffusion.parameters()], 3e-3)
    for _ in range(800):
        t = 1.5 * torch.rand(512, dtype=torch.float64)
        x = ou.mean(t) + ou.variance(t).sqrt() * torch.randn(512, 2, dtype=torch.float64)
        terms = sde.DensityTerms(*(term.float() for term in ou.log_density_terms(x, t)))
        residual = sde.fokker_planck_residual(drift, diffusion, terms, x.float(), t.float())
        optimizer.zero_grad()
        residual.square().mean().backward()
        optimizer.step()
    x = torch.cat([ou.sample(t, 500, torch.Generator().manual_seed(1)) for t in (0.25, 0.75, 1.5)]).float()
    with torch.no_grad():
        assert float((drift(x) - ou.drift(x)).norm() / ou.drift(x).norm()) <= 0.1
        assert float((diffusion(x) - ou.diffusion(x)).norm() / ou.diffusion(x).norm()) <= 0.1


def test_inverse_fit_recovers_an_ornstein_uhlenbeck_process_from_snapshots():
    """The strong-residual pipeline (mixture density by likelihood, its K chosen by held-out likelihood, pointwise
    FP residual for f and g, HollowNets) on OU snapshots, whose density is Gaussian at every time: f and g to ≤ 0.2."""
    problem = InverseFokkerPlanck(InverseConfig(process="ornstein-uhlenbeck", n_per_time=500, hollow_width=16,
                                                n_interior=128, adam_steps=500, selection_steps=150, seed=0,
                                                residual="strong", activation="softplus",
                                                times=[0.0, 0.25, 0.5, 1.0, 1.5]))
    assert problem.components == 1, problem.component_scores
    torch.manual_seed(0)
    model = problem.build_model()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(problem.config.adam_steps):
        loss, _ = problem.loss(model, problem.sample(generator, problem.config.n_interior))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    errors = problem.coefficient_errors(model)
    assert errors["drift_rel_l2"] <= 0.2 and errors["diffusion_rel_l2"] <= 0.2, errors


def test_unknown_process_fails_before_training():
    with pytest.raises(ValueError, match="config key 'process'"):
        InverseFokkerPlanck(_tiny(process="lorenz"))


def test_component_selection_prefers_the_smallest_sufficient_mixture():
    from hodphys.sde.selection import select_components

    generator = torch.Generator().manual_seed(0)
    t = torch.rand(600, generator=generator)
    gaussian = torch.randn(600, 2, generator=generator) + t[:, None]
    signs = torch.randint(0, 2, (600, 1), generator=generator) * 2.0 - 1
    bimodal = 0.3 * torch.randn(600, 2, generator=generator) + 2.5 * signs
    assert select_components(gaussian, t, [1, 2, 4], steps=150)[0] == 1
    assert select_components(bimodal, t, [1, 2, 4], steps=150)[0] >= 2
    with pytest.raises(ValueError, match="expected candidates ≥ 1 and 0 < held_out < 1"):
        select_components(gaussian, t, [0, 2], steps=1)

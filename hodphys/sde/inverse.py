"""The inverse problem: drift f, diffusion g and a time-conditioned density p from population snapshots.

    residual="weak":    loss = − mean_k,n log p(x_kn, t_k) + fp_weight · mean(w ⊙ R_A ⊙ R_B)   (double well's default)
    residual="strong":  loss = − mean_k,n log p(x_kn, t_k) + fp_weight · mean r_FP(x, t)²,  x ~ p(·, t)   (OU's)

(defaults per ground truth: :data:`hodphys.sde.inverse_config.PROCESS_DEFAULTS`). R is the Fokker–Planck
equation tested against Gaussian test functions on the snapshots themselves, integrated between
consecutive snapshot times (``weak_span``), R_A and R_B from two independent minibatches of ``weak_batch``
samples a snapshot, w the rows' inverse sampling variances (``weak_weights``; :mod:`hodphys.sde.weak_form`, an
unbiased estimate of the full-data mean w R²; a squared
single minibatch would add Var(Lφ)/b, which grows with g², to the loss): the density model's error between
snapshots and its noisy ∂_t s, ∂²s cannot reach f and g (with the strong residual they do: the
mixture's d/dt E[φ] is 21–55 % off the truth, see docs/sde.md). The density is fitted by the
likelihood; the residual trains f and g only (``fp_trains_density=False``, strong form), since
otherwise the cheapest way to a small residual is a density that stops moving with f ≈ 0, g ≈ 0.

f is a HollowNet, g = softplus(HollowNet) + ε (positive by construction), p a time-conditioned
density with exact likelihood and exact sampling: ``density="mixture"`` (default, a Gaussian
mixture whose parameters are an MLP of t, :mod:`hodphys.sde.mixture`, its number of components
chosen by held-out likelihood when ``components=0``, :mod:`hodphys.sde.selection`; ∇s and diag ∇²s by
``hp.derivatives`` on z = (x, t)) or ``density="cnf"`` (the CNF of ``hodphys.flows`` with t as
its context; derivatives through the rk4 solve, 1 + d backward passes, see
:mod:`hodphys.sde.flow_density` for the design and its cost). The residual's dimension-wise
derivatives of f and g cost four backward passes whatever d is. Collocation points are drawn from
the current density (detached), so the residual is enforced where the population lives.

Evaluation: the learned SDE is sampled with torchsde from the first snapshot and compared with
held-out snapshots (every observed time after the first, and ``held_out_times`` between them) by
MMD, against the mean MMD between K independent true sample sets and the held-out set (same size, same
bandwidth; :attr:`InverseFokkerPlanck.yardstick`);
drift and diffusion relative L2 errors on the held-out samples (the data's support).

Glossary: N points, d dimensions, T observation times, E evaluation times, K reference sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hodphys.nn import HollowNet
from hodphys.nn.activations import ACTIVATIONS
from hodphys.sde.coefficients import DiagonalDiffusion
from hodphys.sde.density import DensityTerms, density_terms, plain_terms, space_time
from hodphys.sde.fokker_planck import fokker_planck_residual
from hodphys.sde.flow_density import FlowLogDensity, flow_density_terms, time_conditioned_flow
from hodphys.sde.metrics import median_bandwidth, mmd, wasserstein2
from hodphys.sde.mixture import GaussianMixtureDensity
from hodphys.sde.sampling import sample_paths
from hodphys.sde.selection import select_components
from hodphys.sde.snapshots import Snapshots, check_diffusion, check_snapshots, simulate_snapshots
from hodphys.sde.weak_form import (GaussianTests, draw_tests, mean_test_values, pair_weights, snapshot_moments,
                                   weak_loss, weak_residual)
from hodphys.sde.inverse_config import InverseConfig, check_config, evaluation_times, ground_truth
from hodphys.train.config import dtype_of

@dataclass(frozen=True)
class Yardstick:
    """What the learned SDE's samples are measured against, per evaluation time (E of them): the MMD bandwidths
    (E,), the MMDs (E, K) and the W2 distances (E, K) of K independent true sample sets to the held-out set."""

    bandwidths: list[float]
    mmd: Tensor
    w2: Tensor


class SDEModel(nn.Module):
    """What the inverse problem learns: drift (N, d) → (N, d), diffusion (N, d) → (N, d) > 0, density z → log p."""

    def __init__(self, drift: nn.Module, diffusion: nn.Module, density: nn.Module):
        super().__init__()
        self.drift, self.diffusion, self.density = drift, diffusion, density


class InverseFokkerPlanck:
    """The ``hodphys.train`` problem for SDE fitting from snapshots (see the module docstring)."""

    def __init__(self, config: InverseConfig, data: Snapshots | None = None):
        check_config(config)
        self.config, self.dtype, self.device = config, dtype_of(config), torch.device("cpu")
        self.truth = ground_truth(config)
        times, self.eval_times = evaluation_times(config)
        self.data = (self._simulate(times.tolist(), 0, config.n_per_time) if data is None
                     else check_snapshots(data.times, data.samples, config.dim))
        self.samples = [x.to(self.device, self.dtype) for x in self.data.samples]
        self.pooled, self.pooled_times = (v.to(self.device, self.dtype) for v in self.data.stacked())
        # held-out and the first reference set: one simulation (stream 1); the other sets: :attr:`references`
        both, n = self._simulate(self.eval_times, 1, 2 * config.n_held_out), config.n_held_out
        self.held_out = Snapshots(both.times, [x[:n] for x in both.samples])
        self._first_reference = Snapshots(both.times, [x[n:] for x in both.samples])
        self.components, self.component_scores = config.components, {}
        if config.residual == "weak":  # E_k[φ] needs no network: over every sample, once, for a bank of φ
            bank = torch.Generator().manual_seed(config.data_seed + 2)
            self.tests = draw_tests(self.pooled, config.test_bank, tuple(config.test_widths), bank,
                                    config.test_coordinates, config.test_jitter)
            self.test_weights = None  # (P, M) over the bank
            if config.weak_weights == "inverse-variance":
                self.test_means, variances = snapshot_moments(self.samples, self.tests)
                self.test_weights = pair_weights(variances, config.weak_span)
            else:
                self.test_means = mean_test_values(self.samples, self.tests)
        if config.density == "mixture" and config.components == 0:
            chosen = torch.randperm(len(self.pooled), generator=torch.Generator().manual_seed(config.seed))
            chosen = chosen[:2 * config.nll_batch]  # the selection fits each candidate on a subsample: seconds
            self.components, self.component_scores = select_components(
                self.pooled[chosen], self.pooled_times[chosen], config.component_candidates, config.selection_steps,
                config.seed, min_scale=config.min_scale)

    @cached_property
    def references(self) -> list[Snapshots]:
        """K = ``n_reference_sets`` independent true sample sets of ``n_held_out`` per evaluation time: the first
        simulated with the held-out set, each other one by its own simulation (streams 4, 5, …: n_held_out
        particles per time at once, whatever K is), when evaluation first needs them (seconds each)."""
        extra = (self._simulate(self.eval_times, 4 + k, self.config.n_held_out)
                 for k in range(self.config.n_reference_sets - 1))
        return [self._first_reference, *extra]

    def _simulate(self, times: list[float], stream: int, n: int) -> Snapshots:
        return simulate_snapshots(self.truth.drift, self.truth.diffusion, self.truth.initial, times, n,
                                  self.config.data_seed + stream, self.config.simulation_dt)

    # --- the trainer's protocol ---------------------------------------------------------------
    def build_model(self) -> SDEModel:
        c, d = self.config, self.config.dim
        hollow = dict(hidden_features=c.hidden_features, width=c.hollow_width, transformer_width=c.hollow_width,
                      activation=ACTIVATIONS[c.activation]())  # tanh (the default): softplus learns the cubic slowly
        model = SDEModel(HollowNet(d, **hollow), DiagonalDiffusion(HollowNet(d, **hollow)), self._density())
        model = model.to(self.device, self.dtype)
        check_diffusion(model.diffusion, self.pooled, self.pooled_times)
        return model

    def _density(self) -> nn.Module:
        c = self.config
        if c.density == "cnf":
            flow = time_conditioned_flow(c.dim, c.flow_steps, c.hollow_width, c.hidden_features)
            return FlowLogDensity(flow)
        centres = self.pooled[torch.randperm(len(self.pooled))[:self.components]]
        return GaussianMixtureDensity(c.dim, self.components, centres=centres, scale=0.5 * float(self.pooled.std()),
                                      min_scale=c.min_scale)

    def sample(self, generator: torch.Generator, n: int) -> dict[str, Tensor]:
        """The likelihood's data points (all, or ``nll_batch`` of them), collocation times, test functions and the
        weak residual's two independent minibatches (with replacement: indices (T, weak_batch) into each snapshot)."""
        c, times, total = self.config, self.data.times, len(self.pooled)
        rows = torch.randperm(total, generator=generator)[:c.nll_batch] if total > c.nll_batch else torch.arange(total)
        t_col = times[0] + (times[-1] - times[0]) * torch.rand(n, generator=generator, dtype=torch.float64)
        batch = {"x_data": self.pooled[rows], "t_data": self.pooled_times[rows], "t_col": t_col.to(self.dtype)}
        if c.residual == "weak":
            chosen = torch.randperm(c.test_bank, generator=generator)[:c.test_functions]
            sizes = torch.tensor([len(x) for x in self.samples], dtype=torch.float64).unsqueeze(-1)
            weak_a, weak_b = ((torch.rand(len(sizes), c.weak_batch, generator=generator, dtype=torch.float64)
                               * sizes).long() for _ in range(2))
            batch |= {"tests": chosen, "weak_a": weak_a, "weak_b": weak_b}
        return batch

    def loss(self, model: SDEModel, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        nll = -model.density(space_time(batch["x_data"], batch["t_data"])).mean()
        if self.config.residual == "weak":
            chosen = batch["tests"]
            tests = GaussianTests(self.tests.centres[chosen], self.tests.precisions[chosen])
            means, span = self.test_means[:, chosen], self.config.weak_span
            weights = None if self.test_weights is None else self.test_weights[:, chosen]
            if self.config.weak_batch == 0:  # every sample, the plain square
                square = weak_residual(model.drift, model.diffusion, self.data.times, self.samples, tests, means,
                                       span).square()
                fp = (square if weights is None else weights.to(square) * square).mean()
            else:
                fp = weak_loss(model.drift, model.diffusion, self.data.times, self.samples, tests,
                               (list(batch["weak_a"]), list(batch["weak_b"])), means, span, weights)
            return nll + self.config.fp_weight * fp, {"nll": nll, "fp": fp}
        return self._strong_loss(model, batch, nll)

    def _strong_loss(self, model: SDEModel, batch: dict[str, Tensor], nll: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """nll + fp_weight · mean r_FP² at x ~ p(·, t), t ~ U[t_0, t_T] (the strong, pointwise residual)."""
        t = batch["t_col"]
        x = model.density.sample(t)  # where the population is now (torch's RNG: resumed bit-for-bit)
        if isinstance(model.density, FlowLogDensity):
            terms = flow_density_terms(model.density, x, t)
        else:
            terms = density_terms(model.density, x, t, method=self.config.derivative_method)
        if not self.config.fp_trains_density:
            terms = DensityTerms(*(term.detach() for term in terms))
        if self.config.form == "plain":
            terms = plain_terms(terms)
        residual = fokker_planck_residual(model.drift, model.diffusion, terms, x, t, form=self.config.form)
        fp = residual.square().mean()
        return nll + self.config.fp_weight * fp, {"nll": nll, "fp": fp}

    # --- evaluation ---------------------------------------------------------------------------
    def support(self) -> Tensor:
        """The held-out samples of every evaluation time, (N, d): where coefficient errors are measured."""
        return torch.cat(self.held_out.samples).to(self.device, self.dtype)

    @torch.no_grad()
    def coefficient_errors(self, model: SDEModel) -> dict[str, float]:
        x = self.support()
        x64 = x.double()
        errors = {}
        for name, learned, true in (("drift", model.drift, self.truth.drift),
                                    ("diffusion", model.diffusion, self.truth.diffusion)):
            truth = true(x64)
            errors[f"{name}_rel_l2"] = float((learned(x).double() - truth).norm() / truth.norm())
        return errors

    @torch.no_grad()
    def learned_samples(self, model: SDEModel) -> Tensor:
        """The learned SDE sampled from the first snapshot, at [t_0, *eval_times]: (1 + E, n, d)."""
        x0 = self.samples[0][:self.config.n_held_out]  # as many as the held-out sets: MMDs of equal sizes
        times = [float(self.data.times[0]), *self.eval_times]
        return sample_paths(model.drift, model.diffusion, x0, times, method="euler",
                            dt=self.config.simulation_dt, seed=self.config.data_seed + 3)

    @cached_property
    def yardstick(self) -> Yardstick:
        """Per evaluation time: the bandwidth h (median heuristic on held-out ∪ reference set 1), the K reference
        sets' MMDs to the held-out set with that h and their W2 distances to it (exact OT, ≈ 0.15 s at 1000 × 1000:
        ≈ 20 s for the double well's K × E = 8 × 16). Model-independent: computed once, at the first evaluation."""
        bandwidths, mmds, w2 = [], [], []
        for k in range(len(self.eval_times)):
            held = self.held_out.samples[k].double()
            references = [r.samples[k].double() for r in self.references]
            bandwidths.append(median_bandwidth(held, references[0]))
            mmds.append([mmd(r, held, bandwidths[-1]) for r in references])
            w2.append([wasserstein2(r, held) for r in references])
        return Yardstick(bandwidths, torch.tensor(mmds, dtype=torch.float64), torch.tensor(w2, dtype=torch.float64))

    def metrics(self, model: SDEModel) -> dict[str, Any]:
        """Coefficient errors; per evaluation time MMD and W2 of (learned, held-out) against the yardstick.

        The yardstick is the mean over K independent true sample sets of MMD(reference_k, held-out), the same h:
        the learned MMD is one learned set against the held-out set, the same kind of single draw (same sizes, same
        held-out set, same h) as each reference pair, so it is compared with that draw's expected value under the
        true SDE, not with one noisy realisation of it (``mmd_ratio_single_draw_max``: against reference set 1).
        """
        out: dict[str, Any] = self.coefficient_errors(model)
        out["density_components"] = self.components
        out |= {f"heldout_loglik_K{k}": score for k, score in self.component_scores.items()}
        yardstick, samples = self.yardstick, self.learned_samples(model)
        ratios, single_draw = [], []
        for k, t in enumerate(self.eval_times):
            held, learned, reference_mmd = self.held_out.samples[k].double(), samples[k + 1].double(), yardstick.mmd[k]
            for name, reference in (("mmd", reference_mmd), ("w2", yardstick.w2[k])):
                out[f"{name}_true_t{t:g}"] = float(reference.mean())
                out[f"{name}_true_sd_t{t:g}"] = float(reference.std())  # sample sd over the K sets, 1/(K − 1)
            finite = bool(torch.isfinite(learned).all())
            out[f"mmd_t{t:g}"] = mmd(learned, held, yardstick.bandwidths[k]) if finite else float("inf")
            if finite:
                out[f"w2_t{t:g}"] = wasserstein2(learned, held)
            ratios.append(out[f"mmd_t{t:g}"] / out[f"mmd_true_t{t:g}"])
            single_draw.append(out[f"mmd_t{t:g}"] / float(reference_mmd[0]))
        out["mmd_ratio_max"], out["mmd_ratio_single_draw_max"] = max(ratios), max(single_draw)
        out["mmd_bandwidth_rule"] = ("Gaussian kernel, h = median pairwise distance of held-out ∪ reference set 1, "
                                     "the same h for the learned and all K reference MMDs of a time")
        out["mmd_yardstick"] = (f"mean (sd: mmd_true_sd_t…) of MMD(reference_k, held-out) over "
                                f"{len(self.references)} independent true sets of {self.config.n_held_out}; "
                                f"w2_true_t…, w2_true_sd_t… likewise")
        return out

    def write_outputs(self, model: SDEModel, run: Any, stages: dict[str, list[int]] | None = None) -> list[Path]:
        from hodphys.sde import figures

        if not self.config.plots:
            return []
        return figures.write_all(self, model, run)

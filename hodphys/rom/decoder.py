"""Decoders u = f(q) from r latent coordinates to the n free displacements of a mesh.

Index letters: n free dofs, p prefix (basis) size, r latent size, k closure outputs (p − r).

Design — a PCA-prefixed decoder with an exact linear part (Fulton et al. 2019 prefix, with the
closure form of quadratic-manifold reductions):

    u = f(q) = u₀ + U g(q),    g(q) = [q ; h(q)],    U = [U_r  U_k] (n, p),  UᵀMU = I,

where U holds the p leading mass-orthonormal PCA modes of the training snapshots, q are the
coordinates on the first r of them and h: ℝʳ → ℝᵏ is a small MLP that predicts the remaining
p − r coordinates from q. Why this form:

* per-step work scales with p, never with n: every derivative is taken of h (r → p − r), and the
  reduced forces and mass are p-sized (with cubature, nothing touches the whole mesh);
* the reduced mass matrix is Jᵀ M J = Gᵀ G with G = ∂g/∂q = [I; ∂h], no n-sized product;
* it contains PCA with r modes exactly (h ≡ 0), so its projection error is never worse than PCA's,
  and h only has to learn how the higher modes follow the leading ones (the nonlinear coupling
  of bending and axial shortening in the beam);
* the encoder is exact and free, q = U_rᵀ M (u − u₀): initial conditions and training targets
  need no second network, and fitting h is a stable supervised regression, not an autoencoder.

With no closure (p = r) the decoder is PCA: f(q) = u₀ + U q.
"""
from __future__ import annotations

import copy
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import hodphys as hp
from hodphys.nn import MLP
from hodphys.plan import compile_traced
from hodphys.rom.basis import MassBasis

FORMAT = "hodphys-rom-decoder"
LOG = logging.getLogger("hodphys.rom")


@dataclass(frozen=True)
class Normalisation:
    """Affine maps around the closure's network: q̂ = (q − q_shift)/q_scale (r,), and
    h = h_shift + h_scale ⊙ net(q̂) (k,)."""

    q_shift: np.ndarray
    q_scale: np.ndarray
    h_shift: np.ndarray
    h_scale: np.ndarray

    @classmethod
    def fit(cls, latent: np.ndarray, closure_targets: np.ndarray) -> Normalisation:
        """Mean and spread (floored at 1e-12 of the largest) of training pairs (T, r), (T, k)."""
        def spread(values: np.ndarray) -> np.ndarray:
            std = values.std(axis=0)
            return np.maximum(std, 1e-12 * max(std.max(), 1e-300))
        return cls(latent.mean(axis=0), spread(latent), closure_targets.mean(axis=0),
                   spread(closure_targets))


def fold_normalisation(net: nn.Sequential, normalisation: Normalisation) -> nn.Sequential:
    """The network with the normalisation folded into its first and last Linear layers (exact)."""
    folded = copy.deepcopy(net)
    linears = [layer for layer in folded.modules() if isinstance(layer, nn.Linear)]
    first, last = linears[0], linears[-1]

    def as_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=first.weight.dtype)

    with torch.no_grad():
        first.weight.div_(as_tensor(normalisation.q_scale))
        first.bias.sub_(first.weight @ as_tensor(normalisation.q_shift))
        scale = as_tensor(normalisation.h_scale)
        last.weight.mul_(scale[:, None])
        last.bias.mul_(scale).add_(as_tensor(normalisation.h_shift))
    for parameter in folded.parameters():
        parameter.requires_grad_(False)
    return folded


@dataclass(frozen=True)
class DecoderJet:
    """g, G = ∂g/∂q and the closure Hessian at one q: value (p,), jacobian (p, r),
    closure_hessian ∇²h (k, r, r) or None for a linear decoder."""

    value: np.ndarray
    jacobian: np.ndarray
    closure_hessian: np.ndarray | None

    def second(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """∇²g[a, b] (p,)."""
        out = np.zeros(self.value.shape)
        if self.closure_hessian is not None:
            out[self.jacobian.shape[1]:] = (self.closure_hessian @ b) @ a
        return out

    def hvp(self, a: np.ndarray) -> np.ndarray:
        """∇²g[a, ·] (p, r)."""
        out = np.zeros(self.jacobian.shape)
        if self.closure_hessian is not None:
            out[self.jacobian.shape[1]:] = self.closure_hessian @ a
        return out

    def contract(self, weight: np.ndarray) -> np.ndarray:
        """Σ_j w_j ∇²g_j (r, r) for w (p,)."""
        r = self.jacobian.shape[1]
        if self.closure_hessian is None:
            return np.zeros((r, r))
        return (weight[r:] @ self.closure_hessian.reshape(len(weight) - r, -1)).reshape(r, r)


@dataclass(frozen=True)
class DecoderPlans:
    """hp.plan calls on the closure h at one q (r,): ``jet`` → value, ∂h (k, r), ∇²h (k, r, r);
    ``slope`` → value, ∂h; ``curvature`` (vs=[v, v]) → ∇²h[v, v] (k,); ``third`` at r copies of q
    (vs=[v, v, I]) → rows ∇³h[v, v, e_i] (r, k), one forward third-order jet; ``jet_third``
    (third_along=v) → the jet's three and ∇³h[v, v, ·] (k, r) from one jet — None where the
    method has no such call (then ``jet`` and ``third``)."""

    jet: hp.Plan
    slope: hp.Plan
    curvature: hp.Plan
    third: hp.Plan
    jet_third: hp.Plan | None = None


class Decoder:
    """u = u₀ + U [q; h(q)] (see the module docstring); ``closure`` h maps (*B, r) → (*B, p − r),
    None for PCA. ``method`` is the hp.* engine for h's derivatives ("auto": the cheapest);
    ``compile=True`` runs the two planned calls and the one-q ``prefix`` compiled (``hp.Plan.compile``
    and :func:`hodphys.plan.compile_traced`: traced at first use with the closure's weights frozen —
    rebuild the Decoder after changing them; eager with one logged warning where compiling fails;
    the one-time cost is ``compile_seconds``)."""

    def __init__(self, basis: MassBasis, latent_dim: int, closure: nn.Module | None = None,
                 normalisation: Normalisation | None = None, method: str = "auto",
                 compile: bool = False) -> None:
        p = basis.size
        if not 1 <= latent_dim <= p:
            raise ValueError(f"Decoder: expected 1 ≤ latent_dim ≤ the basis size {p}, got {latent_dim}")
        if (closure is None) != (latent_dim == p):
            raise ValueError(f"Decoder: a basis of {p} modes and latent_dim={latent_dim} need "
                             + ("a closure h: ℝ^r → ℝ^(p−r)" if closure is None else "no closure (p = r)"))
        self.basis, self.latent_dim, self.method, self.compile = basis, latent_dim, method, compile
        self.normalisation = normalisation
        self.network = closure
        self._planned: tuple | None = None
        self._single: tuple | None = None       # (compile setting, h on one q, seconds spent compiling it)
        self._raw_plans: tuple | None = None
        self._identity = np.eye(latent_dim)
        self._unit_vectors = torch.eye(latent_dim, dtype=torch.float64)
        self.closure = None if closure is None else (
            fold_normalisation(closure, normalisation) if normalisation is not None
            else closure.requires_grad_(False))
        if self.closure is not None:
            self._check_closure()

    def _check_closure(self) -> None:
        with torch.no_grad():
            out = self.closure(torch.zeros(1, self.latent_dim, dtype=torch.float64))
        if out.shape != (1, self.closure_size):
            raise ValueError(f"Decoder: the closure maps (1, {self.latent_dim}) to {tuple(out.shape)}; "
                             f"expected (1, {self.closure_size}) (basis size {self.prefix_size} − "
                             f"latent_dim {self.latent_dim})")

    @property
    def prefix_size(self) -> int:
        return self.basis.size

    @property
    def closure_size(self) -> int:
        return self.basis.size - self.latent_dim

    @property
    def n_free(self) -> int:
        return self.basis.basis.shape[0]

    def check_latent(self, q: np.ndarray, what: str = "q") -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if q.shape[-1:] != (self.latent_dim,):
            raise ValueError(f"Decoder: expected {what} with last dimension {self.latent_dim} (the "
                             f"latent size r), got shape {q.shape}")
        return q

    def prefix(self, q: np.ndarray) -> np.ndarray:
        """g(q) = [q; h(q)]; q (…, r) → (…, p)."""
        q = self.check_latent(q)
        if self.closure is None:
            return q.copy()
        if q.ndim == 1:
            with torch.no_grad():
                rest = self._single_closure()(torch.from_numpy(np.ascontiguousarray(q))[None])[0].numpy()
            return np.concatenate([q, rest])
        with torch.no_grad():
            rest = self.closure(torch.from_numpy(q.reshape(-1, self.latent_dim))).numpy()
        return np.concatenate([q, rest.reshape(*q.shape[:-1], -1)], axis=-1)

    def decode(self, q: np.ndarray) -> np.ndarray:
        """u = u₀ + U g(q); q (…, r) → (…, n)."""
        return self.basis.displacement(self.prefix(q))

    def encode(self, u: np.ndarray) -> np.ndarray:
        """q = U_rᵀ M (u − u₀): the exact left inverse on the decoder's range; u (…, n) → (…, r)."""
        u = np.asarray(u, dtype=np.float64)
        if u.shape[-1:] != (self.n_free,):
            raise ValueError(f"Decoder.encode: expected displacements with last dimension {self.n_free} "
                             f"(the free dofs of the basis), got shape {u.shape}")
        return self.basis.coordinates(u)[..., :self.latent_dim]

    def _single_closure(self):
        """h on one q, (1, r) → (1, k): with ``compile`` traced and compiled once (≈ 5 µs a call
        against ≈ 25 µs for the module's eager forward), the module itself otherwise or where
        compiling fails (one logged warning). Remembered per ``compile`` setting, like the plans."""
        if self._single is None or self._single[0] != self.compile:
            closure, started = self.closure, time.perf_counter()
            if self.compile:
                try:
                    example = [torch.zeros(1, self.latent_dim, dtype=torch.float64)]
                    closure = compile_traced(lambda x: self.closure(x), example, cpp_wrapper=True, direct=True)
                except Exception as error:  # noqa: BLE001 - any tracing/compiler failure means: eager
                    LOG.warning("compiling the decoder's closure failed (%s); using the module", type(error).__name__)
            self._single = (self.compile, closure, time.perf_counter() - started if self.compile else 0.0)
        return self._single[1]

    @property
    def compile_seconds(self) -> float:
        """One-time cost of compiling the planned calls and the one-q closure so far (0 without ``compile``)."""
        single = 0.0 if self._single is None else self._single[2]
        if self._planned is None or not self._planned[0][1]:
            return single
        return single + sum(call.compile_seconds for call in self._planned[1:])

    def plans(self) -> DecoderPlans:
        """The hp.plan calls on h that a reduced Newton iteration makes (checked and engine-chosen
        once per ``method``; never compiled themselves — compiled wrappers and compiled Newton
        graphs trace them)."""
        if self._raw_plans is None or self._raw_plans[0] != self.method:
            r = self.latent_dim
            q = torch.zeros(r, dtype=torch.float64)
            rows, unit = q.expand(r, r), torch.eye(r, dtype=torch.float64)
            plan = functools.partial(hp.plan, self.closure, method=self.method)
            self._raw_plans = (self.method, DecoderPlans(
                jet=plan(q, "derivatives", jacobian=True, laplacian=False, hessian=True),
                slope=plan(q, "derivatives", jacobian=True, laplacian=False, hessian=False),
                curvature=plan(q, "directional", vs=[q, q]),
                third=plan(rows, "directional", vs=[rows, rows, unit]),
                jet_third=self._fused_plan(plan, q)))
        return self._raw_plans[1]

    @staticmethod
    def _fused_plan(plan, q: torch.Tensor) -> hp.Plan | None:
        """The jet with ∇³h[v, v, ·] in one call, or None where the method cannot (e.g. multicomplex)."""
        try:
            return plan(q, "derivatives", jacobian=True, laplacian=False, hessian=True, third_along=q)
        except NotImplementedError:
            return None

    def _plans(self) -> tuple:
        """The jet and third-order plans as the NumPy-side calls use them (compiled with ``compile``)."""
        settings = (self.method, self.compile)
        if self._planned is None or self._planned[0] != settings:
            plans = self.plans()
            jet, third = plans.jet, plans.third
            if self.compile:
                jet, third = jet.compile(), third.compile()
            self._planned = (settings, jet, third)
        return self._planned[1:]

    def jet(self, q: np.ndarray) -> DecoderJet:
        """g(q), ∂g/∂q and ∇²h at q (r,), from one planned hp.derivatives call on h."""
        q = self.check_latent(q)
        r = self.latent_dim
        if self.closure is None:
            return DecoderJet(q.copy(), np.eye(r), None)
        out = self._plans()[0](torch.from_numpy(q))       # no graph: the closure's parameters are frozen
        value = np.concatenate([q, out.value.numpy()])
        jacobian = np.concatenate([self._identity, out.jacobian.numpy()])
        return DecoderJet(value, jacobian, out.hessian.numpy())

    def third_order(self, q: np.ndarray, v: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Rows Σ_j W_ij ∇³g_j[v, v, ·] for weights W (m, p); shape (m, r).

        One planned hp.directional call on h gives T = ∇³h[v, v, e_i] for the r unit vectors e_i
        (r, k) in one forward third-order jet (CSFD/analytic engines, never a nested autograd);
        the rows are W_k Tᵀ. For the r rows the Euler–Lagrange Jacobian needs this is cheaper
        than r weighted reverse sweeps (hp.directional_grad) because r is small and all rows
        share v.
        """
        r = self.latent_dim
        if self.closure is None:
            return np.zeros((weights.shape[0], r))
        rows = torch.from_numpy(q).expand(r, r)
        direction = torch.from_numpy(v).expand(r, r)
        third = self._plans()[1](rows, vs=[direction, direction, self._unit_vectors]).numpy()   # (r, k)
        return weights[:, r:] @ third.T

    # --- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Basis, latent size, closure network (architecture and weights) and normalisation."""
        basis = self.basis
        state = {"format": FORMAT, "latent_dim": self.latent_dim, "offset": basis.offset,
                 "basis": basis.basis, "mass_basis": basis.mass_basis,
                 "singular_values": basis.singular_values, "closure": None}
        if self.network is not None:
            state["closure"] = {"widths": closure_widths(self.network),
                                "activation": type(activation_of(self.network)).__name__,
                                "weights": self.network.state_dict(),
                                "normalisation": None if self.normalisation is None
                                else vars(self.normalisation)}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path: str | Path, method: str = "auto", compile: bool = False) -> Decoder:
        state = torch.load(path, weights_only=False)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"Decoder.load({str(path)!r}): not a decoder file (expected format "
                             f"{FORMAT!r}, written by Decoder.save)")
        basis = MassBasis(state["offset"], state["basis"], state["mass_basis"], state["singular_values"])
        closure, normalisation = None, None
        if state["closure"] is not None:
            saved = state["closure"]
            closure = MLP(saved["widths"], getattr(nn, saved["activation"])()).double()
            closure.load_state_dict(saved["weights"])
            if saved["normalisation"] is not None:
                normalisation = Normalisation(**saved["normalisation"])
        return cls(basis, state["latent_dim"], closure, normalisation, method, compile)


def closure_widths(net: nn.Module) -> list[int]:
    linears = [layer for layer in net.modules() if isinstance(layer, nn.Linear)]
    return [linears[0].in_features] + [layer.out_features for layer in linears]


def activation_of(net: nn.Module) -> nn.Module:
    return next(layer for layer in net.modules()
                if not isinstance(layer, (nn.Linear, nn.Sequential)))


def closure_network(latent_dim: int, closure_size: int, widths: list[int],
                    activation: str = "Tanh") -> nn.Sequential:
    """The MLP r → widths → p − r (float64) that a neural decoder's closure h uses."""
    return MLP([latent_dim, *widths, closure_size], getattr(nn, activation)()).double()

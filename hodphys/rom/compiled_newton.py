"""The Euler–Lagrange Newton iteration of a neural ROM with cubature as two compiled graphs.

Index letters: p prefix size, r latent size, k = p − r closure outputs, c cubature elements.

With z = g(q) = [q; h(q)], G = [I; ∂h], v = (q − q_n)/h, a = (v − v_n)/h (see
:mod:`hodphys.rom.integrators`), one step's Newton iteration needs

    R(q) = Gᵀ b,   b = G a + ∇²g[v, v] + F(z) − F_ext                          (residual graph)
    ∂R/∂q = Σ_j b_j ∇²g_j + GᵀG/h² + ∂hᵀ ∇²h[a + 2v/h, ·] + GᵀK(z)G + ∂hᵀ ∇³h[v, v, ·]  (Jacobian graph)

Each graph is one function of (q, q_n, v_n, F_ext, 1/h): the decoder's derivative calls (the
``hp.plan`` calls of :meth:`Decoder.plans`, i.e. the hodphys engines: value and ∂h with
∇²h[v, v] for the residual; value, ∂h, ∇²h and ∇³h[v, v, ·] for the Jacobian, from one jet
along [e_1..e_r, v] by ``hp.derivatives(…, third_along=v)`` where the engine has it, else the
third-order rows ∇³h[v, v, e_i] by a second, directional call), the cubature's torch kernels
(:class:`~hodphys.rom.element_kernels.TorchCubature`: F and GᵀKG directly, never the p × r K G)
and the assembly, traced into ATen ops and compiled together by Inductor
(:func:`hodphys.plan.compile_traced`). So a Newton point is one call instead of the dozen library
calls, array conversions and NumPy kernels of the eager path; the r × r solve, the line search and
the convergence test stay in Python (:func:`hodphys.rom.newton.iterate`, the loop every reduced
Newton solve runs).
"""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch import Tensor

from hodphys.fem import NewtonOptions
from hodphys.plan import compile_traced
from hodphys.rom.element_kernels import TorchCubature, material_law
from hodphys.rom.forces import ElementForces
from hodphys.rom.newton import ReducedNewtonResult, iterate, newton_direction, stopping_tolerance

EPS = float(np.finfo(np.float64).eps)
LOG = logging.getLogger("hodphys.rom")


def _norm(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x)


class FusedEulerLagrange:
    """R(q) with its round-off floor (``residual``), and the same with ∂R/∂q (``jacobian``), of the
    Euler–Lagrange step of ``model`` (a neural decoder with a cubature) as two torch functions of
    (q, q_n, v_n, F_ext, 1/h), compiled on construction (``compile_seconds``; ``compile=False``
    keeps them eager); ``third_order=False`` drops ∂hᵀ∇³h[v, v, ·]."""

    def __init__(self, model, third_order: bool = True, compile: bool = True) -> None:
        reason = self.unavailable(model)
        if reason is not None:
            raise ValueError(f"FusedEulerLagrange: {reason}; expected a neural decoder and a cubature "
                             f"(ReducedModel.build(body, decoder, load, cubature))")
        decoder = model.decoder
        self.r, self.p, self.third_order = decoder.latent_dim, decoder.prefix_size, third_order
        self.plans = decoder.plans()
        self.cubature = TorchCubature(model.forces)
        self.force_floor = float(model.forces.force_floor)
        self.unit = torch.eye(self.r, dtype=torch.float64)
        zeros = torch.zeros(self.r, dtype=torch.float64)
        example = [zeros, zeros.clone(), zeros.clone(), torch.zeros(self.p, dtype=torch.float64),
                   torch.tensor(1.0, dtype=torch.float64)]
        self.last_point, self.newton_point, self.compile_seconds = self.last_terms, self.newton_terms, 0.0
        if compile:
            started = time.perf_counter()
            # make_fx counts the arguments of the function's code: plain functions, not bound methods
            self.last_point = compile_traced(lambda q, q_n, v_n, external, inv_dt: self.last_terms(
                q, q_n, v_n, external, inv_dt), example, cpp_wrapper=True, direct=True,
                inline_gemm_rows=self.r)
            self.newton_point = compile_traced(lambda q, q_n, v_n, external, inv_dt: self.newton_terms(
                q, q_n, v_n, external, inv_dt), example, cpp_wrapper=True, direct=True,
                inline_gemm_rows=self.r)
            self.compile_seconds = time.perf_counter() - started

    @staticmethod
    def unavailable(model) -> str | None:
        """Why ``model`` has no fused iteration (None if it has one)."""
        if model.decoder.closure is None:
            return "a linear decoder needs no compiled iteration"
        if not isinstance(model.forces, ElementForces):
            return "the forces are the full projection, not a cubature"
        if material_law(model.forces.body.material) is None:
            return f"no torch law for the material {type(model.forces.body.material).__name__}"
        return None

    def _kinematics(self, q: Tensor, q_n: Tensor, v_n: Tensor, inv_dt: Tensor) -> tuple[Tensor, Tensor]:
        v = (q - q_n) * inv_dt
        return v, (v - v_n) * inv_dt

    def _prefix(self, q: Tensor, value: Tensor, slope: Tensor) -> tuple[Tensor, Tensor]:
        """z = [q; h] (p,), G = [I; ∂h] (p, r)."""
        return torch.cat([q, value]), torch.cat([self.unit, slope])

    def _residual(self, G: Tensor, inertia: Tensor, force: Tensor, external: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(b, Gᵀb, round-off floor of ‖Gᵀb‖: 100 ε Σ ‖Gᵀ term‖ + ‖G‖ times the forces' own floor)."""
        b = inertia + force - external
        floor = (100 * EPS * (_norm(G.T @ inertia) + _norm(G.T @ force) + _norm(G.T @ external))
                 + _norm(G) * self.force_floor)
        return b, G.T @ b, floor

    def residual_terms(self, q: Tensor, q_n: Tensor, v_n: Tensor, external: Tensor,
                       inv_dt: Tensor) -> tuple[Tensor, Tensor]:
        """(R (r,), its floor ()) — the first derivatives of h and one second directional derivative."""
        v, a = self._kinematics(q, q_n, v_n, inv_dt)
        out = self.plans.slope(q)
        z, G = self._prefix(q, out.value, out.jacobian)
        curvature = self.plans.curvature(q, vs=[v, v])                                   # ∇²h[v, v] (k,)
        inertia = G @ a + torch.cat([torch.zeros_like(q), curvature])
        _, residual, floor = self._residual(G, inertia, self.cubature.force(z), external)
        return residual, floor

    def jacobian_terms(self, q: Tensor, q_n: Tensor, v_n: Tensor, external: Tensor,
                       inv_dt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(R (r,), its floor (), ∂R/∂q (r, r)) (see the module docstring)."""
        r = self.r
        v, a = self._kinematics(q, q_n, v_n, inv_dt)
        fused = self.third_order and self.plans.jet_third is not None
        out = self.plans.jet_third(q, third_along=v) if fused else self.plans.jet(q)
        slope, hessian = out.jacobian, out.hessian                                        # (k, r), (k, r, r)
        z, G = self._prefix(q, out.value, slope)
        inertia = G @ a + torch.cat([torch.zeros_like(q), (hessian @ v) @ v])
        force, stiffness = self.cubature.force_and_projected_stiffness(z, G, True)           # F (p,), GᵀKG (r, r)
        b, residual, floor = self._residual(G, inertia, force, external)
        jacobian = ((b[r:] @ hessian.reshape(self.p - r, r * r)).reshape(r, r) + G.T @ G * inv_dt**2
                    + slope.T @ (hessian @ (a + 2 * v * inv_dt)) + stiffness)
        if fused:
            jacobian = jacobian + slope.T @ out.third                                      # ∇³h[v, v, ·] (k, r)
        elif self.third_order:
            rows, direction = q.expand(r, r), v.expand(r, r)
            third = self.plans.third(rows, vs=[direction, direction, self.unit])           # ∇³h[v, v, e_i] (r, k)
            jacobian = jacobian + slope.T @ third.T
        return residual, floor, jacobian


    def last_terms(self, q: Tensor, q_n: Tensor, v_n: Tensor, external: Tensor, inv_dt: Tensor) -> Tensor:
        """[‖R‖, floor] (2,): what the stopping test needs at a point Newton expects to be the last."""
        residual, floor = self.residual_terms(q, q_n, v_n, external, inv_dt)
        return torch.stack([_norm(residual), floor])

    def newton_terms(self, q: Tensor, q_n: Tensor, v_n: Tensor, external: Tensor,
                     inv_dt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """([‖R‖, floor] (2,), R (r,), ∂R/∂q (r, r)) at a point where Newton takes a step."""
        residual, floor, jacobian = self.jacobian_terms(q, q_n, v_n, external, inv_dt)
        return torch.stack([_norm(residual), floor]), residual, jacobian

    def solve(self, x0: np.ndarray, step: tuple[Tensor, ...], options: NewtonOptions,
              force_scale: float) -> ReducedNewtonResult:
        """Newton from x0 (r,) for the step (q_n, v_n, F_ext, 1/h): :func:`hodphys.rom.newton.iterate`
        (LU direction, Armijo backtracking on ½‖R‖², the stopping test) on points that are one
        compiled call and one small conversion each (q stays a NumPy array: its few operations
        cost less there)."""
        return iterate(_Points(self, step, options, force_scale), x0, options, force_scale)


class _Points:
    """The points of one step's Newton solve (:class:`hodphys.rom.newton.NewtonPoints`): ‖R‖, its
    floor and the Newton direction at x from one compiled call — R alone where quadratic
    convergence predicts the last point (‖R_k‖³/‖R_{k−1}‖² below a tenth of the tolerance; a wrong
    guess costs one more call, never a different iterate). The last point is remembered."""

    def __init__(self, iteration: FusedEulerLagrange, step: tuple[Tensor, ...], options: NewtonOptions,
                 force_scale: float) -> None:
        self.iteration, self.step, self.options, self.force_scale = iteration, step, options, force_scale
        self.norms: list[float] = []
        self.tolerance: float | None = None
        self.last: tuple | None = None            # (x, ‖R‖, floor, direction or None)

    def _predicts_last(self) -> bool:
        if len(self.norms) < 2:
            return False
        previous, last = self.norms[-2:]
        return 0 < last < previous and last**3 / previous**2 <= 0.1 * self.tolerance

    def _newton_point(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        stats, residual, jacobian = self.iteration.newton_point(torch.from_numpy(x), *self.step)
        norm, floor = stats.tolist()
        return norm, floor, newton_direction(jacobian.numpy(), residual.numpy(), symmetric=False)

    def evaluate(self, x: np.ndarray) -> tuple[float, float]:
        if self.last is not None and self.last[0] is x:
            return self.last[1], self.last[2]
        if self._predicts_last():
            (norm, floor), direction = self.iteration.last_point(torch.from_numpy(x), *self.step).tolist(), None
        else:
            norm, floor, direction = self._newton_point(x)
        self.norms.append(norm)
        if self.tolerance is None:
            self.tolerance = stopping_tolerance(self.options, norm, self.force_scale, floor)
        self.last = (x, norm, floor, direction)
        return norm, floor

    def direction(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        _, norm, _, direction = self.last
        if direction is None:     # predicted to be the last point, and it was not
            direction = self._newton_point(x)[2]
        return direction, -norm**2

    def merit(self, x: np.ndarray) -> float:
        return 0.5 * self.evaluate(x)[0] ** 2


def compiled_iteration(model, third_order: bool) -> FusedEulerLagrange | None:
    """The compiled iteration of ``model`` where its decoder is compiled and it has one; None
    otherwise (the NumPy path then), with one logged warning where compiling failed."""
    if not model.decoder.compile or FusedEulerLagrange.unavailable(model) is not None:
        return None
    try:
        return FusedEulerLagrange(model, third_order)
    except Exception as error:  # noqa: BLE001 - any tracing/compiler failure means: the eager path
        LOG.warning("compiling the Euler–Lagrange iteration failed (%s: %s); using the uncompiled one",
                    type(error).__name__, str(error).splitlines()[0] if str(error) else "")
        return None

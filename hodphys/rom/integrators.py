"""Implicit time stepping of a reduced model in its latent coordinates q (r,).

Index letters: p prefix size, r latent size; z = g(q) (p,), G = ∂g/∂q (p, r); u = u₀ + U z.

Both integrators step (q, q̇) by implicit Euler, v = (q − q_n)/h, a = (v − v_n)/h, and plug into
hodphys.fem's ``simulate`` (halving a failed step, then a SimulationError with the trajectory so
far): states are ``hodphys.fem.State`` objects whose displacement/velocity/acceleration are q,
q̇, q̈ (r,).

* ``EulerLagrangeEuler`` (HoD-Net eq. 12): the projected equation of motion
      R(q) = Gᵀ b = 0,   b = G a + ∇²g[v, v] + F(z) − F_ext(t_{n+1})     (UᵀMU = I),
  with Newton's Jacobian
      ∂R/∂q = Σ_j b_j ∇²g_j + Gᵀ (G/h² + ∇²g[a, ·] + 2∇²g[v, ·]/h + K(z) G) + Gᵀ ∇³g[v, v, ·].
  The last (third-order) term comes from one planned ``hp.directional`` call (Decoder.third_order);
  ``third_order=False`` drops it (Newton then loses its quadratic convergence).
* ``VariationalEuler`` (Fulton et al. 2019): minimise
      Φ(q) = ‖g(q) − z̃‖²/(2h²) + Π(z) − F_extᵀ z,   z̃ = z_n + h ż_n,  ż_n = (z_n − g(q_n − h v_n))/h,
  gradient Gᵀ b with b = (z − z̃)/h² + F − F_ext, Newton Hessian Gᵀ(I/h² + K)G + Σ_j b_j ∇²g_j.
For a linear decoder both are the Galerkin projection of the full-order implicit Euler step.
"""
from __future__ import annotations

import numpy as np
import torch

from hodphys.fem import NewtonFailure, NewtonOptions, State
from hodphys.rom.compiled_newton import compiled_iteration
from hodphys.rom.model import ReducedModel
from hodphys.rom.newton import ReducedNewtonResult, solve

EPS = np.finfo(np.float64).eps
DEFAULT_OPTIONS = NewtonOptions()


class ReducedIntegrator:
    """One implicit step of a reduced model; subclasses define the Newton system of a step."""

    name = ""

    def __init__(self, model: ReducedModel, options: NewtonOptions = DEFAULT_OPTIONS) -> None:
        self.model, self.options = model, options

    def initial_state(self, latent: np.ndarray | None = None, latent_velocity: np.ndarray | None = None,
                      time: float = 0.0) -> State:
        """(q₀, q̇₀) (zeros by default) with q̈₀ from GᵀG q̈ = Gᵀ(F_ext − F − ∇²g[q̇, q̇])."""
        r = self.model.latent_dim
        q = np.zeros(r) if latent is None else self.model.decoder.check_latent(latent, "latent")
        v = np.zeros(r) if latent_velocity is None else self.model.decoder.check_latent(
            latent_velocity, "latent_velocity")
        if q.shape != (r,) or v.shape != (r,) or not np.all(np.isfinite(q)) or not np.all(np.isfinite(v)):
            raise ValueError(f"{type(self).__name__}.initial_state: expected finite q and q̇ of shape "
                             f"({r},), got {q.shape} and {v.shape}")
        jet = self.model.decoder.jet(q)
        G = jet.jacobian
        rhs = self.model.load(time) - self.model.forces.force(jet.value) - jet.second(v, v)
        return State(time, q, v, np.linalg.solve(G.T @ G, G.T @ rhs))

    def step(self, state: State, dt: float) -> tuple[State, ReducedNewtonResult]:
        """Advance by dt; raises hodphys.fem.NewtonFailure when Newton does not converge."""
        system = self.system(state, dt)
        scale = float(np.linalg.norm(system.external))
        return self.advance(state, dt, lambda x0: solve(system, x0, self.options, scale))

    def advance(self, state: State, dt: float, solve_from) -> tuple[State, ReducedNewtonResult]:
        """The step whose q solve_from(x₀) finds, from the predictor q_n + h q̇_n + h² q̈_n."""
        try:
            result = solve_from(state.displacement + dt * state.velocity + dt**2 * state.acceleration)
        except NewtonFailure:    # the predictor can overshoot (inverted elements): start from q_n
            result = solve_from(state.displacement)
        q = result.x
        velocity = (q - state.displacement) / dt
        return State(state.time + dt, q, velocity, (velocity - state.velocity) / dt), result

    def system(self, state: State, dt: float):
        raise NotImplementedError


def external_force(model: ReducedModel, time: float) -> np.ndarray:
    """F_ext(time) (p,), refused where it is not finite."""
    external = model.load(time)
    if not np.all(np.isfinite(external)):
        raise ValueError(f"reduced step: the external force at t = {time:.6g} has non-finite entries (NaN or inf)")
    return external


class StepSystem:
    """What both step systems share: the step's data, and a memo of the last evaluation at q
    (the line search's accepted point is the next iteration's point: evaluated once)."""

    symmetric = False

    def __init__(self, model: ReducedModel, state: State, dt: float) -> None:
        self.model, self.state, self.dt = model, state, dt
        self.external = external_force(model, state.time + dt)
        self._at: tuple | None = None           # (q, evaluation)
        self._merit: tuple | None = None        # (q, merit)

    def residual(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        """R(q) (r,) and its round-off floor."""
        if self._at is None or not np.array_equal(q, self._at[0]):
            self._at = (q.copy(), self.evaluate(q))
        evaluation = self._at[1]
        return evaluation["residual"], evaluation["floor"]

    def evaluate(self, q: np.ndarray) -> dict:
        raise NotImplementedError

    def floor(self, G: np.ndarray, *terms: np.ndarray) -> float:
        """Round-off level of ‖Gᵀ Σ terms‖: 100 ε Σ ‖Gᵀ term‖ plus the forces' own round-off."""
        return (100 * EPS * sum(float(np.linalg.norm(G.T @ term)) for term in terms)
                + float(np.linalg.norm(G)) * self.model.forces.force_floor)

    def kinematics(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = (q - self.state.displacement) / self.dt
        return v, (v - self.state.velocity) / self.dt


class EulerLagrangeSystem(StepSystem):
    """R(q) = Gᵀ (G a + ∇²g[v, v] + F − F_ext) and its Jacobian (see the module docstring)."""

    def __init__(self, model: ReducedModel, state: State, dt: float, third_order: bool) -> None:
        super().__init__(model, state, dt)
        self.third_order = third_order

    def evaluate(self, q: np.ndarray) -> dict:
        v, a = self.kinematics(q)
        jet = self.model.decoder.jet(q)
        G = jet.jacobian
        inertia = G @ a + jet.second(v, v)
        force = self.model.forces.force(jet.value)      # K only when the Jacobian is asked
        b = inertia + force - self.external
        return {"v": v, "a": a, "jet": jet, "b": b, "residual": G.T @ b,
                "floor": self.floor(G, inertia, force, self.external)}

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        self.residual(q)
        at = self._at[1]
        jet, v, a, b = at["jet"], at["v"], at["a"], at["b"]
        G, h = jet.jacobian, self.dt
        stiffness = self.model.forces.stiffness_product(jet.value, G)               # K G (p, r)
        inner = G / h**2 + jet.hvp(a + 2 * v / h) + stiffness                     # ∇²g[·] linear
        jacobian = jet.contract(b) + G.T @ inner
        if self.third_order:
            jacobian += self.model.decoder.third_order(q, v, G.T)
        return jacobian

    def merit(self, q: np.ndarray, residual: np.ndarray | None) -> float:
        residual = self.residual(q)[0] if residual is None else residual
        return 0.5 * float(residual @ residual)


class EulerLagrangeEuler(ReducedIntegrator):
    """The projected Euler–Lagrange equations by implicit Euler on (q, q̇), Newton with the
    third-order decoder terms (``third_order=False`` drops them). With a compiled neural decoder
    and a cubature, each Newton iteration is two compiled graphs (built here, ``compile_seconds``;
    :mod:`hodphys.rom.compiled_newton`)."""

    name = "euler-lagrange"

    def __init__(self, model: ReducedModel, options: NewtonOptions = DEFAULT_OPTIONS,
                 third_order: bool = True) -> None:
        super().__init__(model, options)
        self.third_order = third_order
        self.iteration = compiled_iteration(model, third_order)

    @property
    def compile_seconds(self) -> float:
        return 0.0 if self.iteration is None else self.iteration.compile_seconds

    def step(self, state: State, dt: float) -> tuple[State, ReducedNewtonResult]:
        if self.iteration is None:
            return super().step(state, dt)
        external = external_force(self.model, state.time + dt)
        inputs = tuple(torch.from_numpy(np.array(x, dtype=np.float64)) for x in (
            state.displacement, state.velocity, external, 1.0 / dt))                 # q_n, v_n, F_ext, 1/h
        scale = float(np.linalg.norm(external))
        return self.advance(state, dt, lambda x0: self.iteration.solve(x0, inputs, self.options, scale))

    def system(self, state: State, dt: float) -> StepSystem:
        return EulerLagrangeSystem(self.model, state, dt, self.third_order)


class VariationalSystem(StepSystem):
    """∇Φ(q) = Gᵀ ((z − z̃)/h² + F − F_ext), Hessian Gᵀ(I/h² + K)G + Σ_j b_j ∇²g_j, merit Φ."""

    symmetric = True

    def __init__(self, model: ReducedModel, state: State, dt: float) -> None:
        super().__init__(model, state, dt)
        decoder, q = model.decoder, state.displacement
        current = decoder.prefix(q)
        self.predictor = 2 * current - decoder.prefix(q - dt * state.velocity)   # z_n + h ż_n

    def evaluate(self, q: np.ndarray) -> dict:
        jet = self.model.decoder.jet(q)
        G = jet.jacobian
        inertia = (jet.value - self.predictor) / self.dt**2
        force = self.model.forces.force(jet.value)
        b = inertia + force - self.external
        return {"jet": jet, "b": b, "residual": G.T @ b,
                "floor": self.floor(G, inertia, force, self.external)}

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        self.residual(q)
        at = self._at[1]
        jet = at["jet"]
        G = jet.jacobian
        stiffness = self.model.forces.stiffness_product(jet.value, G)
        hessian = G.T @ (G / self.dt**2 + stiffness) + jet.contract(at["b"])
        return 0.5 * (hessian + hessian.T)

    def merit(self, q: np.ndarray, residual: np.ndarray | None) -> float:
        """Φ(q); remembered for the last q (the accepted point is asked again as the next start)."""
        if self._merit is None or not np.array_equal(q, self._merit[0]):
            z = self.model.decoder.prefix(q)
            offset = z - self.predictor
            value = (0.5 * float(offset @ offset) / self.dt**2 + self.model.forces.energy(z)
                     - float(self.external @ z))
            self._merit = (q.copy(), value)
        return self._merit[1]


class VariationalEuler(ReducedIntegrator):
    """Fulton et al.'s latent-space variational implicit Euler (a minimisation per step)."""

    name = "variational"

    def system(self, state: State, dt: float) -> VariationalSystem:
        return VariationalSystem(self.model, state, dt)


REDUCED_INTEGRATORS = {cls.name: cls for cls in (EulerLagrangeEuler, VariationalEuler)}

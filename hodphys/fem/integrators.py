"""Implicit time integrators for M ü + f_int(u) = f(t), each step a minimisation.

Index letters: n the step; u, v, a displacement, velocity, acceleration on the free dofs (n_free,).

Both schemes find u_{n+1} as the minimiser of the incremental potential

    Φ(u) = ‖u − ũ‖²_M / (2c) + Π(u) − f(t_{n+1})ᵀu,

whose stationarity condition M(u − ũ)/c + f_int(u) = f is the scheme's update, so Newton with a
line search on Φ is globally convergent for any step size:

* implicit Euler:   ũ = u_n + h v_n,  c = h²;  v_{n+1} = (u_{n+1} − u_n)/h.
* Newmark (β, γ):   ũ = u_n + h v_n + h²(½ − β) a_n,  c = β h²;
                    a_{n+1} = (u_{n+1} − ũ)/(β h²),  v_{n+1} = v_n + h((1 − γ) a_n + γ a_{n+1}).
  β = ¼, γ = ½ is the average-acceleration (trapezoidal) rule: second order, no numerical damping.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from hodphys.fem.body import BodyObjective, ElasticBody
from hodphys.fem.mesh import format_ids
from hodphys.fem.newton import DEFAULT_OPTIONS, NewtonOptions, NewtonResult, minimize

ExternalForce = Callable[[float], np.ndarray]


@dataclass(frozen=True)
class State:
    """Time t and the free-dof displacement, velocity and acceleration, each of shape (n_free,)."""

    time: float
    displacement: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray


@dataclass(frozen=True)
class IncrementalPotential(BodyObjective):
    """Φ(u) = (u − ũ)ᵀM(u − ũ)/(2c) + Π(u) − fᵀu; predictor ũ and force f of shape (n_free,)."""

    predictor: np.ndarray
    inertia_scale: float
    force: np.ndarray

    def value(self, u: np.ndarray) -> float:
        offset = u - self.predictor
        inertia = 0.5 * float(offset @ (self.body.mass @ offset)) / self.inertia_scale
        return inertia + self.body.strain_energy(u) - float(self.force @ u)

    def gradient(self, u: np.ndarray) -> np.ndarray:
        inertia = self.body.mass @ (u - self.predictor) / self.inertia_scale
        return inertia + self.body.internal_force(u) - self.force

    def hessian(self, u: np.ndarray) -> sp.csr_matrix:
        hessian = self.body.stiffness(u)
        # mass and stiffness come from one Assembler, so they share a CSR pattern: add the data
        hessian.data += self.body.mass.data / self.inertia_scale
        return hessian


class Integrator:
    """One implicit step of an incremental-potential scheme; subclasses give predictor and update."""

    name = ""

    def __init__(self, body: ElasticBody, external_force: ExternalForce,
                 options: NewtonOptions = DEFAULT_OPTIONS) -> None:
        self.body = body
        self.external_force = external_force
        self.options = options

    def initial_state(self, displacement: np.ndarray | None = None,
                      velocity: np.ndarray | None = None, time: float = 0.0) -> State:
        """State at t0 (zeros by default), with a0 = M⁻¹(f(t0) − f_int(u0)) for consistency."""
        u = np.zeros(self.body.n_free) if displacement is None else displacement.astype(float)
        v = np.zeros(self.body.n_free) if velocity is None else velocity.astype(float)
        for label, vector in (("displacement", u), ("velocity", v)):
            if vector.shape != (self.body.n_free,):
                raise ValueError(f"{type(self).__name__}.initial_state: expected {label} of shape "
                                 f"({self.body.n_free},), got {vector.shape}")
            if not np.all(np.isfinite(vector)):
                raise ValueError(f"{type(self).__name__}.initial_state: {label} has non-finite entries")
        inverted = self.body.inverted_elements(u)
        if inverted.size:
            raise ValueError(f"{type(self).__name__}.initial_state: the displacement inverts "
                             f"elements {format_ids(inverted)}; expected det F > 0 everywhere")
        a = self.body.linear_solver.solve(self.body.mass,
                                          self.external_force(time) - self.body.internal_force(u))
        return State(time, u, v, a)

    def step(self, state: State, dt: float) -> tuple[State, NewtonResult]:
        """Advance by dt; raises NewtonFailure when Newton does not converge."""
        predictor, inertia_scale = self.predict(state, dt)
        force = self.external_force(state.time + dt)
        if not np.all(np.isfinite(force)):
            raise ValueError(f"{type(self).__name__}.step: the external force at t = {state.time + dt:.6g} "
                             f"has non-finite entries (NaN or inf)")
        potential = IncrementalPotential(self.body, predictor, inertia_scale, force)
        # Newton starts from the better of ũ and u_n: after a sudden change of load, a_n holds
        # large high-frequency terms and ũ can even invert elements (Φ = ∞)
        start = min((predictor, state.displacement), key=potential.value)
        result = minimize(potential, start, self.options, force_scale=float(np.linalg.norm(force)))
        return self.update(state, result.x, predictor, dt), result

    def predict(self, state: State, dt: float) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def update(self, state: State, u: np.ndarray, predictor: np.ndarray, dt: float) -> State:
        raise NotImplementedError

    def total_energy(self, time: float, displacement: np.ndarray, velocity: np.ndarray) -> float:
        """E = ½vᵀMv + Π(u) − f(t)ᵀu: conserved without damping for a constant dead load f."""
        return (self.body.kinetic_energy(velocity) + self.body.strain_energy(displacement)
                - float(self.external_force(time) @ displacement))


class ImplicitEuler(Integrator):
    """Backward Euler: first order, damps each mode by 1/√(1 + ω²h²) per step."""

    name = "implicit-euler"

    def predict(self, state: State, dt: float) -> tuple[np.ndarray, float]:
        return state.displacement + dt * state.velocity, dt**2

    def update(self, state: State, u: np.ndarray, predictor: np.ndarray, dt: float) -> State:
        velocity = (u - state.displacement) / dt
        return State(state.time + dt, u, velocity, (velocity - state.velocity) / dt)


class Newmark(Integrator):
    """Newmark-β; the default β = ¼, γ = ½ conserves energy for linear problems."""

    name = "newmark"

    def __init__(self, body: ElasticBody, external_force: ExternalForce,
                 options: NewtonOptions = DEFAULT_OPTIONS, beta: float = 0.25,
                 gamma: float = 0.5) -> None:
        if not 0.0 < beta <= 0.5 or not 0.0 <= gamma <= 1.0:
            raise ValueError(f"Newmark: expected 0 < beta ≤ 0.5 and 0 ≤ gamma ≤ 1, got "
                             f"beta={beta}, gamma={gamma}")
        super().__init__(body, external_force, options)
        self.beta, self.gamma = beta, gamma

    def predict(self, state: State, dt: float) -> tuple[np.ndarray, float]:
        predictor = (state.displacement + dt * state.velocity
                     + dt**2 * (0.5 - self.beta) * state.acceleration)
        return predictor, self.beta * dt**2

    def update(self, state: State, u: np.ndarray, predictor: np.ndarray, dt: float) -> State:
        acceleration = (u - predictor) / (self.beta * dt**2)
        velocity = state.velocity + dt * ((1 - self.gamma) * state.acceleration
                                          + self.gamma * acceleration)
        return State(state.time + dt, u, velocity, acceleration)


INTEGRATORS: dict[str, type[Integrator]] = {cls.name: cls for cls in (ImplicitEuler, Newmark)}


def make_integrator(name: str, body: ElasticBody, external_force: ExternalForce,
                    options: NewtonOptions = DEFAULT_OPTIONS) -> Integrator:
    """The integrator called ``name`` (a key of INTEGRATORS)."""
    if name not in INTEGRATORS:
        raise ValueError(f"make_integrator: unknown integrator {name!r}; expected one of "
                         f"{sorted(INTEGRATORS)}")
    return INTEGRATORS[name](body, external_force, options)

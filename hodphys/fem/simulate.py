"""The time loop: fixed output steps, each retried in halves when Newton fails.

Index letters: t recorded time points, n_free free dofs.

A step of size h whose Newton iteration fails is redone as two steps of h/2 (with a warning), and
so on up to ``max_halvings`` times; past that the loop gives up with a SimulationError that carries
the trajectory up to the last completed step (and, if asked, has it saved first).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable

import numpy as np

from hodphys.checks import check_integers
from hodphys.errors import InputError, RunFailure
from hodphys.fem.integrators import Integrator, State
from hodphys.fem.newton import NewtonFailure


class StepHalvingWarning(RuntimeWarning):
    """A step's Newton iteration failed and the step is being retried with half the step size."""


class SimulationError(RunFailure):
    """The time loop gave up; ``trajectory`` holds the steps completed before the failure."""

    def __init__(self, message: str, trajectory: Trajectory) -> None:
        super().__init__(message)
        self.trajectory = trajectory


@dataclass
class Trajectory:
    """Recorded states: times (t,), displacements and velocities (t, n_free), plus per step
    (t − 1,) the Newton iterations summed over its sub-steps and the number of sub-steps."""

    times: list[float] = field(default_factory=list)
    displacements: list[np.ndarray] = field(default_factory=list)
    velocities: list[np.ndarray] = field(default_factory=list)
    newton_iterations: list[int] = field(default_factory=list)
    substeps: list[int] = field(default_factory=list)

    def record(self, state: State) -> None:
        self.times.append(state.time)
        self.displacements.append(state.displacement)
        self.velocities.append(state.velocity)

    def arrays(self) -> dict[str, np.ndarray]:
        """The trajectory as arrays: times (t,), displacements/velocities (t, n_free), … ."""
        return {"times": np.array(self.times), "displacements": np.array(self.displacements),
                "velocities": np.array(self.velocities),
                "newton_iterations": np.array(self.newton_iterations, dtype=np.int64),
                "substeps": np.array(self.substeps, dtype=np.int64)}


def advance(integrator: Integrator, state: State, dt: float,
            halvings_left: int) -> tuple[State, int, int]:
    """One step of size dt, split in halves on Newton failure; returns (state, iterations, steps)."""
    try:
        new_state, result = integrator.step(state, dt)
        return new_state, result.iterations, 1
    except NewtonFailure as failure:
        if halvings_left == 0:
            raise
        warnings.warn(f"{integrator.name}: Newton failed at t = {state.time:.6g} with dt = "
                      f"{dt:.3g} ({failure}); retrying with dt = {dt / 2:.3g}",
                      StepHalvingWarning, stacklevel=2)
        middle, first_iterations, first_steps = advance(integrator, state, dt / 2, halvings_left - 1)
        end, second_iterations, second_steps = advance(integrator, middle, dt / 2, halvings_left - 1)
        return end, first_iterations + second_iterations, first_steps + second_steps


def simulate(integrator: Integrator, initial: State, dt: float, n_steps: int,
             max_halvings: int = 4,
             save_partial: Callable[[Trajectory], Path] | None = None,
             progress: Callable[[Iterable[int]], Iterable[int]] = iter) -> Trajectory:
    """Run n_steps steps of size dt from ``initial`` and record every step.

    save_partial: called with the trajectory so far before giving up; returns where it saved it.
    progress: wraps the step range (e.g. a tqdm progress bar).
    """
    if not 0 < dt < float("inf"):
        raise InputError(f"simulate: expected a finite dt > 0, got dt={dt}")
    try:
        check_integers("simulate", 1, n_steps=n_steps)
    except ValueError as err:
        raise InputError(str(err)) from None
    trajectory = Trajectory()
    trajectory.record(initial)
    state = initial
    for step in progress(range(n_steps)):
        try:
            state, iterations, substeps = advance(integrator, state, dt, max_halvings)
        except NewtonFailure as failure:
            where = f"; the trajectory so far is saved in {save_partial(trajectory)}" \
                if save_partial else ""
            raise SimulationError(f"simulate: step {step + 1} from t = {state.time:.6g} failed "
                                  f"even with dt = {dt / 2**max_halvings:.3g} after "
                                  f"{max_halvings} halvings ({failure}){where}",
                                  trajectory) from failure
        trajectory.record(state)
        trajectory.newton_iterations.append(iterations)
        trajectory.substeps.append(substeps)
    return trajectory

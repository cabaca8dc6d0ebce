"""ROM cases (issue 13): one implicit step of the cantilever by full order, PCA-ROM and neural ROM
(± cubature), and the decoder derivative calls inside the reduced Newton (engines vs torch.func).

* ``rom-step-coarse`` / ``rom-step-fine``: one implicit-Euler step (dt = 0.01 s, Newton rtol
  1e-9, same as the full-order solver) from each model's own state 0.05 s into a tap (each has
  simulated the first five steps itself), on beam_coarse.vtu (1440
  DOFs) / beam_fine.vtu (19440 DOFs; the coarse mesh in quick mode). The decoders (r = 6, a
  30-mode prefix) are fitted to a small training set made first (the closure trained briefly, 300
  Adam and 50 L-BFGS steps; how well sets the Newton iteration count: at this state full order and
  the neural ROM both take 3, where ``hodphys run beam-rom``'s decoder averages 2.4 on its held-out
  trajectory against full order's 3.0 — so this is the like-for-like step at equal iteration
  counts, the run the trajectory). Every contender returns the tip displacement after the step
  (a ROM from its prefix coordinates, p-sized work: the timed work is the step, not a decode);
  the check is loose (20 %, reduced vs full physics; only a smoke test in quick mode, whose tiny
  training set and 20-tet cubature are crude), the point is the time. "compiled": the same
  neural decoder with its planned calls compiled (``hp.Plan.compile``); the one-time compile
  cost is in the case's description, not in the step. With the cubature, "compiled" is the fused
  Newton iteration (:mod:`hodphys.rom.compiled_newton`: one compiled graph per Newton point).
* ``rom-decoder-jet``: the value, Jacobian and Hessian of a closure h: 6 → 64 → 64 → 24 (what
  each reduced Newton iteration needs); ``rom-decoder-third-order``: wᵀ∇³h[v, v, ·] for the six
  rows w = columns of G (the Euler–Lagrange Jacobian's third-order term). Both also as the reduced
  Newton makes them: ``hp.plan`` calls (checked and engine-chosen once).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import hodphys as hp
from hodphys.bench.references import baselines as base
from hodphys.bench.nets import engine_contenders, randn, tanh_mlp
from hodphys.bench.registry import BenchEnv, BenchSpec, bench_case
from hodphys.fem import (
    Cantilever,
    LoadHistory,
    NeoHookean,
    State,
    make_integrator,
    read_mesh,
    simulate,
)
from hodphys.rom import (
    Cubature,
    Decoder,
    EulerLagrangeEuler,
    MassBasis,
    ReducedModel,
    fit_cubature,
    mass_pca,
)
from hodphys.rom.training import ClosureConfig, fit_neural_decoder
from hodphys.io.runs import Run

MESH_DIR = Path(__file__).resolve().parents[3] / "meshes"
LATENT, PREFIX, DT = 6, 30, 0.01


def _training_set(beam: Cantilever, env: BenchEnv) -> np.ndarray:
    """Full-order snapshots (T, n) of a few taps of different directions."""
    snapshots = []
    for angle in np.linspace(0, 2 * np.pi, env.size(4, 2), endpoint=False):
        load = LoadHistory(beam.gravity(), beam.tip_force([0, 50 * np.cos(angle), 50 * np.sin(angle)]), 0.1)
        integrator = make_integrator("implicit-euler", beam.body, load)
        trajectory = simulate(integrator, integrator.initial_state(), DT, env.size(40, 20))
        snapshots.append(np.array(trajectory.displacements))
    return np.concatenate(snapshots)


def _decoders(beam: Cantilever, snapshots: np.ndarray, env: BenchEnv) -> tuple[Decoder, Decoder]:
    prefix = mass_pca(snapshots, beam.body.mass, PREFIX)
    leading = MassBasis(prefix.offset, prefix.basis[:, :LATENT], prefix.mass_basis[:, :LATENT],
                        prefix.singular_values[:LATENT])
    config = ClosureConfig(adam_steps=env.size(300, 20), optimizer_steps=env.size(50, 5), plots=False)
    with tempfile.TemporaryDirectory() as scratch:
        run = Run.create("bench-rom-closure", config, root=scratch)
        neural, _ = fit_neural_decoder(prefix, snapshots, LATENT, run, config)
        run.close()
    return Decoder(leading, LATENT), neural


def _step_case(mesh: str, env: BenchEnv) -> BenchSpec:
    beam = Cantilever.build(read_mesh(MESH_DIR / mesh), NeoHookean.from_young_poisson(1e7, 0.3), 1000.0)
    with threadpool_limits(limits=1):
        snapshots = _training_set(beam, env)
        pca, neural = _decoders(beam, snapshots, env)
        cubature = fit_cubature(beam.body, neural.basis, neural.basis.coordinates(snapshots[::2]),
                                tolerance=0.01, max_elements=env.size(150, 20))
    load = LoadHistory(beam.gravity(), beam.tip_force([0, 35.0, 25.0]), 0.12)
    full = make_integrator("implicit-euler", beam.body, load)
    contenders = {"full order": _stepper(beam, full, _state_after(full, full.initial_state()), None)}
    compiled = Decoder(neural.basis, LATENT, neural.network, neural.normalisation, compile=True)
    compile_seconds = 0.0
    for name, decoder, rule in (("PCA-ROM", pca, None), ("neural ROM", neural, None),
                                ("neural ROM + cubature", neural, cubature),
                                ("neural ROM + cubature, compiled", compiled, cubature)):
        if rule is not None and rule.basis is not decoder.basis:
            rule = Cubature(beam.body, decoder.basis, rule.elements, rule.weights, rule.training_error)
        reduced = EulerLagrangeEuler(ReducedModel.build(beam.body, decoder, load, rule))
        compile_seconds += reduced.compile_seconds
        contenders[name] = _stepper(beam, reduced, _state_after(reduced, reduced.initial_state()), decoder)
    return BenchSpec(f"one implicit step (dt = {DT} s, Newton rtol 1e-9) of the cantilever on {mesh}, "
                     f"{beam.body.n_free} DOFs; ROMs r = {LATENT}, prefix {PREFIX}, cubature "
                     f"{cubature.size} tets; compiling (the fused Newton iteration and the decoder's "
                     f"calls): {compile_seconds + compiled.compile_seconds:.1f} s once; result: tip "
                     f"displacement", contenders,
                     reference="full order", tolerance=1.0 if env.quick else 0.2)


def _state_after(integrator, initial: State, steps: int = 5) -> State:
    """The integrator's own state 0.05 s into the tap (each model steps from where it would be)."""
    trajectory = simulate(integrator, initial, DT, steps)
    velocity = trajectory.velocities[-1]
    acceleration = (velocity - trajectory.velocities[-2]) / DT
    return State(trajectory.times[-1], trajectory.displacements[-1], velocity, acceleration)


def _stepper(beam: Cantilever, integrator, state: State, decoder: Decoder | None):
    """One step from state, returning the tip displacement (3,) as a float64 tensor. A ROM reads
    its tip from the prefix, tip = T u₀ + (T U) g(q) with T the (linear) tip average: p-sized work,
    as a user tracking the tip would, not a decode of the whole mesh."""
    if decoder is not None:
        tip_offset = beam.tip_displacement(decoder.basis.offset)                 # (3,)
        tip_basis = beam.tip_displacement(decoder.basis.basis.T)                 # (p, 3)

    def step() -> torch.Tensor:   # BLAS threads are the runner's (--threads); entering threadpool_limits
        new_state, _ = integrator.step(state, DT)   # here would time ≈ 1 ms of library enumeration
        if decoder is None:
            return torch.from_numpy(beam.tip_displacement(new_state.displacement))
        return torch.from_numpy(tip_offset + decoder.prefix(new_state.displacement) @ tip_basis)

    return step


@bench_case("rom-step-coarse", group="rom")
def step_coarse(env: BenchEnv) -> BenchSpec:
    """Per-step time on the paper-sized beam (1440 DOFs)."""
    return _step_case("beam_coarse.vtu", env)


@bench_case("rom-step-fine", group="rom")
def step_fine(env: BenchEnv) -> BenchSpec:
    """Per-step time on the fine beam (19440 DOFs); the coarse one in quick mode."""
    return _step_case("beam_coarse.vtu" if env.quick else "beam_fine.vtu", env)


def _closure(env: BenchEnv):
    widths = [LATENT, env.size(64, 8), env.size(64, 8), PREFIX - LATENT]
    return tanh_mlp(widths, env), randn(env, 1, LATENT)


@bench_case("rom-decoder-jet", group="rom")
def decoder_jet(env: BenchEnv) -> BenchSpec:
    """Hessian of the closure h at one latent point (value and Jacobian come in the same pass);
    ``hp.plan[auto]`` is the planned call the reduced Newton makes (checks and choice done once)."""
    model, x = _closure(env)
    contenders = engine_contenders(lambda method: hp.hessian(model, x, method=method), model, x, "hessian")
    planned = hp.plan(model, x, "hessian")
    contenders[f"hp.plan[auto→{planned.engine_name}]"] = lambda: planned(x)
    contenders["torch.func"] = base.func_hessian(model, x)
    return BenchSpec(f"Hessian of the closure {LATENT}→64→64→{PREFIX - LATENT} at one q", contenders)


@bench_case("rom-decoder-third-order", group="rom")
def decoder_third_order(env: BenchEnv) -> BenchSpec:
    """wᵀ∇³h[v, v, ·] for r rows w (the Euler–Lagrange Newton's third-order term), one call; also as
    the reduced Newton computes it: one planned forward jet T = ∇³h[v, v, e_i] (r rows), then W Tᵀ."""
    model, x = _closure(env)
    rows = x.expand(LATENT, LATENT)
    v = randn(env, 1, LATENT, seed=2).expand(LATENT, LATENT)
    w = randn(env, LATENT, PREFIX - LATENT, seed=3)
    contenders = engine_contenders(lambda method: hp.directional_grad(model, rows, [v, v], w, method=method),
                                   model, rows, "directional_grad", vs=[v, v], w=w)
    unit = torch.eye(LATENT, dtype=x.dtype)
    planned = hp.plan(model, rows, "directional", vs=[v, v, unit])
    contenders[f"hp.plan[auto→{planned.engine_name}] rows W·∇³h[v, v, e_i]"] = \
        lambda: w @ planned(rows, vs=[v, v, unit]).T
    contenders["torch.func"] = base.func_directional_grad(model, rows, v, w)
    return BenchSpec(f"wᵀ∇³h[v, v, ·] of the closure {LATENT}→64→64→{PREFIX - LATENT}, {LATENT} rows",
                     contenders)

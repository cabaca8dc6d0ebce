"""Reduced-order cantilever (HoD-Net application III): PCA-ROM and neural ROM against full order.

    hodphys run beam-rom
    hodphys run beam-rom --set mesh=beam_fine.vtu --set n_trajectories=6 --set dataset_steps=100
    hodphys run beam-rom --set dataset=runs/beam-fom-dataset-…/dataset.h5
    hodphys run beam-rom --resume runs/beam-rom-…      # reuses the dataset, decoder, cubature

Stages: (1) the training set — full-order trajectories under random tip taps (as beam-fom-dataset),
or a given dataset file of the same mesh; (2) mass-PCA prefix basis, PCA decoder (r modes) and
neural decoder u = u₀ + U [q; h(q)] (closure h trained by hodphys.train); (3) cubature fitted
to the reduced forces of training poses; (4) a held-out scenario (a tap of another direction and
magnitude) simulated by full order, PCA-ROM and neural ROM, each with and without cubature.
Writes metrics.json, tip.png, error.png, fields/<model>.pvd, reduced_trajectories.h5,
dataset.h5, decoder.pt, pca_decoder.pt, cubature.npz and beam_rom.png (where rendering works).
"""
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from hodphys.fem import (
    LoadHistory,
    NewtonFailure,
    NewtonOptions,
    SimulationError,
    State,
    make_integrator,
    simulate,
)
from hodphys.fem.beam_setup import BeamConfig, build_beam, check_beam, nodal_trajectory, snapshot_layout
from hodphys.io import (
    SnapshotWriter,
    TrajectoryRecord,
    plot_time_series,
    read_snapshots,
    render_side_by_side,
    rendering_unavailable,
    write_vtu_series,
)
from hodphys.io.resources import MESH_DIR
from hodphys.rom import (
    REDUCED_INTEGRATORS,
    Cubature,
    Decoder,
    EulerLagrangeEuler,
    MassBasis,
    ReducedModel,
    fit_cubature,
    mass_pca,
)
from hodphys.rom.metrics import projection_error, trajectory_errors
from hodphys.rom.training import ClosureConfig, fit_neural_decoder

NAME = "beam-rom"
RESUMABLE = True   # a resumed run reuses the finished stages' files and continues the training
DEVICES = ("cpu",)
DEVICES_WHY = "it compares with the SciPy full-order solver, and its batch-1 reduced steps gain nothing on a GPU"
DESCRIPTION = "Reduced-order cantilever: PCA and neural decoders, cubature, vs full order"


@dataclass
class Config(BeamConfig):
    dataset: str = ""                  # an existing dataset.h5 of the same mesh ("" builds one)
    n_trajectories: int = 10           # training trajectories (000: release under gravity only)
    dataset_steps: int = 150
    max_tip_force: float = 60.0        # N, taps of random direction in the y–z plane
    min_pulse: float = 0.05            # s
    max_pulse: float = 0.2             # s
    seed: int = 0
    tip_force: list[float] = field(default_factory=lambda: [0.0, 35.0, 25.0])   # held-out tap, N
    pulse_duration: float = 0.12       # s
    latent_dim: int = 6                # r
    prefix_size: int = 30              # p: PCA modes under the neural decoder
    widths: list[int] = field(default_factory=lambda: [64, 64])
    adam_steps: int = 3000
    optimizer_steps: int = 500
    rom_integrator: str = "euler-lagrange"     # or "variational"
    compile: bool = True               # the neural decoder's planned calls compiled (hp.Plan.compile)
    cubature_tolerance: float = 0.01
    cubature_max_elements: int = 150
    cubature_poses: int = 150
    vtu_every: int = 4
    render: bool = True

    # --resume reuses the dataset, decoder and cubature and redoes the held-out comparison, so
    # what only shapes that comparison may change
    RESUME_MAY_CHANGE = frozenset({"n_steps", "tip_force", "pulse_duration", "rom_integrator",
                                   "vtu_every", "render", "blas_threads", "max_halvings", "compile"})


def check_values(config: Config) -> None:
    if config.rom_integrator not in REDUCED_INTEGRATORS:
        raise ValueError(f"config key 'rom_integrator': expected one of {sorted(REDUCED_INTEGRATORS)}, "
                         f"got {config.rom_integrator!r}")
    if not 1 <= config.latent_dim < config.prefix_size:
        raise ValueError(f"config keys 'latent_dim', 'prefix_size': expected 1 ≤ latent_dim < prefix_size, "
                         f"got {config.latent_dim}, {config.prefix_size}")


def check(config: Config) -> None:
    """Refuse a bad config (values, mesh, material) before the run directory is made."""
    check_values(config)
    with threadpool_limits(limits=config.blas_threads):
        check_beam(config, MESH_DIR)


def main(config: Config, run) -> dict:
    check_values(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.blas_threads)   # like LAPACK: tiny reduced tensors, one thread
    try:
        with threadpool_limits(limits=config.blas_threads):
            return compare(config, run)
    finally:
        torch.set_num_threads(threads)


def compare(config: Config, run) -> dict:
    """The four stages (see the module docstring); returns the metrics."""
    beam = build_beam(config, MESH_DIR)
    snapshots, validation = training_snapshots(config, run, beam)
    prefix = mass_pca(snapshots, beam.body.mass, config.prefix_size)
    pca, neural, training = decoders(config, run, prefix, snapshots, validation)
    projection = decoder_errors(run, beam, pca, neural, snapshots, validation)
    load = LoadHistory(beam.gravity(config.gravity), beam.tip_force(config.tip_force),
                       config.pulse_duration)
    full, full_seconds, full_energy = full_order(config, run, beam, load)
    cubature, cubature_metrics = fitted_cubature(config, run, beam, prefix, snapshots, full)
    neural, compile_metrics = compiled(config, run, neural)
    results, compile_metrics["fused_compile_seconds"] = reduced_runs(config, run, beam, load, pca, neural, cubature)
    return report(config, run, beam, full, full_seconds, full_energy, results) | cubature_metrics | compile_metrics | {
        "closure_validation_rel_error": training.get("rel_l2_mean"),
        "closure_training_rel_error": training.get("training_rel_l2_mean"), **projection,
        "free_dofs": beam.body.n_free,
        "elements": beam.mesh.n_cells, "snapshots": snapshots.shape[0]}


# --- stage 1: the training set --------------------------------------------------------------
def load_family(config: Config) -> list[dict[str, float]]:
    """Gravity release, then taps of random direction (y–z), force and duration (seeded)."""
    rng = np.random.default_rng(config.seed)
    family = [{"gravity": config.gravity, "tip_force_y": 0.0, "tip_force_z": 0.0, "pulse_duration": 0.0}]
    for _ in range(config.n_trajectories - 1):
        angle, force = rng.uniform(0, 2 * np.pi), rng.uniform(0, config.max_tip_force)
        family.append({"gravity": config.gravity, "tip_force_y": force * np.cos(angle),
                       "tip_force_z": force * np.sin(angle),
                       "pulse_duration": rng.uniform(config.min_pulse, config.max_pulse)})
    return family


def build_dataset(config: Config, run, beam, path: Path) -> None:
    with SnapshotWriter(path, **snapshot_layout(config, beam)) as writer:
        for index, parameters in enumerate(run.progress(load_family(config), desc="training set")):
            tap = beam.tip_force([0.0, parameters["tip_force_y"], parameters["tip_force_z"]])
            load = LoadHistory(beam.gravity(config.gravity), tap, parameters["pulse_duration"])
            integrator = make_integrator(config.integrator, beam.body, load)
            trajectory = simulate(integrator, integrator.initial_state(), config.dt,
                                  config.dataset_steps, config.max_halvings)
            writer.add(f"{index:03d}", TrajectoryRecord(load_parameters=parameters,
                                                        **nodal_trajectory(beam, trajectory)))


def training_snapshots(config: Config, run, beam) -> tuple[np.ndarray, np.ndarray]:
    """All free-dof snapshots (T, n) of the dataset but its last trajectory, which validates."""
    path = Path(config.dataset) if config.dataset else run.dir / "dataset.h5"
    if not config.dataset and not (run.resumed and path.is_file()):
        build_dataset(config, run, beam, path)
        run.log.info("wrote %s", path)
    data = read_snapshots(path)
    free = beam.body.assembler.free_dofs
    if data.points.shape != beam.mesh.points.shape or not (
            np.allclose(data.points, beam.mesh.points) and np.array_equal(data.cells, beam.mesh.cells)
            and np.array_equal(data.free_dofs, free)):
        raise ValueError(f"dataset {path}: its mesh ({data.points.shape[0]} nodes, {data.cells.shape[0]} "
                         f"tets, {data.free_dofs.size} free dofs) is not the configured mesh {config.mesh!r} "
                         f"({beam.mesh.n_points} nodes, {beam.mesh.n_cells} tets, {free.size} free dofs)")
    names = sorted(data.trajectories)
    if len(names) < 2:
        raise ValueError(f"dataset {path}: expected ≥ 2 trajectories (one is kept for validation), "
                         f"got {len(names)}")
    stacked = [data.free_displacements(name) for name in names]
    return np.concatenate(stacked[:-1]), stacked[-1]


# --- stage 2: decoders ----------------------------------------------------------------------
def leading(basis: MassBasis, r: int) -> MassBasis:
    return MassBasis(basis.offset, basis.basis[:, :r], basis.mass_basis[:, :r], basis.singular_values[:r])


def decoders(config: Config, run, prefix: MassBasis, snapshots, validation):
    r = config.latent_dim
    pca = Decoder(leading(prefix, r), r)
    pca.save(run.dir / "pca_decoder.pt")
    saved = run.dir / "decoder.pt"
    if run.resumed and saved.is_file():
        run.log.info("reusing %s", saved)
        return pca, Decoder.load(saved), {}
    closure_config = ClosureConfig(widths=list(config.widths), adam_steps=config.adam_steps,
                                   optimizer_steps=config.optimizer_steps, seed=config.seed)
    neural, training = fit_neural_decoder(prefix, snapshots, r, run, closure_config, validation)
    neural.save(saved)
    run.log.info("wrote %s (closure error, relative to the spread of the %d closure coordinates: %.3g "
                 "training, %.3g validation)", saved, prefix.size - r, training["training_rel_l2_mean"],
                 training["rel_l2_mean"])
    return pca, neural, training


def decoder_errors(run, beam, pca: Decoder, neural: Decoder, snapshots, validation) -> dict:
    """The decoders' own projection errors (relative M-norm displacement) on the training and the
    validation snapshots — the scale on which to read the closure error."""
    mass = beam.body.mass
    errors = {f"{name}_projection_error_{part}": projection_error(decoder, data, mass)
              for name, decoder in (("pca", pca), ("neural", neural))
              for part, data in (("training", snapshots), ("validation", validation))}
    run.log.info("decoder projection error (relative M-norm displacement), training / validation: "
                 "PCA (r modes) %.2e / %.2e, neural %.2e / %.2e", errors["pca_projection_error_training"],
                 errors["pca_projection_error_validation"], errors["neural_projection_error_training"],
                 errors["neural_projection_error_validation"])
    return errors


def compiled(config: Config, run, neural: Decoder) -> tuple[Decoder, dict]:
    """The neural decoder with its planned calls compiled (``config.compile``), compiled here so
    that the one-time cost is reported on its own, not inside a timed step."""
    if not config.compile:
        return neural, {"compile": False}
    neural = Decoder(neural.basis, neural.latent_dim, neural.network, neural.normalisation, neural.method,
                     compile=True)
    r = neural.latent_dim
    neural.third_order(np.zeros(r), np.ones(r), neural.jet(np.zeros(r)).jacobian.T)
    neural.prefix(np.zeros(r))
    run.log.info("compiled the decoder's planned calls in %.1f s", neural.compile_seconds)
    return neural, {"compile": True, "compile_seconds": neural.compile_seconds}


# --- stage 3: cubature ----------------------------------------------------------------------
def fitted_cubature(config: Config, run, beam, prefix: MassBasis, snapshots, full) -> tuple[Cubature, dict]:
    path = run.dir / "cubature.npz"
    if run.resumed and path.is_file():
        saved = np.load(path)
        cubature = Cubature(beam.body, prefix, saved["elements"], saved["weights"], float(saved["error"]))
    else:
        every = max(1, snapshots.shape[0] // config.cubature_poses)
        started = time.perf_counter()
        cubature = fit_cubature(beam.body, prefix, prefix.coordinates(snapshots[::every]),
                                config.cubature_tolerance, config.cubature_max_elements, seed=config.seed)
        run.log.info("cubature: %d of %d tets, training error %.3g (%.1f s)", cubature.size,
                     beam.mesh.n_cells, cubature.training_error, time.perf_counter() - started)
        np.savez(path, elements=cubature.elements, weights=cubature.weights, error=cubature.training_error)
    held_out = cubature.relative_errors(prefix.coordinates(full["displacements"][::5]))
    return cubature, {"cubature_elements": cubature.size, "cubature_training_error": cubature.training_error,
                      "cubature_held_out_error_mean": float(held_out.mean()),
                      "cubature_held_out_error_max": float(held_out.max())}


# --- stage 4: the held-out scenario ---------------------------------------------------------
def timed(run, integrator, initial, config: Config, desc: str):
    """Simulate the held-out scenario; returns the trajectory and the seconds of each step (wall
    clock, (n_steps,)). On failure the trajectory so far goes to
    <desc>_partial.npz."""
    def save_partial(trajectory) -> Path:
        path = run.dir / f"{desc.replace(' ', '_')}_partial.npz"
        np.savez(path, **trajectory.arrays())
        return path

    clock: list[float] = []

    def clocked(steps):
        for step in run.progress(steps, total=config.n_steps, desc=desc):
            clock.append(time.perf_counter())
            yield step
        clock.append(time.perf_counter())

    try:
        trajectory = simulate(integrator, initial, config.dt, config.n_steps, config.max_halvings,
                              save_partial=save_partial, progress=clocked)
    except SimulationError as failure:
        run.log.error("%s: %s", desc, failure)
        raise
    return trajectory, np.diff(clock)


def full_order(config: Config, run, beam, load):
    integrator = make_integrator(config.integrator, beam.body, load)
    trajectory, seconds = timed(run, integrator, integrator.initial_state(), config, "full order")
    arrays = trajectory.arrays()
    energy = np.array([integrator.total_energy(*state) for state in
                       zip(arrays["times"], arrays["displacements"], arrays["velocities"])])
    return arrays, seconds, energy


def reduced_runs(config: Config, run, beam, load, pca: Decoder, neural: Decoder, cubature: Cubature):
    """Every reduced model on the held-out load: (name → (arrays, seconds of each step, decoded u (t, n)),
    seconds spent compiling fused Newton iterations)."""
    pca_cubature = Cubature(beam.body, pca.basis, cubature.elements, cubature.weights, cubature.training_error)
    stepper = REDUCED_INTEGRATORS[config.rom_integrator]
    cases = {"pca": (pca, None, stepper, {}), "pca_cubature": (pca, pca_cubature, stepper, {}),
             "neural": (neural, None, stepper, {}), "neural_cubature": (neural, cubature, stepper, {})}
    if config.rom_integrator == "euler-lagrange":
        cases["neural_cubature_no_third_order"] = (neural, cubature, stepper, {"third_order": False})
    cases["neural_cubature_variational"] = (neural, cubature, REDUCED_INTEGRATORS["variational"], {})
    if neural.compile:   # the same model without compiling, for the per-step comparison
        eager = Decoder(neural.basis, neural.latent_dim, neural.network, neural.normalisation, neural.method)
        cases["neural_cubature_eager"] = (eager, cubature, stepper, {})
    results, integrators = {}, {}
    for name, (decoder, rule, integrator_type, options) in cases.items():
        model = ReducedModel.build(beam.body, decoder, load, rule)
        integrators[name] = integrator = integrator_type(model, NewtonOptions(), **options)
        if getattr(integrator, "compile_seconds", 0.0):
            run.log.info("%s: compiled the fused Newton iteration in %.1f s", name, integrator.compile_seconds)
        trajectory, seconds = timed(run, integrator, integrator.initial_state(), config, name)
        arrays = trajectory.arrays()
        results[name] = (arrays, seconds, decoder.decode(arrays["displacements"]))
    euler_lagrange = [integrators[name] for name in ("neural_cubature", "neural_cubature_no_third_order")
                      if isinstance(integrators.get(name), EulerLagrangeEuler)]
    log_convergence(run, euler_lagrange or [EulerLagrangeEuler(integrators["neural_cubature"].model, third_order=third)
                                            for third in (True, False)], results["neural_cubature"][0], config)
    return results, sum(getattr(integrator, "compile_seconds", 0.0) for integrator in integrators.values())


def log_convergence(run, integrators: list, arrays: dict, config: Config) -> None:
    """Newton's residual sequence for one step during the tap (tolerance 1e-14), with and without
    the third-order decoder terms: quadratic against linear convergence, in the log."""
    k = max(1, min(arrays["times"].size - 1, round(0.5 * config.pulse_duration / config.dt)))
    q, v = arrays["displacements"][k], arrays["velocities"][k]
    state = State(float(arrays["times"][k]), q, v, (v - arrays["velocities"][k - 1]) / config.dt)
    for integrator in integrators:
        third_order = integrator.third_order
        integrator = copy.copy(integrator)               # the same (compiled) iteration, a tighter tolerance
        integrator.options = NewtonOptions(rtol=1e-14)
        try:
            _, result = integrator.step(state, config.dt)
            history = result.history
        except NewtonFailure as failure:
            history = f"failed ({failure})"
        run.log.info("Newton residuals at t = %.3f s, %s third-order terms: %s", state.time,
                     "with" if third_order else "without",
                     history if isinstance(history, str) else " ".join(f"{r:.2e}" for r in history))


def report(config: Config, run, beam, full, full_seconds, full_energy, results) -> dict:
    times, reference = full["times"], full["displacements"]
    reference_tip = beam.tip_displacement(reference)
    integrator = make_integrator(config.integrator, beam.body, LoadHistory(
        beam.gravity(config.gravity), beam.tip_force(config.tip_force), config.pulse_duration))
    # per step: the median (robust to other jobs on a shared machine) and the mean (total time / steps,
    # what a whole simulation costs, its hard steps included); each speed-up is against the same statistic
    metrics = {"full_seconds_per_step": float(np.median(full_seconds)),
               "full_seconds_per_step_mean": float(np.mean(full_seconds)),
               "full_newton_iterations_mean": float(full["newton_iterations"].mean()),
               "peak_tip_displacement_m": float(np.linalg.norm(reference_tip, axis=1).max()),
               "full_energy_final_J": float(full_energy[-1])}
    curves, errors = {}, {}
    for name, (arrays, seconds, decoded) in results.items():
        tip = beam.tip_displacement(decoded)
        error = trajectory_errors(reference, decoded, reference_tip, tip)
        velocities = np.vstack([np.zeros((1, decoded.shape[1])), np.diff(decoded, axis=0) / config.dt])
        energy = np.array([integrator.total_energy(t, u, v) for t, u, v in zip(times, decoded, velocities)])
        curves[name], errors[name] = (tip, energy, velocities), error
        metrics |= {f"{name}_{key}": value for key, value in error.items() if np.isscalar(value)} | {
            f"{name}_seconds_per_step": float(np.median(seconds)),
            f"{name}_speedup": float(np.median(full_seconds) / np.median(seconds)),
            f"{name}_seconds_per_step_mean": float(np.mean(seconds)),
            f"{name}_speedup_mean": float(np.mean(full_seconds) / np.mean(seconds)),
            f"{name}_newton_iterations_mean": float(arrays["newton_iterations"].mean()),
            f"{name}_newton_iterations_max": int(arrays["newton_iterations"].max()),
            f"{name}_energy_final_J": float(energy[-1]),
            f"{name}_relative_displacement_error_per_frame": error["relative_displacement_error"][::5].tolist()}
    metrics["neural_over_pca_tip_rms"] = metrics["neural_tip_rms_error_m"] / metrics["pca_tip_rms_error_m"]
    metrics["neural_cubature_over_pca_tip_rms"] = (metrics["neural_cubature_tip_rms_error_m"]
                                                   / metrics["pca_tip_rms_error_m"])
    write_outputs(config, run, beam, full, full_energy, reference_tip, results, curves, errors)
    return metrics


def write_outputs(config, run, beam, full, full_energy, reference_tip, results, curves, errors) -> None:
    times = full["times"]
    shown = ("pca", "neural", "neural_cubature")
    plot_time_series(run.dir / "tip.png", times, {
        f"tip u_{axis} [m]": {**{label(name): curves[name][0][:, k] for name in shown},
                              "full order": reference_tip[:, k]}
        for k, axis in ((1, "y"), (2, "z"))},
        title=f"{NAME}: held-out tap {config.tip_force} N, r = {config.latent_dim}, "
              f"{beam.body.n_free} dofs")
    plot_time_series(run.dir / "error.png", times, {
        "tip error [m]": {label(name): errors[name]["tip_error_m"] for name in shown},
        "‖u − u_full‖ / ‖u_full‖": {label(name): errors[name]["relative_displacement_error"] for name in shown},
        "energy E = T + Π − fᵀu [J]": {"full order": full_energy,
                                       **{label(name): curves[name][1] for name in shown}}},
        title=f"{NAME}: error against the full-order solution")
    write_fields_and_snapshots(config, run, beam, full, results, curves)
    if config.render:
        reason = rendering_unavailable()
        if reason is not None:
            run.log.warning("no render: %s", reason)
            return
        frame = int(np.argmax(np.linalg.norm(reference_tip, axis=1)))
        panels = {"full order": beam.body.field(full["displacements"][frame]),
                  **{label(name): beam.body.field(results[name][2][frame]) for name in ("pca", "neural_cubature")}}
        render_side_by_side(run.dir / "beam_rom.png", beam.mesh.points, beam.mesh.cells, panels,
                            title=f"t = {times[frame]:.2f} s (largest tip deflection)")


def label(name: str) -> str:
    return {"pca": "PCA-ROM", "neural": "neural ROM", "neural_cubature": "neural ROM + cubature",
            "pca_cubature": "PCA-ROM + cubature"}.get(name, name.replace("_", " "))


def write_fields_and_snapshots(config, run, beam, full, results, curves) -> None:
    """fields/<model>.pvd for the full and every reduced run; reduced_trajectories.h5 with all."""
    times = full["times"]
    frames = np.arange(0, times.size, max(config.vtu_every, 1))
    runs = {"full": (full["displacements"], full["velocities"], full["newton_iterations"])}
    runs |= {name: (decoded, curves[name][2], arrays["newton_iterations"])
             for name, (arrays, _, decoded) in results.items()}
    path = run.dir / "reduced_trajectories.h5"
    with SnapshotWriter(path, beam.mesh.points, beam.mesh.cells, beam.body.assembler.free_dofs,
                        {"dt": config.dt, "tip_force": list(config.tip_force),
                         "latent_dim": config.latent_dim}) as writer:
        for name, (u, v, iterations) in runs.items():
            nodal_u = np.stack([beam.body.field(x) for x in u])
            nodal_v = np.stack([beam.body.field(x) for x in v])
            writer.add(name, TrajectoryRecord(times, nodal_u, nodal_v, iterations))
            write_vtu_series(run.dir / "fields", name, beam.mesh.points, beam.mesh.cells, times[frames],
                             {"displacement": nodal_u[frames]})
    np.savez(run.dir / "latent_trajectories.npz",
             **{name: arrays["displacements"] for name, (arrays, _, _) in results.items()})
    run.log.info("wrote %s and fields/*.pvd", path)

"""Planted bugs, each with the fast tests that must catch it (run them with ``python -m tests.mutations.run``).

A mutation is one or more edits (file, search string, replacement) to a temporary copy of the
project; every search string must occur exactly once in its file. ``tests`` are pytest node ids
or paths; at least one of them must fail on the mutated copy. The first five are the audit of
issue 18, which passed the whole default suite before the tests named here existed.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str                                   # the kind of bug, in a few words
    edits: tuple[tuple[str, str, str], ...]    # (file, search, replacement)
    tests: tuple[str, ...]

    @property
    def file(self) -> str:
        return ", ".join(sorted({edit[0] for edit in self.edits}))


NEO_HOOKEAN = "hodphys/fem/material.py"

MUTATIONS = [
    Mutation(
        "request-flip",
        "per-sample v/w paired with the wrong samples in the shared request code",
        (("hodphys/request.py", "return t.expand(*batch_shape, features).reshape(-1, features)",
          "return t.expand(*batch_shape, features).reshape(-1, features).flip(0)"),),
        ("tests/test_api_reference.py",)),
    Mutation(
        "neo-hookean-volumetric-law",
        "a consistent but different volumetric law, λ/2 (J−1)² in energy, stress and elasticity",
        ((NEO_HOOKEAN, "+ 0.5 * self.lmbda * log_det**2)", "+ 0.5 * self.lmbda * det_minus_one**2)"),
         (NEO_HOOKEAN, "self.lmbda * np.log(det) * inverse_transpose",
          "self.lmbda * (det - 1) * det * inverse_transpose"),
         (NEO_HOOKEAN, "self.lmbda * np.log(det))", "self.lmbda * (det - 1) * det)"),
         (NEO_HOOKEAN, "+ self.lmbda * inverse_transpose[:, :, None, None]",
          "+ self.lmbda * (2 * det - 1) * det * inverse_transpose[:, :, None, None]")),
        ("tests/fem/test_material_closed_form.py", "tests/fem/test_felupe_agreement.py")),
    Mutation(
        "replay-reads-x-as-a-parameter",
        "x that is a model parameter is recorded as a parameter: replay ignores the x passed",
        (("hodphys/request.py", "x=x.reshape(-1, d),  # a view: never x itself", "x=x,"),
         ("hodphys/engines/analytic/replay.py", "if any(id(t) in parameters for t in inputs):", "if False:")),
        ("tests/analytic/test_replay.py::test_x_that_is_a_model_parameter_still_replays",)),
    Mutation(
        "figure-blank",
        "the PNG writer saves an empty figure",
        (("hodphys/io/figures.py", "lambda handle: fig.savefig(handle,",
          "lambda handle: type(fig)(figsize=fig.get_size_inches()).savefig(handle,"),),
        ("tests/io/test_figures.py",)),
    Mutation(
        "figure-ignores-the-losses",
        "the loss curve is drawn from constant values",
        (("hodphys/io/figures.py", "ax.semilogy(steps, losses, lw=1",
          "ax.semilogy(steps, [1.0] * len(steps), lw=1"),),
        ("tests/io/test_figures.py::test_loss_curve_follows_the_losses",)),
    Mutation(
        "hollownet-ignores-its-conditioner",
        "HollowNet.forward feeds zeros instead of the conditioner's h",
        (("hodphys/nn/hollow/net.py", "return self.transform(x, self.conditioner(x, extra), extra)",
          "return self.transform(x, 0 * self.conditioner(x, extra), extra)"),),
        ("tests/nn/test_hollownet.py::test_custom_conditioner_is_used",)),
    Mutation(
        "dim-derivatives-out-of-order",
        "value_and_dim_derivatives returns its orders reversed (a snippet shows them)",
        (("hodphys/engines/hollow/dim_derivatives.py",
          "[request.unflatten(o) for o in orders])", "[request.unflatten(o) for o in orders[::-1]])"),),
        ("tests/test_doc_snippets.py",)),
    Mutation(
        "tip-load-too-large",
        "the beam's tip traction integrates to 1 % more than the force asked",
        (("hodphys/fem/loads.py", "np.asarray(total_force, dtype=np.float64) / area)",
          "1.01 * np.asarray(total_force, dtype=np.float64) / area)"),),
        ("tests/fem/test_loads.py", "tests/fem/test_static.py")),
    Mutation(
        "beam-fom-static-metric",
        "the beam-fom problem reports the sag under 99 % of the weight",
        (("problems/beam_fom.py", "static = solve_static(beam.body, weight, load_steps=2)",
          "static = solve_static(beam.body, 0.99 * weight, load_steps=2)"),),
        ("tests/problems/test_beam_problems.py::test_beam_fom_static_sag_is_felupes_and_as_stiff_as_beam_theory_allows",)),
    Mutation(
        "lbfgs-short-memory",
        "L-BFGS keeps 3 curvature pairs instead of 50 (training still converges, less well)",
        (("hodphys/train/config.py", "lbfgs_history: int = 50", "lbfgs_history: int = 3"),),
        ("tests/problems/test_poisson_pinn.py::test_a_short_run_learns_and_records_its_errors",
         "tests/train/test_trainer.py::test_one_seed_gives_the_same_numbers_and_another_seed_does_not")),
    Mutation(
        "example-learning-rate",
        "the Laplacian-training example learns at a third of its rate",
        (("examples/train_with_laplacian.py", "lr=3e-3", "lr=1e-3"),),
        ("tests/test_examples.py::test_train_with_laplacian_learns",)),
]

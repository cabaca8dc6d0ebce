"""The speed of one PINN training step, written four ways, on the 8-output Poisson network.

A step is: the network on N interior points, Δu_k of all m outputs, the loss
L = mean (Δu − f)² + mean (u(x_b) − g)² on N_b boundary points, and ∇_θ L by backward. Only
the Laplacian differs between the contenders:

* ``hodphys``: ``hp.laplacian(model, x)`` (method "auto": the cheapest exact engine);
* ``torch.func``: the trace of ``vmap(hessian(f))``;
* ``DeepXDE-style loop``: ``torch.autograd.grad(..., create_graph=True)`` per output, then per
  input dimension (m·(1 + d) graph-building backward passes, as DeepXDE's users write it by hand);
* ``DeepXDE``: ``dde.grad.hessian(y, x, component=k, i=i, j=i)`` of DeepXDE itself (installed
  as the optional extra ``bench``; PyTorch backend), cleared after every step as ``dde.Model`` does.

Every contender returns the flat gradient ∇_θ L, so the harness checks they agree.
``python -m hodphys.bench.studies.pinn`` prints medians from one interleaved run, one thread.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import hessian, vmap

import hodphys as hp
from hodphys.metrics import relative_error
from hodphys.bench.references.deepxde import deepxde_available, deepxde_laplacian, deepxde_model_step
from hodphys.bench.timing import interleaved, summarize
from hodphys.pinn.problem import mlp

LaplacianFn = Callable[[nn.Module, Tensor], Tensor]  # (model, x (N, d)) → Δu (N, m), graph kept


def poisson_step_inputs(dtype: torch.dtype = torch.float32, n_interior: int = 2048, n_boundary: int = 512,
                        widths: tuple[int, ...] = (100,) * 5, outputs: int = 8, seed: int = 0):
    """(model, x, f, x_b, g): the 2 → widths → m tanh network and seeded points and targets."""
    torch.manual_seed(seed)
    model = mlp(2, list(widths), outputs, "tanh").to(dtype)
    generator = torch.Generator().manual_seed(seed + 1)
    x, x_b = (torch.rand(n, 2, generator=generator, dtype=torch.float64).to(dtype) for n in (n_interior, n_boundary))
    f, g = (torch.randn(n, outputs, generator=generator, dtype=torch.float64).to(dtype)
            for n in (n_interior, n_boundary))
    return model, x, f, x_b, g


def func_laplacian(model: nn.Module, x: Tensor) -> Tensor:
    """The trace of torch.func's per-sample Hessian, differentiable in the parameters."""
    return vmap(hessian(lambda s: model(s.unsqueeze(0)).squeeze(0)))(x).diagonal(dim1=-2, dim2=-1).sum(-1)


def loop_laplacian(model: nn.Module, x: Tensor) -> Tensor:
    """Δu_k = Σ_i ∂(∂u_k/∂x_i)/∂x_i by nested autograd.grad calls with create_graph."""
    x = x.detach().requires_grad_(True)
    y = model(x)
    columns = []
    for k in range(y.shape[1]):
        du = torch.autograd.grad(y[:, k].sum(), x, create_graph=True)[0]
        columns.append(sum(torch.autograd.grad(du[:, i].sum(), x, create_graph=True)[0][:, i]
                           for i in range(x.shape[1])))
    return torch.stack(columns, 1)


def laplacians() -> dict[str, LaplacianFn]:
    """The contenders' Laplacians (DeepXDE's only when it is installed)."""
    found: dict[str, LaplacianFn] = {"hodphys": lambda model, x: hp.laplacian(model, x),
                                     "torch.func": func_laplacian, "DeepXDE-style loop": loop_laplacian}
    if deepxde_available():
        found["DeepXDE"] = deepxde_laplacian
    return found


def training_step(laplacian: LaplacianFn, model: nn.Module, x: Tensor, f: Tensor, x_b: Tensor,
                  g: Tensor) -> Callable[[], Tensor]:
    """One step's work: loss from the Laplacian and the boundary, then ∇_θ L (flat)."""
    params = list(model.parameters())

    def step() -> Tensor:
        loss = (laplacian(model, x) - f).square().mean() + (model(x_b) - g).square().mean()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return torch.cat([(grad if grad is not None else torch.zeros_like(p)).reshape(-1)
                          for grad, p in zip(grads, params)])

    return step


def compare(dtypes: tuple[str, ...] = ("float32", "float64"), repeat: int = 5, warmup: int = 1,
            threads: int = 1, deepxde_model: bool = True, **sizes) -> list[dict]:
    """Median seconds per step of every contender, interleaved, per dtype; one row per contender.

    Each row: dtype, contender, median/q1/q3 seconds, ``slower`` = median / hodphys's median, and
    ``error`` = ‖∇_θL − ∇_θL_hodphys‖/‖∇_θL_hodphys‖ (None for DeepXDE's Model step, whose points differ).
    """
    torch.set_num_threads(threads)
    rows = []
    for name in dtypes:
        dtype = {"float32": torch.float32, "float64": torch.float64}[name]
        model, x, f, x_b, g = poisson_step_inputs(dtype, **sizes)
        contenders: dict[str, Callable[[], object]] = {
            label: training_step(fn, model, x, f, x_b, g) for label, fn in laplacians().items()}
        reference = contenders["hodphys"]()
        errors = {label: relative_error(step(), reference) for label, step in contenders.items()}
        if deepxde_model and deepxde_available():
            contenders["DeepXDE Model.train_step"] = deepxde_model_step(dtype, **sizes)
        times, _ = interleaved(contenders, repeat=repeat, warmup=warmup)
        base = summarize(times["hodphys"])["median"]
        for label, seconds in times.items():
            stats = summarize(seconds)
            rows.append({"dtype": name, "contender": label, **stats, "slower": stats["median"] / base,
                         "error": errors.get(label)})
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| dtype | contender | median s/step | q1–q3 | × hodphys time | rel. error of ∇θL |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        error = "—" if row["error"] is None else f"{row['error']:.1e}"
        lines.append(f"| {row['dtype']} | {row['contender']} | {row['median']:.3f} | "
                     f"{row['q1']:.3f}–{row['q3']:.3f} | {row['slower']:.1f} | {error} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time one PINN training step: hodphys vs torch.func vs "
                                     "a DeepXDE-style loop vs DeepXDE (interleaved, medians).")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", action="append", choices=["float32", "float64"])
    parser.add_argument("--no-deepxde-model", action="store_true", help="skip DeepXDE's Model.train_step")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = compare(tuple(args.dtype or ("float32", "float64")), args.repeat, args.warmup, args.threads,
                   not args.no_deepxde_model)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()

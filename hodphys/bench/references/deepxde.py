"""DeepXDE as its users write it (optional extra ``bench``; PyTorch backend): its ``dde.grad.hessian``
Laplacian and one ``dde.Model.train_step`` of the 8-output Poisson PINN, for :mod:`hodphys.bench.studies.pinn`.
DeepXDE is imported only when one of these is called."""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

import torch
from torch import Tensor, nn


def deepxde_available() -> bool:
    """Is DeepXDE installed? (It is imported with the PyTorch backend.)"""
    return importlib.util.find_spec("deepxde") is not None


def deepxde_laplacian(model: nn.Module, x: Tensor) -> Tensor:
    """Δu_k from DeepXDE's own ``dde.grad.hessian``, as a DeepXDE ``pde`` function computes it."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    dde.grad.clear()  # DeepXDE caches derivatives per (y, x); its Model clears them every step
    x = x.detach().requires_grad_(True)
    y = model(x)
    columns = [sum(dde.grad.hessian(y, x, component=k, i=i, j=i) for i in range(x.shape[1]))
               for k in range(y.shape[1])]
    return torch.cat(columns, 1)


def deepxde_model_step(dtype: torch.dtype = torch.float32, n_interior: int = 2048, n_boundary: int = 512,
                       widths: tuple[int, ...] = (100,) * 5, outputs: int = 8) -> Callable[[], None]:
    """One Adam step of a ``dde.Model`` of the 8-output Poisson problem, set up as the DeepXDE
    examples do: ``dde.grad.hessian`` per output in the ``pde`` function, one ``DirichletBC`` per
    output, ``num_domain``/``num_boundary`` points, ``compile("adam")``; the step is the model's own
    ``train_step`` on its training points (DeepXDE evaluates the PDE on all of them, BC copies too)."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde
    import numpy as np

    default = torch.get_default_dtype()
    dde.config.set_default_float("float64" if dtype == torch.float64 else "float32")
    k = np.arange(1, outputs + 1)

    def pde(x, y):
        x1, x2, kk = x[:, :1], x[:, 1:], torch.as_tensor(k, dtype=x.dtype)
        f = -kk**2 * (2 * torch.sin(kk * x1) * torch.sin(kk * x2) + (x1**2 + x2**2) * torch.cos(kk * x1 * x2))
        return [sum(dde.grad.hessian(y, x, component=j, i=i, j=i) for i in range(2)) - f[:, j:j + 1]
                for j in range(outputs)]

    def exact(j):  # DeepXDE reads the arity of a BC function: x only
        return lambda x: np.sin(k[j] * x[:, :1]) * np.sin(k[j] * x[:, 1:]) + np.cos(k[j] * x[:, :1] * x[:, 1:])

    geometry = dde.geometry.Rectangle([0, 0], [1, 1])
    bcs = [dde.icbc.DirichletBC(geometry, exact(j), lambda x, on: on, component=j) for j in range(outputs)]
    data = dde.data.PDE(geometry, pde, bcs, num_domain=n_interior, num_boundary=n_boundary)
    model = dde.Model(data, dde.nn.FNN([2, *widths, outputs], "tanh", "Glorot normal"))
    model.compile("adam", lr=1e-3)
    model.train_state.set_data_train(*data.train_next_batch())
    state = model.train_state
    torch.set_default_dtype(default)  # DeepXDE sets torch's default dtype globally
    return lambda: model.train_step(state.X_train, state.y_train, state.train_aux_vars)

"""Models and inputs for benchmark cases: seeded, in the case's dtype and on its device."""
from __future__ import annotations

from functools import partial
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

import hodphys as hp
from hodphys.bench.registry import BenchEnv

Thunk = Callable[[], Tensor]


def tanh_mlp(widths: Sequence[int], env: BenchEnv, seed: int = 0, trainable: bool = False) -> nn.Sequential:
    """``nn.Sequential`` of Linear layers widths[0] → … → widths[-1] with tanh between them.

    The weights are torch's default init, seeded. Unless ``trainable`` they do not require grad:
    the foundation cases measure derivative evaluation alone, so no contender records a graph
    for the parameters.
    """
    return mlp(widths, env, nn.Tanh, seed, trainable)


def mlp(widths: Sequence[int], env: BenchEnv, activation: Callable[[], nn.Module], seed: int = 0,
        trainable: bool = False) -> nn.Sequential:
    """:func:`tanh_mlp` with another activation between the Linear layers (e.g. ``nn.ELU``)."""
    if len(widths) < 2:
        raise ValueError(f"mlp: expected at least an input and an output width, got {list(widths)}")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(fan_in, fan_out))
    model = nn.Sequential(*layers).to(device=env.device, dtype=env.dtype)
    return model.requires_grad_(trainable)


def randn(env: BenchEnv, *shape: int, seed: int = 1) -> Tensor:
    """Standard normal samples of the given shape (seeded, reproducible across processes)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64).to(env.device, env.dtype)


def engine_contenders(call: Callable[[str], Tensor], model: nn.Module, x: Tensor, quantity: str,
                      **arguments) -> dict[str, Thunk]:
    """``hp[name]`` for every registered engine that serves the quantity, and ``hp[auto→chosen]``.

    call(method) computes the quantity through the public API; arguments are the quantity's own
    (``vs=…``, ``w=…``) as :func:`hodphys.explain` takes them. Engines registered later appear here
    without any change to the cases.
    """
    choice = hp.explain(model, x, quantity, **arguments)
    contenders = {f"hp[{name}]": partial(call, name) for name in hp.ENGINES if name in choice.costs}
    contenders[f"hp[auto→{choice.chosen}]"] = partial(call, "auto")
    return contenders

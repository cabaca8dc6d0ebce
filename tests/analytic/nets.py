"""Networks covering every layer type the analytic engine has a rule for (float64, seeded)."""
from __future__ import annotations

import torch
from torch import nn

import hodphys as hp
from tests.helpers import mixed_net


def build(kind: str, d: int, m: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    """kind: mlp, wide (d > first width: factored start), resnet, icnn, quadratic, mixed."""
    torch.manual_seed(seed)
    if kind == "mlp":
        model = hp.nn.MLP([d, 9, 7, m], activation=nn.Sigmoid())
    elif kind == "wide":
        model = hp.nn.MLP([d, 4, 6, m])
    elif kind == "resnet":
        model = hp.nn.ResNet(d, 6, 2, m, step=0.5, opening_activation=hp.nn.LogCosh())
    elif kind == "icnn":
        model = hp.nn.ICNN(d, [5, 4], rank=2)
    elif kind == "quadratic":
        model = nn.Sequential(nn.Linear(d, 6), hp.nn.Quadratic(), nn.Linear(6, 5), nn.Softplus(),
                              hp.nn.QuadraticLayer(5, 3))
    elif kind == "mixed":
        return mixed_net(d, m, seed, dtype)
    else:
        raise ValueError(kind)
    return model.to(dtype)


# (kind, d, m, batch shape): scalar-output kinds have m = 1; "wide" has d > 4 = its first width
CASES = [("mlp", 3, 2, (4,)), ("wide", 7, 2, (2, 3)), ("resnet", 3, 2, ()), ("icnn", 3, 1, (5,)),
         ("quadratic", 4, 1, (3,)), ("mixed", 2, 3, (4,)), ("wide", 9, 1, (3,))]

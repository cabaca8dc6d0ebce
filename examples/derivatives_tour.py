"""A tour of the public derivative API on an ordinary torch model.

    python examples/derivatives_tour.py
"""
import torch
from torch import nn

import hodphys as hp

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), hp.nn.ResidualBlock(32, nn.Softplus(), step=0.5),
                      nn.Linear(32, 2)).double()
x = torch.randn(64, 3, dtype=torch.float64)          # (*B, d) with B = (64,), d = 3; m = 2
v, w = torch.randn(3, dtype=torch.float64), torch.randn(2, dtype=torch.float64)

J = hp.jacobian(model, x)                            # (64, 2, 3)
H = hp.hessian(model, x)                             # (64, 2, 3, 3)
L = hp.laplacian(model, x)                           # (64, 2)     Σ_i ∂²f_k/∂x_i²
Hv = hp.hvp(model, x, v)                             # (64, 2, 3)  ∇²f_k · v
D3 = hp.directional(model, x, [v, v, v])             # (64, 2)     ∇³f[v, v, v]
G = hp.directional_grad(model, x, [v, v], w)         # (64, 3)     ∇ₓ(wᵀ ∇²f[v, v])
out = hp.derivatives(model, x, jacobian=True, laplacian=True)   # value, J and Δf in one pass

print(hp.explain(model, x, "hessian"))               # which engine "auto" picks, and why
reference = hp.hessian(model, x, method="autograd")  # torch.func, the reference
print("max |H - H_torch.func| =", (H - reference).abs().max().item())
assert torch.allclose(out.laplacian, L) and torch.allclose(out.jacobian, J)

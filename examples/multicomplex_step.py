"""Complex-step differentiation with multicomplex numbers: no subtractive cancellation.

Reproduces the idea of HoD-Net's Fig. 1 for f(x) = eˣ/(x² + 1) at x = 10: finite differences
lose digits as h shrinks, the complex step does not, and h = 0 is the exact multidual limit.

    python examples/multicomplex_step.py
"""
import math

import torch

from hodphys import elementwise
from hodphys.engines.multicomplex import MulticomplexTensor

x0 = torch.tensor([10.0], dtype=torch.float64)
exact = math.exp(10.0) * (10.0 - 1.0) ** 2 / (10.0 ** 2 + 1.0) ** 2    # f'(10)


def f(z):
    """Works on tensors and on MulticomplexTensors alike."""
    if isinstance(z, MulticomplexTensor):
        return z.apply(elementwise.Exp()) / (z * z + 1.0)
    return torch.exp(z) / (z * z + 1.0)


print(f"{'h':>8} {'forward FD':>12} {'central FD':>12} {'complex step':>13}")
for k in range(2, 40, 4):
    h = 2.0 ** -k
    forward = (f(x0 + h) - f(x0)) / h
    central = (f(x0 + h) - f(x0 - h)) / (2 * h)
    step = f(MulticomplexTensor.perturb(x0, [torch.ones(1, dtype=torch.float64)], h=h)).part(1)
    errors = [abs(float(t) - exact) / exact for t in (forward, central, step)]
    print(f"2^-{k:<5} {errors[0]:12.2e} {errors[1]:12.2e} {errors[2]:13.2e}")

# Third derivative from one order-3 perturbation; h = 0 is exact (multidual numbers).
z = MulticomplexTensor.perturb(x0, [torch.ones(1, dtype=torch.float64)] * 3, h=0.0)
third = f(z).part(1, 2, 3)
scalar_f = lambda t: f(t.reshape(1))[0]
reference = torch.func.grad(torch.func.grad(torch.func.grad(scalar_f)))(x0[0])
print("f'''(10):", third.item(), " torch.func:", reference.item())
assert abs(third.item() - reference.item()) <= 1e-12 * abs(reference.item())

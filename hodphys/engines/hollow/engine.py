"""The "hollow" engine: D_dim^k f and divergence of HollowNets with k backward passes.

It serves ``hp.dim_derivative`` and ``hp.divergence`` for :class:`hodphys.nn.HollowNet` and
``net.bind(t=…, context=…)``; every other model or quantity is left to the other engines (the
full Jacobian of a HollowNet still costs d passes, so nothing else is cheap here).
Per-sample t/context bound with ``bind`` are broadcast against the caller's batch shape.
"""
from __future__ import annotations

from torch import Tensor

from hodphys.engines.registry import register_engine
import torch

from hodphys.engines.hollow.dim_derivatives import DimDerivatives, dim_derivatives_flat, value_divergence_vjp_flat
from hodphys.nn.hollow.net import flat_extras, unpack
from hodphys.nn.hollow import BoundHollowNet, HollowNet
from hodphys.request import Request


class HollowEngine:
    """Dimension-wise derivatives through the transformer alone (HollowNets paper)."""

    name = "hollow"
    options: frozenset[str] = frozenset()

    def unsupported(self, request: Request) -> str | None:
        model = request.model
        if not isinstance(model, (HollowNet, BoundHollowNet)):
            return (f"the model is a {type(model).__name__}, not a hodphys.nn.HollowNet: only a "
                    f"HollowNet's structure (∂h_i/∂x_i = 0) makes D_dim cheap")
        if isinstance(model, HollowNet) and (model.time or model.context_features):
            return "this HollowNet takes a time/context input: pass model.bind(t=…, context=…)"
        return None

    def cost(self, request: Request) -> float:
        # one forward and k backward passes (a backward ≈ 2 forwards), in the autograd engine's
        # unit: one forward = N × (number of parameters)
        k = request.order if request.quantity == "dim_derivative" else 1
        params = sum(p.numel() for p in request.model.parameters())
        return (1 + 2 * k) * request.n_batch * max(params, request.d)

    def _derivatives(self, request: Request, k: int) -> DimDerivatives:
        net, t, context = unpack(request.call, request.model)
        extra = flat_extras(net, request.batch_shape, request.x, t, context)
        return dim_derivatives_flat(net, request.x, k, extra)

    def dim_derivative(self, request: Request) -> Tensor:
        return self._derivatives(request, request.order).orders[-1]

    def divergence(self, request: Request) -> Tensor | tuple[Tensor, ...]:
        """div f (N,); with "value" in ``request.want`` (f (N, d), div f) from the same pass; with a
        vector v in ``request.vectors`` (f, div f, vᵀ∂f/∂x (N, d)) from one backward pass when v has
        no zero entry (else (f, div f), and the front door adds the product)."""
        vectors = request.vectors
        if vectors and not torch.is_inference_mode_enabled() and bool((vectors[0] != 0).all()):
            net, t, context = unpack(request.call, request.model)
            extra = flat_extras(net, request.batch_shape, request.x, t, context)
            return value_divergence_vjp_flat(net, request.x, extra, vectors[0].expand_as(request.x))
        value, (diagonal,) = self._derivatives(request, 1)
        return (value, diagonal.sum(-1)) if "value" in request.want else diagonal.sum(-1)


register_engine(HollowEngine())

"""hessQuik twins: the same network as a hessQuik ``NN`` with identical weights (optional extra).

hessQuik (Newman & Ruthotto 2022) is the reference the analytic engine is compared with; it is
installed with ``pip install hodphys[bench]``. Its layers store K as (in, out) where torch stores
W = Kᵀ, and its "antiTanh" is log cosh + log 2: the twin carries that offset c through the
layers after it and absorbs it in their biases (b − W c), so every derivative is identical and
values differ by at most the constant.
"""
from __future__ import annotations

import importlib.util
import math

import torch
from torch import nn

from hodphys import elementwise
from hodphys.elementwise import elementwise_of
from hodphys.nn.compose import leaf_layers
from hodphys.nn.icnn import ICNNLayer, QuadraticICNNLayer, QuadraticLayer
from hodphys.nn.residual import ResidualBlock

_ACTIVATIONS = {elementwise.Tanh: "tanhActivation", elementwise.Sigmoid: "sigmoidActivation",
                elementwise.Softplus: "softplusActivation", elementwise.LogCosh: "antiTanhActivation",
                elementwise.Quadratic: "quadraticActivation", elementwise.Identity: "identityActivation"}


def available() -> bool:
    """Whether hessQuik is installed."""
    return importlib.util.find_spec("hessQuik") is not None


def _activation(module: nn.Module | None):
    import hessQuik.activations as act

    fn = elementwise.Identity() if module is None else elementwise_of(module)
    if type(fn) not in _ACTIVATIONS:
        raise ValueError(f"to_hessquik: hessQuik has no activation for {module!r}; it has tanh, sigmoid, "
                         f"softplus, log-cosh (antiTanh), quadratic and identity")
    if isinstance(fn, elementwise.Softplus):
        return act.softplusActivation(fn.beta, fn.threshold)
    return getattr(act, _ACTIVATIONS[type(fn)])()


def _copy(param: nn.Parameter, value: torch.Tensor) -> None:
    param.copy_(value)


def _twin(layer: nn.Module, activation: nn.Module | None, offset: torch.Tensor):
    """(hessQuik layer, offset its output carries): offset is hessQuik's feature minus ours."""
    import hessQuik.layers as lay

    kw = {"dtype": next(layer.parameters()).dtype}
    if isinstance(layer, nn.Linear):
        out = lay.singleLayer(layer.in_features, layer.out_features, act=_activation(activation), **kw)
        _copy(out.K, layer.weight.t())
        _copy(out.b, _bias(layer.bias, layer.weight.shape[0], kw) - layer.weight @ offset)
        anti = isinstance(_activation(activation), _anti_tanh())
        return out, torch.full((layer.out_features,), math.log(2.0) if anti else 0.0, **kw)
    if isinstance(layer, ResidualBlock):
        out = lay.resnetLayer(layer.in_features, h=layer.step, act=_activation(layer.activation), **kw)
        _copy(out.layer.K, layer.linear.weight.t())
        _copy(out.layer.b, layer.linear.bias - layer.linear.weight @ offset)
        if isinstance(_activation(layer.activation), _anti_tanh()):
            offset = offset + layer.step * math.log(2.0)
        return out, offset
    if bool(offset.any()):
        raise ValueError(f"to_hessquik: cannot absorb hessQuik's antiTanh offset into {type(layer).__name__}")
    return _structured_twin(layer, kw), offset


def _anti_tanh() -> type:
    import hessQuik.activations as act

    return act.antiTanhActivation


def _bias(bias: torch.Tensor | None, size: int, kw: dict) -> torch.Tensor:
    return torch.zeros(size, **kw) if bias is None else bias


def _structured_twin(layer: nn.Module, kw: dict):
    import hessQuik.layers as lay

    if isinstance(layer, ICNNLayer):
        out = lay.ICNNLayer(layer.input_dim, layer.hidden_in or None, layer.hidden_out,
                            act=_activation(layer.activation), **kw)
        _copy(out.K, layer.K.t())
        _copy(out.b, layer.b)
        if layer.L is not None:
            _copy(out.L, layer.L.t())
    elif isinstance(layer, QuadraticICNNLayer):
        out = lay.quadraticICNNLayer(layer.input_dim, layer.hidden_in or None, layer.rank, **kw)
        for name in ("v", "A", "mu") + (("w",) if layer.hidden_in else ()):
            _copy(getattr(out, name), getattr(layer, name))
    elif isinstance(layer, QuadraticLayer):
        out = lay.quadraticLayer(layer.in_features, layer.rank, **kw)
        for name in ("v", "A", "mu"):
            _copy(getattr(out, name), getattr(layer, name))
    else:
        raise ValueError(f"to_hessquik: hessQuik has no layer for {type(layer).__name__} ({layer!r})")
    return out


def _pairs(model: nn.Module) -> list[tuple[nn.Module, nn.Module | None]]:
    """Layers with the activation that follows a Linear (hessQuik's singleLayer is σ(K u + b))."""
    pairs: list[tuple[nn.Module, nn.Module | None]] = []
    for _, layer in leaf_layers(model):
        if elementwise_of(layer) is not None and pairs and isinstance(pairs[-1][0], nn.Linear) \
                and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], layer)
        elif elementwise_of(layer) is not None:
            raise ValueError(f"to_hessquik: an activation ({layer!r}) must follow an nn.Linear")
        else:
            pairs.append((layer, None))
    return pairs


def to_hessquik(model: nn.Module):
    """The hessQuik ``NN`` computing the same function (Linear + activation pairs become singleLayers)."""
    if not available():
        raise ImportError("to_hessquik needs hessQuik: pip install hessQuik (or hodphys[bench])")
    import hessQuik.networks as net

    pairs = _pairs(model)
    offset = torch.zeros(getattr(pairs[0][0], "in_features", 0), dtype=next(model.parameters()).dtype)
    layers = []
    with torch.no_grad():
        for layer, activation in pairs:
            twin, offset = _twin(layer, activation, offset)
            layers.append(twin)
    return net.NN(*layers)

"""HollowNet: a vector field f: R^d → R^d whose Jacobian is diagonal + hollow by construction.

    h_i = c_i(x_{−i}, s)          conditioner, never reads x_i   (hodphys.nn.hollow.conditioners)
    f_i = τ(x_i, h_i, s; e_i)     transformer, one MLP shared by all i with an embedding e_i

so ∂f_i/∂x_i = ∂τ/∂x_i (h held fixed) and every dimension-wise derivative
D_dim^k f = [∂^k f_i/∂x_i^k]_i takes k backward passes through τ alone (hodphys.engines.hollow).

The transformer is shared across dimensions (per-dimension first-layer embedding) rather than
per-dimension: the cost is the same (d·w² per sample either way), its parameters do not grow with
d, and every dimension's data trains the same weights; the conditioner's output h_i and the
embedding e_i already make τ different for each i.

s collects the optional inputs: a time t (scalar, (*B,) or (*B, 1)) and a context (q,) or (*B, q).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from hodphys.checks import check_integers
from hodphys.nn.hollow.conditioners import LeaveOneOutConditioner, MaskedConditioner
from hodphys.nn.hollow.dimensionwise import DimensionwiseMLP, check_activation

CONDITIONERS = {"sum": LeaveOneOutConditioner, "masked": MaskedConditioner}


class HollowNet(nn.Module):
    """f(x)_i = τ(x_i, c_i(x_{−i})): exact, cheap dimension-wise derivatives and divergence.

    Args:
        d: dimension; ``in_features == out_features == d``.
        hidden_features: c, the size of each h_i.
        conditioner: "sum" (leave-one-out DeepSets, O(d) per sample), "masked" (the paper's
            block-masked MLP, O(d²)), or a module mapping (x (*B, d), s (*B, q) | None) to
            (*B, d, c) with a ``features`` attribute; verify a custom one with
            :func:`hodphys.engines.hollow.check_hollow`.
        width: hidden width of the built-in conditioners.
        depth: number of hidden layers of the built-in conditioners.
        transformer_width: hidden width of τ.
        transformer_depth: number of hidden layers of τ.
        activation: a smooth elementwise activation module (default ``nn.Softplus()``).
        time: whether ``forward`` takes a time t.
        context_features: q, the size of a per-sample context (0: none).

    Shapes: x (*B, d) → (*B, d).

    Example::

        net = HollowNet(3, time=True)
        hp.divergence(net.bind(t=0.5), torch.randn(10, 3))   # (10,), one backward pass
    """

    def __init__(self, d: int, hidden_features: int = 16, conditioner: str | nn.Module = "sum",
                 width: int = 64, depth: int = 2, transformer_width: int = 64,
                 transformer_depth: int = 2, activation: nn.Module | None = None,
                 time: bool = False, context_features: int = 0):
        super().__init__()
        owner = f"HollowNet(d={d!r})"
        check_integers(owner, 1, d=d, hidden_features=hidden_features, width=width, depth=depth,
                       transformer_width=transformer_width, transformer_depth=transformer_depth)
        check_integers(owner, 0, context_features=context_features)
        activation = check_activation(owner, nn.Softplus() if activation is None else activation)
        self.in_features = self.out_features = d
        self.time, self.context_features = bool(time), context_features
        extra = int(self.time) + context_features
        self.conditioner = self._conditioner(owner, conditioner, hidden_features, width, depth,
                                             activation, extra)
        c = self.conditioner.features
        self.transformer = DimensionwiseMLP(d, 1 + c, transformer_width, 1, transformer_depth,
                                            activation, extra)

    def _conditioner(self, owner: str, conditioner: str | nn.Module, c: int, width: int,
                     depth: int, activation: nn.Module, extra: int) -> nn.Module:
        if isinstance(conditioner, nn.Module):
            if not isinstance(getattr(conditioner, "features", None), int):
                raise ValueError(f"{owner}: a custom conditioner needs an int attribute `features` "
                                 f"(c, the size of each h_i); {type(conditioner).__name__} has none")
            return conditioner
        if conditioner not in CONDITIONERS:
            raise ValueError(f"{owner}: unknown conditioner={conditioner!r}; expected one of "
                             f"{sorted(CONDITIONERS)} or an nn.Module")
        return CONDITIONERS[conditioner](self.in_features, c, width, depth, activation, extra)

    @property
    def d(self) -> int:
        return self.in_features

    def extras(self, batch_shape: torch.Size, like: Tensor, t: Any = None,
               context: Tensor | None = None) -> Tensor | None:
        """s = [t, context] broadcast to (*B, q') in like's dtype/device, or None when the net takes neither."""
        owner = f"HollowNet(d={self.d}{', time=True' if self.time else ''})"
        if self.time != (t is not None):
            raise ValueError(f"{owner}: " + ("forward needs a time t: call model(x, t) or bind it, "
                                             "model.bind(t=t)" if self.time else
                                             "this net takes no time input (build it with time=True)"))
        if (context is not None) != bool(self.context_features):
            raise ValueError(f"{owner}: " + (f"forward needs a context of shape (*B, {self.context_features})"
                                             if self.context_features else
                                             "this net takes no context (build it with context_features=q)"))
        parts = []
        if t is not None:
            parts.append(_time_feature(owner, t, batch_shape, like))
        if context is not None:
            parts.append(_context_features(owner, context, batch_shape, like, self.context_features))
        return torch.cat(parts, dim=-1) if parts else None

    def transform(self, x: Tensor, h: Tensor, extra: Tensor | None) -> Tensor:
        """f_i = τ(x_i, h_i, s; e_i): x (*B, d), h (*B, d, c), s (*B, q') or None → (*B, d)."""
        return self.transformer(torch.cat([x.unsqueeze(-1), h], dim=-1), extra).squeeze(-1)

    def forward(self, x: Tensor, t: Any = None, context: Tensor | None = None) -> Tensor:
        if x.ndim == 0 or x.shape[-1] != self.d:
            raise ValueError(f"HollowNet(d={self.d}): expected x[..., {self.d}], got x of shape {tuple(x.shape)}")
        extra = self.extras(x.shape[:-1], x, t, context)
        return self.transform(x, self.conditioner(x, extra), extra)

    def bind(self, t: Any = None, context: Tensor | None = None) -> BoundHollowNet:
        """This net with t and context fixed, as a module of x alone (for ``hp.*``); shares parameters."""
        return BoundHollowNet(self, t, context)

    def extra_repr(self) -> str:
        return f"d={self.d}, time={self.time}, context_features={self.context_features}"


def _time_feature(owner: str, t: Any, batch_shape: torch.Size, like: Tensor) -> Tensor:
    """t as a scalar, (*B,) or (*B, 1) → (*B, 1)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == len(batch_shape) + 1 and t.shape[-1] == 1:
        t = t.squeeze(-1)
    return _broadcast(owner, "t", t, batch_shape).unsqueeze(-1)


def _context_features(owner: str, context: Any, batch_shape: torch.Size, like: Tensor, q: int) -> Tensor:
    """context (q,) or (*B, q) → (*B, q)."""
    context = torch.as_tensor(context, dtype=like.dtype, device=like.device)
    if context.ndim == 0 or context.shape[-1] != q:
        raise ValueError(f"{owner}: expected context of shape (*B, {q}), got {tuple(context.shape)}")
    return _broadcast(owner, "context", context, batch_shape, (q,))


def _broadcast(owner: str, name: str, value: Tensor, batch_shape: torch.Size,
               trailing: tuple[int, ...] = ()) -> Tensor:
    """value broadcast to (*B, *trailing), or an error naming value's shape and x's batch shape."""
    try:
        return value.expand(*batch_shape, *trailing)
    except RuntimeError:
        raise ValueError(
            f"{owner}: {name} of shape {tuple(value.shape)} does not broadcast against the batch shape "
            f"{tuple(batch_shape)} of x (hp.* engines other than 'hollow' "
            f"evaluate the model one sample at a time, so bind per-sample values only with "
            f"method='hollow')"
        ) from None


class BoundHollowNet(nn.Module):
    """A HollowNet with its time and context fixed: x (*B, d) → (*B, d). Made by :meth:`HollowNet.bind`."""

    def __init__(self, net: HollowNet, t: Any = None, context: Tensor | None = None):
        super().__init__()
        self.net, self.t, self.context = net, t, context
        self.in_features = self.out_features = net.d

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x, self.t, self.context)


def unpack(call: str, model: nn.Module, t: Any = None,
           context: Tensor | None = None) -> tuple[HollowNet, Any, Tensor | None]:
    """The HollowNet inside model, with the time and context to evaluate it at."""
    if isinstance(model, BoundHollowNet):
        if t is not None or context is not None:
            raise ValueError(f"{call}: the model is a bound HollowNet (t and context fixed by bind); "
                             f"pass t/context to the unbound net instead")
        return model.net, model.t, model.context
    if isinstance(model, HollowNet):
        return model, t, context
    raise TypeError(f"{call}: expected a hodphys.nn.HollowNet (or net.bind(...)), got {type(model).__name__}")


def flat_extras(net: HollowNet, batch_shape: torch.Size, x: Tensor, t: Any,
                context: Tensor | None) -> Tensor | None:
    """The per-sample extras s broadcast to the caller's batch shape B, then flattened to (N, q')."""
    extra = net.extras(batch_shape, x, t, context)
    return None if extra is None else extra.reshape(-1, extra.shape[-1])

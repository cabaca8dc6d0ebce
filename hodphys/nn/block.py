"""The skip-plus-branch form y = S u + c + Q σ(K u + b) shared by hodphys's structured layers.

The residual block (S = I, Q = step), the ICNN layer, and the quadratic and quadratic-ICNN
output layers (σ(t) = t²/2, Q = 1ᵀ) are all this one form, so each derivative engine needs a
single rule for all of them: the layer states its matrices in :meth:`BranchBlock.branch`, and
:func:`propagate` / :func:`propagate_adjoint` compose the engine's own primitives
(``linear``, ``transposed_linear``, ``elementwise``, ``scale``, ``add``, ``add_activated``) in the order
the form dictates.

Glossary: u (*B, n_in) the layer input, z = K u + b (*B, k) the pre-activation, y (*B, n_out).
"""
from __future__ import annotations

from typing import Any, NamedTuple
from collections.abc import Callable

from torch import Tensor, nn

from hodphys.elementwise import ElementwiseFunction

Map = Tensor | float  # a matrix (out, in), or a scalar multiple of the identity


class Branch(NamedTuple):
    """y = skip·u + skip_bias + outer·σ(inner·u + inner_bias); a float map is c·I."""

    skip: Map  # S: (n_out, n_in) or a float
    skip_bias: Tensor | None  # c: (n_out,)
    inner: Tensor  # K: (k, n_in)
    inner_bias: Tensor | None  # b: (k,)
    function: ElementwiseFunction  # σ
    outer: Map  # Q: (n_out, k) or a float


class BranchBlock(nn.Module):
    """Base of layers of the form y = S u + c + Q σ(K u + b); subclasses implement :meth:`branch`.

    ``terminal = True`` marks an output layer (scalar, must come last in a network).
    """

    terminal: bool = False

    def branch(self) -> Branch:
        raise NotImplementedError


def _owner(cls: type, name: str) -> type | None:
    return next((k for k in cls.__mro__ if name in k.__dict__), None)


def follows_branch(module: BranchBlock) -> bool:
    """Whether the module's ``forward`` is the one written with its ``branch()``: a subclass that
    overrides ``forward`` alone (or ``branch`` alone) computes something its branch does not say."""
    cls = type(module)
    return _owner(cls, "forward") is _owner(cls, "branch")


def _apply_transposed(adjoint: Any, m: Map) -> Any:
    """Mᵀ ḡ (``transposed_linear``: the analytic adjoint does it in one matmul, no transposed view)."""
    return adjoint.scale(m) if isinstance(m, float) else adjoint.transposed_linear(m)


def propagate(state: Any, br: Branch) -> tuple[Any, Any]:
    """The form on any state with linear/elementwise/scale/add/add_activated; returns (y, z) (z kept
    for backward).

    A scalar Q rides on the final sum (``add_activated(z, σ, alpha=Q)`` = skip + Q·σ(z), which
    an engine may fuse: one op instead of two or three).
    """
    z = state.linear(br.inner, br.inner_bias)
    if isinstance(br.skip, float) and br.skip == 1.0 and br.skip_bias is None:
        skip = state
    else:
        skip = state.scale(br.skip) if isinstance(br.skip, float) else state.linear(br.skip, br.skip_bias)
    if isinstance(br.outer, float):
        return skip.add_activated(z, br.function, br.outer), z
    return skip.add(z.elementwise(br.function).linear(br.outer)), z


def propagate_adjoint(adjoint: Any, z: Any, br: Branch,
                      through_activation: Callable[[Any, Any, float], Any]) -> Any:
    """ḡ_u = Sᵀ ḡ_y + Kᵀ (σ′(z) ⊙ Qᵀ ḡ_y); the engine supplies (ḡ_a, z, q) ↦ ḡ_z = σ′(z) ⊙ q·ḡ_a.

    A scalar Q is handed over as q, for the engine to fold into the products it forms at σ
    anyway (one op less per layer); a matrix Q is applied first and q = 1.
    """
    if isinstance(br.outer, float):
        g_z = through_activation(adjoint, z, br.outer)
    else:
        g_z = through_activation(_apply_transposed(adjoint, br.outer), z, 1.0)
    g_u = _apply_transposed(g_z, br.inner)
    if isinstance(br.skip, float) and br.skip == 1.0:
        return adjoint.add(g_u)
    return _apply_transposed(adjoint, br.skip).add(g_u)

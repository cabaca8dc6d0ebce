"""The GEMMs of a traced plan, rewritten for frozen weights before Inductor compiles it (CPU).

A compiled plan (:meth:`hodphys.Plan.compile`) is an ATen graph traced by ``make_fx`` with the
model's weights baked in as constants. A linear layer reads its weight W (w_out, w) through a view,
``aten.t(W)``, which Inductor hands to MKL as a transposed operand. Here, on CPU:

* ``mm(rows, t(W))`` and ``addmm(b, rows, t(W))`` in float32 from the rows and multiply-adds at which
  the eager engines take oneDNN (:func:`hodphys.engines.kernels.takes_onednn`) become oneDNN's linear
  ``mkldnn._linear_pointwise(rows, W, b)`` — the same choice as eager, which a trace cannot make
  (no tensor is graph-free under ``make_fx``): 1.05–1.35× MKL at 640–10752 rows here (Inductor
  lowers it only for weights it holds as constants: compile with ``freezing``);
* every other ``t(W)`` becomes a contiguous copy of Wᵀ made once, as XLA lays out a jitted
  function's constants: a chain of seven 40 × 200 × 200 GEMMs 1.06–1.09× faster;
* except a weight that only single-row GEMMs read through ``t(W)`` (GEMVs, which stream W in either
  layout): it stays one tensor, W, so a reverse sweep that reads W itself (ḡ ↦ ḡ W) after the value
  sweep finds it in cache instead of a second copy — the 400 → 40 backward Jacobian 1.04× faster.

Values are the same products (float32 rounding of another kernel at most); the weights are the
ones traced (a compiled plan is frozen anyway).
"""
from __future__ import annotations

import torch
from torch import Tensor, fx

from hodphys.engines.kernels import onednn_linear, takes_onednn

aten = torch.ops.aten
_GEMMS = {aten.mm.default: 1, aten.addmm.default: 2}  # op → position of its right operand


def _constant(graph: fx.GraphModule, node: fx.Node) -> Tensor | None:
    """The tensor a get_attr node reads, or None for any other node."""
    if node.op != "get_attr":
        return None
    value = getattr(graph, str(node.target), None)
    return value if isinstance(value, Tensor) else None


def _as_onednn(graph: fx.GraphModule, gemm: fx.Node, transpose: fx.Node, weight: fx.Node) -> bool:
    """Replace ``gemm`` (rows @ t(W) [+ b]) by oneDNN's linear where eager would take it; whether it did."""
    if _GEMMS.get(gemm.target) != gemm.args.index(transpose) or gemm.kwargs or gemm.args.count(transpose) != 1:
        return False
    rows = gemm.args[0] if gemm.target is aten.mm.default else gemm.args[1]
    bias = None if gemm.target is aten.mm.default else gemm.args[0]
    value, w = rows.meta.get("val"), _constant(graph, weight)
    if not isinstance(value, Tensor) or w is None or not takes_onednn(value, w):
        return False
    if bias is not None and (_constant(graph, bias) is None or _constant(graph, bias).shape != (w.shape[0],)):
        return False
    with graph.graph.inserting_before(gemm):
        linear = graph.graph.call_function(onednn_linear(), (rows, weight, bias, "none", [], ""))
    linear.meta = dict(gemm.meta)
    gemm.replace_all_uses_with(linear)
    graph.graph.erase_node(gemm)
    return True


def _rows(gemm: fx.Node, transpose: fx.Node) -> int | None:
    """The rows of the left operand of a GEMM that reads ``transpose`` as its right operand only
    (None: another use, or rows not known)."""
    position = _GEMMS.get(gemm.target) if gemm.op == "call_function" else None
    if position is None or gemm.args.count(transpose) != 1 or gemm.args.index(transpose) != position:
        return None
    value = (gemm.args[0] if gemm.target is aten.mm.default else gemm.args[1]).meta.get("val")
    return value.shape[0] if isinstance(value, Tensor) and value.ndim == 2 else None


def _vector_only(graph: fx.GraphModule) -> set[str]:
    """The weights whose every ``t(W)`` is read by single-row GEMMs only (GEMVs)."""
    rows: dict[str, set[int | None]] = {}
    for node in graph.graph.nodes:
        if node.op == "call_function" and node.target is aten.t.default and node.args[0].op == "get_attr":
            rows.setdefault(str(node.args[0].target), set()).update(_rows(user, node) for user in node.users)
    return {weight for weight, counts in rows.items() if counts == {1}}


def frozen_gemms(graph: fx.GraphModule) -> fx.GraphModule:
    """``graph`` with its constant weights' GEMMs rewritten as the module doc says (in place; returned)."""
    contiguous: dict[str, str] = {}
    vector_only = _vector_only(graph)
    for node in list(graph.graph.nodes):
        if node.op != "call_function" or node.target is not aten.t.default:
            continue
        weight = node.args[0]
        w = _constant(graph, weight)
        if w is None or w.ndim != 2 or w.device.type != "cpu" or str(weight.target) in vector_only:
            continue
        for user in list(node.users):
            _as_onednn(graph, user, node, weight)
        if node.users:
            name = contiguous.get(str(weight.target))
            if name is None:
                name = contiguous[str(weight.target)] = f"{weight.target}_transposed"
                graph.register_buffer(name, w.t().contiguous())
            with graph.graph.inserting_before(node):
                node.replace_all_uses_with(graph.graph.get_attr(name))
        graph.graph.erase_node(node)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    return graph

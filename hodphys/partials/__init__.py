"""``hp.partials``: exactly the partial derivatives a PDE residual names, in one pass.

Glossary: N points, d inputs, m outputs. A spec names what the residual reads, by the names of
the inputs (default x, y, z for d ≤ 3, else x1 … xd) and outputs (default u for m = 1, else
u0 … u{m−1}):

    "u"          the value u(x)                     (N, 1)
    "u_t"        ∂u/∂t                             (N, 1)
    "u_xx"       ∂²u/∂x²;  "u_xy" = ∂²u/∂x∂y        (N, 1)
    "lap(u)"     Δu = Σ_i ∂²u/∂x_i² over every input but one named t    (N, 1)

Every entry is an (N, 1) column, so ``d["u_t"] + d["u"] * d["u_x"]`` stays (N, 1).

A residual linear in some partials may name the combination instead (``combos={"heat": {"u_t": 1.0,
"u_xx": -k}}``: one (N, 1) entry "heat"), which the jet carries as one row.

Three ways to compute them, ranked by the shared cost model when ``method="auto"``:

* ``"reverse"`` — batched reverse mode (``torch.autograd.grad`` of Σ_N u_k, one backward pass per
  output with first partials and one per Hessian row a second partial needs): cheapest when a
  residual reads a few first derivatives and few second ones;
* ``"jet"`` — a forward jet of exactly the named partials (value, the tangents they read, one row per
  second partial, Δ or combination: :mod:`hodphys.engines.analytic.named`), then ∇θ by one ordinary
  backward. The only way torch.compile can trace (reverse mode needs a double backward), so under
  ``torch.compile`` "auto" takes it whenever the network's layers have analytic rules;
* an engine of the registry (``hp.derivatives`` asks it for the value, the Jacobian and the
  Hessian or Laplacian in one sweep): cheapest for Laplacians in many inputs or many outputs.

:class:`hodphys.nn.HardConstraint` models u = g(x) + ℓ(x)·N(x) go to the engines, which serve them by
the product rule over N's derivatives (:mod:`hodphys.engines.constrained`), or to reverse mode.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from hodphys import engines
from hodphys.api import derivatives
from hodphys.engines import cost
from hodphys.engines.analytic import named
from hodphys.nn.transforms import HardConstraint
from hodphys.request import make_request
from hodphys.partials.spec import JET, REVERSE, Plan, default_names, parse

REVERSE_ROWS = (1.0, 1.5)  # rows a first / second-order backward pass pushes per sample (forward = 1), fitted
REVERSE_OPS = (2.0, 4.0)  # tensor ops per layer of a first / second-order backward pass, fitted


# --- reverse mode -----------------------------------------------------------------------------
def _grad(y: Tensor, x: Tensor, create_graph: bool) -> Tensor:
    """∂(Σ y)/∂x (N, d); zeros where y does not depend on x (a constant g or ℓ, say)."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    return torch.autograd.grad(y, x, create_graph=create_graph, allow_unused=True, materialize_grads=True)[0]


def _reverse(model: Callable[[Tensor], Tensor], x: Tensor, plan: Plan) -> dict[str, Tensor]:
    """Value, gradients and Hessian rows by batched torch.autograd.grad (samples are independent)."""
    keep_graph = torch.is_grad_enabled()
    need_second = bool(plan.second or plan.laplacian)
    with torch.enable_grad():
        xr = x if x.requires_grad else x.detach().requires_grad_(True)
        u = model(xr)
        grad_outputs = sorted({k for k, _ in plan.first} | {k for k, _, _ in plan.second} | set(plan.laplacian))
        grads = {k: _grad(u[:, k].sum(), xr, keep_graph or need_second) for k in grad_outputs}
        rows = {(k, i): _grad(grads[k][:, i].sum(), xr, keep_graph) for k, i in plan.hessian_rows()}
    out = {}
    for name, term in plan.terms.items():
        kind, k = term[0], term[1]
        if kind == "value":
            out[name] = u[:, k:k + 1]
        elif kind == "first":
            out[name] = grads[k][:, term[2]:term[2] + 1]
        elif kind == "second":
            i, j = term[2], term[3]
            row = rows[(k, i)][:, j] if (k, i) in rows else rows[(k, j)][:, i]
            out[name] = row.unsqueeze(1)
        else:
            out[name] = sum(rows[(k, i)][:, i] for i in plan.spatial).unsqueeze(1)
    return out if keep_graph else {k: v.detach() for k, v in out.items()}


def reverse_cost(model: nn.Module, n: int, d: int, plan: Plan) -> float:
    """The cost model's estimate for :func:`_reverse`: a forward row, 2 rows per first-order and 4 per
    second-order backward pass, and their tensor ops (same currency as the engines' costs)."""
    sizes = cost.network_sizes(model, d)
    passes_1 = len({k for k, _ in plan.first} | {k for k, _, _ in plan.second} | set(plan.laplacian))
    passes_2 = len(plan.hessian_rows())
    rows = 1 + REVERSE_ROWS[0] * passes_1 + REVERSE_ROWS[1] * passes_2
    ops = 2 + REVERSE_OPS[0] * passes_1 + REVERSE_OPS[1] * passes_2
    return cost.sweep(n, rows, sizes) + cost.launches(sizes, 1, ops)


# --- engines ------------------------------------------------------------------------------------
def _want(plan: Plan) -> dict[str, bool]:
    """The flags of hp.derivatives that cover the plan (the Hessian when Δ skips t or a 2nd partial is asked)."""
    everything = len(plan.spatial) == len(plan.inputs)
    hessian = bool(plan.second) or (bool(plan.laplacian) and not everything)
    return {"jacobian": bool(plan.first), "hessian": hessian, "laplacian": bool(plan.laplacian) and not hessian}


def _from_engine(model: nn.Module, x: Tensor, plan: Plan, method: str) -> dict[str, Tensor]:
    res = derivatives(model, x, method=method, **_want(plan))
    out = {}
    for name, term in plan.terms.items():
        kind, k = term[0], term[1]
        if kind == "value":
            column = res.value[:, k]
        elif kind == "first":
            column = res.jacobian[:, k, term[2]]
        elif kind == "second":
            column = res.hessian[:, k, term[2], term[3]]
        elif res.hessian is not None:
            column = sum(res.hessian[:, k, i, i] for i in plan.spatial)
        else:
            column = res.laplacian[:, k]
        out[name] = column.unsqueeze(1)
    return out


def engine_costs(model: nn.Module, x: Tensor, plan: Plan) -> dict[str, float]:
    """The registry's cost estimates for the one hp.derivatives call that covers the plan."""
    want = frozenset(k for k, on in _want(plan).items() if on)
    request = make_request("hp.partials(model, x, spec)", "derivatives", model, x, want=want)
    return dict(engines.choose(request).costs)


def jet_layout(plan: Plan) -> named.Layout:
    """The rows a forward jet carries for the plan (combinations collapsed into one row each)."""
    combos = {}
    for name, (_, spec) in plan.combos.items():
        firsts = tuple((term[2], c) for _, term, c in spec if term[0] == "first")
        seconds = [(term[2], term[3], c) for _, term, c in spec if term[0] == "second"]
        seconds += [(i, i, c) for _, term, c in spec if term[0] == "lap" for i in plan.spatial]
        combos[name] = (firsts, tuple(seconds))
    return named.layout(sorted({i for _, i in plan.first}), sorted({(i, j) for _, i, j in plan.second}),
                        bool(plan.laplacian), plan.spatial, combos)


def _jet(model: nn.Module, x: Tensor, plan: Plan, lay: named.Layout | None = None,
         rules: list | None = None) -> dict[str, Tensor]:
    """The plan's partials (and combinations) as columns of one forward jet (:mod:`~hodphys.engines.analytic.named`)."""
    lay = lay or jet_layout(plan)
    value, rows = named.named_jet(model, x, lay.tangents, lay.recipes, rules)
    keys = {"first": lambda t: ("first", t[2]), "second": lambda t: ("second", t[2], t[3]), "lap": lambda t: ("lap",)}
    out = {}
    for name, term in plan.terms.items():
        k = term[1]
        out[name] = value[:, k:k + 1] if term[0] == "value" else rows[lay.row[keys[term[0]](term)]][:, k:k + 1]
    for name, (k, _) in plan.combos.items():
        out[name] = rows[lay.row[("combo", name)]][:, k:k + 1]
    return out


def choose_method(model: nn.Module, x: Tensor, plan: Plan) -> tuple[str, dict[str, float]]:
    """The cheapest way (an engine, "reverse" or "jet") and every estimate. Under torch.compile only the
    jet can be traced (the others differentiate twice): it is the one choice there, if the layers allow."""
    compiling = torch.compiler.is_compiling()
    costs = {}
    if jet_supported(model):
        lay = jet_layout(plan)
        costs[JET] = named.jet_cost(model, x.shape[0], x.shape[1], len(lay.tangents), lay.recipes, compiling)
    if compiling and costs:
        return JET, costs
    expanded = plan.expanded() if plan.combos else plan
    costs.update(engine_costs(model, x, expanded))
    costs[REVERSE] = reverse_cost(model, x.shape[0], x.shape[1], expanded)
    return min(costs, key=costs.__getitem__), costs


def combined(plan: Plan, run: Callable[[Plan], dict[str, Tensor]]) -> dict[str, Tensor]:
    """``run`` on the plan, combinations summed from their parts (for the ways that cannot collapse)."""
    if not plan.combos:
        return run(plan)
    parts = run(plan.expanded())
    out = {name: parts[name] for name in plan.terms}
    for name, (_, spec) in plan.combos.items():
        out[name] = sum(named.coefficient(c) * parts[part] for part, _, c in spec)
    return out


def compute(model: nn.Module, x: Tensor, plan: Plan, method: str) -> dict[str, Tensor]:
    """The plan's partials with ``method`` ("auto", "reverse", "jet" or an engine name)."""
    if method == "auto":
        method = choose_method(model, x, plan)[0]
    if method == JET:
        return _jet(model, x, plan)
    return combined(plan, lambda p: _reverse(model, x, p) if method == REVERSE else _from_engine(model, x, p, method))


def jet_supported(model: nn.Module) -> bool:
    """Whether method="jet" covers the model (every layer has an analytic rule; no hard constraint),
    i.e. whether a loss on its partials can be traced by torch.compile."""
    return not isinstance(model, HardConstraint) and named.supports(model)


class PreparedPartials:
    """``hp.partials`` for one spec, parsed once, for a training loop: the choice of ``"auto"`` is kept per
    input shape, and under torch.compile the call is the bare jet over the layer rules an eager call
    compiled (nothing but tensor ops to trace: no cache of the rules, whose guards would not hold).

        prepared = PreparedPartials(["u", "u_x"], inputs=["x", "t"], outputs=["u"],
                                    combos={"c": {"u_t": 1.0, "u_xx": -nu}})
        f = prepared(model, x)        # as hp.partials(model, x, ["u", "u_x"], ..., combos=...)
    """

    def __init__(self, spec: Sequence[str], inputs: Sequence[str], outputs: Sequence[str], method: str = "auto",
                 combos: dict[str, dict[str, float | Tensor]] | None = None):
        self.plan = parse("hp.partials(model, x, spec)", spec, inputs, outputs, combos)
        self.layout, self.method, self.chosen = jet_layout(self.plan), method, {}
        self.rules: tuple[nn.Module, list] | None = None  # (model, its rules) from the last eager call

    def __call__(self, model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        if torch.compiler.is_compiling() and self.method in ("auto", JET) and not isinstance(model, HardConstraint):
            rules = self.rules[1] if self.rules is not None and self.rules[0] is model else None
            return _jet(model, x, self.plan, self.layout, rules)
        if jet_supported(model):
            self.rules = (model, named.compile_model(model))
        method = self.method
        if method == "auto":
            key = (tuple(x.shape), x.dtype)
            if key not in self.chosen:
                self.chosen[key] = choose_method(model, x, self.plan)[0]
            method = self.chosen[key]
        return compute(model, x, self.plan, method)


def partials(model: nn.Module, x: Tensor, spec: Sequence[str], inputs: Sequence[str] | None = None,
             outputs: Sequence[str] | None = None, method: str = "auto",
             combos: dict[str, dict[str, named.Coefficient]] | None = None) -> dict[str, Tensor]:
    """Exactly the partial derivatives a residual names, each an (N, 1) column, in one pass.

    ``spec`` e.g. ``["u", "u_t", "u_x", "u_xx", "lap(u)"]`` (see :mod:`hodphys.partials`); x is (N, d);
    ``inputs``/``outputs`` name x's columns and the model's outputs (default x, y, z / u).
    ``method``: "auto" (cheapest of reverse-mode autograd, the jet and the engines), "reverse", "jet" or
    an engine. ``combos`` {name: {partial: coefficient}}: linear combinations of one output's first and
    second partials (and lap), each returned as one more (N, 1) entry (the jet carries each as one row);
    a coefficient is a number, a 0-d tensor (it may train) or a callable returning one (read each call).
    """
    call = "hp.partials(model, x, spec)"
    request = make_request(call, "derivatives", model, x)
    if x.ndim != 2:
        raise ValueError(f"{call}: expected x of shape (N, d), got {tuple(x.shape)}")
    inputs = tuple(inputs) if inputs is not None else default_names("x", request.d, "xyz")
    outputs = tuple(outputs) if outputs is not None else default_names("u", request.m, "u")
    if len(inputs) != request.d or len(outputs) != request.m:
        raise ValueError(f"{call}: expected {request.d} input names and {request.m} output names, "
                         f"got inputs={list(inputs)}, outputs={list(outputs)}")
    if method not in ("auto", REVERSE, JET, *engines.ENGINES):
        raise ValueError(f"{call}: unknown method={method!r}; expected 'auto', 'reverse', 'jet' or one of "
                         f"{sorted(engines.ENGINES)}")
    return compute(model, x, parse(call, spec, inputs, outputs, combos), method)

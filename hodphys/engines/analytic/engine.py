"""The analytic engines: closed-form layer derivatives in forward mode and in backward mode.

Two engines share the rules, so ``hp.explain`` lists both and ``method="auto"`` weighs them:

* ``analytic-forward``: propagate value, tangents and second-order rows (hessQuik's forward
  mode with the (n, d, d, w) tensor replaced by R = p(p+1)/2 rows — all p² for tiny problems —,
  or by one Laplacian row; three directions add third-order rows);
  its cost grows with d.
* ``analytic-backward``: forward tangents plus an adjoint sweep; the Hessian and Laplacian are
  contractions over curvature sites (:mod:`hodphys.engines.analytic.adjoint`), hvp and
  wᵀ∇ⁿ⁺¹f[v…] reverse a one- or two-direction jet; its cost grows with m.
"""
from __future__ import annotations

import torch
from torch import Tensor

from hodphys.engines import kernels
from hodphys.engines.analytic import jet, replay, sweep
from hodphys.engines.analytic.cost import analytic_cost
from hodphys.engines.analytic.jet import OUTER, TRACE, Jet, Triples, Upper, use_outer
from hodphys.engines.analytic.rules import compile_model
from hodphys.nn.compose import run_adjoint
from hodphys.engines.registry import register_engine
from hodphys.request import Request


THIRD_ALONG = "derivatives(third_along=…) is computed by method='analytic-forward' or 'autograd'"


def _rules(request: Request) -> list:
    """The model's rules, keyed by the leaves the request walked once."""
    return compile_model(request.model, layers=request.layers)


def _batch(t: Tensor, n: int) -> Tensor:
    return t.expand(n, *t.shape[1:])


def _hessian_pairs(p: int, like: Tensor) -> tuple[Tensor, Tensor] | str:
    """All p² pairs for tiny problems (fewer ops), else the p(p+1)/2 upper ones (less arithmetic)."""
    return OUTER if use_outer(like.shape[0], p) else Upper(p, like.device)


def _mixed(request: Request) -> tuple[Tensor, Tensor] | None:
    """The one pair (0, 1) of a two-direction jet D²f[v₁, v₂]; None for one direction."""
    if len(request.vectors) != 2:
        return None
    index = torch.arange(2, device=request.x.device)
    return index[:1], index[1:]


def _index(values: list[int], like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=torch.long, device=like.device)


def _directional_jet(request: Request) -> tuple[tuple[Tensor, Tensor] | None, Triples | None]:
    """Pairs and triples of a jet for D^n f[v₁..vₙ], n ≤ 3: for n = 3 the pairs (0,1), (0,2), (1,2)
    and the triple (0, 1, 2), whose second-row partners bc, ac, ab are pairs 2, 1, 0."""
    if len(request.vectors) < 3:
        return _mixed(request), None
    x = request.x
    pairs = (_index([0, 0, 1], x), _index([1, 2, 2], x))
    return pairs, Triples(*(_index([i], x) for i in (0, 1, 2, 2, 1, 0)))


class _Analytic:
    options: frozenset[str] = frozenset()
    mode = ""
    max_order = {"directional": 0, "directional_grad": 0, "dim_derivative": 0}

    @property
    def name(self) -> str:
        return f"analytic-{self.mode}"

    def unsupported(self, request: Request) -> str | None:
        try:
            _rules(request)
        except NotImplementedError as err:
            return str(err)
        q = request.quantity
        order = len(request.vectors) if q.startswith("directional") else request.order
        if q in self.max_order and order > self.max_order[q]:
            return (f"{self.name} computes {q} up to order {self.max_order[q]} (σ, σ′, σ″, σ‴ in "
                    f"closed form); method='multicomplex' takes any order")
        if q in ("dim_derivative", "divergence") and request.m != request.d:
            return f"{q} needs m == d, the model has m={request.m}, d={request.d}"
        return None

    def cost(self, request: Request) -> float:
        return analytic_cost(request, _rules(request), self.mode)

    @staticmethod
    def cost_settings() -> tuple:
        """A replayed call is priced lower (:func:`~hodphys.engines.analytic.cost.analytic_cost`)."""
        return replay.ENABLED, replay.MAX_BATCH

    @staticmethod
    def replay_settings() -> tuple:
        """The size thresholds a recorded run took its branches by (:mod:`hodphys.engines.analytic.replay`)."""
        return (jet.MEMO_BYTES, jet.MEMO_TANGENTS, jet.OUTER_WORK, jet.LEAN_OUTER, jet.BLOCK_WORK, kernels.BIG_ROWS,
                kernels.ONEDNN_ROWS, kernels.ONEDNN_WORK, sweep.STACK_BYTES)

    def compute(self, request: Request) -> Tensor:
        """``request.quantity``; small batches replay a recording of the ops (:mod:`.replay`)."""
        def run() -> Tensor:
            return getattr(self, request.quantity)(request)

        if request.n_batch > replay.MAX_BATCH or request.options:
            return run()
        inputs = [request.x, *request.vectors, *([] if request.weight is None else [request.weight])]
        return replay.run(self._signature(request, inputs), request.model, inputs, run)

    def _signature(self, request: Request, inputs: list[Tensor]) -> tuple:
        """What a recorded run depends on besides the model (see :mod:`.replay`)."""
        first = {id(t): i for i, t in reversed(list(enumerate(inputs)))}  # which inputs are one tensor
        return (self.name, request.quantity, request.m, request.order, request.want, len(request.vectors),
                tuple((t.shape, t.dtype, t.device, t.requires_grad, t.is_inference(), first[id(t)])
                      for t in inputs),
                torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.get_default_dtype(),
                self.replay_settings())

    def divergence(self, request: Request) -> Tensor:
        return self.jacobian(request).diagonal(dim1=-2, dim2=-1).sum(-1)


class AnalyticForward(_Analytic):
    """Forward mode: every quantity from one forward sweep of a :class:`~hodphys.engines.analytic.jet.Jet`."""

    mode = "forward"
    max_order = {"directional": 3, "directional_grad": 1, "dim_derivative": 3}

    def _run(self, request: Request, pairs=None) -> tuple[sweep.Start, Jet]:
        s = sweep.start(request, _rules(request), trace=pairs == TRACE)
        if pairs == "triu":
            pairs = _hessian_pairs(s.directions.shape[0], s.x)
        return s, sweep.forward(s.rules, Jet.seed(s.x, s.directions, pairs))[0]

    def jacobian(self, request: Request) -> Tensor:
        s, out = self._run(request)
        return sweep.to_input(s, sweep.batch_first(out.tangents))

    @staticmethod
    def _hessian(s: sweep.Start, out: Jet) -> Tensor:
        """The second rows of the output (all pairs or the upper ones) as the Hessian in x's coordinates."""
        p = s.directions.shape[0]
        rows = out.second_rows()
        if out.pairs == OUTER:
            h = rows.unflatten(0, (p, p)).permute(2, 3, 0, 1)
        else:
            h = sweep.symmetric(rows, out.pairs, p)
        return sweep.hessian_to_input(s, h)

    def hessian(self, request: Request) -> Tensor:
        return self._hessian(*self._run(request, "triu"))

    def laplacian(self, request: Request) -> Tensor:
        return self._run(request, TRACE)[1].second_rows()[0]

    def hvp(self, request: Request) -> Tensor:
        """Tangents [W₁v or v, c_1..c_p] and pairs (0, j): rows D²f[v, c_j]."""
        s = sweep.start(request, _rules(request))
        v = s.lift(request.vectors[0])
        p, w = s.directions.shape
        tangents = torch.cat([v.unsqueeze(0), s.directions.unsqueeze(1).expand(p, v.shape[0], w)])
        pairs = (torch.zeros(p, dtype=torch.long, device=v.device), torch.arange(1, p + 1, device=v.device))
        out = sweep.forward(s.rules, Jet.seed(s.x, tangents, pairs))[0]
        return sweep.to_input(s, sweep.batch_first(out.second_rows()))

    def directional(self, request: Request) -> Tensor:
        tangents = torch.stack(torch.broadcast_tensors(*request.vectors))
        pairs, triples = _directional_jet(request)
        out = sweep.forward(_rules(request), Jet.seed(request.x, tangents, pairs, triples))[0]
        if triples is not None:
            return out.third_rows()[0]
        return out.tangents[0] if out.pairs is None else out.second_rows()[0]

    def directional_grad(self, request: Request) -> Tensor:
        """wᵀ∇²f·v = Σ_k w_k (∇²f_k·v) from the forward hvp."""
        hvp = self.hvp(request)
        return (request.weight.unsqueeze(-1) * hvp).sum(1)

    def dim_derivative(self, request: Request) -> Tensor:
        if request.order == 1:
            return self.jacobian(request).diagonal(dim1=-2, dim2=-1)
        d = request.d
        index = torch.arange(d, device=request.x.device)
        eye = torch.eye(d, dtype=request.x.dtype, device=request.x.device)
        triples = Triples(*(index,) * 6) if request.order == 3 else None  # (i, i, i), partners pair i
        out = sweep.forward(_rules(request), Jet.seed(request.x, eye, (index, index), triples))[0]
        rows = out.third_rows() if triples is not None else out.second_rows()
        return rows.diagonal(dim1=0, dim2=2)

    def derivatives(self, request: Request) -> dict[str, Tensor]:
        want = request.want
        if "third" in want:
            return self._with_third(request)
        pairs = "triu" if "hessian" in want else TRACE if "laplacian" in want else None
        s, out = self._run(request, pairs)
        result = {"value": out.value}
        if "jacobian" in want:
            result["jacobian"] = sweep.to_input(s, sweep.batch_first(out.tangents))
        if "hessian" in want:
            result["hessian"] = h = self._hessian(s, out)
            if "laplacian" in want:
                result["laplacian"] = h.diagonal(dim1=-2, dim2=-1).sum(-1)
        elif "laplacian" in want:
            result["laplacian"] = out.second_rows()[0]
        return result

    def _with_third(self, request: Request) -> dict[str, Tensor]:
        """The value, J, H (and Δf) and T = ∇³f[v, v, ·] from one jet: tangents [c_1..c_p, v], pairs
        (a ≤ b < p) when H or Δf is asked, then (v, c_j) and (v, v); triples (v, v, c_j), whose
        partners are the pairs (v, c_j), (v, c_j), (v, v). T in start coordinates maps back like J."""
        want = request.want
        s = sweep.start(request, _rules(request))
        p, w = s.directions.shape
        v = s.lift(request.vectors[0])
        x = s.x
        tangents = torch.cat([s.directions.unsqueeze(1).expand(p, v.shape[0], w), v.unsqueeze(0)])
        upper = torch.triu_indices(p, p, device=x.device) if want & {"hessian", "laplacian"} \
            else x.new_zeros((2, 0), dtype=torch.long)
        r = upper.shape[1]
        last, columns = torch.full((p + 1,), p, device=x.device), torch.arange(p + 1, device=x.device)
        pairs = (torch.cat([upper[0], last]), torch.cat([upper[1], columns]))   # …, (v, c_j), (v, v)
        mixed = torch.arange(r, r + p, device=x.device)
        triples = Triples(last[:p], last[:p], columns[:p], mixed, mixed, torch.full((p,), r + p, device=x.device))
        out = sweep.forward(s.rules, Jet.seed(x, tangents, pairs, triples))[0]
        result = {"value": out.value, "third": sweep.to_input(s, sweep.batch_first(out.third_rows()))}
        if "jacobian" in want:
            result["jacobian"] = sweep.to_input(s, sweep.batch_first(out.tangents[:p]))
        if r:
            h = sweep.hessian_to_input(s, sweep.symmetric(out.second_rows()[:r], (upper[0], upper[1]), p))
            if "hessian" in want:
                result["hessian"] = h
            if "laplacian" in want:
                result["laplacian"] = h.diagonal(dim1=-2, dim2=-1).sum(-1)
        return result


class AnalyticBackward(_Analytic):
    """Backward mode: adjoint sweeps with m seeds (or one weighted seed)."""

    mode = "backward"
    max_order = {"directional": 0, "directional_grad": 2, "dim_derivative": 0}

    def unsupported(self, request: Request) -> str | None:
        if "third" in request.want:
            return THIRD_ALONG
        return super().unsupported(request)

    def _value_and_jacobian(self, request: Request) -> tuple[Tensor, Tensor]:
        """f (N, m) and J (N, m, d): one value sweep, m adjoint seeds."""
        rules = _rules(request)
        out, saved = sweep.forward(rules, Jet.seed(request.x, None), save=True)
        back, seeds = sweep.output_seeds(rules, request.m, request.x)
        del saved[len(back):]  # a closing linear layer's (it keeps nothing)
        rows = run_adjoint(back, saved, seeds).rows
        if rows is seeds.rows:  # rules that all passed the adjoint on as is: not a view of W to the caller
            rows = rows.clone()
        return out.value, _batch(rows[:, 0].transpose(0, 1), request.n_batch)  # (N, m, d)

    def jacobian(self, request: Request) -> Tensor:
        return self._value_and_jacobian(request)[1]

    def hessian(self, request: Request) -> Tensor:
        s = sweep.start(request, _rules(request))
        return sweep.hessian_to_input(s, sweep.curvature(s, request.m, hessian=True, output=False)[1])

    def laplacian(self, request: Request) -> Tensor:
        s = sweep.start(request, _rules(request), trace=True)
        return sweep.curvature(s, request.m, hessian=False, output=False)[1]

    def _reverse(self, request: Request, weights: Tensor) -> Tensor:
        """∇ₓ of the top jet row seeded by weights (S, m) or (S, N, m): (N, S, d)."""
        vs = request.vectors
        pairs = _mixed(request)
        tangents = torch.stack(torch.broadcast_tensors(*vs))
        rules = _rules(request)
        out, saved = sweep.forward(rules, Jet.seed(request.x, tangents, pairs), save=True)
        k = out.n_rows
        if pairs is not None and not out.has_second:  # f is affine in x: ∇³f = 0
            return request.x.new_zeros((request.n_batch, weights.shape[0], request.d))
        grad = run_adjoint(rules, saved, sweep.seeds(weights, k, k - 1)).rows[:, 0]  # (S, N, d)
        return _batch(grad.transpose(0, 1), request.n_batch)

    def hvp(self, request: Request) -> Tensor:
        m = request.m
        return self._reverse(request, torch.eye(m, dtype=request.x.dtype, device=request.x.device))

    def directional_grad(self, request: Request) -> Tensor:
        return self._reverse(request, request.weight.unsqueeze(0))[:, 0]

    def derivatives(self, request: Request) -> dict[str, Tensor]:
        want = request.want
        if not want & {"hessian", "laplacian"}:  # the value from the rules, like every other path
            if "jacobian" not in want:
                return {"value": sweep.forward(_rules(request), Jet.seed(request.x, None))[0].value}
            value, jacobian = self._value_and_jacobian(request)
            return {"value": value, "jacobian": jacobian}
        s = sweep.start(request, _rules(request), trace="hessian" not in want)
        out, curvature = sweep.curvature(s, request.m, hessian="hessian" in want)
        result = {"value": out.value}
        if "jacobian" in want:
            result["jacobian"] = sweep.to_input(s, sweep.batch_first(out.tangents))
        if "hessian" in want:
            result["hessian"] = sweep.hessian_to_input(s, curvature)
            if "laplacian" in want:
                result["laplacian"] = result["hessian"].diagonal(dim1=-2, dim2=-1).sum(-1)
        else:
            result["laplacian"] = curvature
        return result


register_engine(AnalyticForward())
register_engine(AnalyticBackward())

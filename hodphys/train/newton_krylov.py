"""HoD-Net Newton–Krylov training (Algorithm 1 of the HoD-Net paper), for fine-tuning.

One :meth:`NewtonKrylov.step` is one pass over the minibatches B_1 … B_n of the loss f:

1. the global gradient g = (1/n) Σ_i ∇f_i at the start of the pass;
2. for each minibatch: its local gradient g_i; a minibatch whose g_i · g < 0 disagrees with the
   global descent direction and is skipped;
3. otherwise the Newton system H_i Δw = −g_i is solved by conjugate gradients, warm-started at
   the previous Δw, on Hessian-vector products H_i p; CG stops early on negative curvature
   (pᵀH_i p < 0) and treats near-flat curvature (0 ≤ κ < 1e-8) as κ = 0.01‖p‖;
4. the step size γ is adjusted until η = f_i(w + γΔw)/f_i(w) lies in [η̃/2, η̃]
   (halving when η > η̃, stretching by 1.5 when η < η̃/2), and w ← w + γΔw.

Hessian-vector products are CSFD-BP in its exact multidual (h → 0) limit: the parameters get a
dual perturbation along p, the loss and its backward pass run on dual numbers, and the dual
part of the gradient is H p (``torch.func.jvp`` of ``torch.func.grad``) — one call gives g_i
and H_i Δw̃ together, as the paper's "⟨∇f, h⟩ ← CSFDBP(w, Δw)". Deviations from the paper's
listing, for robustness: CG uses the textbook α = ‖r‖²/κ; a Δw that is not a descent
direction for f_i is replaced by −g_i; the step-size search is capped at
``line_search_steps`` trials and keeps the best decrease found (γ = 0 when none).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp
from torch.nn.utils import parameters_to_vector, vector_to_parameters

LossFn = Callable[[nn.Module, int], Tensor]  # (model, minibatch index) → scalar loss


class _LossOf(nn.Module):
    """f_i as a module of the model's parameters, so torch.func can perturb them."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, index: int) -> Tensor:
        return self.loss_fn(self.model, index)


class NewtonKrylov(torch.optim.Optimizer):
    """Algorithm 1 on the parameters of ``model``; ``step(loss_fn, n_batches)`` is one pass.

    Args:
        model: the network; its parameters are updated in place.
        cg_iters: CG iterations per minibatch.
        cg_tol: CG stops when ‖r‖ ≤ cg_tol · ‖g_i‖.
        target: η̃ of the step-size rule (the accepted loss ratio f(w + γΔw)/f(w)).
        line_search_steps: at most this many step sizes are tried.
        reduce: averages a tensor over data-parallel ranks (identity in one process).
    """

    def __init__(self, model: nn.Module, cg_iters: int = 20, cg_tol: float = 1e-2, target: float = 0.9,
                 line_search_steps: int = 8, reduce: Callable[[Tensor], Tensor] | None = None):
        if cg_iters < 1 or not 0 < target < 1 or cg_tol <= 0:
            raise ValueError(f"NewtonKrylov: expected cg_iters ≥ 1, 0 < target < 1 and cg_tol > 0, "
                             f"got cg_iters={cg_iters}, target={target}, cg_tol={cg_tol}")
        self.model = model
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = [p for p in model.parameters() if p.requires_grad]
        super().__init__(params, dict(cg_iters=cg_iters, cg_tol=cg_tol, target=target,
                                      line_search_steps=line_search_steps))
        self.reduce = reduce or (lambda t: t)

    # --- state kept across passes (saved in state_dict) ---------------------------------------
    @property
    def _state(self) -> dict:
        return self.state[self.param_groups[0]["params"][0]]

    def _vector(self) -> Tensor:
        return parameters_to_vector(self.param_groups[0]["params"]).detach()

    def _set(self, vector: Tensor) -> None:
        with torch.no_grad():
            vector_to_parameters(vector, self.param_groups[0]["params"])

    # --- CSFD-BP: gradient and Hessian-vector product in one dual-number pass -----------------
    def gradient_and_hvp(self, loss_fn: LossFn, index: int, direction: Tensor) -> tuple[Tensor, Tensor]:
        """(∇f_i(w), ∇²f_i(w)·direction) as flat vectors, averaged over ranks."""
        module = _LossOf(self.model, loss_fn)
        params = self.param_groups[0]["params"]
        primal = {f"model.{n}": p.detach() for n, p in zip(self.names, params)}
        tangent = dict(zip(primal, direction.split([p.numel() for p in params])))
        tangent = {k: v.view_as(primal[k]) for k, v in tangent.items()}
        gradient, product = jvp(grad(lambda w: functional_call(module, w, (index,))), (primal,), (tangent,))
        flat = [torch.cat([t[k].reshape(-1) for k in primal]) for t in (gradient, product)]
        return self.reduce(flat[0]), self.reduce(flat[1])

    def _loss(self, loss_fn: LossFn, index: int) -> float:
        with torch.no_grad():
            return float(self.reduce(loss_fn(self.model, index).detach()))

    def _gradient(self, loss_fn: LossFn, index: int) -> Tensor:
        params = self.param_groups[0]["params"]
        grads = torch.autograd.grad(loss_fn(self.model, index), params, allow_unused=True)
        return self.reduce(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                      for g, p in zip(grads, params)]))

    # --- the three parts of one minibatch update ----------------------------------------------
    def _conjugate_gradients(self, loss_fn: LossFn, index: int, dw: Tensor, g: Tensor, h: Tensor) -> Tensor:
        """CG on H_i Δw = −g_i from Δw = dw (with h = H_i dw); returns a descent direction Δw."""
        group, state = self.param_groups[0], self._state
        r = -(g + h)
        p, rr = r.clone(), r.dot(r)
        stop = group["cg_tol"] ** 2 * g.dot(g)
        for _ in range(group["cg_iters"]):
            if rr <= stop:
                break
            q = self.gradient_and_hvp(loss_fn, index, p)[1]
            kappa = p.dot(q)
            state["cg_iterations"] = state.get("cg_iterations", 0) + 1
            if kappa < 0:  # negative curvature: the quadratic model has no minimum along p
                state["negative_curvature"] = state.get("negative_curvature", 0) + 1
                break
            if kappa < 1e-8:  # locally flat: move on with a fixed, momentum-like step
                kappa = 0.01 * p.norm()
            alpha = rr / kappa
            dw = dw + alpha * p
            r = r - alpha * q
            rr_next = r.dot(r)
            p = r + (rr_next / rr) * p
            rr = rr_next
        return dw if dw.dot(g) < 0 else -g  # not a descent direction for f_i: steepest descent

    def _step_size(self, loss_fn: LossFn, index: int, w: Tensor, dw: Tensor) -> float:
        """γ with η(γ) = f_i(w + γΔw)/f_i(w) in [η̃/2, η̃], else the best decrease tried (or 0)."""
        target, tries = self.param_groups[0]["target"], self.param_groups[0]["line_search_steps"]
        base = self._loss(loss_fn, index)
        gamma, best = 1.0, (1.0, 0.0)  # (ratio, γ) of the best trial; γ = 0 keeps w
        for _ in range(tries):
            self._set(w + gamma * dw)
            ratio = self._loss(loss_fn, index) / base
            if ratio < best[0]:
                best = (ratio, gamma)
            if 0.5 * target <= ratio <= target or (ratio <= target and gamma == 1.0):
                return gamma  # the full Newton step is taken whenever it decreases f_i enough
            gamma *= 0.5 if not ratio < 0.5 * target else 1.5
        return best[1]

    @torch.no_grad()
    def step(self, loss_fn: LossFn, n_batches: int) -> float:  # type: ignore[override]
        """One pass of Algorithm 1 over minibatches 0 … n_batches−1; returns the mean loss after it."""
        state = self._state
        with torch.enable_grad():
            global_gradient = sum(self._gradient(loss_fn, i) for i in range(n_batches)) / n_batches
        for index in range(n_batches):
            warm = state.get("warm_start", torch.zeros_like(global_gradient))
            with torch.enable_grad():
                local, h = self.gradient_and_hvp(loss_fn, index, warm)  # ∇f_i and H_i Δw̃ in one pass
                if local.dot(global_gradient) < 0:  # this minibatch pulls against the others
                    state["skipped"] = state.get("skipped", 0) + 1
                    continue
                dw = self._conjugate_gradients(loss_fn, index, warm.clone(), local, h)
            w = self._vector()
            gamma = self._step_size(loss_fn, index, w, dw)
            self._set(w + gamma * dw)
            state["warm_start"] = dw
        state["passes"] = state.get("passes", 0) + 1
        return sum(self._loss(loss_fn, i) for i in range(n_batches)) / n_batches

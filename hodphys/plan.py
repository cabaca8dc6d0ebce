"""``hp.plan``: check a derivative call and choose its engine once, then repeat it cheaply.

A Newton iteration, an ODE right-hand side or a time step asks for the same quantity of the same
model at the same shapes thousands of times. At batch 1 the front door's work around the engine —
checking the inputs, flattening them, looking up the ``auto`` choice, the memory estimate — is
30–90 µs of a 100–400 µs call. A plan does it once:

    step = hp.plan(model, x, "derivatives", jacobian=True, laplacian=False, hessian=True)
    out = step(x_new)      # == hp.derivatives(model, x_new, jacobian=True, laplacian=False, hessian=True)
    third = hp.plan(model, x, "directional_grad", vs=[v, v], w=w)
    rows = third(x_new, vs=[v_new, v_new], w=w_new)   # tensors not passed are the planned ones

The arguments are :func:`hodphys.explain`'s (the quantity's own, by name) plus ``method`` and engine
options. Making a plan runs the call once (the public function's own checks and errors, the engine
choice, warm-up); each later call checks only that every tensor has the planned shape, dtype and
device (a ValueError says which one does not) and that the model's layers, parameter dtype and
device are what they were (else it plans again). Results are the very tensors the public call
returns: same engine, same request, same autograd graph.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from hodphys import api, engines
from hodphys.engines.traced import frozen_gemms
from hodphys.nn.compose import leaf_structure
from hodphys.request import Request, _first_parameter as first_parameter  # the cheap walk make_request uses

TENSOR_ARGUMENTS = ("v", "vs", "w", "third_along")


def _layout(t: Tensor) -> tuple:
    return t.shape, t.dtype, t.device


def _describe(layout: tuple) -> str:
    shape, dtype, device = layout
    return f"shape {tuple(shape)}, {dtype} on {device}"


def _flattener(t: Tensor, batch_shape: tuple, features: int):
    """How make_request flattened the planned t: (features,)-like → (1, f), batched → (N, f)."""
    if all(s == 1 for s in t.shape[:-1]):
        return lambda u: u.reshape(1, features)
    return lambda u: u.expand(*batch_shape, features).reshape(-1, features)


class Plan:
    """A checked, engine-resolved ``hp.<quantity>`` call for fixed shapes; call it with new tensors."""

    def __init__(self, model: nn.Module, x: Tensor, quantity: str, method: str, arguments: dict[str, Any],
                 options: dict[str, Any]) -> None:
        self.model, self.quantity, self.method = model, quantity, method
        self.arguments, self.options = dict(arguments), dict(options)
        self.call = f"hp.plan(model, x, {quantity!r})"
        self._prepare(x)

    def _prepare(self, x: Tensor) -> None:
        """Check everything as the public call does, choose the engine, remember the layouts."""
        options = dict(self.options)
        options.pop("max_memory", None)  # checked by the public call below, for these shapes
        template = api.request_for(self.call, self.quantity, self.model, x, self.arguments, options)
        getattr(api, self.quantity)(self.model, x, method=self.method, **self.arguments, **self.options)
        engine = engines.resolve(template, self.method)
        self.engine_name = engine.name
        self._engine = getattr(engine, "compute", None) or getattr(engine, self.quantity)
        self._template = template
        self._model_key = self._model_state()
        self._x_layout = _layout(x)
        planned = self._tensors(self.arguments)
        self._layouts = {name: [_layout(t) for t in ts] for name, ts in planned.items()}
        self._flatten = {name: [_flattener(t, template.batch_shape, template.d if name != "w" else template.m)
                                for t in ts] for name, ts in planned.items()}
        self._planned = planned

    def _model_state(self) -> tuple:
        first = first_parameter(self.model)
        return (leaf_structure(self.model), None if first is None else (first, first.dtype, first.device))

    @staticmethod
    def _tensors(arguments: dict[str, Any]) -> dict[str, list[Tensor]]:
        """The tensor arguments by name, each as a list (vs has several)."""
        out = {}
        for name in TENSOR_ARGUMENTS:
            value = arguments.get(name)
            if value is not None:
                out[name] = list(value) if name == "vs" else [value]
        return out

    def _check(self, what: str, t: Any, layout: tuple) -> None:
        if not isinstance(t, Tensor) or _layout(t) != layout:
            got = _describe(_layout(t)) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{self.call}: planned for {what} of {_describe(layout)}, got {got}; "
                             f"make a new plan for other shapes, dtypes or devices")

    def _given(self, tensors: dict[str, Any]) -> dict[str, list[Tensor]]:
        unknown = set(tensors) - set(self._layouts)
        if unknown:
            raise TypeError(f"{self.call}: a call takes x and {sorted(self._layouts) or 'nothing else'}; "
                            f"got unknown {sorted(unknown)}")
        given = self._planned | {name: list(value) if name == "vs" else [value] for name, value in tensors.items()}
        for name, ts in given.items():
            if len(ts) != len(self._layouts[name]):
                raise ValueError(f"{self.call}: planned for {len(self._layouts[name])} directions vs, "
                                 f"got {len(ts)}")
            for i, (t, layout) in enumerate(zip(ts, self._layouts[name])):
                self._check(f"vs[{i}]" if name == "vs" else name, t, layout)
        return given

    def __call__(self, x: Tensor, **tensors: Any) -> Any:
        """``hp.<quantity>(model, x, …)`` with the planned settings; tensors: new v, vs, w or third_along."""
        self._check("x", x, self._x_layout)
        if self._model_state() != self._model_key:  # layers replaced, parameters moved or cast
            self._prepare(x)
        given = self._given(tensors)
        t = self._template
        flat = {name: tuple(f(u) for f, u in zip(self._flatten[name], ts)) for name, ts in given.items()}
        vectors = flat.get("vs", flat.get("v", flat.get("third_along", ())))
        weight = flat["w"][0] if "w" in flat else t.weight
        request = Request(t.call, t.quantity, self.model, x.reshape(-1, t.d), t.batch_shape, t.d, t.m,
                          vectors, weight, t.order, t.want, dict(t.options) if t.options else t.options,
                          t.layers)
        out = self._engine(request)
        if self.quantity == "derivatives":
            return api.Derivatives(*(request.unflatten(out.get(name)) for name in api.Derivatives._fields))
        return request.unflatten(out)

    def compile(self, cpp_wrapper: bool = False) -> CompiledPlan:
        """This plan as one compiled function: traced to its tensor ops (``make_fx``) on the first
        call, then fused by Inductor (see :class:`CompiledPlan`). ``cpp_wrapper``: Inductor's C++
        wrapper calls the kernels without a Python line each (≈ 6 % of a 0.4 ms call, 40 → 400
        Jacobian at batch 1; compiling takes ≈ 10 s longer)."""
        return CompiledPlan(self, cpp_wrapper)

    def __repr__(self) -> str:
        return f"<hp.plan of {self.quantity} by method={self.engine_name!r} for x of {_describe(self._x_layout)}>"


LOG = logging.getLogger("hodphys.plan")
# Inductor holds the traced weights as constants (so oneDNN's linear lowers) and leaves their GEMMs to
# hodphys.engines.traced: its own prepacking (MKL's packed SGEMM) measured 0.9–0.95× a plain MKL GEMM
# on a contiguous Wᵀ at 40 rows
FROZEN = {"freezing": True, "cpp.weight_prepack": False}


class CompiledPlan:
    """A plan whose engine ops are traced once and compiled: ``compiled(x, vs=…)`` equals ``plan(x, vs=…)``.

    The first call traces the plan's call at the given tensors into its ATen ops
    (``torch.fx.experimental.proxy_tensor.make_fx`` with fake tensors: the engine's Python — rules,
    jets, shape bookkeeping — runs once, whatever it is; a path that reads tensor values, e.g.
    ``.item()``, cannot be traced, so it is never baked in) and hands that graph to Inductor
    (:func:`compile_traced`: frozen weights, no Dynamo), which fuses the elementwise ops around the
    GEMMs; later calls run the compiled code. ``compile_seconds`` is the one-time cost. Where
    tracing or compiling fails (no C++ compiler, an op Inductor does not support) the plan
    runs eagerly and one warning says why. What a compiled call assumes: the planned shapes
    (checked on every call, as the plan does), and the model's parameters as they were when it
    was traced (frozen: parameters that require grad are refused, since no graph is recorded).
    """

    def __init__(self, planned: Plan, cpp_wrapper: bool = False) -> None:
        self.plan, self.compiled, self.compile_seconds = planned, None, 0.0
        self.cpp_wrapper, self.failure = cpp_wrapper, None

    def _flat(self, x: Tensor, tensors: dict[str, Any]) -> list[Tensor]:
        """The call's tensors, contiguous (the compiled code is specialised to the traced strides)."""
        self.plan._check("x", x, self.plan._x_layout)
        return [t.contiguous() for t in (x, *(t for ts in self.plan._given(tensors).values() for t in ts))]

    def _build(self, flat: list[Tensor]) -> None:
        """Trace and compile at these tensors; on failure, remember why and log it once."""
        planned = self.plan._given({})
        names, counts = list(planned), [len(ts) for ts in planned.values()]
        quantity = self.plan.quantity

        def traced(x: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
            tensors, start = {}, 0
            for name, count in zip(names, counts):
                part = list(rest[start:start + count])
                tensors[name] = part if name == "vs" else part[0]
                start += count
            out = self.plan(x, **tensors)
            return tuple(out) if quantity == "derivatives" else (out,)

        started = time.perf_counter()
        try:
            if any(p.requires_grad for p in self.plan.model.parameters()):
                raise ValueError("the model has parameters that require grad (a compiled plan records no graph)")
            self.compiled = compile_traced(traced, flat, self.cpp_wrapper)
        except Exception as error:  # noqa: BLE001 - any tracing/compiler failure means: run eagerly
            self.failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            LOG.warning("%s: compiling failed (%s); running it eagerly", self.plan.call, self.failure)
        self.compile_seconds = time.perf_counter() - started

    def __call__(self, x: Tensor, **tensors: Any) -> Any:
        """``plan(x, **tensors)``, by the compiled code once it exists."""
        if self.failure is not None:
            return self.plan(x, **tensors)
        flat = self._flat(x, tensors)
        if self.compiled is None:
            self._build(flat)
            if self.failure is not None:
                return self.plan(x, **tensors)
        with torch.no_grad():
            out = self.compiled(*flat)
        if self.plan.quantity == "derivatives":
            return api.Derivatives(*out)
        return out[0]

    def __repr__(self) -> str:
        if self.failure:
            state = "eager: " + self.failure
        else:
            state = "compiled" if self.compiled is not None else "not yet compiled"
        return f"<compiled {self.plan!r}: {state}>"


def compile_traced(fn: Callable[..., Any], inputs: list[Tensor], cpp_wrapper: bool = False,
                   direct: bool = False, inline_gemm_rows: int = 0) -> Callable[..., Any]:
    """fn traced at inputs into its ATen ops (``make_fx`` with fake tensors: Python that reads tensor
    values fails here instead of being baked in) and compiled by Inductor for exactly these shapes,
    dtypes and strides. The tensors fn closes over (weights) are frozen constants whose GEMMs get
    the eager engines' kernels and a contiguous Wᵀ (:mod:`hodphys.engines.traced`). Inductor is
    called directly, without ``torch.compile``'s Dynamo guards (≈ 20–90 µs a call, guarding nothing
    a fixed-shape graph needs). ``cpp_wrapper``: the code around the kernels in C++ too — a slower
    compile (≈ 10 s), ≈ 6 % of a 0.4 ms call less. ``direct``: call the compiled graph's own entry
    (:func:`_graph_entry`), ≈ 8 µs a call less, where fn takes and returns plain tensors.
    ``inline_gemm_rows``: CPU GEMMs of at most this many rows become multiply-sums that Inductor
    fuses with their neighbours instead of library calls (:func:`_inlined_gemms`). Raises
    whatever tracing or compiling raises (callers fall back to eager)."""
    from torch.fx.experimental.proxy_tensor import make_fx   # heavy: only when compiling
    import torch._inductor
    with torch.no_grad(), _inlined_gemms(inline_gemm_rows) as options, torch._inductor.config.patch(FROZEN | options):
        graph = frozen_gemms(make_fx(fn, tracing_mode="fake", _allow_non_fake_inputs=True)(*inputs))
        compiled = torch._inductor.compile(graph, list(inputs), {"cpp_wrapper": True} if cpp_wrapper else None)
        expected = compiled(*inputs)
        if direct:
            return _graph_entry(compiled, inputs, expected) or compiled
    return compiled


@contextlib.contextmanager
def _inlined_gemms(rows: int) -> Iterator[dict[str, Any]]:
    """Inductor options that turn CPU GEMMs of ≤ rows rows (others ≤ 2048) into multiply-sums
    (Inductor's own ``decompose_mm_pass``, whose row bound is a module setting read at import: set
    here for the compile and restored). Each such library call costs ≈ 2 µs of dispatch, more than
    its arithmetic; fused, the Euler–Lagrange Newton point of the beam ROM (18 small GEMMs, r = 6)
    takes ≈ 14 % less. No options for rows = 0."""
    if rows <= 0:
        yield {}
        return
    from torch._inductor.fx_passes import decompose_mem_bound_mm as decompose
    saved = decompose.cpu_max_first_dimension_decomposition
    decompose.cpu_max_first_dimension_decomposition = rows
    try:
        yield {"post_grad_fusion_options": {"decompose_mm_pass": {"cpu_max_first_dimension_decomposition": rows}}}
    finally:
        decompose.cpu_max_first_dimension_decomposition = saved


def _graph_entry(compiled: Callable[..., Any], inputs: list[Tensor], expected: Any) -> Callable[..., Any] | None:
    """The compiled graph's own entry (a list of inputs → the list of outputs) behind the wrappers
    ``torch._inductor.compile`` puts around it (Dynamo off, AOT autograd's runtime and freezing
    wrappers: ≈ 8 µs a call, nothing a no-grad fixed-shape graph without input mutation needs),
    as a function of the same inputs and outputs (one tensor, or a list); None where it cannot be
    found or does not give the wrapped call's results on the example inputs (another torch)."""
    from torch._inductor.output_code import CompiledFxGraph
    seen, stack = set(), [compiled]
    while stack:
        fn = stack.pop()
        if isinstance(fn, CompiledFxGraph):
            entry = fn.current_callable
            break
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value) and id(value) not in seen:
                seen.add(id(value))
                stack.append(value)
    else:
        return None
    single = isinstance(expected, Tensor)
    call = (lambda *args: entry(list(args))[0]) if single else (lambda *args: entry(list(args)))
    nudged = [x + 1e-3 if x.is_floating_point() else x for x in inputs]   # an input in the wrong slot shows
    for trial, wanted in ((inputs, expected), (nudged, compiled(*nudged))):
        got, wanted = ([call(*trial)], [wanted]) if single else (list(call(*trial)), list(wanted))
        if len(got) != len(wanted) or not all(isinstance(a, Tensor) and torch.equal(a.nan_to_num(), b.nan_to_num())
                                              for a, b in zip(got, wanted)):
            return None
    return call


def plan(model: nn.Module, x: Tensor, quantity: str = "laplacian", method: str = "auto", **kwargs: Any) -> Plan:
    """A reusable ``hp.<quantity>(model, x, …)`` for inputs of x's shape, dtype and device.

    kwargs: the quantity's own arguments as :func:`hodphys.explain` takes them (``v``; ``vs``;
    ``vs`` and ``w``; ``k``; the flags of derivatives) and engine options (e.g. ``h``). Call the
    plan as ``plan(x_new)`` or ``plan(x_new, vs=[…], w=…)``; see the module docstring.
    """
    arguments = {name: value for name, value in kwargs.items() if name in api.ARGUMENTS.get(quantity, ())}
    options = {name: value for name, value in kwargs.items() if name not in arguments}
    if quantity not in api.QUANTITIES:
        raise ValueError(f"hp.plan(model, x, {quantity!r}): unknown quantity; expected one of {api.QUANTITIES}")
    return Plan(model, x, quantity, method, arguments, options)

"""Record an engine's tensor ops once, replay them as straight-line Python on later calls.

At batch 10 a Hessian of a small network is ~100 tensor ops of ~1.5 µs each, and the engine's
Python around them — rules, state objects, shape bookkeeping — costs as much again. For a
fixed model and fixed input shapes that Python always takes the same path, so the second call
with a given signature runs the engine under a :class:`~torch.overrides.TorchFunctionMode`
that writes down every torch call (function, arguments, which earlier result each tensor
argument is) and turns the list into one generated Python function; later calls run that
function: the same ops on the same kinds of tensors, with autograd recording as usual.

What a plan may assume, and how each assumption is checked on every call:

* the request's signature — quantity, engine, shapes, dtypes, device, ``requires_grad`` of the
  inputs, grad/inference mode, default dtype, the engines' size thresholds: the cache key;
* the model's structure and settings — every submodule is the same object with the same
  children, and its public plain attributes (a step size, Softplus β, an ICNN's widths, …) are
  equal to what they were: compared before each replay;
* the parameters — the same tensor objects with the same ``requires_grad`` (their values may
  change freely: an optimizer step updates them in place and the plan reads them as they are);
* nothing data-dependent — a recorded call that turns a tensor into a Python value (``item``,
  ``bool``, ``tolist``…) makes the signature unreplayable: it always runs the engine itself.

Tensors the engine takes from elsewhere (cached 0-d constants) are held by the plan as
constants. Recording starts on the second call of a signature, so one-off calls never pay
for it, and only for small batches (:data:`MAX_BATCH`), where the Python is the cost.
Set ``hodphys.replay.ENABLED = False`` (or ``HODPHYS_REPLAY=0``) to always run the engines.
"""
from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

ENABLED = os.environ.get("HODPHYS_REPLAY", "1") != "0"
MAX_BATCH = 256  # replay only requests of at most this many samples (above it the ops dominate)
MAX_PLANS = 64  # signatures kept per model

# calls that return plain values fixed by the signature (shapes, dtypes, layout), never by data
_STATIC_PROPERTIES = frozenset({"shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "layout",
                                "is_cuda", "is_sparse", "is_quantized", "is_meta", "is_nested", "is_cpu"})
_STATIC_METHODS = frozenset({"size", "dim", "numel", "nelement", "element_size", "stride", "is_contiguous",
                             "is_floating_point", "is_complex", "__len__", "_is_view", "is_inference",
                             "get_device", "storage_offset", "is_set_to"})
_LITERALS = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout,
             torch.memory_format, type(Ellipsis), slice)


class Unreplayable(Exception):
    """The recorded run did something a replay could not repeat (the message says what)."""


def _name(func: Callable) -> str:
    owner = getattr(func, "__self__", None)  # a property's __get__ is bound to its descriptor
    if getattr(func, "__name__", "") == "__get__" and owner is not None:
        return getattr(owner, "__name__", "?")
    return getattr(func, "__name__", "?")


def _static(func: Callable) -> bool:
    name = _name(func)
    is_property = getattr(func, "__name__", "") == "__get__"
    return name in (_STATIC_PROPERTIES if is_property else _STATIC_METHODS)


class _Recorder(TorchFunctionMode):
    """Writes down each torch call as (function, argument template, result slots)."""

    def __init__(self, inputs: list[Tensor], parameters: dict[int, Tensor]):
        super().__init__()
        self.slots: dict[int, tuple[weakref.ref, int]] = {}  # id(tensor) -> (weak ref, slot)
        self.constants: dict[int, Any] = {}  # slot -> tensor held by the plan
        self.lines: list[tuple[Callable, Any, Any, list[int] | int]] = []
        self.n_slots = 0
        self.failure: str | None = None
        self.inputs = [self._new_slot(t) for t in inputs]  # the caller keys identical inputs apart
        if any(id(t) in parameters for t in inputs):
            self.failure = "an input is one of the model's parameters"
        self.parameters = {self._new_slot(p): p for p in parameters.values()}

    def _new_slot(self, t: Tensor) -> int:
        slot = self.n_slots
        self.n_slots += 1
        self.slots[id(t)] = (weakref.ref(t), slot)
        return slot

    def _slot(self, t: Tensor) -> int:
        known = self.slots.get(id(t))
        if known is not None and known[0]() is t:
            return known[1]
        if t.dim() != 0 or t.requires_grad:  # only cached 0-d constants come from elsewhere
            raise Unreplayable(f"a tensor of shape {tuple(t.shape)} made outside the recorded calls")
        slot = self._new_slot(t)
        self.constants[slot] = t
        return slot

    def _template(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            return _Slot(self._slot(value))
        if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
            return type(value)(self._template(v) for v in value) if type(value) in (list, tuple) \
                else self._refuse(f"an argument of type {type(value).__name__}")
        if isinstance(value, torch.Size):
            return tuple(value)
        if isinstance(value, dict):
            return {k: self._template(v) for k, v in value.items()}
        if isinstance(value, _LITERALS):
            return value
        return self._refuse(f"an argument of type {type(value).__name__}")

    def _refuse(self, why: str) -> None:
        raise Unreplayable(why)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.failure is not None:
            return func(*args, **kwargs)
        try:
            arg_tpl, kwarg_tpl = self._template(args), self._template(kwargs)
        except Unreplayable as err:
            self.failure = f"{_name(func)} got {err}"
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        if isinstance(out, Tensor):
            self.lines.append((func, arg_tpl, kwarg_tpl, self._result_slot(out)))
        elif isinstance(out, tuple) and out and all(isinstance(o, Tensor) for o in out):
            self.lines.append((func, arg_tpl, kwarg_tpl, [self._result_slot(o) for o in out]))
        elif out is None and (_name(func) == "__setitem__" or _name(func).endswith("_")):
            self.lines.append((func, arg_tpl, kwarg_tpl, -1))  # an in-place write
        elif not _static(func):
            self.failure = f"{_name(func)} returned {type(out).__name__}"
        return out

    def _result_slot(self, t: Tensor) -> int:
        known = self.slots.get(id(t))
        if known is not None and known[0]() is t:  # an in-place op returns its input
            return known[1]
        return self._new_slot(t)


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _source(value: Any, bind: Callable[[Any], str]) -> str:
    """Python source for a templated argument; values without a literal form are bound to names."""
    if isinstance(value, _Slot):
        return f"s{value.index}"
    if isinstance(value, tuple):
        return "(" + "".join(_source(v, bind) + ", " for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_source(v, bind) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_source(v, bind)}" for k, v in value.items()) + "}"
    if isinstance(value, (bool, int, str, type(None))) or (isinstance(value, float) and value == value
                                                          and abs(value) != float("inf")):
        return repr(value)
    return bind(value)


def _slots_in(value: Any, out: set[int]) -> set[int]:
    if isinstance(value, _Slot):
        out.add(value.index)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _slots_in(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _slots_in(v, out)
    return out


def _last_uses(lines: list, keep: set[int]) -> dict[int, list[int]]:
    """line index -> the slots (not in ``keep``) that no later line reads or writes."""
    last: dict[int, int] = {}
    for i, (_, args, kwargs, out) in enumerate(lines):
        used = _slots_in(kwargs, _slots_in(args, set()))
        used.update(out if isinstance(out, list) else [out] if out >= 0 else [])
        for slot in used:
            last[slot] = i
    done: dict[int, list[int]] = {}
    for slot, i in last.items():
        if slot not in keep:
            done.setdefault(i, []).append(slot)
    return done


def _compile(recorder: _Recorder, result: Any) -> Callable:
    """The recorded calls as one function of (inputs…, parameters…, constants…)."""
    names: dict[str, Any] = {}

    def bind(value: Any) -> str:
        name = f"c{len(names)}"
        names[name] = value
        return name

    if isinstance(result, Tensor):
        returned = [recorder._result_slot(result)]
        ret = f"s{returned[0]}"
    else:
        returned = [recorder._result_slot(v) for v in result.values()]
        ret = "{" + ", ".join(f"{k!r}: s{i}" for k, i in zip(result, returned)) + "}"
    params = sorted(recorder.inputs + list(recorder.parameters) + list(recorder.constants))
    last_use = _last_uses(recorder.lines, keep={*params, *returned})
    body = []
    for i, (func, args, kwargs, out) in enumerate(recorder.lines):
        call = f"{bind(func)}({''.join(_source(a, bind) + ', ' for a in args)}" \
               f"{''.join(f'{k}={_source(v, bind)}, ' for k, v in kwargs.items())})"
        if isinstance(out, list):
            body.append(f"    {''.join(f's{o}, ' for o in out)}= {call}")
        elif out >= 0:
            body.append(f"    s{out} = {call}")
        else:
            body.append(f"    {call}")
        done = last_use.get(i)
        if done:  # free intermediates as the engine's own run would: peak memory and malloc reuse
            body.append(f"    del {', '.join(f's{j}' for j in done)}")
    source = f"def replay({', '.join(f's{i}' for i in params)}):\n" + "\n".join(body) + f"\n    return {ret}\n"
    namespace = dict(names)
    exec(compile(source, "<hodphys replay>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["replay"]


class _Snapshot:
    """Every submodule's children and public plain attributes, to compare before a replay.

    Modules are held weakly (the plan lives in a cache keyed weakly by the model)."""

    def __init__(self, model: nn.Module):
        self.entries = []
        for m in model.modules():
            keys = tuple(k for k in m.__dict__ if not k.startswith("_"))
            values = tuple(m.__dict__[k] for k in keys)
            if any(isinstance(v, Tensor) for v in values):  # compared by identity, not by ==
                values = tuple(_Same(v) if isinstance(v, Tensor) else v for v in values)
            self.entries.append((weakref.ref(m), type(m), tuple(map(id, m._modules.values())), keys, values))

    def holds(self) -> bool:
        """Tuple comparisons (identity first, then ==) run in C: ≈0.3 µs a module.

        Children are compared by id: a replaced child that is still alive has another id, and one
        that was freed (so its id may be reused) fails its own entry's weak reference."""
        for ref, cls, children, keys, values in self.entries:
            module = ref()
            if type(module) is not cls or tuple(map(id, module._modules.values())) != children:
                return False
            if tuple(map(module.__dict__.get, keys)) != values:
                return False
        return True


class _Same:
    """Equal to exactly one object (a tensor attribute: == would compare its entries)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: Any) -> bool:
        return other is self.obj

    __hash__ = None


class Plan:
    """A recorded engine call: the generated function and what it was recorded with."""

    def __init__(self, fn: Callable, recorder: _Recorder, snapshot: _Snapshot, model: nn.Module):
        self.fn, self.snapshot = fn, snapshot
        used = {id(p) for p in recorder.parameters.values()}
        # where each parameter the plan reads is registered (a reassigned one is a new object)
        self.homes = [(registry, key, t, t.requires_grad) for registry, t in _homes(model) if id(t) in used
                      for key in [next(k for k, v in registry.items() if v is t)]]
        self.order = sorted(recorder.inputs + list(recorder.parameters) + list(recorder.constants))
        self.n_inputs = len(recorder.inputs)
        fixed = {**recorder.parameters, **recorder.constants}
        self.fixed = [fixed[i] for i in self.order if i in fixed]  # inputs are the lowest slots

    def holds(self) -> bool:
        for registry, key, t, grad in self.homes:
            if registry.get(key) is not t or t.requires_grad != grad:
                return False
        return self.snapshot.holds()

    def __call__(self, inputs: list[Tensor]) -> Any:
        return self.fn(*inputs, *self.fixed)


MAX_RECORDINGS = 3  # a signature whose model keeps changing between calls stops being recorded


class _Entry:
    __slots__ = ("calls", "plan", "recordings")

    def __init__(self) -> None:
        self.calls, self.plan, self.recordings = 0, None, 0


_PLANS: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Any]] = weakref.WeakKeyDictionary()
_UNREPLAYABLE = "unreplayable"


# private torch hooks (torch 2.x); where one is missing, assume the unsafe case
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: True)
_dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 1)
_function_modes = getattr(torch._C, "_is_torch_function_mode_enabled", lambda: True)


def _active_elsewhere() -> bool:
    """torch.compile, torch.func transforms or another mode are running: run the engine itself."""
    return torch.compiler.is_compiling() or _functorch_active() or _dispatch_modes() > 0 or _function_modes()


def _parameters(model: nn.Module) -> dict[int, Tensor]:
    """id -> tensor of every parameter and buffer; where each sits: :func:`_homes`."""
    return {id(t): t for _, t in _homes(model)}


def _homes(model: nn.Module) -> list[tuple[dict, Tensor]]:
    """(registry dict, tensor) of every parameter and buffer, looked up again before a replay."""
    out = []
    for module in model.modules():
        for registry in (module._parameters, module._buffers):
            out.extend((registry, t) for t in registry.values() if t is not None)
    return out


def run(key: tuple, model: nn.Module, inputs: list[Tensor], compute: Callable[[], Any]) -> Any:
    """``compute()``, or its recorded replay; ``key`` is the request's signature (see module doc)
    and ``inputs`` the request's tensors in a fixed order."""
    if not ENABLED or _active_elsewhere():
        return compute()
    plans = _PLANS.get(model)
    if plans is None:
        plans = _PLANS[model] = {}
    entry = plans.get(key)
    if entry is None:
        if len(plans) >= MAX_PLANS:
            plans.clear()
        entry = plans[key] = _Entry()
    if entry.plan is _UNREPLAYABLE:
        return compute()
    if entry.plan is not None:
        if entry.plan.holds():
            return entry.plan(inputs)
        entry.plan, entry.calls = None, 0  # the model changed: record again on the next call
    entry.calls += 1
    if entry.calls < 2:
        return compute()
    entry.recordings += 1
    if entry.recordings > MAX_RECORDINGS:  # e.g. torch.func.functional_call swaps the parameters each call
        entry.plan = _UNREPLAYABLE
        return compute()
    recorder = _Recorder(inputs, _parameters(model))
    with recorder:
        result = compute()
    if recorder.failure is not None or not _returnable(result):
        entry.plan = _UNREPLAYABLE
        return result
    entry.plan = Plan(_compile(recorder, result), recorder, _Snapshot(model), model)
    return result


def _returnable(result: Any) -> bool:
    return isinstance(result, Tensor) or (isinstance(result, dict) and all(isinstance(v, Tensor)
                                                                           for v in result.values()))


def clear() -> None:
    """Forget every recorded plan."""
    _PLANS.clear()

"""Recorded replays (hodphys.engines.analytic.replay) give what the engines compute, and are dropped
when they would not.

A signature records on its second call and replays from the third: every test below calls at
least three times and compares with the engine run with replay turned off.
"""
import gc
import weakref

import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.engines import registry
from hodphys.engines.analytic import replay
from hodphys.engines.analytic import register_rule
from hodphys.engines.rules import LinearRule
from tests.analytic.nets import CASES, build
from tests.helpers import assert_close_rel, mlp

MODES = ["analytic-forward", "analytic-backward"]


def _fresh(fn):
    """fn() with replay off: the engine itself."""
    before, replay.ENABLED = replay.ENABLED, False
    try:
        return fn()
    finally:
        replay.ENABLED = before


def _plan(model):
    """The one recorded entry of a model (asserting there is exactly one and it replays)."""
    entries = list(replay.plans_of(model).values())
    assert len(entries) == 1
    assert entries[0].plan is not None and entries[0].plan != replay._UNREPLAYABLE
    return entries[0].plan


def _calls(quantity, d, m, batch, g):
    x = torch.randn(*batch, d, dtype=torch.float64, generator=g)
    v1, v2 = (torch.randn(*batch, d, dtype=torch.float64, generator=g) for _ in range(2))
    w = torch.randn(*batch, m, dtype=torch.float64, generator=g)
    return x, {"jacobian": (), "hessian": (), "laplacian": (), "hvp": (v1,), "directional": ([v1, v2],),
               "directional_grad": ([v1], w), "derivatives": ()}[quantity]


QUANTITIES = ["jacobian", "hessian", "laplacian", "hvp", "directional", "directional_grad", "derivatives"]


# every (quantity, mode) pair the mode computes: analytic-backward has no directional
SERVED = [(quantity, method) for quantity in QUANTITIES for method in MODES
          if hasattr(registry.ENGINES[method], quantity)]


@pytest.mark.parametrize("quantity, method", SERVED)
@pytest.mark.parametrize("kind, d, m, batch", CASES)
def test_replay_equals_the_engine_on_every_layer_and_quantity(kind, d, m, batch, quantity, method):
    model = build(kind, d, m)
    fn = getattr(hp, quantity)
    g = torch.Generator().manual_seed(3)
    for _ in range(4):  # records at call 1, replays at 2 and 3, each on new data
        x, args = _calls(quantity, d, m, batch, g)
        kwargs = {"hessian": True} if quantity == "derivatives" else {}
        ours = fn(model, x, *args, method=method, **kwargs)
        ref = _fresh(lambda: fn(model, x, *args, method=method, **kwargs))
        if quantity == "derivatives":
            for field in ("value", "jacobian", "hessian", "laplacian"):
                torch.testing.assert_close(getattr(ours, field), getattr(ref, field), rtol=0, atol=0)
        else:
            torch.testing.assert_close(ours, ref, rtol=0, atol=0)  # the same ops: bit for bit
    _plan(model)


def _resnet():
    torch.manual_seed(0)
    return hp.nn.ResNet(3, 5, 2, 2, step=0.5, opening_activation=hp.nn.LogCosh()).double()


def _check_after(change, method="analytic-forward", quantity="hessian"):
    """Record and replay, apply ``change(model)``, and compare the next calls with the engine."""
    model = _resnet()
    x = torch.randn(4, 3, dtype=torch.float64)
    fn = getattr(hp, quantity)
    for _ in range(3):
        fn(model, x, method=method)
    _plan(model)
    change(model)
    for _ in range(3):
        torch.testing.assert_close(fn(model, x, method=method), _fresh(lambda: fn(model, x, method=method)),
                                   rtol=0, atol=0)
        assert_close_rel(fn(model, x, method=method), fn(model, x, method="autograd"), 1e-10)


def _set_step(model):
    model[2].step = 0.25


def _set_activation(model):
    model[2].activation = nn.Softplus(beta=2.0)


def _set_beta(model):
    model[2].activation = nn.Softplus(beta=2.0)
    hp.hessian(model, torch.randn(4, 3, dtype=torch.float64), method="analytic-forward")
    model[2].activation.beta = 3.0


def _update_in_place(model):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.1).add_(0.05)


def _reassign(model):
    model[0].weight = nn.Parameter(torch.randn(5, 3, dtype=torch.float64))


def _replace_layer(model):
    model[1] = nn.Tanh()


@pytest.mark.parametrize("method", MODES)
@pytest.mark.parametrize("change", [_set_step, _set_activation, _set_beta, _update_in_place, _reassign,
                                    _replace_layer])
def test_a_changed_model_is_never_served_a_stale_replay(change, method):
    _check_after(change, method)


def test_new_values_and_new_shapes():
    model = _resnet()
    for batch in [(4,), (4,), (4,), (2, 3), (2, 3), (2, 3), (4,)]:
        x = torch.randn(*batch, 3, dtype=torch.float64)
        assert_close_rel(hp.hessian(model, x), hp.hessian(model, x, method="autograd"), 1e-10)
    assert len(replay.plans_of(model)) == 2


def test_identical_directions_are_a_signature_of_their_own():
    """D²f[v, v] recorded with one tensor twice must not be replayed for two different tensors."""
    model = _resnet()
    x, v, w = torch.randn(3, 4, 3, dtype=torch.float64)
    for _ in range(3):
        hp.directional(model, x, [v, v], method="analytic-forward")
    ours = hp.directional(model, x, [v, w], method="analytic-forward")
    assert_close_rel(ours, hp.directional(model, x, [v, w], method="autograd"), 1e-10)


@pytest.mark.parametrize("method", MODES)
def test_training_through_a_replay(method):
    """Parameter and input gradients of a loss on a replayed Hessian equal the engine's."""
    model = _resnet()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)

    def grads():
        loss = hp.hessian(model, x, method=method).square().sum()
        return torch.autograd.grad(loss, [x, *(p for p in model.parameters() if p.requires_grad)],
                                   allow_unused=True, materialize_grads=True)  # the last bias: no curvature

    for _ in range(3):
        ours = grads()
    _plan(model)
    for a, b in zip(ours, _fresh(grads)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    model[2].linear.weight.requires_grad_(False)  # a frozen layer: recorded again
    ours = grads()
    for a, b in zip(ours, _fresh(grads)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_grad_mode_and_requires_grad_are_part_of_the_signature():
    model = _resnet()
    x = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(3):
        with torch.no_grad():
            hp.laplacian(model, x)
    out = hp.laplacian(model, x)
    assert out.requires_grad  # not the no-grad recording
    assert len(replay.plans_of(model)) == 2


def test_a_data_dependent_rule_is_never_replayed():
    class Clipped(nn.Linear):
        pass

    class ClippedRule(LinearRule):
        def apply(self, jet):
            if float(jet.rows.detach().abs().max()) > 1e9:  # turns a tensor into a Python value
                raise AssertionError
            return super().apply(jet)

    register_rule(Clipped, ClippedRule, engines=("analytic",))  # reads the analytic jet's rows
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), Clipped(4, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    for _ in range(4):
        x = torch.randn(5, 3, dtype=torch.float64)
        assert_close_rel(hp.hessian(model, x, method="analytic-forward"), hp.hessian(model, x, method="autograd"),
                         1e-10)
    (entry,) = replay.plans_of(model).values()
    assert entry.plan == replay._UNREPLAYABLE


def test_large_batches_and_options_are_not_recorded():
    model = _resnet()
    x = torch.randn(replay.MAX_BATCH + 1, 3, dtype=torch.float64)
    for _ in range(3):
        hp.laplacian(model, x)
    assert not replay.plans_of(model)


def test_a_plan_does_not_keep_its_model_alive():
    model = _resnet()
    x = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(3):
        hp.hessian(model, x)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_replay_steps_aside_under_torch_func():
    model = _resnet()
    x = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(3):
        hp.laplacian(model, x, method="analytic-forward")
    one = torch.func.vmap(lambda xi: hp.laplacian(model, xi.unsqueeze(0), method="analytic-forward")[0])(x)
    assert_close_rel(one, hp.laplacian(model, x, method="autograd"), 1e-10)


class _HessianOf(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return hp.hessian(self.net, x, method="analytic-forward")


def test_swapped_parameters_stop_the_recording():
    """functional_call swaps the parameters every call: each replay is refused, and after a few
    recordings the signature runs the engine itself (no recording every other call)."""
    model = _resnet()
    wrapper = _HessianOf(model)
    x = torch.randn(4, 3, dtype=torch.float64)
    for i in range(12):
        params = {f"net.{k}": v.detach() * (1 + 0.01 * i) for k, v in model.named_parameters()}
        ours = torch.func.functional_call(wrapper, params, (x,))
        ref = _fresh(lambda: torch.func.functional_call(wrapper, params, (x,)))
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    (entry,) = replay.plans_of(model).values()
    assert entry.plan == replay._UNREPLAYABLE and entry.recordings == replay.MAX_RECORDINGS + 1


# found by review: each once gave a stale result, an error or a leak with replay on


class _Step(hp.nn.BranchBlock):
    """y = u + step·tanh(W u + b), with ``step`` a class attribute unless set on the instance."""

    step = 1.0

    def __init__(self, width):
        super().__init__()
        self.lin = nn.Linear(width, width)

    def branch(self):
        return hp.nn.Branch(1.0, None, self.lin.weight, self.lin.bias, hp.elementwise.Tanh(), self.step)

    def forward(self, u):
        return u + self.step * torch.tanh(self.lin(u))


def _step_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 6), _Step(6), nn.Linear(6, 2)).double()


def _after(model, change, method="analytic-forward"):
    x = torch.randn(5, 3, dtype=torch.float64)
    for _ in range(3):
        hp.hessian(model, x, method=method)
    change(model)
    for _ in range(2):
        assert_close_rel(hp.hessian(model, x, method=method), hp.hessian(model, x, method="autograd"), 1e-10)


@pytest.mark.parametrize("method", MODES)
def test_a_numpy_scalar_setting_is_replayed(method):
    import numpy as np

    model = _step_net()
    model[1].step = np.float64(0.5)  # repr() is a call, not a literal
    _after(model, lambda m: None, method)


def test_an_instance_attribute_shadowing_a_class_attribute_is_seen():
    _after(_step_net(), lambda m: setattr(m[1], "step", 0.1))


def test_a_private_setting_is_seen():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self._beta = 1.0

        def forward(self, u):
            return nn.functional.softplus(u, beta=self._beta)

    hp.elementwise.register_elementwise(Scaled, lambda m: hp.elementwise.Softplus(m._beta, 20.0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), Scaled(), nn.Linear(8, 1)).double()
    _after(model, lambda m: setattr(m[1], "_beta", 3.0))


def test_a_parameter_registered_in_an_empty_slot_is_seen():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8, bias=False), nn.Softplus(),
                          nn.Linear(8, 2)).double()
    _after(model, lambda m: setattr(m[2], "bias", nn.Parameter(torch.randn(8, dtype=torch.float64))))


def test_attributes_whose_equality_is_elementwise_do_not_break_the_check():
    def change(model):
        model[2].history = [torch.randn(4)]
        model[2].table = torch.randn(3).numpy()

    model = _step_net()
    model[2].history, model[2].table = [torch.randn(4)], torch.randn(3).numpy()
    _after(model, change)


def test_autocast_is_not_recorded_into_a_plan():
    torch.manual_seed(0)
    model = hp.nn.ResNet(3, 6, 2, 1, step=0.1, opening_activation=hp.nn.LogCosh())
    x = torch.randn(5, 3)
    hp.hessian(model, x, method="analytic-forward")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hp.hessian(model, x, method="analytic-forward")
    ours = hp.hessian(model, x, method="analytic-forward")
    torch.testing.assert_close(ours, _fresh(lambda: hp.hessian(model, x, method="analytic-forward")), rtol=0, atol=0)


def test_a_custom_autograd_function_in_a_rule_keeps_its_backward():
    class Clip(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            return w.clone()

        @staticmethod
        def backward(ctx, g):
            return g.clamp(-1e-3, 1e-3)

    class ClipLinear(nn.Linear):
        pass

    class ClipRule(LinearRule):
        def apply(self, jet):
            return jet.linear(Clip.apply(self.module.weight), self.module.bias), None

    register_rule(ClipLinear, ClipRule)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), ClipLinear(8, 8), nn.Softplus(), nn.Linear(8, 1)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    for _ in range(4):
        loss = hp.laplacian(model, x, method="analytic-forward").sum()
        assert torch.autograd.grad(loss, model[2].weight)[0].abs().max() <= 1e-3


def test_a_model_referring_to_itself_is_freed():
    import functools

    model = _resnet()
    model.pde = functools.partial(hp.laplacian, model, method="analytic-forward")
    x = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(3):
        model.pde(x)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


# found by a second review


@pytest.mark.parametrize("quantity", ["laplacian", "hessian", "jacobian"])
def test_quadratic_layers_under_inference_mode(quantity):
    """x²/2's σ′ is its input row itself: updating the rows in place must not overwrite it, also
    where inference mode does not mark views."""
    torch.manual_seed(0)
    model = hp.nn.ICNN(2, [16, 16], rank=1).double()
    x = torch.randn(10, 2, dtype=torch.float64)
    ref = getattr(hp, quantity)(model, x, method="autograd")
    with torch.inference_mode():
        for _ in range(3):
            assert_close_rel(getattr(hp, quantity)(model, x, method="analytic-forward"), ref, 1e-10)


def test_a_replaced_attribute_whose_id_is_reused_is_seen():
    act = hp.elementwise.ElementwiseModule(hp.elementwise.Softplus(1.0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), act, nn.Linear(4, 1)).double()

    def change(m):
        m[1].function = hp.elementwise.Softplus(5.0)  # freed at once: the next object may reuse its id
        m[1].function = hp.elementwise.Softplus(2.0)

    _after(model, change)


@pytest.mark.parametrize("attribute", ["_fn", "_gain"])
def test_private_objects_a_rule_reads_are_watched(attribute):
    class Gained(_Step):
        def __init__(self, width):
            super().__init__(width)
            self._fn, self._gain = hp.elementwise.Tanh(), torch.tensor(1.0, dtype=torch.float64)

        def branch(self):
            return hp.nn.Branch(1.0, None, self.lin.weight * self._gain, self.lin.bias, self._fn, 0.5)

        def forward(self, u):
            return u + 0.5 * self._fn(nn.functional.linear(u, self.lin.weight * self._gain, self.lin.bias))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), Gained(6), nn.Linear(6, 2)).double()
    new = hp.elementwise.Softplus(2.0) if attribute == "_fn" else torch.tensor(3.0, dtype=torch.float64)
    _after(model, lambda m: setattr(m[1], attribute, new))


def test_a_setting_in_slots_is_watched():
    class SlotStep(hp.nn.ResidualBlock):
        __slots__ = ("step",)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), SlotStep(4, step=0.5), nn.Linear(4, 2)).double()
    assert "step" not in vars(model[1])
    _after(model, lambda m: setattr(m[1], "step", 2.0))


def test_models_that_compare_equal_do_not_share_plans():
    class ValueEqual(nn.Sequential):
        def __eq__(self, other):
            return isinstance(other, ValueEqual)

        def __hash__(self):
            return 0

    torch.manual_seed(0)
    one = ValueEqual(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    two = ValueEqual(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(3):
        hp.hessian(one, x, method="analytic-forward")
    assert_close_rel(hp.hessian(two, x, method="analytic-forward"), hp.hessian(two, x, method="autograd"), 1e-10)


def test_a_replaced_layer_is_not_kept_alive_by_other_plans():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 1)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    for _ in range(3):
        hp.hessian(model, x, method="analytic-forward")
    old = weakref.ref(model[0].weight)
    model[0] = nn.Linear(3, 64).double()
    hp.laplacian(model, x, method="analytic-forward")  # another signature; the hessian plan is stale
    gc.collect()
    assert old() is None


def test_unread_results_are_dropped_and_writes_through_views_kept():
    """A call whose result nothing reads is not replayed; an in-place write through a view is."""
    model = nn.Linear(2, 2)
    key = ("dead-and-in-place",)

    def compute(x):
        torch.exp(x)  # read by nothing
        y = x * 2
        y[0].add_(1.0)  # changes y through the view y[0]
        return y

    for _ in range(4):
        x = torch.randn(3, 2)
        expected = x * 2
        expected[0] += 1.0
        torch.testing.assert_close(replay.run(key, model, [x], lambda: compute(x)), expected, rtol=0, atol=0)
    plan = replay.plans_of(model)[key].plan
    assert plan.calls == ("mul", "__getitem__", "add_")


@pytest.mark.parametrize("inplace", ["keyword", "positional"])
def test_a_write_through_an_inplace_flag_is_kept(inplace):
    """F.relu(view, inplace=True) changes y although its result is read by nothing."""
    model = nn.Linear(2, 2)
    key = ("inplace-flag", inplace)

    def compute(x):
        y = x * 2
        view = y.narrow(0, 0, 1)
        if inplace == "keyword":
            torch.nn.functional.relu(view, inplace=True)
        else:
            torch.nn.functional.hardtanh(view, -0.5, 0.5, True)
        return y

    for _ in range(4):
        x = torch.randn(3, 2)
        expected = x * 2
        expected[0] = expected[0].relu() if inplace == "keyword" else expected[0].clamp(-0.5, 0.5)
        torch.testing.assert_close(replay.run(key, model, [x], lambda: compute(x)), expected, rtol=0, atol=0)


def test_x_that_is_a_model_parameter_still_replays():
    """x registered on the model (learnable collocation points): the request holds a view of it, so
    the recorder does not take it for one of the model's parameters."""
    model = mlp(3, [4], 1)
    model.points = nn.Parameter(torch.randn(5, 3, dtype=torch.float64))

    def check(x):
        assert_close_rel(hp.laplacian(model, x, method="analytic-backward"),
                         hp.laplacian(model, x, method="autograd"), 1e-10)

    for _ in range(3):
        check(model.points)
    plans = [entry.plan for entry in replay.plans_of(model).values()]
    assert plans and all(isinstance(plan, replay.Plan) for plan in plans)
    with torch.no_grad():
        model.points.add_(0.5)             # an optimizer step on the points: replay reads the new values
    check(model.points)
    assert [entry.plan for entry in replay.plans_of(model).values()] == plans     # replayed, not recorded anew
    for _ in range(3):  # points that are not the parameter (with and without grad): the plan reads x
        check(torch.randn(5, 3, dtype=torch.float64))
        check(torch.randn(5, 3, dtype=torch.float64, requires_grad=True))

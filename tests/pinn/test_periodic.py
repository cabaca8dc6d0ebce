"""Periodic conditions on any geometry whose named parts match by a translation (not only boxes)."""
import pytest
import torch
from torch import nn

from hodphys.pinn import PinnConfig, Periodic, Problem
from hodphys.pinn.geometry import Box, Disk, Interval, Polygon, SpaceTime

F64 = torch.float64


def problem(domain, condition, inputs=None):
    config = PinnConfig(dtype="float64", n_interior=32, n_boundary=48)
    kw = {"inputs": inputs} if inputs else {}
    return Problem(config, domain, pde=lambda f: f["u"], needs=["u"], conditions=[condition], **kw)


def quadratic_model(seed):
    """u = a·x + Σ c_j (k_j·x)², known gradient, so the periodic term can be written down."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).double()


SHAPES = {  # geometry, parts, shift
    "box with a hole": (Box([0, 0], [2, 1]) - Disk([1.0, 0.5], 0.2), ("left", "right"), (2.0, 0.0)),
    "slanted strip": (Polygon([(0, 0), (1, 0), (1.5, 1), (0.5, 1)], names=["low", "east", "high", "west"]),
                      ("west", "east"), (1.0, 0.0)),
    "space-time": (SpaceTime(Interval(-1, 1), 0, 1), ("left", "right"), (2.0, 0.0)),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_pairs_lie_on_matching_parts_and_the_term_is_the_hand_value(shape):
    domain, parts, shift = SHAPES[shape]
    inputs = ["x", "t"] if isinstance(domain, SpaceTime) else None
    p = problem(domain, Periodic(parts=parts, shift=shift, derivative=True), inputs)
    batch = p.sample(torch.Generator().manual_seed(1))
    name = p.conditions[0].name
    a, b = batch[name], batch[f"{name}_pair"]
    torch.testing.assert_close(b - a, torch.tensor(shift, dtype=F64).expand_as(a))
    on_boundary = domain.sdf(b)
    assert on_boundary is not None and float(on_boundary.abs().max()) < 1e-9
    model = quadratic_model(2)
    _, terms = p.loss(model, batch)
    w = (model[1].weight @ model[0].weight).detach()[0]  # u is affine: u(x) − u(x + s) = −w·s, ∂u/∂s equal
    s = torch.tensor(shift, dtype=F64)
    assert float(terms[name].detach()) == pytest.approx(float((w @ s) ** 2 / 2), rel=1e-12)


def test_an_axis_gives_the_faces_and_the_shift_of_the_bounding_box():
    p = problem(SpaceTime(Interval(0, 3), 0, 1), Periodic("x"), inputs=["x", "t"])
    condition = p.conditions[0]
    assert condition.pair == ("left", "right") and condition.shift.tolist() == [3.0, 0.0]


def test_parts_that_do_not_match_are_a_clear_error():
    with pytest.raises(ValueError, match=r"Periodic: part 'low' moved by \[1.0, 0.0\] does not land on a matching "
                                         r"boundary .* parts 'low' and 'high' are not related"):
        problem(SHAPES["slanted strip"][0], Periodic(parts=("low", "high"), shift=(1.0, 0.0)))
    with pytest.raises(ValueError, match=r"part 'right' moved by \[-2.0, -0.0\]"):  # the hole cuts the left face only
        problem(Box([0, 0], [2, 1]) - Disk([0.0, 0.5], 0.2), Periodic("x"))
    with pytest.raises(ValueError, match=r"unknown boundary part 'inlet'"):
        problem(Box([0, 0], [1, 1]), Periodic(parts=("inlet", "right"), shift=(1.0, 0.0)))
    with pytest.raises(ValueError, match=r"expected shift of shape \(2,\), got \(3,\)"):
        problem(Box([0, 0], [1, 1]), Periodic(parts=("left", "right"), shift=(1.0, 0.0, 0.0)))
    with pytest.raises(ValueError, match="expected an axis, or both parts"):
        Periodic(parts=("left", "right"))

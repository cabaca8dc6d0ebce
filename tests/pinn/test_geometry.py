"""Geometry: points inside, boundary points on the boundary, unit outward normals, measures, parts."""
import math

import meshio
import numpy as np
import pytest
import torch

from hodphys.pinn.geometry import Ball, Box, Disk, Interval, MeshDomain, Polygon, SpaceTime

L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]
# exact area and perimeter of each domain
CASES = {
    "interval": (lambda: Interval(-1, 2), 3.0, 2.0),
    "box": (lambda: Box([0, 0, 0], [1, 2, 3]), 6.0, 22.0),
    "disk": (lambda: Disk([0.5, -0.5], 0.7), math.pi * 0.49, 2 * math.pi * 0.7),
    "ball": (lambda: Ball([0, 0, 0], 1.0), 4 / 3 * math.pi, 4 * math.pi),
    "lshape": (lambda: Polygon(L_SHAPE), 3.0, 8.0),
    "clockwise polygon": (lambda: Polygon(L_SHAPE[::-1]), 3.0, 8.0),
    "box minus disk": (lambda: Box([0, 0], [1, 1]) - Disk([0.5, 0.5], 0.25), 1 - math.pi / 16, 4 + math.pi / 2),
    "union": (lambda: Box([0, 0], [2, 1]) | Box([1, 0], [3, 1]), 3.0, 8.0),
    "intersection": (lambda: Box([0, 0], [2, 2]) & Disk([0, 0], 1.0), math.pi / 4, 2 + math.pi / 2),
    "space-time": (lambda: SpaceTime(Interval(0, 2), 0, 3), 6.0, 6.0),  # "boundary": the two sides only
}


def _measure_of_boundary(geometry):
    return sum(p.measure for p in geometry.pieces_of("boundary"))


@pytest.mark.parametrize("method", ["uniform", "sobol"])
@pytest.mark.parametrize("case", CASES)
def test_sampling_inside_on_the_boundary_with_outward_unit_normals(case, method):
    make, area, perimeter = CASES[case]
    geometry, generator = make(), torch.Generator().manual_seed(1)
    inside = geometry.sample_interior(500, generator, method)
    assert inside.shape == (500, geometry.dim) and geometry.contains(inside).all()
    x, normals = geometry.sample_boundary(600, generator, method=method)
    assert x.shape == normals.shape == (600, geometry.dim)
    assert torch.allclose(normals.norm(dim=-1), torch.ones(600, dtype=torch.float64), atol=1e-12)
    assert geometry.contains(x).all()
    step = 1e-4
    assert not geometry.contains(x + step * normals).any()  # outward: a small step leaves the domain
    assert geometry.contains(x - step * normals).all()  # and a step back enters it
    # measures: exact for primitives; CSG restrictions and |Ω| by Monte Carlo within sampling error
    assert geometry.volume() == pytest.approx(area, rel=1e-2)
    assert _measure_of_boundary(geometry) == pytest.approx(perimeter, rel=2e-2)


def test_boundary_points_spread_over_pieces_in_proportion_to_their_length():
    box, generator = Box([0, 0], [2, 1]), torch.Generator().manual_seed(0)
    x, _ = box.sample_boundary(20000, generator)
    on_face = torch.stack([x[:, 0] == 0, x[:, 0] == 2, x[:, 1] == 0, x[:, 1] == 1]).double().mean(1)
    expected = torch.tensor([1 / 6, 1 / 6, 1 / 3, 1 / 3], dtype=torch.float64)
    assert torch.allclose(on_face, expected, atol=0.015)  # 4σ of a 20000-draw multinomial ≈ 0.013


def test_named_parts_and_the_initial_face():
    domain = SpaceTime(Interval(-1, 1), 0, 1)
    assert domain.parts() == ["boundary", "left", "right", "initial", "t == 0", "final", "t == 1"]
    generator = torch.Generator().manual_seed(0)
    for part in ("initial", "t == 0"):
        x, normal = domain.sample_boundary(50, generator, part)
        assert (x[:, 1] == 0).all() and (normal == torch.tensor([0.0, -1.0], dtype=torch.float64)).all()
    x, _ = domain.sample_boundary(200, generator)  # "boundary" is the spatial boundary only
    assert (x[:, 0].abs() == 1).all() and (x[:, 1] > 0).any()
    x, normal = Box([0, 0], [1, 1]).sample_boundary(10, generator, "top")
    assert (x[:, 1] == 1).all() and (normal[:, 1] == 1).all()
    lshape = Polygon(L_SHAPE, names=["bottom", "right", "inner", "inner", "top", "left"])
    x, _ = lshape.sample_boundary(100, generator, "inner")
    assert ((x[:, 0] == 0) | (x[:, 1] == 0)).all() and (x >= 0).all()


def test_signed_distance_of_primitives():
    x = torch.tensor([[0.5, 0.5], [2.0, 0.5], [0.5, -1.0]], dtype=torch.float64)
    assert torch.allclose(Box([0, 0], [1, 1]).sdf(x), torch.tensor([-0.5, 1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(Disk([0, 0], 1).sdf(x), x.norm(dim=-1) - 1)
    assert torch.allclose(Polygon(L_SHAPE).sdf(torch.tensor([[0.5, 0.5], [-0.5, -0.5]], dtype=torch.float64)),
                          torch.tensor([0.5, -0.5], dtype=torch.float64))


def test_one_seed_gives_one_set_of_points_in_every_method():
    for method in ("uniform", "sobol", "halton"):
        a = Polygon(L_SHAPE).sample_interior(64, torch.Generator().manual_seed(3), method)
        b = Polygon(L_SHAPE).sample_interior(64, torch.Generator().manual_seed(3), method)
        assert torch.equal(a, b)


def test_low_discrepancy_points_cover_more_evenly_than_random_ones():
    def worst_gap(x):  # the largest empty cell of a 16 × 16 grid count: 0 for an even cover
        counts = torch.histogramdd(x.float(), bins=[16, 16], range=[0.0, 1.0, 0.0, 1.0]).hist
        return float((counts - counts.mean()).abs().max())
    box = Box([0, 0], [1, 1])
    random = worst_gap(box.sample_interior(1024, torch.Generator().manual_seed(0), "uniform"))
    sobol = worst_gap(box.sample_interior(1024, torch.Generator().manual_seed(0), "sobol"))
    assert sobol < random


def _square_mesh(path, n=4):
    xs = np.linspace(0, 1, n + 1)
    points = np.array([[x, y, 0.0] for y in xs for x in xs])
    cells = []
    for j in range(n):
        for i in range(n):
            a, b, c, d = j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i
            cells += [[a, b, c], [a, c, d]]
    meshio.Mesh(points, [("triangle", np.array(cells))]).write(path)
    return path


def test_a_domain_from_a_mesh_file(tmp_path):
    domain = MeshDomain(_square_mesh(tmp_path / "square.vtu"))
    generator = torch.Generator().manual_seed(0)
    assert domain.volume() == pytest.approx(1.0) and domain.parts() == ["boundary"]
    x = domain.sample_interior(400, generator)
    assert ((x >= 0) & (x <= 1)).all() and domain.contains(x).all()
    assert not domain.contains(torch.tensor([[1.2, 0.5]], dtype=torch.float64)).any()
    b, normals = domain.sample_boundary(400, generator)
    assert torch.allclose(Box([0, 0], [1, 1]).sdf(b), torch.zeros(400, dtype=torch.float64), atol=1e-12)
    assert torch.allclose((b - 0.5 + 1e-3 * normals).abs().max(-1).values, torch.full((400,), 0.501,
                          dtype=torch.float64))  # outward: away from the centre across the nearest face
    assert sum(p.measure for p in domain.pieces()) == pytest.approx(4.0)


def test_bad_geometries_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="CSG Box & Box: the result is empty"):
        Box([0, 0], [1, 1]) & Box([2, 2], [3, 3])
    with pytest.raises(ValueError, match="CSG Box - Box: the result is empty"):
        Box([0, 0], [1, 1]) - Box([-1, -1], [2, 2])
    with pytest.raises(ValueError, match="expected two geometries of one dimension"):
        Box([0, 0], [1, 1]) | Interval(0, 1)
    with pytest.raises(ValueError, match="unknown boundary part 'outflow'; known parts: \\['boundary', 'left'"):
        Box([0, 0], [1, 1]).sample_boundary(4, torch.Generator(), "outflow")
    with pytest.raises(ValueError, match="expected low < high"):
        Box([0, 1], [1, 0])
    with pytest.raises(ValueError, match="expected at least 3 vertices"):
        Polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="enclose no area"):
        Polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ValueError, match="expected 6 edge names"):
        Polygon(L_SHAPE, names=["a"])
    with pytest.raises(ValueError, match="expected a centre in 2 or 3 dimensions"):
        Ball([0.0], 1.0)
    with pytest.raises(ValueError, match="expected a 2-D centre"):
        Disk([0, 0, 0], 1.0)
    with pytest.raises(ValueError, match="expected a geometry and t0 < t1"):
        SpaceTime(Interval(0, 1), 1, 0)
    with pytest.raises(ValueError, match="sampling method: expected one of"):
        Box([0], [1]).sample_interior(4, torch.Generator(), "grid")
    with pytest.raises(ValueError, match="no tetra cells"):
        MeshDomain(_square_mesh(tmp_path / "square.vtu"), dim=3)
    with pytest.raises(ValueError, match="expected dim 2"):
        MeshDomain(tmp_path / "square.vtu", dim=1)


def test_signed_distance_and_membership_answer_on_the_points_device(tmp_path):
    """A geometry keeps its data on the CPU; points on another device (here "meta", which refuses any
    mixing with CPU tensors as CUDA does) are answered there — the evaluation grid and hard
    constraints of a run on a GPU."""
    x = torch.empty(6, 2, dtype=torch.float64, device="meta")
    square = Box([0, 0], [1, 1])
    domains = [square, Disk([0, 0], 1.0), Polygon([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]),
               square - Disk([1, 1], 0.5), square | Disk([1, 1], 0.5), square & Disk([0, 0], 1.0),
               MeshDomain(_square_mesh(tmp_path / "square.vtu"))]
    for domain in domains:
        assert domain.contains(x).device.type == "meta", type(domain).__name__
        distance = domain.sdf(x)
        assert distance is None or distance.device.type == "meta", type(domain).__name__
    in_time = SpaceTime(Interval(0, 1), 0.0, 2.0)
    assert in_time.contains(x).device.type == "meta" and in_time.sdf(x).device.type == "meta"

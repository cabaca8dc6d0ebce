"""Full-order finite elements for hyperelastic solids: linear tets, implicit dynamics, modes.

Index letters used throughout: e elements, q quadrature points (one per linear tet), a nodes or
shape functions, i/k spatial and J/L reference coordinates, n_free the free degrees of freedom.

    from hodphys.fem import Cantilever, NeoHookean, ImplicitEuler, read_mesh, simulate
    beam = Cantilever.build(read_mesh("meshes/beam_coarse.vtu"),
                            NeoHookean.from_young_poisson(1e7, 0.3), density=1000.0)
    gravity = beam.gravity()
    integrator = ImplicitEuler(beam.body, lambda t: gravity)
    trajectory = simulate(integrator, integrator.initial_state(), dt=0.01, n_steps=100)

Layers, one concept per module: mesh → element (P1 kinematics) → material (ψ, P, A) → assembly
(fixed CSR pattern) → body (Π, f_int, K, M) → loads/boundary → newton/linear_solvers → static,
integrators, simulate, modal.
"""
from hodphys.fem.body import ElasticBody
from hodphys.fem.boundary import Dirichlet
from hodphys.fem.cantilever import Cantilever
from hodphys.fem.integrators import (
    INTEGRATORS,
    ImplicitEuler,
    Integrator,
    Newmark,
    State,
    make_integrator,
)
from hodphys.fem.loads import LoadHistory, body_force, end_load, surface_traction
from hodphys.fem.material import MATERIALS, NeoHookean, StVenantKirchhoff, make_material
from hodphys.fem.mesh import TetMesh, box_tet_mesh, read_mesh, write_mesh
from hodphys.fem.modal import Modes, modal_analysis
from hodphys.fem.newton import NewtonFailure, NewtonOptions
from hodphys.fem.simulate import SimulationError, StepHalvingWarning, Trajectory, simulate
from hodphys.fem.static import StaticResult, solve_static

__all__ = [
    "ElasticBody", "Dirichlet", "Cantilever", "INTEGRATORS", "ImplicitEuler", "Integrator",
    "Newmark", "State", "make_integrator", "LoadHistory", "body_force", "end_load",
    "surface_traction", "MATERIALS", "NeoHookean", "StVenantKirchhoff", "make_material",
    "TetMesh", "box_tet_mesh", "read_mesh", "write_mesh", "Modes", "modal_analysis",
    "NewtonFailure", "NewtonOptions", "SimulationError", "StepHalvingWarning", "Trajectory",
    "simulate", "StaticResult", "solve_static",
]

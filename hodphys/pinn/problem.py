"""A PINN problem composed of a geometry, a PDE residual and conditions — trained by hodphys.train.

Glossary: d inputs, m outputs, N points. The loss is the sum of named terms,
L = Σ_terms w · mean r², "pde" (the residual at interior points) plus one per condition:

    problem = Problem(config, SpaceTime(Interval(-1, 1), 0, 1),
                      pde=lambda f: f["u_t"] + f["u"] * f["u_x"] - nu * f["u_xx"],
                      needs=["u", "u_t", "u_x", "u_xx"], inputs=["x", "t"],
                      conditions=[Dirichlet(0.0), Initial(lambda x: -torch.sin(pi * x[:, :1]))])

``pde(f)`` reads the partials named in ``needs`` (one :func:`hodphys.partials` call) and the linear
combinations named in ``combos`` (``combos={"diffusion": {"u_t": 1.0, "u_xx": -nu}}`` → ``f["diffusion"]``;
a coefficient may be a trainable coefficient's name, e.g. ``"kappa"``, or ``"-kappa"``), the input
columns (``f["x"]``, (N, 1)), the points (``f["points"]``, (N, d)) and trainable ``coefficients``
(``f["nu"]``), and returns (N, ·).
A subclass may define ``residual(model, x)`` instead (and ``exact(x)``): the older box problems
``Problem(config, bounds, outputs)`` with Dirichlet data from ``boundary_values`` still work.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import hodphys as hp
from hodphys.io.runs import Run
from hodphys.nn import HardConstraint
from hodphys.partials import Plan, PreparedPartials, default_names, jet_supported, parse
from hodphys.pinn import evaluation, outputs
from hodphys.pinn.conditions import Condition, Dirichlet, Observations
from hodphys.pinn.geometry import Box, Geometry
from hodphys.pinn.model import PinnModel, mlp, normalizing_layer
from hodphys.train.config import TrainConfig, dtype_of, validate

Batch = dict[str, Tensor]  # "interior" (N, d); per condition c: c (N_c, d), c_values, c_normals, …


class Problem:
    """Geometry + PDE residual + conditions (+ reference, coefficients, transforms); see module doc.

    Args:
        config: a :class:`TrainConfig` subclass (``sampling`` = "uniform"/"sobol"/"halton" if it has one).
        geometry: a :class:`~hodphys.pinn.geometry.Geometry`, or box ``bounds`` [(a_1, b_1), …].
        outputs: m; names: one per output (default u for m = 1, else u0 …).
        pde: the residual on the named fields (a dict of (N, 1) partials) → (N, ·).
        needs: the partials ``pde`` reads (names as in :func:`hodphys.partials.partials`).
        conditions: :class:`~hodphys.pinn.conditions.Condition` objects (names must differ).
        inputs: names of x's columns (default x, y, z; "t" is time: Δ skips it).
        exact: reference u*(x) (N, d) → (N, m); reference: or a table (points (M, d), values (M, m)).
        coefficients: trainable PDE coefficients {name: initial value} (inverse problems).
        input_transform: a module before the MLP (e.g. :class:`hodphys.nn.FourierFeatures`).
        output_transform: (g, ℓ) for u = g(x) + ℓ(x)·N(x) (:class:`hodphys.nn.HardConstraint`).
        combos: linear combinations of one output's partials ``pde`` reads by name (a forward jet carries
            each as one row: the fast path under torch.compile, see docs/pinn.md).
    """

    def __init__(self, config: TrainConfig, geometry: Geometry | Sequence[tuple[float, float]] | None = None,
                 outputs: int = 1, names: Sequence[str] | None = None, *,
                 bounds: Sequence[tuple[float, float]] | None = None, pde: Callable[[dict], Tensor] | None = None,
                 needs: Sequence[str] = (), conditions: Sequence[Condition] | None = None,
                 inputs: Sequence[str] | None = None, exact: Callable[[Tensor], Tensor] | None = None,
                 reference: tuple[Tensor, Tensor] | None = None, coefficients: dict[str, float] | None = None,
                 input_transform: nn.Module | None = None,
                 output_transform: tuple[Callable, Callable] | None = None,
                 combos: dict[str, dict[str, float | str]] | None = None):
        validate(config)
        self.config, self.dtype, self.device = config, dtype_of(config), torch.device("cpu")
        self.sampling = getattr(config, "sampling", "uniform")
        geometry = bounds if geometry is None else geometry
        self.geometry = geometry if isinstance(geometry, Geometry) else _box(geometry or [])
        if names is not None and len(names) != outputs:
            raise ValueError(f"Problem: expected {outputs} output names, got {list(names)}")
        self.outputs = outputs
        self.names = list(names) if names is not None else (["u"] if outputs == 1 and pde else
                                                            [f"u{k}" for k in range(outputs)])
        self.inputs = list(inputs) if inputs is not None else list(default_names("x", self.geometry.dim, "xyz"))
        if len(self.inputs) != self.geometry.dim:
            raise ValueError(f"Problem: expected {self.geometry.dim} input names, got {self.inputs}")
        self.pde, self.needs, self._exact, self.reference = pde, list(needs), exact, reference
        self.combos, self._prepared = dict(combos or {}), {}
        self.coefficients = dict(coefficients or {})
        self.input_transform, self.output_transform = input_transform, output_transform
        self.conditions = list(conditions) if conditions is not None else self._legacy_conditions()
        self._bind_conditions()

    def _legacy_conditions(self) -> list[Condition]:
        """A box problem's Dirichlet data (``boundary_values``) and observations (``data()``)."""
        conditions: list[Condition] = [Dirichlet(lambda x: self._checked("boundary_values", x),
                                                 weight=self.config.boundary_weight, name="boundary")]
        observed = self.data()
        if observed is not None:
            x, y = observed
            conditions.append(Observations(x, self._checked("data", x, y), weight=self.config.data_weight))
        return conditions

    def _bind_conditions(self) -> None:
        seen = {"pde", "interior"}
        for condition in self.conditions:
            if not isinstance(condition, Condition):
                raise TypeError(f"Problem: conditions must be Condition objects, got {type(condition).__name__}")
            if condition.name in seen:
                raise ValueError(f"Problem: two loss terms named {condition.name!r}; "
                                 f"give the conditions distinct names")
            seen.add(condition.name)
            condition.bind(self)

    # --- what a subclass may define instead of pde/exact ----------------------------------------------
    def residual(self, model: nn.Module, x: Tensor) -> Tensor:
        """The PDE residual at interior points, (N, d) → (N, ·); zero at the solution."""
        if self.pde is None:
            raise NotImplementedError(f"{type(self).__name__} must define residual(model, x) or pass pde=")
        return self.pde(self.fields(model, x))

    def exact(self, x: Tensor) -> Tensor | None:
        return self._exact(x) if self._exact is not None else None

    def boundary_values(self, x: Tensor) -> Tensor:
        values = self.exact(x)
        if values is None:
            raise NotImplementedError(f"{type(self).__name__} has no exact solution: define boundary_values(x)")
        return values

    def data(self) -> tuple[Tensor, Tensor] | None:
        return None

    def _checked(self, what: str, x: Tensor, values: Any = None) -> Tensor:
        values = getattr(self, what)(x) if values is None else values
        expected = (x.shape[0], self.outputs)
        if not isinstance(values, Tensor) or tuple(values.shape) != expected:
            got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(f"{type(self).__name__}.{what} must return a tensor of shape (N, m) = {expected} "
                             f"for {x.shape[0]} points and m = {self.outputs} outputs, got {got}")
        return values

    # --- derivatives --------------------------------------------------------------------------------
    def network(self, model: nn.Module) -> nn.Module:
        """The function x ↦ u (the model without its coefficients)."""
        return model.net if isinstance(model, PinnModel) else model

    def partials(self, model: nn.Module, x: Tensor, spec: Sequence[str],
                 combos: dict[str, dict[str, float | str]] | None = None) -> dict[str, Tensor]:
        """hp.partials of the network with the problem's names and ``derivative_method`` (prepared once
        per spec: parsed once, traceable by torch.compile)."""
        key = (tuple(spec), tuple(combos or ()))
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = PreparedPartials(spec, self.inputs, self.names,
                                                              self.config.derivative_method,
                                                              self._coefficients_in(self._known(model), combos or {}))
        return prepared(self.network(model), x)

    def pde_plan(self, coefficients: dict[str, Tensor]) -> Plan:
        """The parsed ``needs`` and ``combos`` (coefficient names bound to ``coefficients``): what the
        residual reads, for code that takes the partials its own way (the bench's contenders)."""
        return parse("Problem", self.needs, self.inputs, self.names, self._coefficients_in(coefficients, self.combos))

    def _coefficients_in(self, known: Any, combos: dict) -> dict:
        """combos with coefficient names ("kappa", "-kappa") replaced by the tensors of ``known`` (a model's
        trainable coefficients)."""

        def value(name: str, c: float | str) -> float | Tensor | Callable[[], Tensor]:
            if not isinstance(c, str):
                return float(c)
            sign, key = (-1.0, c[1:]) if c.startswith("-") else (1.0, c)
            if key not in known:
                raise ValueError(f"Problem: combos[{name!r}] names coefficient {c!r}; the problem's "
                                 f"coefficients are {sorted(known)}")
            parameter = known[key]  # read at each call (it trains), not once
            return parameter if sign == 1.0 else (lambda: -parameter)
        return {name: {part: value(name, c) for part, c in parts.items()} for name, parts in combos.items()}

    @staticmethod
    def _known(model: nn.Module) -> Any:
        return model.coefficients if isinstance(model, PinnModel) else {}

    def compile_friendly(self, model: nn.Module) -> bool:
        """Whether torch.compile can trace the loss: the partials by the jet (``derivative_method`` "auto"
        or "jet", every layer with an analytic rule, no output transform)."""
        return self.config.derivative_method in ("auto", "jet") and jet_supported(self.network(model))

    def laplacian(self, model: nn.Module, x: Tensor) -> Tensor:
        """Δu_k at x, (N, d) → (N, m) (box problems' helper)."""
        return hp.laplacian(self.network(model), x, method=self.config.derivative_method)

    def fields(self, model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        """What ``pde`` reads: the partials of ``needs``, input columns (and "points", x itself) and
        coefficients."""
        fields = {"points": x, **{name: x[:, i:i + 1] for i, name in enumerate(self.inputs)}}
        if isinstance(model, PinnModel):
            fields.update(model.coefficients.items())
        fields.update(self.partials(model, x, self.needs, self.combos) if self.needs or self.combos else {})
        return fields

    # --- model and points ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        """The MLP d → widths → m (after ``input_transform``, inside ``output_transform``, with the
        frozen output scaling of ``normalize_outputs``), wrapped with the coefficients if any."""
        config = self.config
        first = self.input_transform
        net = mlp(first.out_features if first is not None else self.geometry.dim, config.widths, self.outputs,
                  config.activation)
        if first is not None:
            net = nn.Sequential(first, *net)
        if config.normalize_outputs:
            net.append(normalizing_layer(self._normalizing_values()))
        if self.output_transform is not None:
            net = HardConstraint(net, *self.output_transform)
        if self.coefficients:
            net = PinnModel(net, self.coefficients)
        return net.to(dtype=self.dtype, device=self.device)

    def _normalizing_values(self) -> Tensor:
        """The first Dirichlet condition's data at 4096 boundary points (not the training stream)."""
        dirichlet = next((c for c in self.conditions if isinstance(c, Dirichlet)), None)
        if dirichlet is None:
            raise ValueError("config key 'normalize_outputs': needs a Dirichlet condition to set the output scale")
        generator = torch.Generator().manual_seed(self.config.seed + 104729)
        x, _ = self.geometry.sample_boundary(4096, generator, dirichlet.on)
        values = torch.zeros(x.shape[0], self.outputs, dtype=torch.float64)
        values[:, dirichlet.components] = dirichlet.target(dirichlet.value, x).double()
        return values

    def sample_interior(self, n: int, generator: torch.Generator) -> Tensor:
        return self._to(self.geometry.sample_interior(n, generator, self.sampling))

    def sample_boundary(self, n: int, generator: torch.Generator) -> Tensor:
        return self._to(self.geometry.sample_boundary(n, generator, "boundary", self.sampling)[0])

    def _to(self, x: Tensor) -> Tensor:
        return x.to(dtype=self.dtype, device=self.device)

    def sample(self, generator: torch.Generator, n_interior: int | None = None) -> Batch:
        """Fresh collocation points and each condition's points (and data), cast to the dtype."""
        batch = {"interior": self.sample_interior(n_interior or self.config.n_interior, generator)}
        for condition in self.conditions:
            batch.update({k: self._to(v) for k, v in condition.sample(self, generator).items()})
        return batch

    # --- loss ---------------------------------------------------------------------------------------
    def checked_residual(self, model: nn.Module, x: Tensor) -> Tensor:
        """The residual as (N, k); (N,) becomes (N, 1); anything else is an error naming the shape."""
        r = self.residual(model, x)
        n = x.shape[0]
        if isinstance(r, Tensor) and r.ndim == 1 and r.shape[0] == n:
            return r[:, None]
        if not isinstance(r, Tensor) or r.ndim != 2 or r.shape[0] != n or (r.shape[1] == n and n > 1):
            got = tuple(r.shape) if isinstance(r, Tensor) else type(r).__name__
            hint = (" — an (N,) column met an (N, 1) one and broadcast to (N, N); index with x[:, :1], not x[:, 0]"
                    if isinstance(r, Tensor) and r.ndim == 2 and r.shape == (n, n) else "")
            raise ValueError(f"{type(self).__name__}: the PDE residual must have shape (N, ·) = ({n}, k) for "
                             f"N = {n} points, got {got}{hint}")
        return r

    def loss_terms(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """mean r² per named term: "pde" and one per condition."""
        terms = {"pde": self.checked_residual(model, batch["interior"]).square().mean()}
        for condition in self.conditions:
            terms[condition.name] = condition.loss(self, model, batch)
        return terms

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """L = pde + Σ_c w_c · term_c; the logged values are the terms and the coefficients."""
        terms = self.loss_terms(model, batch)
        weights = {c.name: c.weight for c in self.conditions}
        total = sum(value if weights.get(name, 1.0) == 1.0 else weights[name] * value  # no op for weight 1
                    for name, value in terms.items())
        if isinstance(model, PinnModel):
            terms.update({f"coefficient_{k}": v.detach() for k, v in model.coefficients.items()})
        return total, terms

    # --- evaluation and outputs ---------------------------------------------------------------------
    def evaluation_points(self) -> Tensor:
        return evaluation.points(self)

    def plane(self, size: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        return evaluation.plane(self, size)

    @torch.no_grad()
    def predict(self, model: nn.Module, x: Tensor, chunk: int = 16384) -> Tensor:
        net = self.network(model)
        return torch.cat([net(part) for part in x.split(chunk)])

    def metrics(self, model: nn.Module) -> dict[str, Any]:
        return evaluation.metrics(self, model)

    def write_outputs(self, model: nn.Module, run: Run, stages: dict[str, list[int]] | None = None) -> list[Path]:
        return outputs.write(self, model, run, stages)


def _box(bounds: Sequence[tuple[float, float]]) -> Box:
    if not bounds or any(not a < b for a, b in bounds):
        raise ValueError(f"Problem: expected bounds [(a_1, b_1), …] with a_i < b_i, got {list(bounds)}")
    return Box([a for a, _ in bounds], [b for _, b in bounds])

"""The names a PDE residual reads, parsed into a :class:`Plan` (what ``hp.partials`` computes).

Glossary: d inputs, m outputs. Names: "u" (value), "u_t" (∂u/∂t), "u_xx", "u_xy" (second partials),
"lap(u)" (Δu over every input but one named t); a combination {partial: coefficient} of one output's
partials is one entry of its own. :func:`parse` checks a spec against the input and output names and
raises ValueError naming the bad entry.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

REVERSE = "reverse"
JET = "jet"
_LAPLACIAN = re.compile(r"^lap\((.+)\)$")


@dataclass(frozen=True)
class Plan:
    """A parsed spec: per name what it is — ("value", k), ("first", k, i), ("second", k, i, j) with
    i ≤ j, or ("lap", k) — and the inputs Δ sums over."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    terms: dict[str, tuple]
    spatial: tuple[int, ...]
    first: frozenset = field(default=frozenset())  # (k, i)
    second: frozenset = field(default=frozenset())  # (k, i, j), i ≤ j
    laplacian: frozenset = field(default=frozenset())  # k
    combos: dict = field(default_factory=dict)  # name → (k, ((part name, part term, coefficient), …))

    def expanded(self) -> Plan:
        """The plan with each combination's parts as terms of their own (for the ways that cannot collapse)."""
        parts = {part: term for _, spec in self.combos.values() for part, term, _ in spec}
        return _plan(self.inputs, self.outputs, {**parts, **self.terms}, self.spatial)

    def hessian_rows(self) -> list[tuple[int, int]]:
        """(k, i): the Hessian rows ∇(∂u_k/∂x_i) reverse mode differentiates (few as it can)."""
        rows: list[tuple[int, int]] = [(k, i) for k in sorted(self.laplacian) for i in self.spatial]
        for k, i, j in sorted(self.second):
            if (k, i) not in rows and (k, j) not in rows:
                rows.append((k, i))
        return rows


def default_names(prefix: str, count: int, short: str) -> tuple[str, ...]:
    """x, y, z (or u) for few, else x1 … xd (u0 … u{m−1})."""
    if count <= len(short):
        return tuple(short[:count])
    return tuple(f"{prefix}{k + (prefix == 'x')}" for k in range(count))


def _split(call: str, spec: str, names: Sequence[str], what: str) -> tuple[int, str]:
    """The longest output name spec starts with, and the rest."""
    for k, name in sorted(enumerate(names), key=lambda kv: -len(kv[1])):
        if spec == name or spec.startswith(name + "_"):
            return k, spec[len(name) + 1:]
    raise ValueError(f"{call}: {spec!r} names no {what}; expected one of {list(names)} "
                     f"(e.g. {names[0]!r}, '{names[0]}_x', 'lap({names[0]})')")


def _indices(call: str, spec: str, rest: str, inputs: Sequence[str]) -> list[int]:
    """The inputs a derivative suffix names, e.g. "xt" → [0, 1] (longest names first)."""
    out: list[int] = []
    while rest:
        match = next(((i, n) for i, n in sorted(enumerate(inputs), key=lambda kv: -len(kv[1]))
                      if rest.startswith(n)), None)
        if match is None:
            raise ValueError(f"{call}: {spec!r}: {rest!r} names no input; inputs are {list(inputs)}")
        out.append(match[0])
        rest = rest[len(match[1]):]
    if len(out) > 2:
        raise ValueError(f"{call}: {spec!r} is a derivative of order {len(out)}; hp.partials computes "
                         f"orders ≤ 2 (use hp.directional for higher ones)")
    return out


def _term(call: str, name: str, inputs: Sequence[str], outputs: Sequence[str]) -> tuple:
    """("value", k), ("first", k, i), ("second", k, i, j) with i ≤ j, or ("lap", k) for one name."""
    matched = _LAPLACIAN.match(name)
    if matched:
        k, rest = _split(call, matched.group(1), outputs, "output")
        if rest:
            raise ValueError(f"{call}: {name!r}: expected lap(<output>), e.g. 'lap({outputs[0]})'")
        return ("lap", k)
    k, rest = _split(call, name, outputs, "output")
    index = _indices(call, name, rest, inputs)
    if len(index) == 0:
        return ("value", k)
    if len(index) == 1:
        return ("first", k, index[0])
    return ("second", k, *sorted(index))


def _plan(inputs: tuple, outputs: tuple, terms: dict, spatial: tuple, combos: dict | None = None) -> Plan:
    kinds = {kind: {t[1:] for t in terms.values() if t[0] == kind} for kind in ("first", "second", "lap")}
    return Plan(inputs, outputs, terms, spatial, frozenset(kinds["first"]), frozenset(kinds["second"]),
                frozenset(k for k, in kinds["lap"]), combos or {})


def _combo(call: str, name: str, parts: dict, inputs: Sequence[str], outputs: Sequence[str]) -> tuple:
    """(k, ((part, term, coefficient), …)) for a combination {part: coefficient} of one output's partials."""
    if not isinstance(parts, dict) or not parts:
        raise ValueError(f"{call}: combos[{name!r}]: expected a dict {{partial: coefficient}} such as "
                         f"{{'u_t': 1.0, 'u_xx': -0.01}}, got {parts!r}")
    spec = tuple((part, _term(call, part, inputs, outputs), c) for part, c in parts.items())
    if any(term[0] == "value" for _, term, _ in spec) or len({term[1] for _, term, _ in spec}) > 1:
        raise ValueError(f"{call}: combos[{name!r}]: expected first or second partials (or lap) of one "
                         f"output, got {list(parts)}")
    return spec[0][1][1], spec


def parse(call: str, spec: Sequence[str], inputs: Sequence[str], outputs: Sequence[str],
          combos: dict[str, dict] | None = None) -> Plan:
    """Check a spec (and combinations) against the input and output names; ValueError names the bad entry."""
    if isinstance(spec, str) or not (spec or combos):
        raise ValueError(f"{call}: expected a non-empty list of names such as ['u_t', 'u_xx'], got {spec!r}")
    spatial = tuple(i for i, n in enumerate(inputs) if n != "t")
    terms = {name: _term(call, name, inputs, outputs) for name in spec}
    combos = {name: _combo(call, name, parts, inputs, outputs) for name, parts in (combos or {}).items()}
    clash = sorted(set(combos) & set(terms))
    if clash:
        raise ValueError(f"{call}: combos {clash} are also named in spec; give combinations their own names")
    return _plan(tuple(inputs), tuple(outputs), terms, spatial, combos)

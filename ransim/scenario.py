"""A simulated RAN from a scenario (schemas/ransim-scenario.json): E2 nodes with several cells,
each cell in an environment of a channel catalogue, every cell reporting its UEs' CSI once per
period, and cells moving to other environments at given moments.

    ran = Ran(Scenario.load("scenario.json"), cache=ChannelCache())
    for ind in ran.step():            # one report period: moves due now, then a report per cell
        ric.indication(ind.node_id, ind.pdu)

Time is simulated: ``step`` advances the clock by one period, so a run is as fast as the
xApp serves it and repeatable (seeded UE draws).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lasco.channels import Catalogue, ChannelCache, paper_catalogue
from lasco.codec import Projection
from lasco.errors import CatalogueError, ConfigError
from ransim.node import Cell, E2Node
from schemas import SchemaValidationError, load, validate

__all__ = ["Indication", "Move", "NodePlan", "Ran", "Scenario"]

_DEFAULTS = {k: v.get("default") for k, v in load("ransim-scenario")["properties"].items()}


@dataclass(frozen=True)
class Move:
    """Cell ``cell`` is in environment ``environment`` from ``at_s`` simulated seconds on."""

    at_s: float
    cell: str
    environment: str


@dataclass(frozen=True)
class NodePlan:
    """An E2 node and its cells: ``{cell id: environment id at the start}``."""

    node_id: str
    cells: Mapping[str, str]
    ran_function_id: int = 7


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build it with :meth:`from_dict` or :meth:`load`."""

    nodes: tuple[NodePlan, ...]
    moves: tuple[Move, ...] = ()
    period_ms: int = _DEFAULTS["period_ms"]
    ues_per_report: int = _DEFAULTS["ues_per_report"]
    label_fraction: float = _DEFAULTS["label_fraction"]
    samples_per_environment: int = _DEFAULTS["samples_per_environment"]
    projection: str = _DEFAULTS["projection"]
    seed: int = _DEFAULTS["seed"]
    catalogue: Catalogue = field(default_factory=paper_catalogue, repr=False, compare=False)

    @classmethod
    def from_dict(cls, obj: Any, catalogue: Catalogue | None = None) -> Scenario:
        """Validate ``obj`` against the schema, then its references: unique cell ids, moves of
        known cells, environments the catalogue has (ConfigError naming what is wrong)."""
        try:
            validate("ransim-scenario", obj)
        except SchemaValidationError as exc:
            raise ConfigError(f"scenario: {exc}") from None
        cat = catalogue or paper_catalogue()
        nodes = tuple(
            NodePlan(
                n["id"],
                {c["id"]: c["environment"] for c in n["cells"]},
                n.get("ran_function_id", 7),
            )
            for n in obj["nodes"]
        )
        cells = [c["id"] for n in obj["nodes"] for c in n["cells"]]
        if len(set(cells)) != len(cells):
            raise ConfigError(f"scenario: a cell id is used twice in {cells}")
        if len({n.node_id for n in nodes}) != len(nodes):
            raise ConfigError("scenario: an E2 node id is used twice")
        moves = tuple(
            Move(float(m["at_s"]), m["cell"], m["environment"]) for m in obj.get("moves", [])
        )
        for m in moves:
            if m.cell not in cells:
                raise ConfigError(f"scenario: a move names cell {m.cell!r}, which no node has")
        envs = {e for n in nodes for e in n.cells.values()} | {m.environment for m in moves}
        for env in sorted(envs):
            try:
                cat.get(env)
            except CatalogueError as exc:
                raise ConfigError(f"scenario: {exc}") from None
        rest = {k: obj[k] for k in _DEFAULTS if k not in ("nodes", "moves") and k in obj}
        return cls(nodes, tuple(sorted(moves, key=lambda m: m.at_s)), catalogue=cat, **rest)

    @classmethod
    def load(cls, path: str | Path, catalogue: Catalogue | None = None) -> Scenario:
        """Read a scenario JSON file (ConfigError when it cannot be read or is invalid)."""
        try:
            obj = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"scenario {path}: {exc}") from None
        return cls.from_dict(obj, catalogue)

    def cells(self) -> dict[str, str]:
        """``{cell id: E2 node id}`` of every cell."""
        return {c: n.node_id for n in self.nodes for c in n.cells}


@dataclass(frozen=True)
class Indication:
    """One cell's report of one period: the E2AP PDU and the UEs' true CSI."""

    t_s: float
    node_id: str
    cell: str
    environment: str
    pdu: bytes
    h: np.ndarray  # [n_ues, 2, 32, 32] float32, the true CSI (for measuring, not sent)


class Ran:
    """The E2 nodes of a scenario and its clock.

    Args:
        scenario: what to simulate.
        cache: where channels are cached (default: the library's cache folder).
    """

    def __init__(self, scenario: Scenario, cache: ChannelCache | None = None) -> None:
        self.scenario, self.cache = scenario, cache
        self.projection = Projection.from_id(scenario.projection)
        cat, n = scenario.catalogue, scenario.samples_per_environment
        self.nodes = {
            plan.node_id: E2Node(
                plan.node_id,
                [Cell(c, cat.get(env), n) for c, env in plan.cells.items()],
                self.projection,
                ran_function_id=plan.ran_function_id,
                label_fraction=scenario.label_fraction,
                seed=scenario.seed + i,
                cache=cache,
            )
            for i, plan in enumerate(scenario.nodes)
        }
        self._node_of = scenario.cells()
        self._pending = list(scenario.moves)
        self.t_s = 0.0
        self.moved: list[Move] = []

    def environment(self, cell: str) -> str:
        """The environment a cell is in now."""
        return self.nodes[self._node_of[cell]].cells[cell].env.env_id

    def move(self, cell: str, environment: str) -> Move:
        """Put ``cell`` in ``environment`` now (ConfigError: no such cell or environment)."""
        if cell not in self._node_of:
            raise ConfigError(f"no cell {cell!r} in this RAN")
        try:
            env = self.scenario.catalogue.get(environment)
        except CatalogueError as exc:
            raise ConfigError(str(exc)) from None
        self.nodes[self._node_of[cell]].move(cell, env, self.cache)
        move = Move(self.t_s, cell, environment)
        self.moved.append(move)
        return move

    def _apply_moves(self) -> None:
        while self._pending and self._pending[0].at_s <= self.t_s + 1e-9:
            move = self._pending.pop(0)
            self.move(move.cell, move.environment)

    def step(self) -> list[Indication]:
        """One report period: apply the moves due now, then one indication per cell."""
        self._apply_moves()
        out = []
        for node in self.nodes.values():
            for cell in node.cells:
                for pdu, h in node.indication_pdus(cell, self.scenario.ues_per_report):
                    env = self.environment(cell)
                    out.append(Indication(self.t_s, node.node_id, cell, env, pdu, h))
        self.t_s += self.scenario.period_ms / 1e3
        return out

    def run(self, until_s: float) -> Iterator[Indication]:
        """Every indication until the clock reaches ``until_s``."""
        while self.t_s < until_s - 1e-9:
            yield from self.step()

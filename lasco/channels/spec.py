"""Environment specs and catalogues: an environment is data, not code.

An :class:`EnvSpec` says where and how to draw a region's channels: the 3GPP
scenario (TR 38.901 UMi, UMa, RMa, InH, or a CDL-A..E profile), the centre and
radius of the region (metres, BS at the origin, array boresight along +x), the
LOS state, and a seed. A catalogue is a list of entries, each a spec plus a role
(``source`` regions pool into pre-training, ``target`` regions are adapted to);
it reads from and writes to plain JSON, so users define new environments
without code changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lasco.errors import CatalogueError

__all__ = [
    "CDL_PROFILES",
    "GENERATOR_VERSION",
    "ROLES",
    "SCENARIOS",
    "Catalogue",
    "CatalogueEntry",
    "EnvSpec",
    "parse_region_list",
]

SCENARIOS: tuple[str, ...] = ("UMi", "UMa", "RMa", "InH")
CDL_PROFILES: tuple[str, ...] = ("CDL-A", "CDL-B", "CDL-C", "CDL-D", "CDL-E")
ROLES: tuple[str, ...] = ("source", "target")
GENERATOR_VERSION = "lasco-channels/1"
"""Bumped whenever generation changes, so stale cache shards are never reused."""

# Default heights [m] per scenario (TR 38.901 Table 7.2-1 / 7.4-1).
_BS_HEIGHT = {"UMi": 10.0, "UMa": 25.0, "RMa": 35.0, "InH": 3.0}
_UT_HEIGHT = {"UMi": 1.5, "UMa": 1.5, "RMa": 1.5, "InH": 1.0}


@dataclass(frozen=True)
class EnvSpec:
    """One environment (region) of the channel generator.

    Attributes:
        env_id: region name, e.g. ``"101"``.
        scenario: one of SCENARIOS or CDL_PROFILES.
        centre: region centre (x, y) [m]; the BS stands at (0, 0).
        radius: region radius [m]; UEs are drawn uniformly inside the disc.
        los: True forces LOS, False NLOS, None lets TR 38.901 draw it.
        seed: seed of the UE positions and of every random draw of the region.
        bs_height, ut_height: [m]; None takes the scenario's default.
        carrier_hz: carrier frequency [Hz] (paper: 2.655 GHz).
        bandwidth_hz: bandwidth spanned by the CSI subcarriers [Hz] (paper: 70 MHz).
        n_ant: BS antennas (ULA, half-wavelength spacing); n_sc: CSI subcarriers.
        delay_spread_s: RMS delay spread [s] of CDL profiles (ignored otherwise).
        snapshot_ues: UEs drawn together in one spatially consistent topology snapshot;
            a region with more samples is drawn in several snapshots (see generate.py).
    """

    env_id: str
    scenario: str = "UMi"
    centre: tuple[float, float] = (50.0, 0.0)
    radius: float = 5.0
    los: bool | None = None
    seed: int = 0
    bs_height: float | None = None
    ut_height: float | None = None
    carrier_hz: float = 2.655e9
    bandwidth_hz: float = 70e6
    n_ant: int = 32
    n_sc: int = 32
    delay_spread_s: float = 100e-9
    snapshot_ues: int = 1000

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS + CDL_PROFILES:
            raise CatalogueError(
                f"region {self.env_id!r}: unknown scenario {self.scenario!r}; "
                f"expected one of {', '.join(SCENARIOS + CDL_PROFILES)}"
            )
        if not self.radius > 0:
            raise CatalogueError(f"region {self.env_id!r}: radius must be > 0, got {self.radius}")
        if self.snapshot_ues < 1:
            raise CatalogueError(f"region {self.env_id!r}: snapshot_ues must be >= 1")
        if len(self.centre) != 2:
            raise CatalogueError(f"region {self.env_id!r}: centre must be [x, y]")
        object.__setattr__(self, "centre", (float(self.centre[0]), float(self.centre[1])))
        if (self.n_ant, self.n_sc) != (32, 32):
            raise CatalogueError(
                f"region {self.env_id!r}: CSI must be 32 antennas x 32 subcarriers "
                f"(got {self.n_ant} x {self.n_sc}); the models and the codec assume 2048 values"
            )

    @property
    def is_cdl(self) -> bool:
        return self.scenario in CDL_PROFILES

    @property
    def bs_h(self) -> float:
        return self.bs_height if self.bs_height is not None else _BS_HEIGHT.get(self.scenario, 10.0)

    @property
    def ut_h(self) -> float:
        return self.ut_height if self.ut_height is not None else _UT_HEIGHT.get(self.scenario, 1.5)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["centre"] = list(self.centre)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise CatalogueError(f"environment spec has unknown fields: {sorted(unknown)}")
        if "env_id" not in d:
            raise CatalogueError("environment spec lacks 'env_id'")
        d = dict(d, env_id=str(d["env_id"]))
        if "centre" in d:
            d["centre"] = tuple(d["centre"])
        return cls(**d)

    def key(self) -> str:
        """Content hash of the spec and the generator version: the cache key."""
        blob = json.dumps([GENERATOR_VERSION, self.to_dict()], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CatalogueEntry:
    spec: EnvSpec
    role: str = "source"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise CatalogueError(
                f"region {self.spec.env_id!r}: role {self.role!r} is not one of {ROLES}"
            )


@dataclass
class Catalogue:
    """An ordered set of environments, each a source or a target."""

    name: str
    entries: list[CatalogueEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for e in self.entries:
            if e.spec.env_id in seen:
                raise CatalogueError(f"catalogue {self.name!r}: region {e.spec.env_id!r} twice")
            seen.add(e.spec.env_id)

    def __len__(self) -> int:
        return len(self.entries)

    def ids(self, role: str | None = None) -> list[str]:
        return [e.spec.env_id for e in self.entries if role is None or e.role == role]

    def get(self, env_id: str) -> EnvSpec:
        for e in self.entries:
            if e.spec.env_id == str(env_id):
                return e.spec
        raise CatalogueError(f"catalogue {self.name!r} has no region {env_id!r}")

    def hash(self) -> str:
        blob = json.dumps([[e.role, e.spec.to_dict()] for e in self.entries], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> list[dict[str, Any]]:
        return [dict(e.spec.to_dict(), role=e.role) for e in self.entries]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Catalogue:
        """Read a JSON list of specs, each with an optional ``role`` (default source)."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise CatalogueError(f"catalogue file {str(path)!r} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"catalogue file {str(path)!r} is not JSON: {exc}") from exc
        if not isinstance(raw, list) or not raw:
            raise CatalogueError(f"catalogue file {str(path)!r} must hold a non-empty JSON list")
        entries = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise CatalogueError(f"catalogue file {str(path)!r}: entry {i} is not an object")
            item = dict(item)
            role = item.pop("role", "source")
            entries.append(CatalogueEntry(EnvSpec.from_dict(item), role))
        return cls(name=path.stem, entries=entries)


def parse_region_list(text: str) -> list[str]:
    """``"1-4,101"`` -> ``["1", "2", "3", "4", "101"]``; a part that is not two numbers
    around a dash is a region name (``"uma-los"``), which the catalogue checks."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, dash, hi = part.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            if int(lo) > int(hi):
                raise CatalogueError(f"region range {part!r} is not of the form 'A-B' with A <= B")
            out.extend(str(i) for i in range(int(lo), int(hi) + 1))
        else:
            out.append(part)
    if not out:
        raise CatalogueError(f"region list {text!r} names no region")
    return out

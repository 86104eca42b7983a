"""The parts the rApp's loop (:class:`rapp.controller.RappController`) is given and keeps: how it
adapts an environment, where it reads samples, its settings, and a triggered adaptation that
waits for its samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from datastore import LabelledSamples
from rapp.adapt_settings import RunningProxy

__all__ = ["Adapter", "ControllerSettings", "Pending", "SampleSource"]


class Adapter(Protocol):
    """Adapts one environment on its samples; returns ``AdaptationOutcome.to_dict()``."""

    def __call__(
        self, environment: str, samples: LabelledSamples, running: RunningProxy | None
    ) -> dict[str, Any]: ...


class SampleSource(Protocol):
    """The data store's reader (``datastore.DataReader``)."""

    def read(
        self, environment: str, max_samples: int | None = None, since_ns: int | None = None
    ) -> LabelledSamples: ...

    def count(self, environment: str) -> int: ...


@dataclass(frozen=True)
class ControllerSettings:
    """The loop's settings.

    Attributes:
        min_fresh_samples: labelled samples an adaptation waits for after its trigger (the
            adaptation's own ``min_samples`` refuses fewer; waiting for them avoids a certain
            decline).
        max_samples: the newest samples an adaptation reads at most.
        new_environment_samples: a cell no policy maps becomes an environment of its own
            once it has this many labelled samples (None: this trigger is off).
        pending_timeout_s: a trigger whose samples do not arrive in this long is dropped.
        store_uri: the model store as the xApp reaches it (written into policies).
    """

    min_fresh_samples: int = 256
    max_samples: int = 4000
    new_environment_samples: int | None = None
    pending_timeout_s: float = 600.0
    store_uri: str = "default"


@dataclass(frozen=True)
class Pending:
    """A triggered adaptation waiting for its samples: ``cells`` of ``environment`` (with the
    data key each cell's samples are filed under), reported at or after ``since_ns``."""

    environment: str
    cells: tuple[str, ...]
    keys: tuple[str, ...]
    since_ns: int
    trigger: str
    created_ns: int
    running: RunningProxy | None = None
    origin_environment: str | None = None

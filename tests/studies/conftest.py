"""The tiny study, run once for the tests of the runner, the summary and the report."""

import pytest
import torch

from lasco.channels import ChannelCache
from lasco.models import build_model
from tests.studies.tiny import TINY, TinyStudy, run_tiny


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyStudy:
    """Every cell of a two-region study with tiny models: 22 cells, a few seconds."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("study")
    lam, ref = build_model("tiny").eval(), build_model("tiny").eval()
    cache = ChannelCache(folder / "cache")
    logs: list[str] = []
    report = run_tiny(TINY, lam, ref, cache, folder / "s.state.json", log=logs.append)
    return TinyStudy(TINY, lam, ref, cache, folder, report, logs)

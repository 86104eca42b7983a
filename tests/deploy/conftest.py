"""Renders of the charts shared by the deployment tests: each is rendered once a test run
(session scope), however many test modules read it. A render is a fresh list of dicts that
no test changes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.rapp_cases import CASES
from tests.deploy.rapp_chart import namespace_of
from tests.deploy.rapp_chart import render as render_rapp
from tests.deploy.xapp_chart import ALL_FEATURES, CONFIG, SERVICE_MONITOR_API, load_json
from tests.deploy.xapp_chart import render as render_xapp


# -- helm/csi-rapp ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """The rApp's chart: every case of ``rapp_cases.CASES``, rendered once."""
    return {case: render_rapp(values, namespace_of(case)) for case, values in CASES.items()}


# -- helm/csi-xapp ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def descriptor() -> dict:
    """The xApp's O-RAN SC descriptor as the chart ships it."""
    return load_json(CONFIG / "config-file.json")


@pytest.fixture(scope="session")
def defaults() -> list[dict]:
    """The xApp's chart with its default values."""
    return render_xapp()


@pytest.fixture(scope="session")
def featured() -> list[dict]:
    """The xApp's chart with every optional feature on, where the ServiceMonitor API is served."""
    return render_xapp(ALL_FEATURES, api_versions=SERVICE_MONITOR_API)

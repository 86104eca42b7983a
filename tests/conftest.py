import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# Fixtures that start a real server (tests/servers.py); a test using one, directly or
# through another fixture, is an integration test.
SERVER_FIXTURES = frozenset({"redis_server", "influx"})


def pytest_collection_modifyitems(items):
    """Mark every test that starts a Redis or InfluxDB server ``integration``, so that
    ``-m "not integration"`` runs without either installed."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def channel_cache(tmp_path_factory):
    """A channel cache for the whole test run: tests never touch the user's cache."""
    from lasco.channels import ChannelCache

    return ChannelCache(tmp_path_factory.mktemp("lasco-cache"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    from tests.servers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influx(tmp_path_factory):
    """InfluxDB 1.6.7 with the /api/v2/write bridge in front: (server, bridge)."""
    from tests.servers import InfluxServer, V2WriteBridge

    server = InfluxServer(tmp_path_factory.mktemp("influx"))
    bridge = V2WriteBridge(server.url)
    yield server, bridge
    bridge.stop()
    server.stop()

import os

import pytest

# Tests never touch the user's cache; each session gets its own.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def channel_cache(tmp_path_factory):
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

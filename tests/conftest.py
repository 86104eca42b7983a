import os

import pytest

# Tests never touch the user's cache; each session gets its own.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def channel_cache(tmp_path_factory):
    from lasco.channels import ChannelCache

    return ChannelCache(tmp_path_factory.mktemp("lasco-cache"))

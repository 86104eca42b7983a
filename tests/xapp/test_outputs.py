"""SDL entries and the labelled-sample data sets."""

import numpy as np

from xapp.outputs import DatasetSink, InMemorySdl, decode_csi_entry, encode_csi_entry


def test_a_csi_entry_round_trips_as_float16():
    h = np.random.default_rng(0).standard_normal((2, 32, 32)).astype(np.float32)
    entry = decode_csi_entry(encode_csi_entry(h, 123, "101", 2))
    assert (entry["ts"], entry["env"], entry["sam_version"]) == (123, "101", 2)
    np.testing.assert_array_equal(entry["h_hat"], h.astype(np.float16).astype(np.float32))


def test_in_memory_sdl_has_the_four_calls():
    sdl = InMemorySdl()
    sdl.set("ns", {"a/1": b"x", "a/2": b"y", "b/1": b"z"})
    assert sdl.get("ns", ["a/1", "nope"]) == {"a/1": b"x"}
    assert sdl.find_and_get("ns", "a/") == {"a/1": b"x", "a/2": b"y"}
    sdl.remove("ns", ["a/1"])
    assert sdl.find_and_get("other", "") == {} and sdl.get("ns", ["a/1"]) == {}


def test_dataset_keeps_the_newest_samples_and_saves_them(tmp_path):
    sink = DatasetSink(max_per_env=3)
    for i in range(4):
        sink.add("101", np.full((1, 2, 32, 32), i, np.float32), np.full((1, 8), i, np.float32))
    assert sink.count("101") == 4
    h, s = sink.arrays("101")
    assert h[:, 0, 0, 0].tolist() == [1, 2, 3] and s.shape == (3, 8)
    [path] = sink.save(tmp_path)
    assert path.name == "101.npz" and np.load(path)["h"].shape == (3, 2, 32, 32)

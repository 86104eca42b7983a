import json

import numpy as np
import pytest

from lasco.channels import Catalogue, CatalogueEntry, EnvSpec, paper_catalogue, parse_region_list
from lasco.errors import CatalogueError


def test_paper_catalogue_layout_rule():
    cat = paper_catalogue()
    assert len(cat) == 110
    assert cat.ids("source") == [str(i) for i in range(1, 101)]
    assert cat.ids("target") == [str(i) for i in range(101, 111)]
    specs = [cat.get(str(i)) for i in range(1, 111)]
    assert all(s.scenario == "UMi" and s.radius == 5.0 for s in specs)
    assert all(s.los is (int(s.env_id) % 2 == 0) for s in specs)  # odd NLOS, even LOS
    c = np.array([s.centre for s in specs])
    dist = np.hypot(c[:, 0], c[:, 1])
    assert (dist + 5.0 <= 200.0).all() and (dist >= 20.0).all()
    assert (np.abs(np.degrees(np.arctan2(c[:, 1], c[:, 0]))) <= 60.0).all()
    pair = np.hypot(*(c[:, None, :] - c[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(pair, np.inf)
    assert pair.min() >= 10.0  # discs do not overlap


def test_paper_catalogue_is_seeded():
    assert paper_catalogue().hash() == paper_catalogue().hash()
    assert paper_catalogue(seed=1).hash() != paper_catalogue().hash()


def test_spec_json_roundtrip_and_key():
    s = EnvSpec("7", "UMa", (10.0, -3.5), radius=4.0, los=None, seed=9)
    t = EnvSpec.from_dict(json.loads(json.dumps(s.to_dict())))
    assert t == s and t.key() == s.key()
    assert EnvSpec("7", "UMa", (10.0, -3.5), radius=4.0, los=True, seed=9).key() != s.key()


def test_catalogue_file_roundtrip(tmp_path):
    cat = Catalogue(
        "mine",
        [
            CatalogueEntry(EnvSpec("a", "InH", (5.0, 5.0), seed=1), "source"),
            CatalogueEntry(EnvSpec("b", "CDL-C", seed=2), "target"),
        ],
    )
    path = tmp_path / "mine.json"
    cat.save(path)
    back = Catalogue.load(path)
    assert back.ids("source") == ["a"] and back.ids("target") == ["b"]
    assert back.get("b").scenario == "CDL-C"


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"env_id": "x", "scenario": "Mars"}, "unknown scenario 'Mars'"),
        ({"env_id": "x", "radius": 0}, "radius"),
        ({"env_id": "x", "colour": "red"}, "unknown fields"),
        ({"scenario": "UMi"}, "env_id"),
        ({"env_id": "x", "role": "referee"}, "role 'referee'"),
        ({"env_id": "x", "n_ant": 64}, "32 antennas"),
    ],
)
def test_bad_catalogue_entries_are_named(tmp_path, entry, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(path)


def test_missing_or_empty_catalogue(tmp_path):
    with pytest.raises(CatalogueError, match="does not exist"):
        Catalogue.load(tmp_path / "nope.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(CatalogueError, match="non-empty"):
        Catalogue.load(tmp_path / "empty.json")


def test_unknown_region_and_duplicates():
    with pytest.raises(CatalogueError, match="no region '999'"):
        paper_catalogue().get("999")
    with pytest.raises(CatalogueError, match="twice"):
        Catalogue("d", [CatalogueEntry(EnvSpec("a")), CatalogueEntry(EnvSpec("a"))])


def test_region_lists():
    assert parse_region_list("1-3,101") == ["1", "2", "3", "101"]
    assert parse_region_list("uma-los, cdl-a,7") == ["uma-los", "cdl-a", "7"]
    with pytest.raises(CatalogueError):
        parse_region_list("5-2")
    with pytest.raises(CatalogueError):
        parse_region_list(" , ")

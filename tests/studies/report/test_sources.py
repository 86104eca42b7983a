"""The report names no method and no sample size of its own: the proposed method, those
it is compared with and the headline size come from the report JSON (studies.summary),
and methods are named by lasco.collab's labels."""

import ast
from pathlib import Path

import pytest

import studies.report
from lasco.collab import METHODS
from studies.config import StudyConfig

MODULES = sorted(Path(studies.report.__file__).parent.glob("*.py"))
SIZES = {str(n) for n in StudyConfig().ns if str(n).isdigit()}
SIZES |= {f"{int(n):,}" for n in SIZES}


def _strings(tree: ast.AST):
    """Every string constant, but the field names of ``mem[...]`` (serving memory has a
    JSON field named ``lasco``) and of JSON fields such as ``e_lasco_alpha``."""
    skip = {
        id(node.slice)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "mem"
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.value


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_no_method_name_or_sample_size_is_spelled(path):
    tree = ast.parse(path.read_text())
    text = list(_strings(tree))
    keys = [s for s in text if s in METHODS or s.replace("_", "-") in METHODS]
    labels = [s for s in text for info in METHODS.values() if info.label in s]
    sizes = [s for s in text for n in SIZES if n in s.split()]
    assert (keys, labels, sizes) == ([], [], [])

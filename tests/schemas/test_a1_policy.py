"""The typed view of A1 policy type 30001 and the one spelling of every mode."""

import pytest

from schemas import A1Policy, Mode, SchemaValidationError, load

EXAMPLES = load("a1-csi-sam-policy")["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["environment_id"] for e in EXAMPLES])
def test_examples_parse_and_write_back(example):
    policy = A1Policy.parse(example)
    assert policy.to_dict() == example
    assert (policy.proxy is None) == (policy.mode is Mode.LAM_ONLY)


def test_modes_are_the_schemas_enum():
    schema_modes = load("a1-csi-sam-policy")["properties"]["mode"]["enum"]
    assert [m.value for m in Mode] == schema_modes
    manifest_modes = load("model-manifest")["properties"]["mode"]["enum"]
    assert [m.value for m in Mode if m.uses_proxy] == [m for m in manifest_modes if m]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"mode": "e_lasco"}, "/mode"),
        ({"cells": []}, "/cells"),
        ({"proxy": None, "mode": "lasco"}, ""),  # a required field: the object
        ({"alpha": 11}, "/alpha"),
    ],
    ids=["underscore-mode", "no-cells", "proxy-missing", "alpha-too-large"],
)
def test_a_bad_policy_names_the_field(change, path):
    bad = {k: v for k, v in {**EXAMPLES[0], **change}.items() if v is not None}
    with pytest.raises(SchemaValidationError) as info:
        A1Policy.parse(bad)
    assert info.value.path == path
    assert info.value.schema == "a1-csi-sam-policy"

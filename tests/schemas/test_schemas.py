import copy
import re

import pytest

import schemas
from schemas import SCHEMA_NAMES, SchemaValidationError, load, validate

_BYTES = re.compile(r"^<(\d+) bytes>$")


def _with_bytes(obj):
    """JSON examples write binary fields as "<N bytes>"; make them real bytes."""
    if isinstance(obj, dict):
        return {k: _with_bytes(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_with_bytes(v) for v in obj]
    if isinstance(obj, str) and (m := _BYTES.match(obj)):
        return bytes(int(m.group(1)))
    return obj


def test_the_four_schemas_exist():
    assert {"a1-csi-sam-policy", "e2sm-csi", "model-manifest", "xapp-controls"} <= set(SCHEMA_NAMES)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_draft_07_with_examples_that_validate(name):
    schema = load(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["examples"], name
    for example in schema["examples"]:
        validate(name, _with_bytes(example))


def test_policy_errors_name_the_path():
    policy = copy.deepcopy(load("a1-csi-sam-policy")["examples"][0])
    policy["proxy"]["sha256"] = "not-a-hash"
    with pytest.raises(SchemaValidationError) as exc:
        validate("a1-csi-sam-policy", policy)
    assert exc.value.path == "/proxy/sha256"
    assert "a1-csi-sam-policy: /proxy/sha256" in str(exc.value)


def test_policy_needs_a_proxy_unless_lam_only():
    policy = copy.deepcopy(load("a1-csi-sam-policy")["examples"][0])
    del policy["proxy"]
    with pytest.raises(SchemaValidationError, match="proxy"):
        validate("a1-csi-sam-policy", policy)
    policy["mode"] = "lam-only"
    validate("a1-csi-sam-policy", policy)


def test_policy_refuses_unknown_fields_and_empty_cells():
    policy = copy.deepcopy(load("a1-csi-sam-policy")["examples"][1])
    policy["colour"] = "red"
    with pytest.raises(SchemaValidationError, match="colour"):
        validate("a1-csi-sam-policy", policy)
    policy = copy.deepcopy(load("a1-csi-sam-policy")["examples"][1])
    policy["cells"] = []
    with pytest.raises(SchemaValidationError) as exc:
        validate("a1-csi-sam-policy", policy)
    assert exc.value.path == "/cells"


def test_e2sm_binary_blocks_must_be_bytes():
    report = _with_bytes(copy.deepcopy(load("e2sm-csi")["examples"][0]))
    report["message"]["codewords"]["data"] = "AAAA"  # base64 text is not a binary block
    with pytest.raises(SchemaValidationError) as exc:
        validate("e2sm-csi", report)
    assert exc.value.path == "/message/codewords/data"


def test_manifest_of_a_proxy_needs_environment_and_lam_hash():
    manifest = copy.deepcopy(load("model-manifest")["examples"][0])
    del manifest["environment_id"]
    with pytest.raises(SchemaValidationError, match="environment_id"):
        validate("model-manifest", manifest)
    manifest = copy.deepcopy(load("model-manifest")["examples"][0])
    manifest["lam_sha256"] = None
    with pytest.raises(SchemaValidationError):
        validate("model-manifest", manifest)


def test_unknown_schema():
    with pytest.raises(KeyError, match="unknown schema 'nope'"):
        schemas.load("nope")

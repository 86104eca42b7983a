"""The controls schema and the settings reference are generated from the settings; the
committed files must be what the generator writes."""

import json

import pytest

from schemas import validate
from xapp.settings import Settings, fields_of, groups
from xapp.settings_docs import (
    DOC_PATH,
    SCHEMA_PATH,
    controls_schema,
    main,
    rendered,
    settings_markdown,
)
from xapp.settings_fields import env_names


@pytest.mark.parametrize("path", [SCHEMA_PATH, DOC_PATH], ids=lambda p: p.name)
def test_committed_file_is_up_to_date(path):
    assert path.read_text() == rendered()[path], (
        f"{path} is out of date: run `python -m xapp.settings_docs`"
    )


def test_check_mode_reports_up_to_date(capsys):
    assert main(["--check"]) == 0


def test_schema_defaults_are_the_settings_defaults():
    schema = controls_schema()
    defaults = {
        g: {n: p["default"] for n, p in body["properties"].items()}
        for g, body in schema["properties"].items()
    }
    assert defaults == Settings().to_controls()
    validate("xapp-controls", Settings().to_controls())


ALL_FIELDS = [(g, f) for g, cls in groups().items() for f in fields_of(cls)]


@pytest.mark.parametrize("group,field", ALL_FIELDS, ids=[f"{g}.{f.name}" for g, f in ALL_FIELDS])
def test_every_field_is_documented_with_its_variable(group, field):
    assert field.metadata["doc"] and field.metadata["why"]
    doc = settings_markdown()
    row = next(line for line in doc.splitlines() if line.startswith(f"| `{group}.{field.name}` |"))
    assert all(f"`{var}`" in row for var in env_names(group, field))
    assert (
        json.dumps(field.default if not isinstance(field.default, tuple) else list(field.default))
        in row
    )

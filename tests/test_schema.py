"""irsde.schema: JSON Schema files with references across files, registries as enums, defaults,
and errors that name the key and what would be valid."""

import math

import pytest
import yaml

from irsde import schema
from irsde.losses import LOSSES
from irsde.methods import METHODS
from irsde.sampling import SAMPLERS
from irsde.schedules import SCHEDULES
from irsde.train.config import SCHEMA_FILE, schema_registries


REGISTRIES = {"samplers": list(SAMPLERS)}


def keys_of(node) -> set:
    """Every mapping key anywhere in a nested document."""
    if isinstance(node, dict):
        return set(node) | set().union(*map(keys_of, node.values()))
    if isinstance(node, list):
        return set().union(*map(keys_of, node))
    return set()


def write(path, document):
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def section_schema(tmp_path):
    """b.yaml defines a section with defaults; a.yaml uses it whole, partially and with extra keys."""
    write(tmp_path / "b.yaml", {"$defs": {"section": {
        "type": "object", "additionalProperties": False, "default": {},
        "properties": {"size": {"type": "integer", "minimum": 1, "default": 8},
                       "rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.5},
                       "kind": {"type": "string", "x-registry": "samplers", "default": "sde"}}}}})
    return write(tmp_path / "a.yaml", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "whole": {"$ref": "b.yaml#/$defs/section"},
            "partial": {"$ref": "b.yaml#/$defs/section", "x-partial": True},
            "strict": {"$ref": "b.yaml#/$defs/section", "x-partial": True, "required": ["size"]},
            "steps": {"type": "array", "items": {"type": "integer"}, "x-increasing": True, "default": []},
            "where": {"type": "string", "format": "path", "default": "~/x"},
        }})


def test_references_across_files_defaults_and_partial_sections(section_schema):
    resolved = schema.validate({"partial": {"rate": 2}, "strict": {"size": 3}}, section_schema, REGISTRIES)
    assert resolved["whole"] == {"size": 8, "rate": 0.5, "kind": "sde"}  # defaults of the referenced file
    assert resolved["partial"] == {"rate": 2.0}  # x-partial: what is missing stays missing
    assert isinstance(resolved["partial"]["rate"], float)
    assert resolved["where"] != "~/x" and resolved["where"].endswith("/x")
    assert list(resolved) == ["whole", "partial", "strict", "steps", "where"]  # schema order
    with pytest.raises(ValueError, match="config key 'strict.size' is required"):
        schema.validate({"strict": {}}, section_schema, REGISTRIES)


def test_registries_fill_the_enums():
    loaded = schema.load_schema(SCHEMA_FILE, schema_registries())
    properties = loaded["properties"]
    assert loaded["$defs"]["sde"]["properties"]["schedule"]["enum"] == list(SCHEDULES)
    assert loaded["$defs"]["loss"]["properties"]["name"]["enum"] == list(LOSSES)
    assert loaded["$defs"]["train_options"]["properties"]["val_sampler"]["enum"] == list(SAMPLERS)
    assert properties["method"]["anyOf"][0]["enum"] == [name for name in METHODS if METHODS[name].trainable]
    assert "prenet" in METHODS and "prenet" not in properties["method"]["anyOf"][0]["enum"]
    assert not {"x-registry", "$ref"} & keys_of(loaded)


def test_the_caller_gives_the_registries_and_an_unknown_one_is_named(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("type: object\nproperties: {colour: {type: string, x-registry: colours}}\n")
    loaded = schema.load_schema(path, {"colours": ["red", "blue"]})
    assert loaded["properties"]["colour"]["enum"] == ["red", "blue"]
    loaded["properties"]["colour"]["enum"].append("green")  # a copy: the next load is unchanged
    assert schema.load_schema(path, {"colours": ["red", "blue"]})["properties"]["colour"]["enum"] == ["red", "blue"]
    assert schema.load_schema(path, {"colours": ["red"]})["properties"]["colour"]["enum"] == ["red"]
    with pytest.raises(ValueError, match="x-registry: unknown registry 'colours'; choose one of: shapes"):
        schema.load_schema(path, {"shapes": ["round"]})


def test_a_registry_that_ignores_case_gives_the_registered_spelling(tmp_path):
    from irsde.registry import Registry

    path = tmp_path / "s.yaml"
    path.write_text("type: object\nproperties: {colour: {type: string, x-registry: colours}}\n")
    colours = Registry("colour", {"Red": 1, "Blue": 2}, ignore_case=True)
    assert schema.validate({"colour": "red"}, path, {"colours": colours}) == {"colour": "Red"}
    with pytest.raises(ValueError, match="'red' is not valid .*choose one of: Red, Blue"):
        schema.validate({"colour": "red"}, path, {"colours": ["Red", "Blue"]})  # a plain list: case counts


@pytest.mark.parametrize(
    "document, message",
    [
        ({"whole": {"kind": "sdee"}},
         "config key 'whole.kind': 'sdee' is not valid (did you mean 'sde'?); choose one of: sde, ode, posterior"),
        ({"whole": {"siez": 3}, "strict": {"size": 1}},
         "unknown config key 'whole.siez'; did you mean 'size'? (valid here: size, rate, kind)"),
        ({"whole": {"size": 0}, "strict": {"size": 1}}, "config key 'whole.size': expected an integer >= 1, got 0"),
        ({"whole": {"size": 2.0}, "strict": {"size": 1}}, "config key 'whole.size': expected an integer >= 1, got 2.0"),
        ({"whole": {"size": True}, "strict": {"size": 1}}, "config key 'whole.size': expected an integer >= 1, got True"),
        ({"whole": {"rate": math.nan}, "strict": {"size": 1}}, "config key 'whole.rate': expected a finite number > 0, got nan"),
        ({"whole": {"rate": math.inf}, "strict": {"size": 1}}, "config key 'whole.rate': expected a finite number > 0, got inf"),
        ({"whole": {"rate": "fast"}, "strict": {"size": 1}}, "config key 'whole.rate': expected a finite number > 0, got 'fast'"),
        ({"steps": [1, 3, 2], "strict": {"size": 1}},
         "config key 'steps': expected a strictly increasing list, each value an integer, got [1, 3, 2]"),
        ({"steps": [1, "x"], "strict": {"size": 1}}, r"config key 'steps[1]': expected an integer, got 'x'"),
        ({"whole": 5, "strict": {"size": 1}}, "config key 'whole': expected a mapping of keys to values, got 5"),
        ({"wohle": {}, "strict": {"size": 1}}, "unknown config key 'wohle'; did you mean 'whole'?"),
    ],
)
def test_errors_name_the_key_and_what_is_valid(section_schema, document, message):
    with pytest.raises(ValueError) as caught:
        schema.validate(document, section_schema, REGISTRIES)
    assert str(caught.value).startswith(message), str(caught.value)


def test_numbers_written_as_yaml_strings_are_read_as_numbers(section_schema):
    resolved = schema.validate({"whole": {"rate": "1e-4", "size": "3"}, "strict": {"size": 1}}, section_schema, REGISTRIES)
    assert resolved["whole"]["rate"] == pytest.approx(1e-4) and resolved["whole"]["size"] == 3


def test_the_input_is_never_modified_and_defaults_are_never_shared(section_schema):
    document = {"strict": {"size": 1}}
    first = schema.validate(document, section_schema, REGISTRIES)
    first["whole"]["size"] = 99
    assert document == {"strict": {"size": 1}}
    assert schema.validate(document, section_schema, REGISTRIES)["whole"]["size"] == 8


def test_a_reference_to_nothing_names_the_file(tmp_path):
    path = write(tmp_path / "c.yaml", {"properties": {"x": {"$ref": "#/$defs/missing"}}})
    with pytest.raises(ValueError, match=r"c.yaml: \$ref '#/\$defs/missing' points to nothing"):
        schema.load_schema(path)
    with pytest.raises(FileNotFoundError, match="schema file not found: .*nowhere.yaml"):
        schema.load_schema(tmp_path / "nowhere.yaml")


def test_defaults_and_leaf_keys_follow_the_schema(section_schema):
    loaded = schema.load_schema(section_schema, REGISTRIES)
    assert schema.schema_defaults(loaded)["whole"] == {"size": 8, "rate": 0.5, "kind": "sde"}
    assert "rate" not in schema.schema_defaults(loaded)["partial"]
    assert schema.leaf_keys(loaded)[:3] == ["whole.size", "whole.rate", "whole.kind"]

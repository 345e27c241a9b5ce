"""The one lookup helper: every registry lists its valid names when a lookup fails."""

import pytest

from irsde.data import ALL_DATASETS, DATASETS, SYNTHETIC
from irsde.losses import LOSSES
from irsde.metrics import PROTOCOLS
from irsde.registry import Registry, UnknownName
from irsde.sampling import SAMPLERS
from irsde.schedules import SCHEDULES


def test_a_failed_lookup_names_the_kind_and_lists_the_choices_sorted():
    registry = Registry("colour", {"red": 1, "green": 2, "blue": 3})
    assert registry["green"] == 2 and list(registry) == ["red", "green", "blue"] and len(registry) == 3
    with pytest.raises(UnknownName) as caught:
        registry["grene"]
    assert str(caught.value) == "unknown colour 'grene' (did you mean 'green'?); choose one of: blue, green, red"
    with pytest.raises(UnknownName, match="unknown colour 'GREEN'"):  # case counts unless the registry ignores it
        registry["GREEN"]
    assert Registry("colour", {"Green": 2}, ignore_case=True)["gREEN"] == 2
    # a bad name is both a failed lookup and a bad value
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)


def test_discovered_entries_are_added_once_on_first_use():
    calls = []

    def discover():
        calls.append(1)
        return {"plugin": "P"}

    registry = Registry("method", {"builtin": "B"}, discover=discover, hint="Reinstall the plugin.")
    assert calls == []
    assert "plugin" in registry and registry["plugin"] == "P" and list(registry) == ["builtin", "plugin"]
    assert calls == [1]
    with pytest.raises(UnknownName, match=r"choose one of: builtin, plugin\. Reinstall the plugin\."):
        registry["nope"]


def test_register_adds_and_replaces_only_when_asked():
    registry = Registry("sampler", {"sde": 1})
    assert registry.register("ode", 2) == 2 and list(registry) == ["sde", "ode"]
    with pytest.raises(ValueError, match="sampler 'sde' is registered already; pass replace=True"):
        registry.register("sde", 3)
    registry.register("sde", 3, replace=True)
    assert registry["sde"] == 3


def test_a_discovered_name_may_not_shadow_a_registered_one():
    registry = Registry("method", {"irsde": "ours"}, discover=lambda: {"irsde": "theirs"})
    with pytest.raises(ValueError, match="method 'irsde' is registered twice"):
        list(registry)


@pytest.mark.parametrize(
    "registry, kind",
    [(SAMPLERS, "sampler"), (LOSSES, "loss"), (SCHEDULES, "theta schedule"), (PROTOCOLS, "metric protocol"),
     (DATASETS, "dataset"), (SYNTHETIC, "synthetic benchmark"), (ALL_DATASETS, "dataset")],
)
def test_every_registry_of_the_package_uses_the_helper(registry, kind):
    assert isinstance(registry, Registry) and registry.kind == kind
    with pytest.raises(UnknownName, match=f"unknown {kind} 'nothing'( \\(did you mean '[^']+'\\?\\))?; choose one of: "):
        registry["nothing"]


def test_all_datasets_holds_the_registry_and_the_synthetic_stand_ins():
    assert set(ALL_DATASETS) == set(DATASETS) | set(SYNTHETIC)
    assert ALL_DATASETS["synthetic-rain"].sources == () and ALL_DATASETS["Rain100H"].sources

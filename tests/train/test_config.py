import resource
import subprocess

import pytest
import yaml

from irsde.train.config import (
    RESUMABLE_CHANGES,
    apply_overrides,
    config_differences,
    defaults,
    dump_config,
    load_config,
    parse_override,
    schema_keys,
    validate_config,
)
from tests.support.train import irsde_command, subprocess_env, tiny_config, write_config

MINIMAL = {"name": "run", "data": {"train": "data/train"}}


def test_minimal_config_gets_the_paper_defaults():
    config = validate_config(MINIMAL)
    assert config["optim"] == {
        "lr": 1e-4,
        "betas": [0.9, 0.99],
        "weight_decay": 0.0,
        "milestones": [200000, 400000],
        "gamma": 0.5,
    }
    assert config["sde"] == {"schedule": "cosine", "T": 100, "max_sigma": 10.0, "eps": 0.005}
    assert config["network"] == {"nf": 64, "depth": 4, "attn_head_dim": 32} and config["options"] == {"prediction": "noise"}
    assert config["loss"] == {"name": "maximum_likelihood", "kind": "l1", "timestep_weights": "uniform"}
    assert config["train"]["ema_decay"] == 0.995
    assert config["method"] == "irsde"
    assert config["output_dir"].endswith("runs/run")
    # every schema key is present in the resolved config
    for key in schema_keys():
        node = config
        for part in key.split("."):
            node = node[part]


def test_defaults_are_not_shared_between_configs():
    first = validate_config(MINIMAL)
    first["optim"]["betas"].append(1.0)
    assert validate_config(MINIMAL)["optim"]["betas"] == [0.9, 0.99]
    assert "name" not in defaults()


@pytest.mark.parametrize(
    "config, key",
    [
        ({"name": "run", "data": {"train": "x", "crop_sise": 64}}, "data.crop_sise"),
        ({"name": "run", "data": {"train": "x"}, "trian": {}}, "trian"),
        ({"data": {"train": "x"}}, "name"),
        ({"name": "run"}, "data.train"),
        ({"name": "run", "data": {"train": "x", "batch_size": 0}}, "data.batch_size"),
        ({"name": "run", "data": {"train": "x", "batch_size": 2.5}}, "data.batch_size"),
        ({"name": "run", "data": {"train": "x", "batch_size": True}}, "data.batch_size"),
        ({"name": "run", "data": {"train": "x"}, "sde": {"schedule": "cosin"}}, "sde.schedule"),
        ({"name": "run", "data": {"train": "x"}, "sde": {"eps": 1.5}}, "sde.eps"),
        ({"name": "run", "data": {"train": "x"}, "loss": {"name": "mse"}}, "loss.name"),
        ({"name": "run", "data": {"train": "x"}, "loss": {"kind": "l3"}}, "loss.kind"),
        ({"name": "run", "data": {"train": "x"}, "method": "unet"}, "method"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"betas": [0.9]}}, "optim.betas"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"betas": [0.9, 1.0]}}, "optim.betas[1]"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"milestones": [10, 5]}}, "optim.milestones"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"lr": "fast"}}, "optim.lr"),
        ({"name": "run", "data": {"train": "x"}, "train": {"val_sampler": "ddim"}}, "train.val_sampler"),
        ({"name": "run", "data": {"train": "x"}, "train": {"protocol": "psnr-rgb"}}, "train.protocol"),
        ({"name": "run", "data": {"train": "x"}, "train": {"ema_decay": 1.5}}, "train.ema_decay"),
        ({"name": "run", "data": {"train": "x"}, "train": 5}, "train"),
        ({"name": "run", "data": {"train": "x"}, "device": "tpu"}, "device"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"lr": float("inf")}}, "optim.lr"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"gamma": float("nan")}}, "optim.gamma"),
        ({"name": "run", "data": {"train": "x"}, "network": {"nf": 2}}, "network.nf"),
        ({"name": "run", "data": {"train": "x"}, "network": {"depth": 9}}, "network.depth"),
        ({"name": "run", "data": {"train": "x"}, "method": "baselines.cnn"}, "method"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"gamma": ".inf"}}, "optim.gamma"),
        ({"name": "run", "data": {"train": "x"}, "optim": {"weight_decay": float("nan")}}, "optim.weight_decay"),
        ({"name": "run", "data": {"train": "x"}, "sde": {"max_sigma": float("inf")}}, "sde.max_sigma"),
        ({"name": "run", "data": {"train": "x"}, "network": {"nf": 512, "depth": 4}}, "network.nf"),
    ],
)
def test_bad_key_or_value_names_the_dotted_key(config, key):
    with pytest.raises(ValueError, match=f"'{key}'".replace("[", r"\[").replace("]", r"\]")):
        validate_config(config)


def test_choices_come_from_the_registries_and_are_listed():
    with pytest.raises(ValueError, match=r"'sde.schedule': 'cosin' is not valid \(did you mean 'cosine'\?\); "
                                         "choose one of: cosine, linear, constant"):
        validate_config({"name": "run", "data": {"train": "x"}, "sde": {"schedule": "cosin"}})
    with pytest.raises(ValueError, match="'method': 'unet' is not valid; choose one of: irsde, denoising_sde, cnn_baseline, "
                                         "a class named package.module:Class"):
        validate_config({"name": "run", "data": {"train": "x"}, "method": "unet"})


def test_a_method_may_be_a_class_named_by_its_import_path():
    config = validate_config({"name": "run", "data": {"train": "x"}, "method": "baselines.cnn:CNNBaseline"})
    assert config["method"] == "baselines.cnn:CNNBaseline"


def test_yaml_infinities_are_refused_naming_the_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: run\ndata: {train: x}\noptim: {lr: .inf, gamma: .inf}\n")
    with pytest.raises(ValueError, match="config key 'optim.lr': expected a finite number"):
        load_config(path)
    with pytest.raises(ValueError, match="config key 'optim.gamma': expected a finite number"):
        load_config(path, ["optim.lr=1e-4"])


def limit_memory(gigabytes: float):
    def apply():
        limit = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


@pytest.mark.parametrize("override, key", [("network.depth=9", "network.depth"), ("network.nf=1024", "network.nf")])
def test_an_oversized_network_is_refused_naming_the_key_before_allocating(tmp_path, override, key):
    # depth 9 at nf 16 would allocate ~23 GB; under a 3 GB address-space limit an attempt to
    # allocate fails (instead of the OOM killer ending the process without a word).
    config = write_config(tmp_path / "run.yaml", tiny_config(tmp_path, network={"nf": 16, "depth": 2}))
    result = subprocess.run(irsde_command("train", "--config", str(config), "--set", override),
                            capture_output=True, text=True, env=subprocess_env(), timeout=300,
                            preexec_fn=limit_memory(3))
    assert result.returncode == 2, result.stderr[-2000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("irsde train: error: ") and f"config key '{key}'" in error
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "training_state.pt").exists()


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ValueError, match="did you mean 'crop_size'"):
        validate_config({"name": "run", "data": {"train": "x", "crop_sise": 64}})


def test_numbers_written_as_yaml_strings_are_accepted():
    # PyYAML reads 1e-4 (no dot) as a string; the schema still takes it as a number.
    config = validate_config({"name": "r", "data": {"train": "x"}, "optim": {"lr": "1e-4"}})
    assert config["optim"]["lr"] == pytest.approx(1e-4)


def test_overrides_parse_yaml_values_and_check_keys():
    assert parse_override("train.iterations=100") == ("train.iterations", 100)
    assert parse_override("optim.betas=[0.5, 0.9]") == ("optim.betas", [0.5, 0.9])
    assert parse_override("data.val=null") == ("data.val", None)
    config = apply_overrides(MINIMAL, ["train.iterations=100", "network.nf=16", "method=cnn_baseline"])
    assert config["train"]["iterations"] == 100 and config["network"]["nf"] == 16
    assert MINIMAL == {"name": "run", "data": {"train": "data/train"}}  # input untouched
    with pytest.raises(ValueError, match="unknown config key 'train.iteration'.*train.iterations"):
        apply_overrides(MINIMAL, ["train.iteration=100"])
    with pytest.raises(ValueError, match="key.sub=value"):
        apply_overrides(MINIMAL, ["train.iterations"])


def test_load_config_from_yaml_file_with_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"name": "run", "data": {"train": "t"}, "network": {"nf": 8}}))
    config = load_config(path, ["network.depth=2"])
    assert config["network"] == {"nf": 8, "depth": 2, "attn_head_dim": 32}
    # the dumped resolved config loads back to itself
    dumped = tmp_path / "resolved.yaml"
    dumped.write_text(dump_config(config))
    assert load_config(dumped) == config


def test_bad_config_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="broken.yaml"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        load_config(listing)


def test_config_differences_lists_dotted_keys():
    old = validate_config(MINIMAL)
    new = validate_config(apply_overrides(MINIMAL, ["train.iterations=5", "sde.T=10"]))
    assert config_differences(old, new) == ["sde.T", "train.iterations"]
    assert "train.iterations" in RESUMABLE_CHANGES and "sde.T" not in RESUMABLE_CHANGES

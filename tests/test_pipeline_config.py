"""The pipeline's config: one schema with the training config's, cross-key checks, and the
translation into the training runs (what the workflow trains)."""

import copy
from pathlib import Path

import pytest
import yaml

from irsde import pipeline_config
from irsde.paper import PAPER_SDE
from irsde.train import validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PUBLISHED = REPO / "results" / "published" / "published_results.csv"


def shipped(name):
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())


def validated(config):
    return pipeline_config.validate_pipeline_config(config, SCHEMA, PUBLISHED)


def every_run(config):
    """(what, run config) of every table run and curves run the workflow would train."""
    for benchmark, bench in config["benchmarks"].items():
        for method in pipeline_config.methods_of(config, benchmark):
            yield f"{benchmark}/{method}", pipeline_config.run_config(
                config, benchmark, method, f"data/{bench['dataset']}/train", f"data/{bench['dataset']}/test", "runs/x")
    if "curves" in config:
        for variant in pipeline_config.curve_variants(config):
            yield variant, pipeline_config.curve_run_config(config, variant, 1, "data/t", "data/v", f"runs/curves/{variant}")


@pytest.mark.parametrize("name", ["config", "ci", "paper"])
def test_every_run_of_a_shipped_config_is_a_valid_training_config(name):
    config = validated(shipped(name))
    runs = dict(every_run(config))
    assert runs
    for what, run in runs.items():
        resolved = validate_config(run)
        assert resolved["method"] in [*pipeline_config.method_specs(config).values(), "irsde"], what


def test_the_workflow_schema_references_the_training_schema_for_its_training_sections():
    text = SCHEMA.read_text()
    for section in ("$defs/network", "$defs/sde", "$defs/loss", "$defs/optim", "$defs/data_options", "$defs/train_options"):
        assert f"../../irsde/train/config.schema.yaml#/{section}" in text
    # a bound written only in the training schema is enforced on the pipeline's keys
    config = shipped("config")
    config["training"]["data"]["crop_size"] = 0
    with pytest.raises(ValueError, match=r"config key 'training.data.crop_size': expected an integer >= 1, got 0"):
        validated(config)


def test_run_config_puts_each_benchmark_s_own_keys_on_top():
    config = validated(shipped("paper"))
    run = pipeline_config.run_config(config, "celebahq-inpaint-thin", "irsde", "d/train", "d/test", "runs/r")
    assert run["name"] == "paper-celebahq-inpaint-thin-irsde" and run["output_dir"] == "runs/r"
    assert run["sde"] == {"schedule": "cosine", "T": 100, "max_sigma": 30.0, "eps": 0.005}
    assert run["network"] == {"nf": 32, "depth": 4}
    assert run["data"]["train"] == "d/train" and run["data"]["val"] == "d/test" and run["data"]["crop_size"] == 128
    assert run["train"]["protocol"] == "rgb-full" and "val_sampler" not in run["train"]  # the table's sampler is no training key
    assert run["optim"]["lr"] == pytest.approx(1e-4) and run["seed"] == 0 and run["device"] == "auto"


def test_a_benchmark_override_changes_only_its_own_keys():
    """A partial `sde:` of a benchmark is never filled with defaults that would hide the global keys."""
    config = shipped("config")
    config["sde"] = {"T": 40}
    config["benchmarks"]["synthetic-rain"]["sde"] = {"max_sigma": 20}
    config = validated(config)
    assert config["benchmarks"]["synthetic-rain"]["sde"] == {"max_sigma": 20.0}
    assert pipeline_config.benchmark_section(config, "synthetic-rain", "sde") == {"T": 40, "max_sigma": 20.0}
    assert pipeline_config.benchmark_sde(config, "synthetic-rain") == {**PAPER_SDE, "T": 40, "max_sigma": 20.0}


def test_curve_runs_vary_schedule_and_loss_within_the_curves_budget():
    config = validated(shipped("config"))
    assert pipeline_config.schedule_variants(config) == [
        "constant-maximum_likelihood", "linear-maximum_likelihood", "cosine-maximum_likelihood"]
    assert pipeline_config.loss_variants(config) == ["cosine-maximum_likelihood", "cosine-noise_matching"]
    assert len(pipeline_config.curve_variants(config)) == 4
    run = pipeline_config.curve_run_config(config, "linear-noise_matching", 7, "t", "v", "runs/c")
    assert run["method"] == "irsde" and run["name"] == "embedded-curves-linear-noise_matching-seed7" and run["seed"] == 7
    assert run["sde"]["schedule"] == "linear" and run["loss"]["name"] == "noise_matching"
    curves, table_run = config["curves"], config["training"]["train"]
    assert run["train"]["iterations"] == curves["iterations"] and run["train"]["val_every"] == curves["val_every"]
    assert run["train"]["checkpoint_every"] == min(table_run["checkpoint_every"], curves["iterations"])
    assert run["data"]["val_images"] == curves["val_images"]
    assert "sde" not in config and config["loss"]["name"] == "maximum_likelihood"  # untouched: the paper's SDE
    assert pipeline_config.paper_variant(config) == "cosine-maximum_likelihood"
    assert pipeline_config.validation_subset(run) == {
        "split_dir": "v", "count": curves["val_images"], "crop_size": None, "protocol": "irsde-derain"}


def test_table_captions_name_how_ir_sde_differs_from_the_paper():
    embedded = validated(shipped("config"))
    deviations = pipeline_config.paper_deviations(embedded, "synthetic-rain")
    assert any(d.startswith("network.nf ") and "(paper 64)" in d for d in deviations)
    assert "options.prediction data (paper noise)" in deviations
    assert "optim.milestones [2000, 2500] (paper [200000, 400000])" in deviations
    paper = validated(shipped("paper"))
    paper["methods"] = ["cnn_baseline"]
    assert pipeline_config.paper_deviations(paper, "rain100h") == []  # no IR-SDE row to caption


def test_the_paper_config_is_captioned_with_no_deviation_it_does_not_have():
    """config/paper.yaml is the paper's setting on every benchmark, for its task (SR and inpainting
    at max_sigma 30); the one deviation is the inpainting network's width, nf 32, that of the
    authors' released inpainting model."""
    paper = validated(shipped("paper"))
    captions = {name: pipeline_config.paper_deviations(paper, name) for name in paper["benchmarks"]}
    assert captions == {name: ["network.nf 32 (paper 64)"] if name == "celebahq-inpaint-thin" else []
                        for name in paper["benchmarks"]}


def test_the_paper_budget_is_stated_once_and_used_by_the_paper_config_and_the_readme():
    from irsde import deviations
    from irsde import paper as irsde_paper

    budget = {key: value for key, value in deviations.paper_setting().items() if key in irsde_paper.BUDGET_KEYS}
    assert budget["train.iterations"] == 500000 and budget["optim.milestones"] == [200000, 400000]
    assert "500k iterations" in irsde_paper.BUDGET_SOURCE and "200k and 400k" in irsde_paper.BUDGET_SOURCE
    training = shipped("paper")["training"]
    for key, value in budget.items():
        part, name = key.split(".")
        assert training[part][name] == value, key
    readme = " ".join((REPO / "README.md").read_text().split())
    assert deviations.budget_statement() in readme
    assert "irsde/paper.py" in readme  # where its source is named


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["benchmarks"]["synthetic-rain"].update(published="rain100h"),
         "config key 'benchmarks.synthetic-rain.published': a synthetic stand-in is never compared"),
        (lambda c: c["benchmarks"].update(rain={"dataset": "Rain100H", "protocol": "irsde-derain", "published": "rain100x"}),
         "config key 'benchmarks.rain.published': 'rain100x' is not valid; choose one of: "),
        (lambda c: c["benchmarks"]["synthetic-rain"].update(released=["prenet-rain100x"]),
         "config key 'benchmarks.synthetic-rain.released[0]': 'prenet-rain100x' is not valid (did you mean 'prenet-rain100l'?); choose one of: prenet-rain100h,"),
        (lambda c: c.update(method_options={"prenet": {"stages": 0}}),
         "config key 'method_options.prenet': method 'prenet': config key 'stages': expected an integer"),
        (lambda c: c.update(method_options={"prenett": {}}),
         "config key 'method_options': 'prenett' is not valid; choose one of: cnn_baseline, denoising_sde"),
        (lambda c: c.update(methods=["irsde", "prenet"]),
         "config key 'methods[1]': 'prenet' is not valid; choose one of: irsde, denoising_sde, cnn_baseline, a class"),
        (lambda c: c.pop("training"), "config key 'training' is required: benchmark synthetic-rain trains irsde, cnn_baseline"),
        (lambda c: c["curves"].update(benchmark="rain"), "config key 'curves.benchmark': 'rain' is not valid"),
        (lambda c: c["regress"]["tolerances"].pop("fid"), "config key 'regress.tolerances': no tolerance for metric(s) fid"),
        (lambda c: c["network"].pop("nf"), "config key 'network.nf' is required"),
        (lambda c: c["training"]["train"].update(protocol="rgb-full"),
         "unknown config key 'training.train.protocol' (valid here: val_sampler, val_steps, iterations, "),
    ],
    ids=["synthetic-published", "published-name", "released-name", "method-option", "method-options-id", "untrainable-method",
         "training-needed", "curves-benchmark", "tolerance", "required", "run-only-key"],
)
def test_cross_key_errors_name_the_key(edit, message):
    config = copy.deepcopy(shipped("config"))
    edit(config)
    with pytest.raises(ValueError) as caught:
        validated(config)
    assert str(caught.value).startswith(message), str(caught.value)


def test_prepare_options_give_a_local_source_or_a_synthetic_recipe():
    config = shipped("paper")
    config["benchmarks"]["rain100l"]["path"] = "/data/my rain"
    config = validated(config)
    assert pipeline_config.prepare_options(config, "Rain100L") == ["--path", "/data/my rain"]
    assert pipeline_config.local_source(config, "Rain100H") is None
    assert pipeline_config.prepare_options(config, "Rain100H") == []
    assert pipeline_config.dataset_of(config, "mcmaster-sigma25", "train") == "DF2K-noise25"
    assert pipeline_config.dataset_of(config, "mcmaster-sigma25", "test") == "McMaster"
    embedded = validated(shipped("config"))
    options = ["--seed", "0", "--size", "96", "--test-count", "6", "--train-count", "480"]
    assert pipeline_config.prepare_options(embedded, "synthetic-rain") == options
    # a config file that orders the recipe's keys otherwise plans the same job (no rerun)
    recipe = embedded["benchmarks"]["synthetic-rain"]["synthetic"]
    embedded["benchmarks"]["synthetic-rain"]["synthetic"] = dict(reversed(list(recipe.items())))
    assert pipeline_config.prepare_options(embedded, "synthetic-rain") == options


def test_sampler_variants_are_rows_of_every_sampling_method_restored_from_its_run(tmp_path):
    config = validated(shipped("config"))
    del config["benchmarks"]["synthetic-noise"]  # its denoising_sde adds a row of its own (below)
    config["extra_samplers"] = [{"sampler": "fast-sde", "steps": 10}, {"sampler": "ode", "steps": 20}]
    config["sampler_steps"] = 50
    config["paths"]["resources"] = str(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "irsde-derain-rain100h.pth").write_bytes(b"placed by the user")
    config["benchmarks"]["synthetic-rain"]["released"] = ["irsde-derain-rain100h", "prenet-rain100h"]
    variants = pipeline_config.sampler_variants(config)
    assert variants == {"irsde-fast-sde-10": ("irsde", "fast-sde", 10), "irsde-ode-20": ("irsde", "ode", 20)}
    rows = pipeline_config.table_rows(config, "synthetic-rain")
    assert rows == ["irsde", "cnn_baseline", "irsde-fast-sde-10", "irsde-ode-20", "irsde-derain-rain100h", "prenet-rain100h"]
    assert pipeline_config.restored_with(config, "irsde-ode-20") == ("irsde", ["--sampler", "ode", "--steps", "20"])
    assert pipeline_config.restored_with(config, "cnn_baseline") == ("cnn_baseline", [])
    assert pipeline_config.row_sampling(config, "synthetic-rain") == {
        "irsde": ("sde", 50), "irsde-fast-sde-10": ("fast-sde", 10), "irsde-ode-20": ("ode", 20),
        "irsde-derain-rain100h": ("sde", 50)}
    facts = pipeline_config.table_row_facts(config)
    assert facts["irsde-ode-20"].label == "IR-SDE (ode, 20 NFE)" and facts["irsde-ode-20"].stochastic
    config["methods"] = ["cnn_baseline"]  # no sampling method, no variant
    assert pipeline_config.sampler_variants(config) == {}
    assert pipeline_config.validate_pipeline_config(config, SCHEMA, PUBLISHED)["sampler_steps"] == 50


def test_the_embedded_denoising_benchmark_has_its_own_methods_budget_and_denoising_sde():
    config = validated(shipped("config"))
    assert pipeline_config.table_rows(config, "synthetic-noise") == [
        "irsde", "cnn_baseline", "denoising_sde", "irsde-fast-sde-10", "denoising_ode"]
    assert pipeline_config.table_rows(config, "synthetic-rain") == ["irsde", "cnn_baseline", "irsde-fast-sde-10"]
    assert pipeline_config.row_sampling(config, "synthetic-noise") == {
        "irsde": ("sde", 100), "irsde-fast-sde-10": ("fast-sde", 10), "denoising_sde": ("sde", 22),
        "denoising_ode": ("ode", 22)}
    assert pipeline_config.restored_with(config, "denoising_ode") == ("denoising_sde", ["--sampler", "ode"])
    denoising = validate_config(pipeline_config.run_config(config, "synthetic-noise", "denoising_sde", "t", "v", "r"))
    assert denoising["sde"] == {"schedule": "cosine", "T": 100, "max_sigma": 70, "eps": 0.04}
    assert denoising["data"]["noise_sigma"] == 25 and denoising["train"]["iterations"] == 600
    irsde_noise = pipeline_config.run_config(config, "synthetic-noise", "irsde", "t", "v", "r")
    assert irsde_noise["sde"]["max_sigma"] == 10 and irsde_noise["data"]["noise_sigma"] == 25
    rain = validate_config(pipeline_config.run_config(config, "synthetic-rain", "irsde", "t", "v", "r"))
    shared = config["training"]  # deraining untouched by the denoising benchmark's overrides
    assert rain["data"]["noise_sigma"] is None and rain["train"]["iterations"] == shared["train"]["iterations"] != 600
    assert rain["optim"]["milestones"] == shared["optim"]["milestones"] != [400, 500]


def test_paper_denoising_benchmarks_table_the_denoising_rows():
    config = validated(shipped("paper"))
    for benchmark in ("mcmaster-sigma25", "cbsd68-sigma25", "kodak24-sigma25"):
        rows = pipeline_config.table_rows(config, benchmark)
        assert rows == ["irsde", "cnn_baseline", "denoising_sde", "denoising_ode"]
    assert pipeline_config.row_sampling(config, "mcmaster-sigma25")["denoising_ode"] == ("ode", 22)
    facts = pipeline_config.table_row_facts(config)
    assert (facts["denoising_sde"].paper_row, facts["denoising_ode"].paper_row) == ("Denoising-SDE", "Denoising-ODE")


def test_a_denoising_method_without_a_noise_level_fails_at_parse_time_naming_benchmark_and_key():
    config = shipped("config")
    del config["benchmarks"]["synthetic-noise"]["training"]["data"]
    with pytest.raises(ValueError, match="benchmark synthetic-noise, row denoising_sde: config key 'data.noise_sigma'"):
        validated(config)
    config = shipped("config")
    config["method_sections"] = {"denoising": {"sde": {"max_sigma": 70}}}
    with pytest.raises(ValueError, match="method_sections"):
        validated(config)

"""The Snakemake workflow: dry runs of every shipped config, parse-time errors, and (slow) a
real run of the CI config whose deliberately worse variant must fail `regress`."""

import base64
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config

from tests.support.pipeline import REPO, SNAKEMAKE, snakemake, write_config


@pytest.mark.parametrize(
    "args",
    [
        ["tables"],
        ["all"],
        ["tables", "--configfile", str(REPO / "config" / "paper.yaml")],
        ["tables", "--configfile", str(REPO / "config" / "paper.yaml"), "--profile", str(REPO / "profiles" / "slurm")],
        ["regress", "--configfile", str(REPO / "config" / "ci.yaml")],
    ],
    ids=["default", "default-all", "paper", "paper-slurm", "ci-regress"],
)
def test_dry_run_plans_the_jobs(tmp_path, args):
    result = snakemake("-n", *args, workdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "train" in result.stdout and "evaluate" in result.stdout


def test_paper_config_plans_released_prenet_and_both_rain_sets(tmp_path):
    result = snakemake("-n", "tables", "--configfile", str(REPO / "config" / "paper.yaml"), workdir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rain100h/prenet-rain100h/seed0" in result.stdout and "fetch_checkpoint" in result.stdout
    assert "irsde-derain-rain100h" not in result.stdout  # a browser download nobody has placed yet
    assert "tables/paper/rain100h.tex" in result.stdout and "tables/paper/rain100l.tex" in result.stdout


def planned_synthetic_rain(stdout: str) -> str:
    """The folder a dry run (-p) prepares synthetic-rain under."""
    prepare = [line for line in stdout.splitlines() if "data prepare synthetic-rain" in line]
    assert len(prepare) == 1, stdout
    return re.search(r"--root (data/synthetic/[0-9a-f]{10}) ", prepare[0]).group(1)


def test_the_ci_config_plans_its_own_data_tables_and_figures_beside_the_default(tmp_path):
    """The CI config builds synthetic-rain from another recipe than the default (48 training crops,
    not 480): under that recipe's key, never the default's folder; tables and figures under its
    name (the default's are checked by the next test's dry run)."""
    result = snakemake("-n", "-p", "tables", "--configfile", str(REPO / "config" / "ci.yaml"), workdir=tmp_path)
    assert result.returncode == 0, result.stderr
    from irsde import pipeline_config

    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert planned_synthetic_rain(result.stdout) != pipeline_config.prepared_root(default, "synthetic-rain")
    assert "results/tables/ci/synthetic-rain.csv" in result.stdout
    assert "results/figures/ci/qualitative_synthetic-rain.png" in result.stdout


def test_released_config_restores_every_checkpoint_and_scores_each_protocol_variant(tmp_path):
    """config/released.yaml trains nothing: it fetches released weights, restores with them and
    scores the Rain100H rows under PReNet's conventions too; the IR-SDE authors' model (a browser
    download) joins only once its file is in resources/weights/."""
    released = str(REPO / "config" / "released.yaml")
    result = snakemake("-n", "-p", "tables", "--configfile", released, workdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rule train" not in result.stdout and "irsde-derain-rain100h" not in result.stdout
    restores = [line for line in result.stdout.splitlines() if "irsde restore --checkpoint" in line]
    assert len(restores) == 7  # PReNet on Rain100H; DnCNN and FFDNet on CBSD68, Kodak24, McMaster
    assert any("--checkpoint prenet-rain100h" in line and "--option stages=6" in line and "--offline" in line
               for line in restores)
    assert any("--checkpoint ffdnet-color" in line and "--option noise_sigma=null" in line for line in restores)
    assert "--protocol prenet-matlab" in result.stdout and "tables/released/rain100h.protocols.md" in result.stdout
    (tmp_path / "resources" / "weights").mkdir(parents=True)
    (tmp_path / "resources" / "weights" / "irsde-derain-rain100h.pth").write_bytes(b"placed by the user")
    result = snakemake("-n", "-p", "tables", "--configfile", released, workdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "--checkpoint irsde-derain-rain100h" in line)
    assert "--sampler sde" in line and "--option prediction=noise" in line  # a fact of the weights, whatever method_options say


def test_default_config_restores_a_fast_sampler_row_from_the_irsde_model(tmp_path):
    result = snakemake("-n", "-p", "tables", workdir=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "synthetic-rain" in line]
    fast = [line for line in lines if "irsde restore" in line and "irsde-fast-sde-10" in line]
    assert len(fast) == 1, result.stdout
    assert "--run runs/embedded/synthetic-rain/irsde " in fast[0] and "--sampler fast-sde --steps 10 " in fast[0]
    from irsde import pipeline_config

    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert planned_synthetic_rain(result.stdout) == pipeline_config.prepared_root(default, "synthetic-rain")
    assert "results/tables/embedded/synthetic-rain.csv" in result.stdout
    assert "results/figures/embedded/qualitative_synthetic-rain.png" in result.stdout
    scored = [line for line in lines if "irsde evaluate" in line and "irsde-fast-sde-10" in line]
    assert len(scored) == 1 and "--method irsde-fast-sde-10 " in scored[0]  # its rows keyed by its own id
    # the fast rows train nothing of their own: 2 runs for deraining, 3 for denoising
    assert result.stdout.count("rule train:") == 5


def test_default_config_restores_denoising_ode_from_the_denoising_sde_model(tmp_path):
    result = snakemake("-n", "-p", "tables", workdir=tmp_path)
    assert result.returncode == 0, result.stderr
    ode = [line for line in result.stdout.splitlines() if "irsde restore" in line and "denoising_ode" in line]
    assert len(ode) == 1, result.stdout
    assert "--run runs/embedded/synthetic-noise/denoising_sde " in ode[0] and "--sampler ode" in ode[0]
    assert "--steps" not in ode[0]  # t* comes from the noise level
    assert not [line for line in result.stdout.splitlines() if "synthetic-rain/denoising_sde" in line]


def test_config_schema_lists_every_registered_sampler():
    from irsde.sampling import SAMPLERS
    from irsde.schema import load_schema
    from irsde.train.config import schema_registries

    schema = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml", schema_registries())
    assert schema["properties"]["sampler"]["enum"] == list(SAMPLERS)
    assert schema["properties"]["extra_samplers"]["items"]["properties"]["sampler"]["enum"] == list(SAMPLERS)


def test_misspelled_target_lists_the_choices(tmp_path):
    result = snakemake("-n", "talbes", workdir=tmp_path)
    assert result.returncode != 0
    assert "unknown target 'talbes'; choose one of: tables, curves, figures, regress, all, fetch" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c.update(methods=["irsde", "cnn_basline"]),
         "config key 'methods[1]': 'cnn_basline' is not valid (did you mean 'cnn_baseline'?); choose one of: irsde, denoising_sde, cnn_baseline"),
        (lambda c: c["benchmarks"]["synthetic-rain"].update(protocol="irsde-drain"),
         "config key 'benchmarks.synthetic-rain.protocol': 'irsde-drain' is not valid (did you mean 'irsde-derain'?); "
         "choose one of: irsde-derain, irsde-derain-nocrop, irsde-derain-truncate, prenet-matlab, irsde-deblur, irsde-denoise, rgb-full"),
        (lambda c: c["benchmarks"]["synthetic-rain"].update(dataset="synthetic-rian"),
         "config key 'benchmarks.synthetic-rain.dataset': 'synthetic-rian' is not valid (did you mean 'synthetic-rain'?); "
         "choose one of: Rain100H, "),
        (lambda c: c["benchmarks"]["synthetic-rain"].update(published="rain100h"),
         "config key 'benchmarks.synthetic-rain.published': a synthetic stand-in is never compared"),
        (lambda c: c.update(sampler="euler"),
         "config key 'sampler': 'euler' is not valid; choose one of: sde, ode, posterior, fast-ode, fast-sde"),
        (lambda c: c.update(sampler_steps=101),
         "config key 'sampler_steps': benchmark synthetic-noise, row irsde: steps (network evaluations per image) "
         "must be an integer in 1..T=100, got 101"),  # the edited config's keys are sorted
        (lambda c: c.update(extra_samplers=[{"sampler": "fast-sde", "steps": 0}]),
         "config key 'extra_samplers[0].steps': expected an integer >= 1, got 0"),
        (lambda c: c["training"]["optim"].update(lr="fast"), "config key 'training.optim.lr': expected a finite number in (0, 10], got 'fast'"),
        (lambda c: c["training"]["train"].update(iteratons=10),
         "unknown config key 'training.train.iteratons'; did you mean 'iterations'?"),
        (lambda c: c["benchmarks"]["synthetic-rain"].update(network={"depth": 9}),
         "config key 'benchmarks.synthetic-rain.network.depth': expected an integer in [1, 6], got 9"),
        (lambda c: c["training"]["optim"].update(lr=float("inf")),
         "config key 'training.optim.lr': expected a finite number in (0, 10], got inf"),
        (lambda c: c.update(mirror="ftp://mirror.example.org"), "config key 'mirror': expected base URL of a copy"),
    ],
    ids=["method", "protocol", "dataset", "synthetic-published", "sampler", "sampler-steps", "extra-sampler-steps",
         "bad-value", "unknown-key", "benchmark-network-depth", "infinite-lr", "mirror-url"],
)
def test_bad_config_fails_at_parse_time_naming_the_key(tmp_path, edit, expected):
    config = write_config(tmp_path, "config.yaml", edit)
    result = snakemake("-n", "tables", "--configfile", str(config), workdir=tmp_path)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


def test_missing_archive_offline_names_the_file_and_where_to_put_it(tmp_path):
    def enable_rain100h_offline(config):
        config["offline"] = True
        config["benchmarks"] = {"rain100h": {"dataset": "Rain100H", "protocol": "irsde-derain", "published": "rain100h"}}
        config["curves"]["benchmark"] = "rain100h"

    config = write_config(tmp_path, "config.yaml", enable_rain100h_offline)
    result = snakemake("--cores", "1", "tables", "--configfile", str(config), workdir=tmp_path, timeout=300)
    assert result.returncode != 0
    logs = "\n".join(p.read_text() for p in (tmp_path / "logs").rglob("fetch-*.log"))
    # whichever of the two archives was tried first names itself and where it goes
    assert re.search(r"(Rain100H|RainTrainH)\.zip is needed but resources/\1\.zip does not exist", logs), logs
    assert "Place the file at resources/" in logs
    assert not list((tmp_path / "resources").glob("*.zip"))


@pytest.mark.slow
def test_regress_fails_for_a_deliberately_worse_model(tmp_path):
    """The CI config trained for 1 iteration instead of its budget must fail `regress`."""

    def cripple(config):
        config["training"]["train"].update(iterations=1, checkpoint_every=1, val_every=1)
        config["training"]["optim"]["milestones"] = [1]

    config = write_config(tmp_path, "ci.yaml", cripple)
    result = snakemake("--cores", "2", "regress", "--configfile", str(config), workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "REGRESSED" in output and "metric regression against" in output
    current = pd.read_csv(tmp_path / "results" / "regress" / "ci.current.csv")
    assert set(current["metric"]) >= {"psnr", "ssim"}
    assert not (tmp_path / "results" / "regress" / "ci.txt").exists()


def tiny_side_by_side(name, train_count):
    """A tiny deraining config named ``name`` whose synthetic recipe has ``train_count`` crops."""

    def edit(config):
        config["name"] = name
        config["benchmarks"] = {"synthetic-rain": {**config["benchmarks"]["synthetic-rain"],
                                                   "synthetic": {"seed": 0, "train_count": train_count,
                                                                 "test_count": 2, "size": 32}}}
        config.update(methods=["cnn_baseline"], extra_samplers=[], metrics=["psnr"], figures={"images": 1, "crop": 32})
        config.pop("curves")
        config["training"]["optim"]["milestones"] = [1]
        config["training"]["train"].update(iterations=2, checkpoint_every=2, val_every=2, log_every=1)
        config["training"]["data"].update(val_images=1, batch_size=2)

    return edit


@pytest.mark.slow
def test_configs_live_side_by_side_so_switching_back_has_nothing_to_do(tmp_path):
    """`tables` with config A, then B (another synthetic recipe), then A again: the second run of
    A has nothing to do (its data, models, tables and figures were not touched by B)."""
    configs = {}
    for name, train_count in (("side-a", 4), ("side-b", 8)):
        (tmp_path / name).mkdir()
        configs[name] = write_config(tmp_path / name, "config.yaml", tiny_side_by_side(name, train_count))
    a, b = configs.values()
    for config in (a, b):
        result = snakemake("--cores", "2", "tables", "--configfile", str(config), workdir=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    again = snakemake("-n", "tables", "--configfile", str(a), workdir=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout
    builds = list((tmp_path / "data" / "synthetic").glob("*/synthetic-rain/dataset.json"))
    assert len(builds) == 2, builds  # one build per recipe, each under its recipe's key
    for name in ("side-a", "side-b"):
        assert (tmp_path / "results" / "tables" / name / "synthetic-rain.csv").is_file(), name
        assert (tmp_path / "results" / "figures" / name / "qualitative_synthetic-rain.png").is_file(), name
    tables = {name: pd.read_csv(tmp_path / "results" / "tables" / name / "synthetic-rain.csv").set_index("id")
              for name in ("side-a", "side-b")}
    assert tables["side-a"].loc["cnn_baseline", "psnr"] != tables["side-b"].loc["cnn_baseline", "psnr"]


def split_of_run(run: Path) -> Path:
    """The test split a pipeline run validated on (its config.yaml records it, relative to the
    working directory, the parent of runs/)."""
    return run.parents[3] / yaml.safe_load((run / "config.yaml").read_text())["data"]["val"]


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    """`all` on config/ci.yaml in a fresh folder (shared by the tests that inspect that run)."""
    workdir = tmp_path_factory.mktemp("ci-run")
    # 10-15 min on an idle 2-core machine; more than 15 when other jobs share the cores
    result = snakemake("--cores", "2", "all", "--configfile", str(REPO / "config" / "ci.yaml"), workdir=workdir,
                       timeout=2400)
    return workdir, result


@pytest.mark.slow
def test_every_target_runs_on_the_ci_config_and_matches_its_reference(ci_run):
    """`all` on config/ci.yaml: tables, curves, qualitative figures, regress (against the committed
    reference); `irsde restore --run` reproduces the pipeline's restorations; then a second run has
    nothing to do."""
    tmp_path, result = ci_run
    ci = str(REPO / "config" / "ci.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    results = tmp_path / "results"
    table = pd.read_csv(results / "tables" / "ci" / "synthetic-rain.csv")
    assert set(table["method"]) == {"Input (degraded, no restoration)", "IR-SDE (ours)", "CNN-baseline (our reconstruction)"}
    assert set(table["id"]) == {"input", "irsde", "cnn_baseline"}
    assert table["psnr"].notna().all() and (table["protocol"] == "irsde-derain").all()
    assert "synthetic stand-in" in (results / "tables" / "ci" / "synthetic-rain.md").read_text()
    assert r"\toprule" in (results / "tables" / "ci" / "synthetic-rain.tex").read_text()
    figures = ("theta_schedules.png", "theta_schedules.pdf", "loss_comparison.png", "timestep_errors.png",
               "qualitative_synthetic-rain.png")
    for figure in figures:
        assert (results / "figures" / "ci" / figure).stat().st_size > 1000, figure
    assert "0 regressed or missing" in (results / "regress" / "ci.txt").read_text()
    # `irsde restore --run` on the pipeline's run gives the pipeline's restoration, byte for byte
    for method in ("irsde", "cnn_baseline"):
        by_hand = tmp_path / "by-hand" / method
        restore = subprocess.run(
            [sys.executable, "-m", "irsde", "restore", "--run", str(tmp_path / "runs" / "ci" / "synthetic-rain" / method),
             "--dataset", str(split_of_run(tmp_path / "runs" / "ci" / "synthetic-rain" / method)), "--seed", "0",
             "--out", str(by_hand)],
            capture_output=True, text=True, timeout=600,
        )
        assert restore.returncode == 0, restore.stderr
        pipeline = results / "restored" / "ci" / "synthetic-rain" / method / "seed0" / "png"
        assert sorted(p.name for p in pipeline.iterdir()) == sorted(p.name for p in (by_hand / "png").iterdir())
        for png in pipeline.iterdir():
            assert png.read_bytes() == (by_hand / "png" / png.name).read_bytes(), png
    again = snakemake("--cores", "2", "all", "--configfile", ci, workdir=tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_changing_the_sampler_after_tables_restores_and_scores_again_but_never_retrains(ci_run, tmp_path):
    """The table's sampler is a restoration choice: after a finished run, `sampler: posterior`
    plans restore, evaluate and table jobs, and no training."""
    workdir, first = ci_run
    assert first.returncode == 0, first.stdout + first.stderr
    config = write_config(tmp_path, "ci.yaml", lambda c: c.update(sampler="posterior", sampler_steps=20))
    result = snakemake("-n", "-p", "tables", "--configfile", str(config), workdir=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    planned = set(re.findall(r"^rule (\w+):", result.stdout, re.MULTILINE))
    assert {"restore", "evaluate", "table"} <= planned and not planned & {"train", "train_curve", "prepare_dataset"}
    assert "--sampler posterior --steps 20" in result.stdout


def report_data(path: Path) -> tuple[dict, dict, str]:
    """(results, categories, landing page HTML) of a Snakemake report, as its page's script holds them."""
    page = path.read_text()

    def variable(script, name):
        return json.loads(re.search(rf'<script id="{script}">\s*var {name} = (.*?);\s*</script>', page, re.S).group(1))

    return variable("results", "results"), variable("categories", "categories"), variable("workflow-desc", "workflow_desc")


def visible(page: str) -> str:
    """The text a reader sees of HTML: tags dropped, entities resolved, spaces collapsed."""
    page = re.sub(r"<(style|script)>.*?</\1>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def shown(result: dict) -> str:
    """The text a reader sees of an HTML result of the report (its data URI decoded)."""
    return visible(base64.b64decode(result["data_uri"].split("base64,", 1)[1]).decode())


@pytest.mark.slow
def test_report_shows_each_benchmarks_table_caption_curves_and_provenance(ci_run):
    """`snakemake --report` after the CI run: per benchmark the table rendered from its CSV with its
    caption and footnotes, the qualitative figure, training curves, per-image metrics, the seed
    spread and provenance; a landing page with the command that reproduces it; the regress
    verdict with `all`; job params as text, no caption citing a document outside the repository."""
    workdir, first = ci_run
    assert first.returncode == 0, first.stdout + first.stderr
    ci = str(REPO / "config" / "ci.yaml")
    result = snakemake("--report", str(workdir / "report.html"), "--configfile", ci, workdir=workdir)
    assert result.returncode == 0, result.stderr
    results, categories, landing = report_data(workdir / "report.html")
    assert set(categories["synthetic-rain"]) == {"1 Table", "2 Qualitative figure", "3 Training curves",
                                                 "4 Per-image metrics", "5 Sampling seeds", "6 Provenance"}
    (table_path,) = categories["synthetic-rain"]["1 Table"]
    assert results[table_path]["mime_type"] == "text/html"
    page = shown(results[table_path])
    tables = workdir / "results" / "tables" / "ci"
    caption = json.loads((tables / "synthetic-rain.caption.json").read_text())
    assert caption["caption"] in page and "protocol 'irsde-derain'" in page and "'sde' sampler, 100 NFE" in page
    assert all(f"* {note}" in page for note in caption["footnotes"]) and caption["footnotes"]  # LPIPS/FID weights
    table = pd.read_csv(tables / "synthetic-rain.csv").set_index("id")
    for row in ("input", "irsde", "cnn_baseline"):
        cells = f"{table.loc[row, 'method']} this run {table.loc[row, 'psnr']:.2f} {table.loc[row, 'ssim']:.4f}"
        assert cells in page, (cells, page)
    assert repr(table.loc["input", "psnr"]) not in page  # not the CSV's full precision
    provenance = shown(results[categories["synthetic-rain"]["6 Provenance"][0]])
    run = json.loads((workdir / "runs" / "ci" / "synthetic-rain" / "irsde" / "run.json").read_text())
    assert run["git"]["commit"] in provenance and "Config digest" in provenance and "NFE" in provenance
    assert "Restore time" in provenance and "torch 2.13.0" in provenance
    assert "--configfile config/ci.yaml" in provenance
    for name, kind in (("2 Qualitative figure", "image/png"), ("3 Training curves", "image/png"),
                       ("4 Per-image metrics", "image/png"), ("5 Sampling seeds", "text/html")):
        assert results[categories["synthetic-rain"][name][0]]["mime_type"] == kind, name
    landing = visible(landing)
    assert "synthetic stand-in" in landing and "snakemake --cores 8 tables --configfile config/ci.yaml" in landing
    everything = json.dumps(results) + landing
    assert "DESIGN" not in everything and "RowFacts(" not in everything and "shared/" not in everything
    assert all("{'" not in r["job_properties"]["params"] and "['" not in r["job_properties"]["params"]
               for r in results.values())
    # `all` adds the curves and the regress verdict
    result = snakemake("--report", str(workdir / "all.html"), "all", "--configfile", ci, workdir=workdir)
    assert result.returncode == 0, result.stderr
    results, categories, _ = report_data(workdir / "all.html")
    (verdict,) = categories["Regression check"]["Other"]
    assert "0 regressed or missing" in shown(results[verdict])
    assert any(path.endswith("theta_schedules.png") for paths in categories["Curves: schedules and losses"].values()
               for path in paths)


def test_lint_reports_only_the_conda_advice_and_the_check_bites(tmp_path):
    lint = [sys.executable, str(REPO / ".ci" / "lint.py")]
    clean = subprocess.run(lint, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # the same workflow with one rule that has no log and whose shell command reads a global
    for part in ("Snakefile", "workflow", "config", "profiles", "results/published", "irsde"):
        source, target = REPO / part, tmp_path / part
        shutil.copytree(source, target) if source.is_dir() else shutil.copy(source, target)
    with open(tmp_path / "workflow" / "rules" / "metrics.smk", "a") as rules:
        rules.write('\n\nrule stray:\n    output:\n        "stray.txt",\n    shell:\n        "echo {IRSDE} > {output}"\n')
    dirty = subprocess.run([*lint, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert dirty.returncode == 1
    assert "Shell command directly uses variable IRSDE" in dirty.stdout
    assert "besides the accepted advice: ['No log directive defined', 'Shell command directly uses variable IRSDE" in dirty.stderr


BROKEN_SAMPLER = """
# Loaded at start-up by every Python process of the test's pipeline run (PYTHONPATH): the paper's
# Euler-Maruyama sampler with the sign of the score flipped.
import irsde.sampling.samplers as samplers


def flipped_score_step(sde, xt, mu, eps_hat, t, noise):
    score = -sde.score_from_noise(eps_hat, t)
    return sde.reverse_sde_mean(xt, mu, score, t) - sde.reverse_sde_noise_std(t) * noise


samplers.SAMPLERS.register(
    "sde", samplers.Sampler("sde", samplers.memoryless(flipped_score_step), True, "broken on purpose"), replace=True
)
"""


@pytest.mark.slow
def test_regress_fails_when_the_sampler_is_broken(ci_run, tmp_path):
    """The trained CI models restored by an IR-SDE sampler whose score has the wrong sign must
    fail `regress` against the committed reference (the gate bites on a broken SDE)."""
    workdir, first = ci_run
    assert first.returncode == 0, first.stdout + first.stderr
    (tmp_path / "sitecustomize.py").write_text(BROKEN_SAMPLER)
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", "regress",
               "--configfile", str(REPO / "config" / "ci.yaml"), "--forcerun", "restore"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    restore_log = (workdir / "logs" / "ci" / "restore" / "synthetic-rain" / "irsde-seed0.log").read_text()
    if "REGRESSED" not in output:  # diverged to NaN/inf: refused before anything is scored
        assert "NaN/inf" in restore_log, output + restore_log
        return
    current = pd.read_csv(workdir / "results" / "regress" / "ci.current.csv")
    irsde = current[(current["method"] == "irsde") & (current["metric"] == "psnr")]["value"].iloc[0]
    reference = pd.read_csv(REPO / "results" / "reference" / "ci.csv")
    pinned = reference[(reference["method"] == "irsde") & (reference["metric"] == "psnr")]["value"].iloc[0]
    assert irsde < pinned - 2.0


EXAMPLE_OUTPUTS = REPO / "examples" / "outputs" / "synthetic-rain"


def bring_your_own(config, outputs=EXAMPLE_OUTPUTS):
    """The example's method class and user outputs (examples/config.yaml) on ``config``."""
    example = yaml.safe_load((REPO / "examples" / "config.yaml").read_text())
    example["user_outputs"]["median_filter"]["folders"]["synthetic-rain"] = str(outputs)
    update_config(config, example)  # as a later --configfile is laid over an earlier one


def test_user_outputs_with_a_missing_and_a_missized_image_fail_at_parse_time(tmp_path):
    outputs = tmp_path / "outputs"
    shutil.copytree(EXAMPLE_OUTPUTS, outputs)
    (outputs / "0002.png").unlink()
    shutil.copy(REPO / "examples" / "outputs" / "synthetic-rain" / "0000.png", outputs / "0007.png")
    from irsde.images import read_uint8, write_png

    write_png(outputs / "0004.png", read_uint8(outputs / "0004.png")[:80])
    config = write_config(tmp_path, "config.yaml", lambda c: bring_your_own(c, outputs))
    result = snakemake("-n", "tables", "--configfile", str(config), workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key 'user_outputs.median_filter.folders.synthetic-rain'" in output
    assert "missing: 0002.png" in output and "(no test image of that name): 0007.png" in output
    assert "0004.png is 96x80 px, the test image 96x96 px" in output
    assert not (tmp_path / "data").exists()


EXAMPLE_BUDGET = {
    # laid over the worked example's command (tests only): a tiny training budget and 32 training crops
    "benchmarks": {"synthetic-rain": {"synthetic": {"train_count": 32}}},
    "sampler_steps": 10,
    "training": {"optim": {"milestones": [15]}, "data": {"val_images": 1},
                 "train": {"iterations": 20, "checkpoint_every": 20, "val_every": 20, "log_every": 10,
                           "progress_every": 1e-6}},
}


def readme_commands(readme: Path, program: str) -> list[list[str]]:
    """The ``program`` command lines of a README's ```bash blocks, split as a shell splits them."""
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(), flags=re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(program + " ")]


def fresh_checkout(tmp_path: Path) -> Path:
    """The files of a fresh clone of this checkout (tracked and new files, as git lists them)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    clone = tmp_path / "clone"
    for name in listed:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    return clone


@pytest.mark.slow
def test_the_worked_example_runs_as_its_readme_says_through_table_figure_and_regress(tmp_path, generated_torch_home):
    """examples/README.md's command in a fresh checkout, with a tiny budget laid over it: a method
    class outside irsde and a folder of PNG-only outputs become rows of the table (every metric
    of the config, LPIPS on the PNGs of the outputs, marked) and columns of the figure; the class
    is trained like IR-SDE and restored by `irsde restore --run`; both take part in regress."""
    commands = readme_commands(REPO / "examples" / "README.md", "snakemake")
    assert len(commands) == 1, commands
    command = commands[0]
    assert command[-3:] == ["--configfile", "config/config.yaml", "examples/config.yaml"], command
    clone = fresh_checkout(tmp_path)
    (clone / "budget.yaml").write_text(yaml.safe_dump(EXAMPLE_BUDGET))
    environment = {**os.environ, "TORCH_HOME": str(generated_torch_home), "PYTHONPATH": str(clone)}

    def run(target, *overlays):
        arguments = [target if word == "tables" else word for word in command[1:]]
        return subprocess.run([SNAKEMAKE, *arguments, "budget.yaml", *overlays], cwd=clone, capture_output=True,
                              text=True, timeout=900, env=environment)

    result = run("tables")
    assert result.returncode == 0, result.stdout + result.stderr
    results = clone / "results"
    table = pd.read_csv(results / "tables" / "example" / "synthetic-rain.csv").set_index("id")
    assert set(table.index) == {"input", "irsde", "irsde-fast-sde-10", "cnn_baseline", "tiny_cnn", "median_filter"}
    assert table.loc["tiny_cnn", "method"] == "Tiny CNN (user example)" and table.loc["tiny_cnn", "source"] == "this run"
    assert table.loc["median_filter", "method"] == "Median filter 3x3 (user outputs)"
    assert table.loc["median_filter", "source"] == "user outputs"
    assert table[["psnr", "ssim", "lpips", "fid"]].notna().all().all() and (table["protocol"] == "irsde-derain").all()
    assert table.loc["median_filter", "psnr"] != table.loc["input", "psnr"]
    markdown = (results / "tables" / "example" / "synthetic-rain.md").read_text()
    assert "† LPIPS↓ of Input (degraded, no restoration), Median filter 3x3 (user outputs): computed on the 8-bit" in markdown
    assert (results / "figures" / "example" / "qualitative_synthetic-rain.png").stat().st_size > 1000
    figure_log = (clone / "logs" / "example" / "figures" / "qualitative_synthetic-rain.log").read_text()
    assert ("columns: GT, LQ, IR-SDE (ours), CNN-baseline (our reconstruction), Tiny CNN (user example), "
            "IR-SDE (fast-sde, 10 NFE), Median filter 3x3 (user outputs)") in figure_log
    assert not (results / "tables" / "embedded").exists()  # the example is a configuration of its own
    # a training job's log shows where it is (no terminal under Snakemake): a progress line per iteration here
    train_log = (clone / "logs" / "example" / "train" / "synthetic-rain" / "irsde.log").read_text()
    progress = re.findall(r"irsde\.train\.progress: iteration (\d+)/20 \([\d.]+%\), [\d.e+]+ it/s, ETA [^,]+, loss \S+",
                          train_log)
    assert [int(i) for i in progress] == list(range(1, 21)), train_log
    # `tensorboard --logdir runs/` finds the three trained runs with their scalars
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(clone / "runs"))
    multiplexer.Reload()
    boards = multiplexer.Runs()
    assert set(boards) == {"example/synthetic-rain/irsde", "example/synthetic-rain/cnn_baseline",
                           "example/synthetic-rain/tiny_cnn"}
    assert all({"train/loss", "train/lr", "val/psnr", "val/ssim"} <= set(run["scalars"]) for run in boards.values())
    assert any(tag.startswith("timestep/") for tag in boards["example/synthetic-rain/irsde"]["scalars"])
    assert boards["example/synthetic-rain/irsde"]["images"] == ["val_images/0000"]
    # trained by the same engine with IR-SDE's data, crops, optimiser, iterations and seed
    runs = clone / "runs" / "example" / "synthetic-rain"
    own, irsde = (yaml.safe_load((runs / method / "config.yaml").read_text()) for method in ("tiny_cnn", "irsde"))
    assert own["method"] == "examples.tiny_cnn:TinyCNN"
    for key in ("seed", "data", "optim", "train"):
        assert own[key] == irsde[key], key
    # restored by hand from its run, as the pipeline did: the same PNGs
    by_hand = tmp_path / "by-hand"
    restore = subprocess.run(
        [sys.executable, "-m", "irsde", "restore", "--run", str(runs / "tiny_cnn"), "--dataset",
         str(split_of_run(runs / "tiny_cnn")), "--seed", "0", "--out", str(by_hand)],
        capture_output=True, text=True, timeout=600, env=environment,
    )
    assert restore.returncode == 0, restore.stderr
    pipeline = results / "restored" / "example" / "synthetic-rain" / "tiny_cnn" / "seed0" / "png"
    assert sorted(p.name for p in pipeline.iterdir()) == sorted(p.name for p in (by_hand / "png").iterdir())
    assert all(png.read_bytes() == (by_hand / "png" / png.name).read_bytes() for png in pipeline.iterdir())
    # regress compares the user's rows with a reference that has them: 1 dB better there fails
    from irsde import regression
    from irsde.report import tables

    metrics = sorted((results / "metrics" / "example" / "synthetic-rain").glob("*/seed0.csv"))
    reference = regression.summary_frame(tables.read_metric_csvs(metrics), "synthetic-rain")
    reference.loc[(reference["method"] == "median_filter") & (reference["metric"] == "psnr"), "value"] += 1.0
    reference.to_csv(tmp_path / "reference.csv", index=False)
    (clone / "reference.yaml").write_text(yaml.safe_dump({"regress": {"reference": str(tmp_path / "reference.csv")}}))
    result = run("regress", "reference.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    regressed = {line.split()[1:3] == ["median_filter", "psnr"] for line in output.splitlines() if line.endswith("REGRESSED")}
    assert regressed == {True}, output  # that row, and only that one
    assert "tiny_cnn" in (results / "regress" / "example.current.csv").read_text()

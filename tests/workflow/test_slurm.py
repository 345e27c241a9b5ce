"""The shipped SLURM profile (profiles/slurm): every job of config/paper.yaml passes the SLURM
executor plugin's own submission checks, and (slow, on a cluster such as the one
`.ci/slurm-cluster.sh up` starts) `tables` of a tiny config runs through SLURM with the profile,
edited only where the documentation says a site edits it, and gives the local run's files byte
for byte."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string
from snakemake_executor_plugin_slurm.validation import validate_slurm_extra
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.support.pipeline import REPO, snakemake, tiny_ci, write_config

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
GPU_RULES = {"train", "train_curve", "restore", "restore_released", "evaluate", "evaluate_input"}
LOCAL_RULES = {"table", "qualitative_figure", "regress", "theta_schedule_curves", "loss_comparison_curves",
               "timestep_error_plot", "import_user_outputs", "fetch_archive", "fetch_folder",
               "fetch_checkpoint", "fetch_metric_weights", "protocol_table"}
REQUIRE_CLUSTER = "IRSDE_REQUIRE_SLURM"  # set by .ci/run: no cluster is then a failure, not a skip


def shipped_profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


# -- the plugin's own checks on every planned job --------------------------------------------------


def planned_jobs(*args: str, workdir: Path) -> list[SimpleNamespace]:
    """The jobs a dry run with the shipped profile plans: rule name and evaluated resources."""
    result = snakemake("-n", "--profile", str(PROFILE.parent), *args, workdir=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = []
    for rule, resources in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$",
                                      result.stdout, re.MULTILINE):
        values = dict(item.split("=", 1) for item in resources.split(", "))
        values = {key: int(value) if value.lstrip("-").isdigit() else value for key, value in values.items()}
        jobs.append(SimpleNamespace(name=rule, rule=rule, threads=1, resources=PlannedResources(values)))
    return jobs


class PlannedResources(dict):
    """A job's resources as the plugin reads them (``get`` and attributes)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def submit_command(job) -> str:
    params = {"run_uuid": "run", "slurm_logfile": "slurm.log", "comment_str": f"rule_{job.name}",
              "account": "", "partition": f" -p {job.resources['slurm_partition']}", "workdir": "/work"}
    validate_slurm_extra(job)
    return get_submit_command(job, params) + set_gres_string(job)


def test_every_paper_job_passes_the_plugins_submission_checks(tmp_path):
    jobs = planned_jobs("all", "--configfile", str(REPO / "config" / "paper.yaml"), workdir=tmp_path)
    rules = {job.name for job in jobs}
    assert {"train", "train_curve", "restore", "restore_released", "evaluate", "prepare_dataset"} <= rules
    for job in jobs:
        call = submit_command(job)
        assert " --mem " in call and " -t " in call, call
        assert job.resources["mem_mb"] <= 16000 and job.resources.get("cpus_per_task", 1) <= 8, call
        if job.name in GPU_RULES:
            assert "--gpus=1" in call and " -p gpu" in call, call
        else:
            assert "--gpus" not in call and " -p cpu" in call, call


def test_profile_names_only_rules_of_the_workflow_and_every_gpu_rule(tmp_path):
    listed = snakemake("--list-rules", workdir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rules = set(listed.stdout.split())
    profile = shipped_profile()
    assert set(profile["set-resources"]) <= rules
    assert {rule for rule, values in profile["set-resources"].items() if values.get("gpu")} == GPU_RULES
    assert LOCAL_RULES <= rules
    assert not any("gres" in str(values.get("slurm_extra", "")) for values in profile["set-resources"].values())
    assert profile["slurm-status-command"] == "squeue"
    assert "slurm_account" not in profile["default-resources"]  # a placeholder account is commented out


def test_the_rules_ask_for_no_gpu_and_tiny_rules_run_locally():
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert not re.search(r"^\s+gpu\s*=", rules, re.MULTILINE)  # GPU requests are the profile's alone
    for rule in LOCAL_RULES:
        body = re.search(rf"^rule {rule}:\n((?:    .*\n|\n)*)", rules, re.MULTILINE)
        assert body and "localrule: True" in body.group(1), rule


# -- a real cluster ---------------------------------------------------------------------------------


def cluster_answers() -> bool:
    if shutil.which("sbatch") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    return ping.returncode == 0 and " is UP" in ping.stdout


@pytest.fixture
def cluster():
    """A SLURM cluster this machine submits to, with the shipped profile's partitions."""
    if not cluster_answers():
        message = "no SLURM cluster answers `scontrol ping` (start one with `.ci/slurm-cluster.sh up`, as root)"
        if os.environ.get(REQUIRE_CLUSTER):
            pytest.fail(f"{REQUIRE_CLUSTER} is set but {message}")
        pytest.skip(message)
    partitions = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True).stdout.split()
    assert {"cpu", "gpu"} <= set(partitions), f"the cluster's partitions are {partitions}, the profile's cpu and gpu"
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    return Path(re.search(r"^SlurmctldLogFile\s*=\s*(\S+)", config, re.MULTILINE).group(1))


def site_edited_profile(folder: Path) -> Path:
    """The shipped profile with the documented edit for a cluster without GPUs: no `gpu`
    requests (the CI cluster has the profile's `cpu` and `gpu` partitions)."""
    profile = shipped_profile()
    for resources in profile["set-resources"].values():
        resources.pop("gpu", None)
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


# Files that record where, when or how fast a run went; everything else must be identical.
# what records how a run went (wall times, hosts): compared by what must agree, not byte for byte
RUN_RECORDS = {".irsde.lock", ".snakemake_timestamp", "restore.json", "run.json", "training_state.pt", "train_log.csv",
               "provenance.html"}


TENSORBOARD_EVENTS = "events.out.tfevents.*"  # named and stamped by wall time, host and process


def output_files(workdir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(workdir)): path.read_bytes()
            for folder in ("results", "runs") for path in sorted((workdir / folder).rglob("*"))
            if path.is_file() and path.name not in RUN_RECORDS and not path.match(TENSORBOARD_EVENTS)}


def tensorboard_scalars(workdir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """The step and value of every scalar in each training's TensorBoard events (not their wall time)."""
    scalars = {}
    for folder in sorted({path.parent for path in (workdir / "runs").rglob(TENSORBOARD_EVENTS)}):
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        scalars[str(folder.relative_to(workdir))] = {
            tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    return scalars


def training_losses(workdir: Path) -> dict[str, list[str]]:
    """The iteration, loss and learning-rate columns of every train_log.csv (not its wall time)."""
    return {str(path.relative_to(workdir)): [",".join(line.split(",")[:3]) for line in path.read_text().splitlines()]
            for path in sorted((workdir / "runs").rglob("train_log.csv"))}


STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$", re.MULTILINE)


def job_times(snakemake_log: str) -> dict[str, tuple[str, float, float]]:
    """Snakemake job id -> (rule and wildcards, seconds started or submitted, seconds seen
    finished), from the time-stamped blocks of a Snakemake log."""
    parts = STAMP.split(snakemake_log)[1:]
    started, finished = {}, {}
    for stamp, block in zip(parts[::2], parts[1::2]):
        seconds = datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y").timestamp()
        rule, jobid = re.search(r"^(?:local)?rule (\w+):", block, re.MULTILINE), re.search(r"jobid: (\d+)$", block, re.MULTILINE)
        if rule and jobid:
            wildcards = re.search(r"^    wildcards: (.*)$", block, re.MULTILINE)
            started[jobid.group(1)] = (f"{rule.group(1)} {wildcards.group(1) if wildcards else ''}", seconds)
        for done in re.findall(r"^Finished jobid: (\d+)", block, re.MULTILINE):
            finished[done] = seconds
    return {jobid: (job, start, finished[jobid]) for jobid, (job, start) in started.items() if jobid in finished}


def overhead_per_job(slurm_log: str, local_log: str) -> dict[str, float]:
    """Seconds each SLURM job took, from submission to Snakemake seeing it finished, beyond the
    same job (rule and wildcards) run locally."""
    local = {job: end - start for job, start, end in job_times(local_log).values()}
    submitted = set(re.findall(r"^Job (\d+) has been submitted with SLURM jobid", slurm_log, re.MULTILINE))
    return {job: end - start - local[job] for jobid, (job, start, end) in job_times(slurm_log).items()
            if jobid in submitted}


@pytest.mark.slow
def test_tables_through_slurm_equal_a_local_run_byte_for_byte(cluster, tmp_path):
    config = write_config(tmp_path, "ci.yaml", tiny_ci)
    profile = site_edited_profile(tmp_path / "profile")
    controller_log_start = cluster.stat().st_size
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    runs = {}
    # the local run at the same time, on the cores the SLURM jobs leave
    local_thread = threading.Thread(target=lambda: runs.update(local=snakemake(
        "--cores", "1", "tables", "--configfile", str(config), workdir=local)))
    local_thread.start()
    runs["slurm"] = snakemake("--profile", str(profile), "tables", "--configfile", str(config), workdir=on_slurm)
    local_thread.join()
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}: {run.stdout[-6000:]}{run.stderr[-6000:]}"
    slurm_log = runs["slurm"].stdout + runs["slurm"].stderr

    # every job but the local rules went through SLURM, to the profile's partitions
    submitted = dict(re.findall(r"has been submitted with SLURM jobid (\d+) \(log: \S+/rule_(\w+?)/", slurm_log))
    assert sorted(submitted.values()) == sorted(["prepare_dataset", "train", "train", "restore", "restore",
                                                 "evaluate", "evaluate", "evaluate_input"]), slurm_log
    assert re.findall(r"^localrule (\w+):", slurm_log, re.MULTILINE).count("table") == 1
    with open(cluster) as stream:
        stream.seek(controller_log_start)
        controller = stream.read()
    for slurm_id, rule in submitted.items():
        partition = "gpu" if rule in GPU_RULES else "cpu"
        # started by the main scheduler ("Allocate ... Partition=P") or by backfill ("Started ... in P")
        started = rf"Allocate JobId={slurm_id} .*Partition={partition}\b|Started JobId={slurm_id} in {partition} on"
        assert re.search(started, controller), (slurm_id, rule)
        assert f"JobId={slurm_id} done" in controller, slurm_id

    # the same results, weights and figures, byte for byte
    slurm_files, local_files = output_files(on_slurm), output_files(local)
    assert sorted(slurm_files) == sorted(local_files)
    assert len(slurm_files) > 30 and any(name.endswith("net_ema.pth") for name in slurm_files)
    assert [name for name in local_files if slurm_files[name] != local_files[name]] == []
    assert training_losses(on_slurm) == training_losses(local)
    for workdir in (on_slurm, local):
        provenance = (workdir / "results/report/tiny/synthetic-rain/provenance.html").read_text()
        assert "<dd>runs/tiny/synthetic-rain/irsde</dd>" in provenance and str(workdir) not in provenance
    slurm_scalars = tensorboard_scalars(on_slurm)
    assert len(slurm_scalars) == 2 and all(slurm_scalars.values())
    assert slurm_scalars == tensorboard_scalars(local)

    overheads = overhead_per_job(slurm_log, runs["local"].stdout + runs["local"].stderr)
    assert sorted(job.split()[0] for job in overheads) == sorted(submitted.values())
    print("seconds each SLURM job took beyond the same job run locally:",
          ", ".join(f"{job}: {seconds:.0f}" for job, seconds in sorted(overheads.items())))

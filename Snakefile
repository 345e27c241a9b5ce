# irsde-bench: reproduce the IR-SDE paper's tables and training curves.
#
#   snakemake --cores 8 tables                              # embedded offline benchmark (default)
#   snakemake --cores 8 tables --configfile config/paper.yaml   # the paper's datasets and model
#   snakemake --cores 8 curves | figures | regress | all
#   snakemake --cores 1 fetch --configfile config/paper.yaml   # only the downloads (a cluster's login node)
#   snakemake --report results/report-embedded.html         # per benchmark: table, figures, provenance
#
# Every configuration writes under its own name (results/tables/<name>/ ...) and builds a
# synthetic stand-in under a key of its recipe, so configurations live side by side
# (docs/pipeline.md#configurations-side-by-side).
import os

from snakemake.utils import min_version

from irsde import pipeline_config

min_version("9.0")


# The embedded default, unless --configfile names another configuration: a config file given on
# the command line replaces it whole (it is not merged into it). It is read with irsde's loader
# first, whose errors name the file and line (Snakemake's do not).
if not workflow.overwrite_configfiles:
    pipeline_config.check_config_files([os.path.join(workflow.basedir, "config", "config.yaml")])

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# The report's landing page: what each benchmark is and how to reproduce it.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/restore.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/report.smk"


rule tables:
    # The qualitative figures and the report's pages come along: they only read what the tables need.
    default_target: True
    input:
        table_outputs(),
        figure_outputs(),
        report_outputs(),


rule curves:
    input:
        curve_outputs(),


rule figures:
    input:
        figure_outputs(),


rule all:
    input:
        table_outputs(),
        curve_outputs(),
        figure_outputs(),
        report_outputs(),
        regress_page(),


rule fetch:
    # Every download the config needs (datasets' sources, LPIPS/FID weights, released checkpoints).
    input:
        fetch_outputs(),


# A misspelled target (a bare word that is no rule) fails while the DAG is built, with the choices.
rule unknown_target:
    input:
        unknown_target,
    output:
        "{target}",
    wildcard_constraints:
        target="[A-Za-z_][A-Za-z0-9_-]*",

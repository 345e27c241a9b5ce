# irsde-bench: reproduce the IR-SDE paper's tables and training curves.
#
#   snakemake --cores 8 tables                              # embedded offline benchmark (default)
#   snakemake --cores 8 --configfile config/paper.yaml tables   # the paper's datasets and model
#   snakemake --cores 8 curves | figures | regress | all
#   snakemake --report report.html                          # tables, figures and captions
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/restore.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/report.smk"


rule tables:
    default_target: True
    input:
        table_outputs(),


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
        regress_output(),
